"""`python -m appconfig_fetch [--once]`."""

import sys

from appconfig_fetch.cli import main

sys.exit(main())
