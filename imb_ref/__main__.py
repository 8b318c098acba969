"""`python -m imb_ref ...`: the command line of run.py, where the package is installed."""

import sys

from .cli import main

sys.exit(main())
