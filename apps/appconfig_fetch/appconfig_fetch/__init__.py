"""Fetch one AppConfig configuration (e.g. a Secrets Manager secret) into a file; keep it current.

Runs as a Kubernetes native sidecar (long-running, probes on /readyz and /healthz) or, with
`--once`, as a plain init container. Configuration comes from environment variables; see the
README next to this package.
"""

__version__ = "0.1.0"
