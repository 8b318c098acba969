"""Bad input that used to end in a traceback or a silent wrong result (issue 22): each
case and its family end in one line and exit code 2 (or a warning, where the data is
still sound), with nothing lost and nothing half-made. In-process through run.main,
which is what `python run.py` calls."""

import json
import os
import stat

import numpy as np
import pytest

from imb_ref import cli as run_module
from imb_ref.training import checkpoint
from imb_ref.training.settings import RunSettings

TINY = ["--hidden", "4,3", "--samples", "2", "--test-runs", "1", "--quiet"]


def one_line_exit_2(capsys, argv):
    rc = run_module.main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


def trained(tmp_path, capsys, model="sfnn", epochs=2, name="run"):
    out = tmp_path / name
    assert run_module.main(["train", "--model", model, "--estimator", "raiko",
                            "--epochs", str(epochs), "--output-dir", str(out)] + TINY) == 0
    capsys.readouterr()
    return out


def snapshot(folder):
    return {p: open(os.path.join(folder, p), "rb").read() for p in sorted(os.listdir(folder))
            if os.path.isfile(os.path.join(folder, p)) and not p.startswith(".")}


# ---- metrics.jsonl ------------------------------------------------------------------------
def test_a_garbage_line_in_metrics_is_refused_before_anything_is_rewritten(tmp_path, capsys):
    out = trained(tmp_path, capsys)
    lines = (out / "metrics.jsonl").read_text().splitlines(keepends=True)
    (out / "metrics.jsonl").write_text("not json at all\n" + "".join(lines))
    before = snapshot(out)
    err = one_line_exit_2(capsys, ["train", "--resume", str(out), "--epochs", "3"])
    assert "metrics.jsonl: line 1 is not a metrics record" in err
    assert snapshot(out) == before                # config.json and the rest untouched


