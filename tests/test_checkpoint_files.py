"""imb_ref.files: an interrupted or failed write leaves neither a partial file under the
final name nor a temporary file beside it."""

import json
import os

import numpy as np
import pytest

from imb_ref.training import checkpoint
from imb_ref.files import TMP_SUFFIX, atomic_write, write_json


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    path = str(tmp_path / "summary.json")
    write_json(path, {"a": 1})
    with pytest.raises(RuntimeError):
        with atomic_write(path) as fh:
            fh.write('{"a": 2, "half')
            raise RuntimeError("disk full")
    assert open(path).read().replace(" ", "").replace("\n", "") == '{"a":1}'
    assert os.listdir(tmp_path) == ["summary.json"]


def test_a_checkpoint_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    path = str(tmp_path / checkpoint.FILENAME)
    params = {"W_0": np.ones((2, 2))}
    checkpoint.save(path, params, {}, {"t": 1}, {"epoch": 1})

    def broken_savez(fh, **arrays):
        fh.write(b"PK\x03\x04 partial")
        raise OSError(27, "File too large")
    monkeypatch.setattr(np, "savez", broken_savez)
    from imb_ref.errors import UserError
    with pytest.raises(UserError, match="could not write .*File too large"):
        checkpoint.save(path, params, {}, {"t": 2}, {"epoch": 2})
    assert checkpoint.load(path)[3]["epoch"] == 1
    assert not os.path.exists(path + TMP_SUFFIX)


@pytest.mark.parametrize("damage", ["truncated", "bit-flipped", "plain text"])
def test_a_damaged_checkpoint_is_one_clear_error(tmp_path, damage):
    from imb_ref.errors import UserError
    path = str(tmp_path / checkpoint.FILENAME)
    checkpoint.save(path, {"W_0": np.arange(4000.0)}, {}, {"t": 1}, {"epoch": 1})
    data = bytearray(open(path, "rb").read())
    if damage == "truncated":
        data = data[:len(data) // 2]
    elif damage == "bit-flipped":
        data[200] ^= 0x40                       # inside W_0's bytes: the CRC no longer fits
    else:
        data = b"this is a note, not a checkpoint\n"
    open(path, "wb").write(bytes(data))
    with pytest.raises(UserError, match="not a readable checkpoint") as err:
        checkpoint.load(path)
    assert "\n" not in str(err.value) and "allow_pickle" not in str(err.value)


def test_a_full_disk_is_one_line_and_leaves_no_temporary_file(tmp_path, run_py):
    """A file-size limit (`ulimit -f`, as a full disk would) hit while the checkpoint is
    written: exit 2, one line naming the file, no checkpoint.npz.tmp left behind; and
    since the first checkpoint never got written, the run folder this command made is
    removed too (files.run_folder), while a folder that was there before is kept."""
    import subprocess
    import sys
    out = tmp_path / "run"
    cmd = (f"ulimit -f 6; {sys.executable} {run_py} train --model jointimb --epochs 2 --hidden 6,4 "
           f"--samples 2 --estimator raiko --test-runs 2 --quiet --output-dir {out}")
    res = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and res.stderr.count("\n") == 1, res.stderr
    assert "could not write" in res.stderr and "File too large" in res.stderr
    assert not out.exists()
    out.mkdir()                                    # the same into a folder that exists
    res = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "File too large" in res.stderr, res.stderr
    assert out.is_dir() and not any(p.name.endswith(TMP_SUFFIX) for p in out.iterdir())


def test_resume_drops_the_metrics_lines_after_the_checkpoint(tmp_path):
    """A crash between an epoch's metrics line and its checkpoint leaves a line the
    resumed run will write again: it is dropped (through a temporary file, so a second
    interruption cannot lose the lines kept), and a file with nothing to drop is kept."""
    from imb_ref.training.run_state import RunState
    path = tmp_path / "metrics.jsonl"
    run = RunState(str(tmp_path / "checkpoint.npz"), str(path))
    lines = [json.dumps({"epoch": e, "time_s": 1.0}) + "\n" for e in (1, 2, 3, 4)]
    path.write_text("".join(lines))
    run.truncate(2)
    assert path.read_text() == "".join(lines[:2])
    assert not os.path.exists(str(path) + TMP_SUFFIX)
    run.truncate(2)
    assert path.read_text() == "".join(lines[:2])
