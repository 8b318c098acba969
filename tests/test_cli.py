"""run.py end to end: configuration, files written, bad flags, resume, NaN."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from imb_ref.training import checkpoint

# The sampled tree (synthetic12's default is the exact objective, tested below).
QUICK = ["train", "--model", "jointimb", "--epochs", "2", "--hidden", "6,4", "--samples", "2",
         "--estimator", "raiko", "--test-runs", "2", "--quiet"]


def run(run_py, *args, env=None, timeout=300):
    return subprocess.run([sys.executable, run_py, *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def one_line_error(res):
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert res.stderr.startswith("error: ") and res.stderr.count("\n") == 1, res.stderr
    assert "Traceback" not in res.stderr


def test_trains_and_writes_metrics_and_summary(tmp_path, run_py):
    out = tmp_path / "run"
    res = run(run_py, *QUICK, "--output-dir", str(out))
    assert res.returncode == 0, res.stderr
    head = res.stdout.splitlines()[:4]
    assert head[0].startswith("command: train")
    assert head[1].split() == ["backend:", "numpy", "(cpu)"]
    assert "synthetic12: 3277 train / 0 val / 819 test" in res.stdout
    lines = [json.loads(l) for l in open(out / "metrics.jsonl")]
    assert [l["epoch"] for l in lines] == [1, 2]
    assert all({"train_loss", "test_error"} <= set(l) for l in lines)
    assert all(0.0 <= l["test_error"] <= 1.0 for l in lines)
    summary = json.load(open(out / "summary.json"))
    assert summary["test_runs"] == 2 and len(summary["test_errors"]) == 2
    assert {"test_error_mean", "test_error_std", "meanfield_test_error"} <= set(summary)
    assert (out / "checkpoint.npz").exists() and not (out / "checkpoint.npz.tmp").exists()


def test_epochs_zero_evaluates_without_training(tmp_path, run_py):
    out = tmp_path / "run"
    res = run(run_py, "train", "--model", "jointimb", "--epochs", "0", "--hidden", "4", "--samples", "2", "--quiet",
              "--output-dir", str(out))
    assert res.returncode == 0, res.stderr
    assert json.load(open(out / "summary.json"))["epochs_trained"] == 0
    assert not (out / "metrics.jsonl").exists()


def test_resume_gives_the_uninterrupted_result(tmp_path, run_py):
    straight, split = tmp_path / "straight", tmp_path / "split"
    args = ["train", "--hidden", "6,4", "--samples", "2", "--test-runs", "1", "--quiet", "--model",
            "greedyimb", "--stage-epochs", "1"]
    assert run(run_py, *args, "--epochs", "3", "--output-dir", str(straight)).returncode == 0
    assert run(run_py, *args, "--epochs", "1", "--output-dir", str(split)).returncode == 0
    res = run(run_py, "train", "--resume", str(split), "--epochs", "3", "--quiet")
    assert res.returncode == 0, res.stderr
    a, _, opt_a, meta_a = checkpoint.load(str(straight))
    b, _, opt_b, meta_b = checkpoint.load(str(split))
    assert meta_a["epoch"] == meta_b["epoch"] == 3
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])     # bit for bit
    for k in opt_a:
        np.testing.assert_array_equal(opt_a[k], opt_b[k])
    la = [json.loads(l) for l in open(straight / "metrics.jsonl")]
    lb = [json.loads(l) for l in open(split / "metrics.jsonl")]
    assert [(l["epoch"], l["stage"], l["train_loss"]) for l in la] == \
           [(l["epoch"], l["stage"], l["train_loss"]) for l in lb]
    # The resumed run's wall time counts the epoch it ran before the interruption too:
    # every epoch's time_s plus the final evaluation (rounded to 0.01 s on both sides).
    summary = json.load(open(split / "summary.json"))
    assert summary["wall_s"] == pytest.approx(sum(l["time_s"] for l in lb)
                                              + summary["eval_s"], abs=0.02)
    # A flag that would change the resumed run is refused, not silently ignored.
    res = run(run_py, "--resume", str(split), "--hidden", "9,4", "--epochs", "4")
    one_line_error(res)
    assert f"--hidden 9,4: {split} was made with hidden = 6,4 " in res.stderr
    assert checkpoint.load(str(split))[3]["epoch"] == 3


@pytest.mark.parametrize("has_checkpoint", [True, False])
def test_ctrl_c_names_the_run_folder_to_resume_only_if_there_is_a_checkpoint(
        tmp_path, has_checkpoint):
    from imb_ref.training.commands import interrupted
    folder = tmp_path / "mnist-jointimb-x"
    if has_checkpoint:
        folder.mkdir()
        (folder / checkpoint.FILENAME).write_bytes(b"")
    line = interrupted(str(folder))
    assert "\n" not in line
    assert (f"python run.py train --resume {folder}" in line) == has_checkpoint
    assert ("before the first epoch finished: no checkpoint was written" in line) != \
        has_checkpoint


def test_ctrl_c_after_a_checkpoint_names_the_resume_command(tmp_path, monkeypatch, capsys):
    from imb_ref import cli as run_module
    from imb_ref.training import loop
    real = loop.train_epoch
    calls = []

    def interrupt_in_epoch_2(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)
    monkeypatch.setattr(loop, "train_epoch", interrupt_in_epoch_2)
    out = tmp_path / "r"
    assert run_module.main(["train", "--hidden", "4,3", "--epochs", "3", "--quiet",
                            "--output-dir", str(out)]) == 130
    err = capsys.readouterr().err
    assert err == ("interrupted: the last completed epoch's checkpoint is kept; continue "
                   f"with python run.py train --resume {out}\n")
    assert checkpoint.load(str(out))[3]["epoch"] == 1


def test_ctrl_c_in_the_first_epoch_leaves_no_folder(tmp_path, monkeypatch, capsys):
    """Ctrl-C before the first checkpoint: the folder the run made is removed and the
    message says so (it used to promise a checkpoint that did not exist)."""
    from imb_ref import cli as run_module
    from imb_ref.training import loop

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(loop, "train_epoch", interrupt)
    out = tmp_path / "runs" / "r"
    assert run_module.main(["train", "--hidden", "4,3", "--epochs", "2", "--quiet",
                            "--output-dir", str(out)]) == 130
    err = capsys.readouterr().err
    assert "no checkpoint was written" in err and err.count("\n") == 1
    assert not (tmp_path / "runs").exists()


def test_refuses_to_overwrite_a_run(tmp_path, run_py):
    out = tmp_path / "run"
    assert run(run_py, *QUICK, "--output-dir", str(out)).returncode == 0
    res = run(run_py, *QUICK, "--output-dir", str(out))
    one_line_error(res)
    assert "already holds a run" in res.stderr


@pytest.mark.parametrize("args,needle", [
    (["--backend", "tensorflow"], "invalid choice"),
    (["--dataset", "svhn"], "invalid choice"),
    (["--hidden", "3,x"], "--hidden '3,x'"),
    (["--samples", "0"], "--samples 0: must be at least 1"),
    (["--betas", "1,2"], "--betas '1,2': give one value or 4 values"),
    (["--max-memory", "1e-9"], "raise --max-memory"),
    (["--epochs", "-1"], "--epochs -1"),
    (["--no-such-flag"], "unrecognized argument --no-such-flag"),
    # A flag of another command is refused, naming the command it belongs to.
    (["train", "--attack-iters", "5"], "--attack-iters is not a flag of `python run.py train`; "
     "it belongs to `table1`, `attack`"),
    (["train", "--jobs", "2"], "it belongs to `infoplane`"),
    (["infoplane", "--model", "vib"], "it belongs to `train`"),
    (["infoplane", "--quiet", "--preset", "authors"], "invalid choice: 'authors'"),
    (["--table1"], "that job is now its own command, `python run.py table1`"),
    (["--export-golden", "x.npz"], "`python run.py golden`"),
    (["frobnicate"], "unknown command 'frobnicate'"),
    (["train", "stray"], "takes no argument 'stray'"),
    (["attack"], "the following arguments are required: RUN"),
    (["--resume", "/nonexistent/run"], "no checkpoint there"),
    (["--fused"], "the fused kernels run on CuPy only"),
    (["--backend", "cupy", "--fused", "--estimator", "reinforce"], "no fused reinforce"),
    # Numbers out of range or not numbers at all (NaN passes every comparison).
    (["--seed", "-1"], "--seed -1: must be 0 or more"),
    (["--patience", "-1"], "--patience -1: must be 0 or more"),
    (["--max-memory", "nan"], "--max-memory nan: must be a finite number above 0"),
    (["--lr", "nan"], "--lr nan: must be a finite number above 0"),
    (["--lr", "inf"], "--lr inf: must be a finite number above 0"),
    (["--momentum", "nan"], "--momentum nan: must be a finite number of at least 0"),
    (["--momentum", "1.5"], "--momentum 1.5: must be below 1"),
    # Found by tests/test_cli_fuzz.py: each used to end in a traceback.
    (["--max-memory", "1e300"], "--max-memory 1e+300: at most 1e+06 GB"),
    (["infoplane", "--points", "99999999999"], "--points 99999999999: must be between 1 "
     "and 10,000"),
    (["table1", "--seeds", "99999999999"], "--seeds 99999999999: must be between 1 and 1,000"),
    (["table1", "--beta-grid", "1e-3,abc"], "--beta-grid '1e-3,abc': give a comma list"),
    (["table1", "--beta-grid", "nan"], "--beta-grid 'nan': give a comma list"),
    (["golden", "x.npz", "--samples", "99999999999", "--batch-size", "1"],
     "golden: a case of 1 examples at M=99999999999"),
    (["--clip", "-1"], "--clip -1.0: must be a finite number of at least 0"),
    (["--betas", "nan"], "--betas 'nan': weights must be finite and non-negative"),
    (["--gammas", "1,1,1,1,-1"], "weights must be finite and non-negative"),
    (["--stage-epochs", "0"], "--stage-epochs 0: must be between 1 and --epochs"),
    (["--model", "greedyimb", "--epochs", "10", "--stage-epochs", "50"],
     "--stage-epochs 50: must be between 1 and --epochs (10)"),
])
def test_bad_flags_end_in_one_line(run_py, args, needle):
    res = run(run_py, *args)
    one_line_error(res)
    assert needle in res.stderr


def test_cupy_requested_without_a_gpu(run_py):
    """Without CuPy, the hint names the wheel to install; with CuPy but no GPU (CI
    installs the wheel), CuPy is not believed: one line either way, never a fallback."""
    from conftest import CUPY
    if CUPY is not None:
        pytest.skip("this machine has CuPy and a GPU")
    try:
        import cupy  # noqa: F401
        needle = "CuPy sees no usable GPU"
    except ImportError:
        needle = "pip install cupy-cuda12x"
    res = run(run_py, "--backend", "cupy", "--epochs", "0")   # `train`, the default command
    one_line_error(res)
    assert needle in res.stderr
    env = dict(os.environ, IMB_BACKEND="cupy")
    one_line_error(run(run_py, "--epochs", "0", env=env))


def test_output_dir_that_is_a_file(tmp_path, run_py):
    f = tmp_path / "f"
    f.write_text("")
    res = run(run_py, *QUICK, "--output-dir", str(f))
    one_line_error(res)
    assert "is a file" in res.stderr


@pytest.mark.parametrize("mode", ["train", "infoplane", "table1"])
def test_output_dir_under_a_file_or_read_only(tmp_path, run_py, mode):
    """A folder that cannot be made (under a file) or written (read-only parent) is
    refused in one line before any work, for every kind of run."""
    f = tmp_path / "f"
    f.write_text("")
    args = {"train": QUICK, "infoplane": ["infoplane", "--epochs", "1", "--quiet"],
            "table1": ["table1", "--dataset", "fashion-mnist", "--quiet"]}[mode]
    res = run(run_py, *args, "--output-dir", str(f / "run"))
    one_line_error(res)
    assert "is a file, so no folder can be made under it" in res.stderr
    if os.geteuid() != 0:                      # root writes anywhere: no read-only place
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        res = run(run_py, *args, "--output-dir", str(ro / "run"))
        one_line_error(res)
        assert "is not writable" in res.stderr


def test_help_names_every_command_and_each_command_documents_its_flags(run_py):
    from imb_ref import cli as run_module
    res = run(run_py, "--help")
    assert res.returncode == 0
    for command in run_module.COMMANDS:
        assert f"  {command} " in res.stdout
    for command, row in run_module.COMMANDS.items():
        parser = row.parser()
        res = run(run_py, command, "--help")
        assert res.returncode == 0 and f"usage: python run.py {command}" in res.stdout
        flags = [f for f in parser._option_string_actions if f.startswith("--")]
        for flag in flags:
            assert flag in res.stdout, (command, flag)
        for action in parser._actions:
            assert action.help, (command, action.dest)     # every flag says what it does
    res = run(run_py, "bench", "--help")
    assert res.returncode == 0 and "usage: python run.py bench" in res.stdout


@pytest.mark.parametrize("argv,command,expected", [
    ([], "infoplane", {}),                                  # the embedded demo
    (["--backend", "cupy", "--dataset", "cifar10"], "train",   # the promised form
     {"backend": "cupy", "dataset": "cifar10"}),
    (["--quiet"], "train", {"quiet": True}),                # no longer the 20,000-epoch run
    (["infoplane", "--preset", "paper"], "infoplane", {"preset": "paper"}),
    (["attack", "runs/x", "--attack-n", "5"], "attack", {"checkpoint": "runs/x",
                                                          "attack_n": 5}),
    (["golden", "c.npz", "--hidden", "4"], "golden", {"path": "c.npz",
                                                      "hidden": (4,)}),
    (["bench", "--steps", "3"], "bench", {"steps": 3}),
])
def test_commands_and_the_two_promised_forms(argv, command, expected):
    from imb_ref import cli as run_module
    assert run_module.parse(argv) == (command, expected)


def test_the_paper_length_information_plane_is_asked_for_by_name(monkeypatch):
    """Section 5.3's 20,000 epochs and 5 seeds come only with --preset paper; the demo
    and an explicit flag override otherwise."""
    from imb_ref import cli as run_module
    seen = []
    from imb_ref.experiments import infoplane
    monkeypatch.setattr(infoplane, "command", lambda cfg, xp, data: seen.append(cfg) or 0)
    assert run_module.main([]) == 0
    assert run_module.main(["infoplane", "--preset", "paper", "--seeds", "1"]) == 0
    demo, paper = seen
    assert (demo.run.training.epochs, demo.seeds, demo.points) == (300, 1, 16)
    assert (paper.run.training.epochs, paper.seeds, paper.points, paper.preset) == \
        (20000, 1, 30, "paper")
    assert (demo.run.data.dataset, demo.run.network.estimator, demo.run.network.hidden) == \
        ("synthetic12", "exact", (10, 8, 6, 4))


def test_the_12_bit_task_trains_on_the_exact_objective_by_default(tmp_path, run_py):
    """synthetic12's defaults are the measured ones of theory/infoplane.md (exact
    objective, Adam lr 0.01, M = 4 where the tree is sampled), and the configuration
    printed first says there is no sampling in training."""
    from imb_ref.training.settings import RunSettings
    cfg = RunSettings.from_flags({})
    assert (cfg.data.dataset, cfg.network.estimator, cfg.training.optimizer, cfg.training.lr,
            cfg.network.samples) == ("synthetic12", "exact", "adam", 0.01, 4)
    from imb_ref.experiments.infoplane import InfoplaneSettings
    assert InfoplaneSettings.jobs == max(1, min(3, os.cpu_count() or 1))
    res = run(run_py, "train", "--model", "sfnn", "--epochs", "1", "--test-runs", "1", "--quiet",
              "--output-dir", str(tmp_path / "r"))
    assert res.returncode == 0, res.stderr
    assert "objective: exact: every state of every layer enumerated" in res.stdout


@pytest.mark.parametrize("args,needle", [
    # The parameters alone would not fit: refused before anything is allocated, naming
    # the size (it used to end in numpy's _ArrayMemoryError).
    (["train", "--hidden", "100000,100000", "--estimator", "raiko"],
     "--hidden 100000,100000: 10,001,800,002 parameters take 149.0 GB"),
    (["train", "--model", "det", "--hidden", "100000,100000"], "parameters take"),
    (["train", "--model", "vib", "--hidden", "300000", "--vib-k", "100000"],
     "60,004,300,002 parameters"),
    # The exact estimator's limit, for widths whose matrix size has 60,000 digits.
    (["train", "--hidden", "100000,100000"], "needs a 2**200000-entry matrix"),
    # A golden case is one unchunked batch of the sampled tree.
    (["golden", "never-written.npz", "--samples", "64", "--batch-size", "64"],
     "golden: a case of 64 examples at M=64 needs about 164 GB (at most 2.0 GB)"),
])
def test_networks_too_large_are_refused_in_one_line(args, needle, monkeypatch, capsys):
    """The machine's memory is fixed at 64 GB here so that the refusal does not depend
    on the machine that runs the test."""
    from imb_ref import cli as run_module
    from imb_ref.training import evaluate
    monkeypatch.setattr(evaluate, "physical_memory", lambda: 64 * 1024 ** 3)
    assert run_module.main(args + ["--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err
    if "parameters" in needle:
        assert "more than this machine's 64.0 GB of memory; use smaller widths" in err


def test_every_command_the_docs_show_parses():
    """Each `python run.py ...` or `imb-ref ...` line in a code block of the README and
    theory/ parses
    with today's commands and flags (optional parts in [brackets] dropped, the
    continuation of a backslash line joined)."""
    import glob
    import re
    import shlex

    from imb_ref import cli as run_module
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    seen = 0
    for path in [os.path.join(root, "README.md")] + glob.glob(os.path.join(root, "theory",
                                                                            "*.md")):
        text = open(path).read().replace("\\\n", " ")
        for block in re.findall(r"```bash\n(.*?)```", text, re.S):
            for line in block.splitlines():
                line = re.sub(r"\[[^\]]*\]", "", line.split("#")[0])
                program = next((p for p in ("python run.py", "imb-ref ") if p in line), None)
                if program is None or "$" in line:
                    continue
                argv = shlex.split(line.split(program, 1)[1].replace("\"", ""))
                argv = [a for a in argv if a not in ("&&",)]
                run_module.parse(argv)               # raises on a stale command or flag
                seen += 1
    assert seen >= 12, seen


@pytest.mark.parametrize("argv", [
    ["train", "--epochs", "1"],
    ["infoplane", "--epochs", "2", "--points", "2", "--jobs", "1", "--models", "sfnn"],
])
def test_a_nan_in_the_first_epoch_leaves_no_run_folder(argv, tmp_path, monkeypatch, capsys):
    """--lr 1e300 overflows Adam's first steps: one line naming the epoch and step, exit
    2, no NumPy warnings on the way, and no run folder (there is nothing to resume).
    The CLI fuzz test met this case only when the machine reached the epoch's end
    inside its budget."""
    import warnings
    from imb_ref import cli as run_module
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")             # a RuntimeWarning would fail here
        code = run_module.main(argv + ["--lr", "1e300", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("error: the loss became nan at epoch 1, step ")
    assert "no checkpoint was written" in err
    assert os.listdir(tmp_path) == []


def test_run_folder_keeps_what_existed_or_holds_a_checkpoint(tmp_path):
    from imb_ref.errors import UserError
    from imb_ref.files import run_folder
    for folder, keepsake, kept in [(tmp_path / "new" / "run", None, False),
                                   (tmp_path / "old", None, True),
                                   (tmp_path / "ckpt", "checkpoint.npz", True)]:
        if kept and keepsake is None:
            folder.mkdir()
        with pytest.raises(UserError):
            with run_folder(str(folder)):
                (folder / "config.json").write_text("{}")
                if keepsake:
                    (folder / keepsake).write_bytes(b"")
                raise UserError("refused")
        assert folder.exists() == kept
    assert not (tmp_path / "new").exists()          # the parent it made goes too


def test_a_run_folder_trained_by_another_process_is_refused(tmp_path, run_py):
    """Two workers handed the same run (a plan line given out twice) must not write one
    folder at once: while one holds the folder's lock, a second `train` into it, new or
    resumed, is refused in one line and writes nothing; once the lock is gone it runs."""
    from imb_ref.files import folder_busy, folder_lock
    out = tmp_path / "run"
    assert run(run_py, *QUICK, "--epochs", "1", "--output-dir", str(out)).returncode == 0
    before = {f: (out / f).read_bytes() for f in os.listdir(out)}
    new = tmp_path / "new"                            # a run in its first epoch: no checkpoint
    os.makedirs(new)
    with folder_lock(str(out)), folder_lock(str(new)):   # stand in for the other workers
        assert folder_busy(str(out)) and folder_busy(str(new))
        for res in (run(run_py, "train", "--resume", str(out), "--epochs", "2", "--quiet"),
                    run(run_py, *QUICK, "--output-dir", str(new))):
            one_line_error(res)
            assert "is being trained by another process right now" in res.stderr
        assert {f: (out / f).read_bytes() for f in os.listdir(out)} == before
        assert os.listdir(new) == [".lock"]
    assert not folder_busy(str(out))
    assert run(run_py, "train", "--resume", str(out), "--epochs", "2", "--quiet").returncode == 0


@pytest.mark.parametrize("argv, first", [
    ([], "command: infoplane (no command given: the embedded demo"),
    (["--epochs", "1"], "command: train (flags without a command run `train`, the default; "
                        "python run.py alone runs the information-plane demo)"),
    (["train", "--epochs", "1"], "command: train (named on the command line)"),
])
def test_the_first_line_names_the_command_and_why(argv, first, monkeypatch, capsys):
    """`python run.py` runs the demo and `python run.py --epochs 2` runs train: the first
    line says which, so a user who adds a flag to the demo sees the job change."""
    from dataclasses import replace
    from imb_ref import cli as run_module
    for name in ("train", "infoplane"):
        monkeypatch.setitem(run_module.COMMANDS, name, replace(
            run_module.COMMANDS[name], run=lambda settings: 0))
    assert run_module.main(argv) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith(first)


@pytest.mark.parametrize("argv0, expected", [
    ("/somewhere/run.py", ("python", "/somewhere/run.py")),
    ("/venv/bin/imb-ref", ("imb-ref",)),
    ("/site/imb_ref/__main__.py", ("python", "-m", "imb_ref")),
    ("", ("python", "run.py")),
])
def test_printed_commands_name_the_program_the_user_ran(monkeypatch, argv0, expected):
    """table1 --plan's lines start as the user started the command line: a checkout's
    run.py, the installed console command imb-ref, or python -m imb_ref."""
    import sys
    from imb_ref import cli as run_module
    from imb_ref.training.commands import train_line
    from imb_ref.training.settings import RunSettings
    monkeypatch.setattr(sys, "argv", [argv0, "table1"])
    assert run_module.program() == expected
    line = run_module.CommandLines(run_module.program()).train(RunSettings.of(epochs=1), "f")
    assert line.startswith(" ".join(expected) + " train ")
    assert run_module.CommandLines(expected).resume("f") == " ".join(expected) + \
        " train --resume f --quiet"
    assert train_line(RunSettings(), "f").startswith("python run.py train ")
