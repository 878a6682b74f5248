"""`python -m berth` (what `pipenv run berth` runs)."""

import sys

from berth.cli import main

sys.exit(main())
