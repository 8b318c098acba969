"""imb_ref.files: an interrupted or failed write leaves neither a partial file under the
final name nor a temporary file beside it."""

import json
import os

import numpy as np
import pytest

from imb_ref.training import checkpoint
from imb_ref.files import TMP_SUFFIX, atomic_write, write_json
from imb_ref.training.settings import RunSettings


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
    checkpoint.save(path, params, {}, {"t": 1}, 1, RunSettings())

    def broken_savez(fh, **arrays):
        fh.write(b"PK\x03\x04 partial")
        raise OSError(27, "File too large")
    monkeypatch.setattr(np, "savez", broken_savez)
    from imb_ref.errors import UserError
    with pytest.raises(UserError, match="could not write .*File too large"):
        checkpoint.save(path, params, {}, {"t": 2}, 2, RunSettings())
    assert checkpoint.load(path)[3]["epoch"] == 1
    assert not os.path.exists(path + TMP_SUFFIX)


@pytest.mark.parametrize("damage", ["truncated", "bit-flipped", "plain text"])
def test_a_damaged_checkpoint_is_one_clear_error(tmp_path, damage):
    from imb_ref.errors import UserError
    path = str(tmp_path / checkpoint.FILENAME)
    checkpoint.save(path, {"W_0": np.arange(4000.0)}, {}, {"t": 1}, 1, RunSettings())
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


# Folders written before a checkpoint's meta had one schema (format 1), by the code of
# commit 17e7780: tests/data/old_folders/README.md says how each was made.
OLD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "old_folders")


def _raw_meta(path):
    with np.load(path, allow_pickle=False) as data:
        return json.loads(str(data["meta"]))


def _rewrite_raw_meta(path, meta):
    """The file with its meta replaced, every array kept as written (format 1 stays 1)."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["meta"] = np.array(json.dumps(meta))
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def test_a_format_1_meta_reads_in_todays_schema():
    run = checkpoint.load(os.path.join(OLD, "run", checkpoint.FILENAME))[3]
    assert run["format"] == checkpoint.FORMAT and run["model"] == "jointimb"
    assert run["state"] == {"best_val": 0.435, "best_epoch": 1, "bad_epochs": 1}
    assert run["config"]["val_size"] == 200 and run["epoch"] == 2 and run["opt_t"] == 98
    pair = checkpoint.load(os.path.join(OLD, "pair", "jointimb-5.npz"))[3]
    assert pair["config"]["seed"] == 5 and "points" not in pair["config"]
    assert pair["state"]["points"] == 3 and pair["state"]["loss"] > 0
    assert "settings" in _raw_meta(os.path.join(OLD, "pair", "jointimb-5.npz"))


def test_an_old_run_folder_resumes_extends_and_gathers_as_an_uninterrupted_run(tmp_path):
    """The old run folder (2 epochs, early stopping's bookkeeping in the format-1 meta)
    extended to 4 epochs by today's code gives the records and summary of a 4-epoch run
    made today, and its checkpoint is rewritten in today's schema."""
    import shutil
    from imb_ref import cli
    from imb_ref.claims.gather import from_train_folders
    from imb_ref.training.commands import train_line
    old = str(tmp_path / "old")
    shutil.copytree(os.path.join(OLD, "run"), old)
    assert cli.main(["train", "--resume", old, "--epochs", "4", "--quiet"]) == 0
    fresh = str(tmp_path / "fresh")
    assert cli.main(["train", "--dataset", "synthetic12", "--model", "jointimb", "--hidden",
                     "3,2", "--samples", "2", "--test-samples", "2", "--test-runs", "2",
                     "--estimator", "raiko", "--val-size", "200", "--patience", "3",
                     "--epochs", "4", "--seed", "5", "--quiet", "--output-dir", fresh]) == 0

    def records(folder):
        with open(os.path.join(folder, "metrics.jsonl")) as fh:
            return [{k: v for k, v in json.loads(line).items() if k != "time_s"}
                    for line in fh]

    def summary(folder):
        with open(os.path.join(folder, "summary.json")) as fh:
            return {k: v for k, v in json.load(fh).items() if not k.endswith("_s")}
    assert records(old) == records(fresh) and len(records(old)) == 4
    assert summary(old) == summary(fresh)
    assert _raw_meta(os.path.join(old, checkpoint.FILENAME))["format"] == checkpoint.FORMAT
    gathered = from_train_folders("old", [old], train_line)
    assert gathered["models"]["jointimb"]["by_seed"]["5"] == pytest.approx(
        100 * summary(fresh)["test_error_mean"])


def test_an_old_information_plane_pair_resumes_with_the_uninterrupted_numbers(tmp_path):
    """The old pair (stopped after epoch 2 of 4) continued by today's code gives the rows
    and results of an uninterrupted pair; so does the older layout that kept only the
    settings changing the trajectory (the former RESUME_KEYS), and a changed setting is
    still refused."""
    import shutil
    from dataclasses import replace
    from imb_ref.errors import UserError
    from imb_ref.experiments import infoplane
    from imb_ref.training.settings import load
    cfg = RunSettings.from_flags({"dataset": "synthetic12", "hidden": "3,2", "epochs": 4,
                                  "quiet": True})
    data = load(cfg)
    model = infoplane.build("jointimb", cfg)

    def train(path, settings=cfg):
        rows = []
        res = infoplane.train_and_measure(settings, model, data, np, 5, 4, 3, rows.append,
                                          checkpoint_path=path)
        return rows, res

    whole, res_whole = train(None)
    part = str(tmp_path / "jointimb-5.npz")
    shutil.copy(os.path.join(OLD, "pair", "jointimb-5.npz"), part)
    rows, res = train(part)
    assert res == res_whole and rows == [r for r in whole if r["epoch"] > 2] and rows
    assert _raw_meta(part)["format"] == checkpoint.FORMAT

    shutil.copy(os.path.join(OLD, "pair", "jointimb-5.npz"), part)
    meta = _raw_meta(part)
    old_keys = ("data_file", "hidden", "samples", "estimator", "gammas", "betas",
                "optimizer", "lr", "momentum", "clip", "batch_size", "epochs", "points",
                "stage_epochs", "dtype", "shuffle")
    meta["settings"] = {k: meta["settings"][k] for k in old_keys}
    _rewrite_raw_meta(part, meta)
    rows, res = train(part)
    assert res == res_whole and rows == [r for r in whole if r["epoch"] > 2]

    shutil.copy(os.path.join(OLD, "pair", "jointimb-5.npz"), part)
    with pytest.raises(UserError, match="was trained with lr = 0.01, this run asks for 0.5"):
        train(part, cfg.replace(lr=0.5))
