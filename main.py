#!/usr/bin/env python
"""The cdktf app: one stack per file in environments/ (what `cdktf synth` runs)."""

import sys

from berth.synth import synth_all
from berth_core.config import ConfigError, load_all_environments


def main() -> int:
    try:
        environments = load_all_environments()
    except ConfigError as error:
        print(f"berth: {error}", file=sys.stderr)
        return 1
    synth_all(environments)
    return 0


if __name__ == "__main__":
    sys.exit(main())
