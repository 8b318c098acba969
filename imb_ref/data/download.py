"""Fetch a file from a list of mirrors, verify its checksum, and only then name it.

The bytes go to `<name>.part` in the destination folder with a tqdm progress bar; the
checksum is checked; the file is renamed into place (`os.replace`, atomic on POSIX).
A failed or interrupted download never leaves a partial file under the final name.
"""

import hashlib
import os
import sys
import urllib.error
import urllib.request


CHUNK = 1 << 16


def md5sum(path):
    h = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _progress(total, desc, quiet):
    from tqdm import tqdm
    disable = quiet or not sys.stderr.isatty()
    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, leave=False,
                disable=disable)


def fetch(urls, dest, md5, timeout=30.0, quiet=False):
    """Download the first of `urls` that answers with the right checksum into `dest`.

    Returns `dest`. Raises OSError (with every mirror's failure in the message) when no
    mirror gives a verified file; callers turn that into a UserError naming the files
    needed and where to put them.
    """
    folder = os.path.dirname(os.path.abspath(dest))
    os.makedirs(folder, exist_ok=True)
    part = dest + ".part"
    failures = []
    for url in urls:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                total = resp.headers.get("Content-Length")
                total = int(total) if total else None
                with open(part, "wb") as out, _progress(total, os.path.basename(dest),
                                                         quiet) as bar:
                    for block in iter(lambda: resp.read(CHUNK), b""):
                        out.write(block)
                        bar.update(len(block))
            got = md5sum(part)
            if got != md5:
                failures.append(f"{url}: checksum mismatch (md5 {got}, expected {md5})")
                os.remove(part)
                continue
            os.replace(part, dest)
            return dest
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            failures.append(f"{url}: {reason}")
        finally:
            if os.path.exists(part):
                os.remove(part)
    raise OSError("; ".join(failures) or "no mirror given")
