"""`python -m s3proxy.healthcheck`: exit 0 when the local proxy answers /healthz (HEALTHCHECK).

Speaks HTTPS when the proxy serves TLS itself; the certificate is not verified because the
check talks to 127.0.0.1, which a real certificate does not name.
"""

from __future__ import annotations

import os
import ssl
import sys
import urllib.request


def main() -> int:
    """0 if /healthz answered 200 within two seconds, else 1."""
    port = os.environ.get("S3PROXY_PORT", "8080")
    tls = bool(os.environ.get("S3PROXY_TLS_CERT_FILE"))
    context = ssl._create_unverified_context() if tls else None  # noqa: S323 - loopback only
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as response:  # noqa: S310
            return 0 if response.status == 200 else 1
    except OSError:
        return 1


if __name__ == "__main__":
    sys.exit(main())
