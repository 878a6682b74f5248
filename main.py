#!/usr/bin/env python
"""The cdktf app: one stack per file in environments/ (what `cdktf synth` runs)."""

import sys

from berth.config import ConfigError, load_all_environments
from berth.synth import synth_all


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
