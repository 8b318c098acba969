"""Files written so that nothing half-written is ever left under the final name.

`atomic_write(path, mode)` opens `<path>.tmp`, hands it to the caller, flushes it to the
disk and renames it onto `path` (os.replace, atomic on POSIX). If the writing fails (a
full disk, an error in the caller, Ctrl-C), the temporary file is removed and `path`
keeps what it held before. Checkpoints, JSON results, reference cases and figures all go
through it.
"""

import errno
import json
import os
import shutil
from contextlib import contextmanager

from .errors import UserError

TMP_SUFFIX = ".tmp"
FULL_DISK = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)   # no space, file too large, quota


def read_only(path):
    """Whether `path` is an existing file without write permission for anyone. Read
    from the mode bits, not os.access: root may write anything, and a read-only file is
    a user's way of saying 'keep this'."""
    import stat
    return os.path.isfile(path) and not os.stat(path).st_mode & (
        stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)


@contextmanager
def atomic_write(path, mode="w"):
    if read_only(path):
        raise UserError(f"{path} is read-only and is not replaced: make it writable "
                        f"(chmod u+w) or write elsewhere")
    tmp = path + TMP_SUFFIX
    try:
        with open(tmp, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.remove(tmp)
        if isinstance(exc, OSError) and exc.errno in FULL_DISK:
            raise UserError(f"could not write {path}: {exc.strerror}; free some space (or "
                            f"raise the file-size limit) and rerun; any earlier complete "
                            f"{os.path.basename(path)} is kept") from None
        if isinstance(exc, OSError):     # no permission, a read-only file system, ...
            raise UserError(f"could not write {path}: {exc.strerror or exc}; any earlier "
                            f"complete {os.path.basename(path)} is kept") from None
        raise


def path_problem(path):
    """Why `path` cannot be read as a file (a folder, a broken link, unreadable), or None
    if it can. A path that does not exist at all is the caller's to describe."""
    if os.path.islink(path) and not os.path.exists(path):
        return f"is a broken link (to {os.readlink(path)})"
    if os.path.isdir(path):
        return "is a folder, not a file"
    if os.path.exists(path) and not os.access(path, os.R_OK):
        return "cannot be read (no permission)"
    return None


def check_readable_file(path, what):
    """Refuse, in one line naming it, a path where `what` (a file) is expected but that
    is missing, a folder, a broken link or unreadable."""
    why = path_problem(path)
    if why:
        raise UserError(f"{path}: {why}; {what} is expected there")
    if not os.path.exists(path):
        raise UserError(f"{path}: file not found; {what} is expected there")


def check_writable_file(path, flag):
    """Refuse, in one line, a file path that cannot be written: a folder, a missing or
    unwritable parent folder. Called before the work whose result it will hold."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UserError(f"{flag} {path}: is a folder; give a file name, e.g. {path}/case.npz")
    if not os.path.isdir(folder):
        raise UserError(f"{flag} {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise UserError(f"{flag} {path}: folder {folder} is not writable")
    if read_only(path):
        raise UserError(f"{flag} {path}: the file is read-only and is not replaced; make "
                        f"it writable (chmod u+w) or give another name")
    if os.path.isdir(path + TMP_SUFFIX):
        raise UserError(f"{flag} {path}: {path + TMP_SUFFIX}, where the file is written "
                        f"before it is renamed, is a folder; remove it or give another name")


def check_writable_folder(folder, flag):
    """Refuse, in one line, a folder that could not be made or written: a file, a path
    under a file, or a read-only place. Makes nothing."""
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise UserError(f"{flag} {folder}: is a file, not a folder")
    existing = os.path.abspath(folder)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise UserError(f"{flag} {folder}: {existing} is a file, so no folder can be made "
                        f"under it")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"{flag} {folder}: {existing} is not writable")


KEEPSAKES = (".npz", "summary.json", "runs.json")   # a checkpoint or a finished result


@contextmanager
def run_folder(folder):
    """Make `folder` (and its missing parents) for a run, and yield it. If the run is
    refused (UserError: a NaN in the first epoch, a full disk) or interrupted (Ctrl-C)
    before anything worth keeping is written (a checkpoint, a summary), what this call
    made is removed again, so it leaves nothing behind; a folder that existed, or that
    holds a checkpoint or a result, is kept as it is."""
    made = os.path.abspath(folder)                 # the topmost folder this call makes
    while not os.path.exists(os.path.dirname(made)):
        made = os.path.dirname(made)
    new = not os.path.exists(made)
    os.makedirs(folder, exist_ok=True)
    try:
        yield folder
    except (UserError, KeyboardInterrupt):
        if new and not any(f.endswith(KEEPSAKES) for _, _, files in os.walk(made)
                           for f in files):
            shutil.rmtree(made, ignore_errors=True)
        raise


LOCK_NAME = ".lock"


@contextmanager
def folder_lock(folder):
    """Hold `<folder>/.lock` (an exclusive flock) while a run trains in `folder`, so two
    workers given the same run (a plan handed out twice, a job array restarted) cannot
    write one folder at once: the second is refused in one line. The lock goes with the
    process, even when it is killed; the empty file stays (removing it would let a third
    process lock a new file while the second holds the old one). On NFS, Linux takes
    flock as a lock on the server, so workers on several nodes see it too."""
    import fcntl
    fh = open(os.path.join(folder, LOCK_NAME), "a")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(f"{folder} is being trained by another process right now (it "
                            f"holds {os.path.join(folder, LOCK_NAME)}): let that one "
                            f"finish, or give this run another --output-dir") from None
        yield folder
    finally:
        fh.close()                                  # closing releases the lock


def folder_busy(folder):
    """Whether another process trains in `folder` right now (holds its lock)."""
    if not os.path.exists(os.path.join(folder, LOCK_NAME)):
        return False
    try:
        with folder_lock(folder):
            return False
    except UserError:
        return True


def write_json(path, obj):
    with atomic_write(path) as fh:
        json.dump(obj, fh, indent=2)


def optional_figure(write):
    """For a function that writes a PNG to its argument `path`: where matplotlib is not
    installed (the package installed without its `plots` extra), the figure is skipped
    with a one-line note instead of failing the run; the results are written anyway."""
    import functools
    import importlib.util
    import inspect
    import sys

    @functools.wraps(write)
    def wrapper(*args, **kwargs):
        if importlib.util.find_spec("matplotlib") is None:
            path = inspect.signature(write).bind(*args, **kwargs).arguments["path"]
            print(f"note: matplotlib is not installed, so {path} was not written (pip "
                  f"install 'imb_ref[plots]', or matplotlib)", file=sys.stderr)
            return None
        return write(*args, **kwargs)
    return wrapper


def save_figure(fig, path, dpi):
    """A matplotlib figure as a PNG at `path`, atomically."""
    with atomic_write(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=dpi)
