"""The one exception type that means "the user asked for something we cannot do".

`run.py` turns a `UserError` into a single line on stderr and exit code 2, with no
traceback. Everything else is a bug and keeps its traceback.
"""


import argparse


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose errors are one line on stderr (with a pointer to --help), exit 2."""

    def error(self, message):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


class UserError(Exception):
    """Bad input or environment: a missing or corrupt file, an impossible shape,
    CuPy asked for where there is none, a NaN in training. The message is one line that
    says what is wrong and how to fix it."""
