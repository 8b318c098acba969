"""Where datasets live on disk, and how a missing file is fetched or explained."""

import os

from ..errors import UserError
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


def ensure_file(folder, name, md5, mirrors, quiet=False):
    """Path of `folder/name`, verified by md5; downloaded from `mirrors` if absent.

    A cached file whose checksum is wrong is never used: the error says so and how to
    fix it. When no mirror answers, the error names the file, its checksum and the
    folder to put it in.
    """
    path = os.path.join(folder, name)
    if os.path.exists(path):
        got = md5sum(path)
        if got != md5:
            raise UserError(f"{path}: checksum mismatch (md5 {got}, expected {md5}); "
                            f"the cached file is corrupt: delete it to download it again")
        return path
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{folder}: cannot create the data folder ({exc.strerror}); "
                        f"choose another with --data-dir") from None
    urls = [m.rstrip("/") + "/" + name for m in mirrors]
    try:
        return fetch(urls, path, md5, quiet=quiet)
    except OSError as exc:
        raise UserError(f"download of {name} failed ({exc}); put {name} (md5 {md5}) in "
                        f"{folder} by hand, or use --data-dir to point at a copy") from None