def test_a_last_line_cut_short_is_dropped_with_a_warning_and_the_run_resumes(tmp_path,
                                                                             capsys):
    out = trained(tmp_path, capsys)
    text = (out / "metrics.jsonl").read_text()
    (out / "metrics.jsonl").write_text(text + '{"epoch": 3, "train_lo')   # a crash mid-write
    assert run_module.main(["train", "--resume", str(out), "--epochs", "3"]) == 0
    err = capsys.readouterr().err
    assert "its last line was cut short" in err and err.count("\n") == 1
    epochs = [json.loads(l)["epoch"] for l in (out / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [1, 2, 3]


def test_a_table1_gathering_refuses_a_damaged_metrics_file(tmp_path):
    from imb_ref.errors import UserError
    from imb_ref.experiments.table1 import run_curve
    (tmp_path / "metrics.jsonl").write_text('{"epoch": 1, "test_error": 0.5}\n[1, 2]\n'
                                            '{"epoch": 3, "test_error": 0.4}\n')
    with pytest.raises(UserError, match=r"line 2 is not a metrics record"):
        run_curve(str(tmp_path))


# ---- a checkpoint against its configuration ------------------------------------------------
@pytest.mark.parametrize("damage", ["shape", "missing", "extra", "nan", "opt-shape", "config"])
def test_a_checkpoint_that_does_not_fit_its_configuration_is_refused(tmp_path, capsys,
                                                                      damage):
    out = trained(tmp_path, capsys)
    path = str(out / checkpoint.FILENAME)
    params, best, opt, meta = checkpoint.load(path)
    name = sorted(params)[0]
    if damage == "shape":
        params[name] = np.zeros((7, 7), np.float32)
    elif damage == "missing":
        del params[name]
    elif damage == "extra":
        params["W_9"] = np.zeros(3, np.float32)
    elif damage == "nan":
        params[name] = params[name] * np.nan
    elif damage == "opt-shape":
        key = next(k for k in opt if k != "t")
        opt[key] = np.zeros(5, np.float32)
    else:                                       # the meta's network and the arrays disagree
        meta["config"]["hidden"] = "5,3"
    checkpoint.save(path, params, best, opt, meta["epoch"],
                    RunSettings.from_dict(meta["config"]), meta["state"])
    before = snapshot(out)
    err = one_line_exit_2(capsys, ["train", "--resume", str(out), "--epochs", "3"])
    assert "the checkpoint does not fit its configuration" in err
    assert snapshot(out) == before
    if damage != "opt-shape":       # the attack reads no optimiser state
        err = one_line_exit_2(capsys, ["attack", str(out), "--attack-n", "1"])
        assert "the checkpoint does not fit its configuration" in err


# ---- --data-file ---------------------------------------------------------------------------
def _mat(tmp_path, f=None, y=None):
    from scipy.io import savemat

    from imb_ref.data import synthetic12
    x, labels = synthetic12.make_task()
    path = tmp_path / "var_u.mat"
    savemat(path, {"F": x if f is None else f(x.copy()),
                   "y": (labels if y is None else y(labels.astype(float).copy()))[None, :]})
    return str(path)


def _set(array, index, value):
    array[index] = value
    return array


@pytest.mark.parametrize("f, y, message", [
    (None, lambda y: _set(y, 5, 2), r"y holds 2 at index 5 \(1 entries other than 0 and 1\)"),
    (None, lambda y: _set(y, 7, 0.5), r"y holds 0.5 at index 7"),
    (None, lambda y: _set(y, 0, -1), r"y holds -1 at index 0"),
    (lambda f: _set(f, (3, 4), 0.5), None, r"F holds 0.5 at index \(3, 4\)"),
    (lambda f: _set(f, (0, 0), np.nan), None, r"F holds nan at index \(0, 0\)"),
    (lambda f: f[:, :11], None, r"F has shape \(4096, 11\)"),
])
@pytest.mark.parametrize("command", ["train", "infoplane"])
def test_a_data_file_that_is_not_a_binary_task_is_refused(tmp_path, capsys, command, f, y,
                                                          message):
    path = _mat(tmp_path, f, y)
    out = tmp_path / "out"
    extra = ["--jobs", "2", "--points", "2"] if command == "infoplane" else []
    err = one_line_exit_2(capsys, [command, "--data-file", path, "--epochs", "1",
                                   "--output-dir", str(out)] + TINY + extra)
    assert "var_u.mat: " in err and __import__("re").search(message, err), err
    assert not out.exists()


# ---- output files --------------------------------------------------------------------------
def test_golden_onto_a_read_only_file_is_refused_and_the_file_kept(tmp_path, capsys):
    path = tmp_path / "case.npz"
    path.write_bytes(b"keep me")
    path.chmod(0o444)
    err = one_line_exit_2(capsys, ["golden", str(path), "--hidden", "3", "--samples", "2"])
    assert "the file is read-only and is not replaced" in err
    assert path.read_bytes() == b"keep me"


def test_golden_onto_a_file_it_cannot_write_is_one_line(tmp_path, capsys):
    """Root may write anywhere, so an unwritable place is made here as a folder where
    the temporary file must go; the family (no permission, a read-only file system) is
    the same OSError, turned into one line by files.atomic_write."""
    path = tmp_path / "case.npz"
    (tmp_path / "case.npz.tmp").mkdir()
    err = one_line_exit_2(capsys, ["golden", str(path), "--hidden", "3", "--samples", "2"])
    assert "case.npz.tmp, where the file is written before it is renamed, is a folder" in err


def test_atomic_write_turns_any_os_error_into_one_line_and_keeps_the_old_file(tmp_path,
                                                                              monkeypatch):
    from imb_ref.errors import UserError
    from imb_ref.files import atomic_write, write_json
    path = str(tmp_path / "r.json")
    write_json(path, {"a": 1})

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(UserError, match=r"could not write .*r.json: Permission denied; any "
                       r"earlier complete r.json is kept"):
        write_json(path, {"a": 2})
    monkeypatch.undo()
    assert json.load(open(path)) == {"a": 1} and os.listdir(tmp_path) == ["r.json"]
    os.chmod(path, stat.S_IRUSR)
    with pytest.raises(UserError, match="is read-only and is not replaced"):
        with atomic_write(path) as fh:
            fh.write("x")


# ---- comma lists ----------------------------------------------------------------------------
@pytest.mark.parametrize("argv, message", [
    (["train", "--hidden", "5,,5"], "--hidden '5,,5': an empty entry between two commas"),
    (["train", "--hidden", "5,5,"], "--hidden '5,5,': an empty entry at the end"),
    (["train", "--hidden", ",5"], "--hidden ',5': an empty entry at the start"),
    (["train", "--hidden", "0,5"], "--hidden '0,5': hidden layer 1 has width 0; every hidden "
                                   "layer needs at least one unit"),
    (["train", "--hidden", "5,-2"], "hidden layer 2 has width -2"),
    (["train", "--hidden", ","], "--hidden ',': give a comma list, e.g. 512,512"),
    (["train", "--betas", "1e-4,,1e-4"], "--betas '1e-4,,1e-4': an empty entry"),
    (["train", "--gammas", "1,"], "--gammas '1,': an empty entry at the end"),
    (["infoplane", "--models", "sfnn,,jointimb"], "--models 'sfnn,,jointimb': an empty entry"),
    (["table1", "--beta-grid", "1e-3,,1e-4", "--plan", "--output-dir", "OUT"],
     "--beta-grid '1e-3,,1e-4': an empty entry"),
])
def test_a_comma_list_with_a_gap_is_refused_naming_what_is_wrong(tmp_path, capsys, argv,
                                                                 message):
    argv = [str(tmp_path / "o") if a == "OUT" else a for a in argv]
    err = one_line_exit_2(capsys, argv + ["--epochs", "1"] if argv[0] != "table1" else argv)
    assert message in err
    assert not (tmp_path / "o").exists()


# ---- Ctrl-C ---------------------------------------------------------------------------------
def test_ctrl_c_before_any_pair_has_a_checkpoint_keeps_nothing_and_says_so(tmp_path,
                                                                          monkeypatch, capsys):
    from imb_ref.experiments.infoplane import measure

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(measure, "run_epochs", interrupt)
    out = tmp_path / "ip"
    assert run_module.main(["infoplane", "--epochs", "5", "--points", "2", "--jobs", "1",
                            "--output-dir", str(out)] + TINY) == 130
    err = capsys.readouterr().err
    assert err == ("interrupted before any (model, seed) pair wrote a checkpoint: nothing "
                   "was kept; run the same command to start again\n")
    assert not out.exists()


def test_a_reader_that_goes_away_is_no_traceback(tmp_path, run_py):
    """`python run.py ... | head -1`: the pipe closes under the run's later prints."""
    import subprocess
    import sys
    proc = subprocess.Popen([sys.executable, run_py, "train", "--epochs", "3",
                             "--output-dir", str(tmp_path / "r")] + TINY,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert first.startswith(b"command: train (named on the command line)")
    assert "Traceback" not in err and proc.returncode in (0, 141), err


# ---- a path where a file is expected: a folder, a broken link -------------------------------
@pytest.mark.parametrize("kind", ["folder", "broken link"])
@pytest.mark.parametrize("argv, where", [
    (["train", "--dataset", "mnist", "--data-dir", "D", "--epochs", "1"],
     "D/mnist/train-images-idx3-ubyte.gz"),
    (["train", "--dataset", "cifar10", "--data-dir", "D", "--epochs", "1"],
     "D/cifar10/cifar-10-batches-bin/data_batch_1.bin"),
    (["infoplane", "--data-file", "D/var_u.mat", "--epochs", "1", "--points", "1",
      "--jobs", "1"], "D/var_u.mat"),
    (["golden", "--check", "D/case.npz"], "D/case.npz"),
    (["train", "--resume", "D/run"], "D/run/checkpoint.npz"),
    (["attack", "D/run"], "D/run/checkpoint.npz"),
])
def test_a_folder_or_a_broken_link_where_a_file_belongs_is_one_line(tmp_path, capsys,
                                                                     monkeypatch, kind,
                                                                     argv, where):
    """Every loader that opens a file names the path and what is wrong with it (a folder,
    a broken link), exit 2, no traceback; nothing is downloaded over it."""
    from fixtures import unused_port_url
    for var in ("IMB_MNIST_MIRRORS", "IMB_CIFAR10_MIRRORS"):
        monkeypatch.setenv(var, unused_port_url())
    base = tmp_path / "D"
    path = tmp_path / where
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "folder":
        path.mkdir()
    else:
        os.symlink(tmp_path / "nowhere", path)
    if "cifar10" in where:                   # the other five files present, so the folder is read
        for name in ("data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
                     "data_batch_5.bin", "test_batch.bin"):
            (path.parent / name).write_bytes(b"")
    argv = [a.replace("D", str(base)) if a.startswith("D") else a for a in argv]
    extra = TINY if argv[0] == "train" and "--resume" not in argv else []
    err = one_line_exit_2(capsys, argv + extra)
    reason = "is a folder, not a file" if kind == "folder" else "is a broken link"
    assert str(path) in err and reason in err, err


# ---- report: the flags that go together -----------------------------------------------------
@pytest.mark.parametrize("argv, says", [
    (["report", "somewhere"], "run folders are read only with --add NAME"),
    (["report", "--add", "x"], "name the finished run folders to gather"),
    (["report", "--add", "../x", "F"], "a summary's name is a plain file name"),
    (["report", "--add", "x", "F", "--check"], "give it without --add"),
    (["report", "--title", "T"], "--title names the summary that --add NAME writes"),
])
def test_report_flags_that_do_not_go_together_are_one_line(tmp_path, capsys, monkeypatch,
                                                            argv, says):
    """A report flag given without the one it belongs with is refused before anything is
    read or written: one line naming what to give instead, exit 2."""
    monkeypatch.chdir(tmp_path)                  # nothing here to read or overwrite
    assert says in one_line_exit_2(capsys, argv)
    assert list(tmp_path.iterdir()) == []
