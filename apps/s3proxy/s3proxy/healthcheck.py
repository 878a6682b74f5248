"""`python -m s3proxy.healthcheck`: exit 0 when the local proxy answers /healthz (HEALTHCHECK).

Asks the management listener (plain HTTP on `S3PROXY_MANAGEMENT_PORT`, whatever the content
listener serves), so it needs neither credentials nor TLS.
"""

from __future__ import annotations

import os
import sys
import urllib.request


def main() -> int:
    """0 if /healthz answered 200 within two seconds, else 1."""
    port = os.environ.get("S3PROXY_MANAGEMENT_PORT", "9090")
    url = f"http://127.0.0.1:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return 0 if response.status == 200 else 1
    except OSError:
        return 1


if __name__ == "__main__":
    sys.exit(main())
