"""`python -m ecr_refresher [--once]`."""

import sys

from .app import main

sys.exit(main())
