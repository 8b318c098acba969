"""Files written so that nothing half-written is ever left under the final name.

`atomic_write(path, mode)` opens `<path>.tmp`, hands it to the caller, flushes it to the
disk and renames it onto `path` (os.replace, atomic on POSIX). If the writing fails (a
full disk, an error in the caller, Ctrl-C), the temporary file is removed and `path`
keeps what it held before. Checkpoints, JSON results, reference cases and figures all go
through it.
"""

import json
import os
from contextlib import contextmanager

TMP_SUFFIX = ".tmp"


@contextmanager
def atomic_write(path, mode="w"):
    tmp = path + TMP_SUFFIX
    try:
        with open(tmp, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_json(path, obj):
    with atomic_write(path) as fh:
        json.dump(obj, fh, indent=2)


def save_figure(fig, path, dpi):
    """A matplotlib figure as a PNG at `path`, atomically."""
    with atomic_write(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=dpi)
