"""`python -m berth.emulator -H HOST -p PORT`: moto server with Berth's additions, in-process.

Serves like `python -m moto.server -H HOST -p PORT` (moto's dispatcher and request handler,
threaded, `MOTO_PORT` set to the port), with `berth.emulator.app.EmulatorApp` in front and
moto's bucket-policy evaluation replaced (`berth.emulator.bucket_policy`). Exits 2 with one line
naming the internal when the installed moto lacks one the emulator relies on.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from types import FrameType


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    sys.exit(0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m berth.emulator",
        description="moto server with Berth's additions (AppConfig environments, deployment"
        " strategies and deployments; bucket policies without condition-only denies)",
    )
    parser.add_argument("-H", "--host", default="127.0.0.1", help="address to bind")
    parser.add_argument(
        "-p", "--port", type=int, default=int(os.environ.get("MOTO_PORT", "5000")), help="port"
    )
    args = parser.parse_args(argv)

    from werkzeug.serving import run_simple

    from berth.emulator import bucket_policy
    from berth.emulator.app import EmulatorApp
    from berth.emulator.moto_internals import (
        REQUEST_HANDLER,
        MotoInternalsError,
        load_moto_internals,
    )

    try:
        internals = load_moto_internals()
    except MotoInternalsError as error:
        print(f"berth.emulator: {error}", file=sys.stderr)
        return 2
    # moto reads MOTO_PORT to build URLs that point back at itself (as moto.server sets it).
    os.environ.setdefault("MOTO_PORT", str(args.port))
    signal.signal(signal.SIGINT, _exit_on_signal)
    signal.signal(signal.SIGTERM, _exit_on_signal)
    bucket_policy.install(internals)
    run_simple(
        args.host,
        args.port,
        EmulatorApp(internals),
        threaded=True,
        request_handler=internals[REQUEST_HANDLER],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
