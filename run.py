#!/usr/bin/env python3
"""imb_ref's command line: `python run.py --help` lists the commands, each with its own
--help. The table of commands is imb_ref/cli.py (`python -m imb_ref` where the package is
installed); each command's flags are its settings class's declared fields (imb_ref/flags.py),
and each job lives with its experiment."""

import sys

from imb_ref.cli import main

if __name__ == "__main__":
    sys.exit(main())
