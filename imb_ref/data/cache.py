"""Where datasets live on disk, and how a missing file is fetched or explained."""

import gzip
import hashlib
import os
import zlib

from ..errors import UserError
from ..files import path_problem
from .download import fetch, md5sum

SYSTEM_FASHION_DIR = "/usr/share/datasets/fashion-mnist"


def data_root(data_dir=None):
    """`--data-dir`, else `$IMB_DATA`, else `~/.cache/imb_ref`; must be a folder."""
    root = data_dir or os.environ.get("IMB_DATA") or os.path.join(
        os.path.expanduser("~"), ".cache", "imb_ref")
    if os.path.exists(root) and not os.path.isdir(root):
        raise UserError(f"--data-dir {root}: is a file, not a folder; give a folder "
                        f"(it is created if missing)")
    return root


def mirrors_from_env(variable, default):
    """A comma-separated `$variable` overrides a dataset's mirror list."""
    value = os.environ.get(variable)
    return [m.strip() for m in value.split(",") if m.strip()] if value else list(default)


def gunzip_md5(path):
    """md5 of a gzip file's decompressed bytes, or None if it is not a whole gzip file."""
    h = hashlib.md5()
    try:
        with gzip.open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    except (OSError, EOFError, zlib.error):
        return None
    return h.hexdigest()


def check_file(path, md5, raw_md5=None):
    """None if `path` holds the expected bytes, else what is wrong with it.

    `raw_md5`, where given, is the md5 of the decompressed content: a copy that was
    recompressed (Debian's Fashion-MNIST package) differs from the original archive but
    holds the same bytes once unpacked, and is accepted.
    """
    problem = path_problem(path)
    if problem:                       # a folder or a broken link where a file belongs
        raise UserError(f"{path}: {problem}; the data file of that name is expected "
                        f"there (move it away to download the file again)")
    got = md5sum(path)
    if got == md5 or (raw_md5 is not None and gunzip_md5(path) == raw_md5):
        return None
    return f"md5 {got}, expected {md5}" + (" (or the same content recompressed)"
                                           if raw_md5 else "")


def ensure_files(folder, md5s, mirrors, quiet=False, raw_md5s=None):
    """{name: path} of every file of `md5s` in `folder`, each verified, the missing ones
    downloaded from `mirrors`.

    Every file is checked before anything is fetched, so one error names every corrupt
    file (never used: delete to download again) or every file that could not be fetched
    (with its md5 and where to put it), not only the first.
    """
    raw_md5s = raw_md5s or {}
    paths, corrupt, missing = {}, [], []
    for name, md5 in md5s.items():
        path = os.path.join(folder, name)
        if not os.path.lexists(path):       # a broken link is reported, not downloaded over
            missing.append(name)
            continue
        why = check_file(path, md5, raw_md5s.get(name))
        if why:
            corrupt.append(f"{name} ({why})")
        paths[name] = path
    if corrupt:
        also = f"; also missing: {', '.join(missing)}" if missing else ""
        raise UserError(f"{folder}: checksum mismatch in {', '.join(corrupt)}; the cached "
                        f"{'file is' if len(corrupt) == 1 else 'files are'} corrupt: delete "
                        f"{'it' if len(corrupt) == 1 else 'them'} to download "
                        f"{'it' if len(corrupt) == 1 else 'them'} again{also}")
    made = _make_folder(folder) if missing else None
    for k, name in enumerate(missing):
        urls = [m.rstrip("/") + "/" + name for m in mirrors]
        try:
            paths[name] = fetch(urls, os.path.join(folder, name), md5s[name], quiet=quiet)
        except OSError as exc:
            # The mirrors are the same for every file: do not wait for each to fail.
            left = missing[k:]
            _remove_if_empty(folder, made)
            need = ", ".join(f"{n} (md5 {md5s[n]})" for n in left)
            raise UserError(f"download of {name} failed ({exc}); put {need} in {folder} "
                            f"by hand, or use --data-dir to point at a copy") from None
    return paths


def _make_folder(folder):
    """Create `folder` and its missing parents; returns the topmost folder created
    (None if it existed), for _remove_if_empty."""
    top, probe = None, os.path.abspath(folder)
    while not os.path.exists(probe):
        top, probe = probe, os.path.dirname(probe)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{folder}: cannot create the data folder ({exc.strerror}); "
                        f"choose another with --data-dir") from None
    return top


def _remove_if_empty(folder, top):
    """Undo _make_folder after a failed download: remove the folders it made, if empty."""
    if top is None:
        return
    probe = os.path.abspath(folder)
    while True:
        try:
            os.rmdir(probe)
        except OSError:
            return
        if probe == top:
            return
        probe = os.path.dirname(probe)


def ensure_file(folder, name, md5, mirrors, quiet=False):
    """Path of `folder/name`, verified by md5; downloaded from `mirrors` if absent."""
    return ensure_files(folder, {name: md5}, mirrors, quiet)[name]
