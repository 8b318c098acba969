"""A fuzz test of the command line: hostile flag values for every command.

Hypothesis builds command lines from the real flag set (each command's parser) with
values drawn from a hostile alphabet (negative, zero, huge, nan, inf, empty, not a
number, paths to a file, a folder, a run folder and nowhere) and runs them in-process.
Each line starts from a small base (a 3-unit network, one epoch, a few attack steps) that
its fuzzed flags may override, and the flags that set an amount of work (epochs, samples,
seeds, iterations, ...) draw only small or invalid values, so every line finishes on any
machine: its finished outcome is checked, whatever the machine's speed. It must be exit
code 0 or 2, never a traceback, one line on stderr for exit 2, and no temporary file or
run folder left behind by a refusal. A line still running after TIMEOUT_S fails the test
(it means a line was not small, not that the machine is slow).
"""

import contextlib
import io
import os
import signal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imb_ref import cli as run_module

TIMEOUT_S = float(os.environ.get("IMB_FUZZ_TIMEOUT_S", 120.0))
NUMBERS = ["-1", "0", "1", "2", "3", "1e300", "99999999999", "nan", "inf", "-inf", "",
           "abc", "1,2", "0.5", "-0.5", "1e-300"]
# Values for a flag that sets an amount of work: hostile, but never a valid large one.
SMALL = ["-1", "0", "1", "2", "", "abc", "1,2", "0.5", "-0.5", "nan", "inf", "1e300"]
WORK_FLAGS = {"--epochs", "--stage-epochs", "--test-runs", "--points", "--seeds", "--samples",
              "--test-samples", "--vib-samples", "--vib-test-samples", "--vib-k", "--hidden",
              "--attack-n", "--attack-iters", "--attack-binary-steps", "--eot-samples",
              "--attack-eval-samples", "--attack-batch", "--steps", "--jobs",
              "--cifar-train-batches"}
PATHS = ["@file", "@folder", "@nowhere/x", "@file/under", "@new", "@run", "@broken",
         "@data/mnist"]
# The small base of each command; the fuzzed flags come after it and win.
BASE = {
    "train": ["--hidden", "3", "--samples", "2", "--test-runs", "1", "--epochs", "1",
              "--vib-k", "2", "--vib-test-samples", "2"],
    "infoplane": ["--models", "sfnn", "--hidden", "3", "--epochs", "2", "--points", "2",
                  "--seeds", "1", "--jobs", "1", "--test-runs", "1"],
    "table1": ["--hidden", "3", "--samples", "2", "--epochs", "1", "--seeds", "1",
               "--beta-grid", "1e-4", "--test-runs", "1", "--output-dir", "@new"],
    "attack": ["--attack-n", "2", "--attack-iters", "3", "--attack-binary-steps", "1",
               "--eot-samples", "2", "--attack-eval-samples", "2"],
    "golden": ["--hidden", "3", "--samples", "2", "--batch-size", "4"],
    "bench": ["--shapes", "mnist", "--impl", "numpy", "--steps", "1"],
    "report": ["--readme", "none", "--results", "@folder"],
}


class OutOfBudget(BaseException):
    """Raised by the timer inside a command that ran past TIMEOUT_S."""


def _on_alarm(signum, frame):
    raise OutOfBudget


def flag_values(parser):
    """{flag: strategy of its argument, or None for a flag without one}."""
    flags = {}
    for action in parser._actions:
        if not action.option_strings or action.dest == "help":
            continue
        flag = max(action.option_strings, key=len)
        if action.nargs == 0:
            flags[flag] = None
            if any(s.startswith("--no-") for s in action.option_strings):
                flags["--no-" + flag[2:]] = None
        elif action.choices:
            flags[flag] = st.sampled_from(list(action.choices) + NUMBERS[:3] + ["", "x"])
        elif flag in WORK_FLAGS:
            flags[flag] = st.sampled_from(SMALL)
        else:
            flags[flag] = st.sampled_from(NUMBERS + PATHS)
    return flags


def positional_strategy(parser):
    return [st.sampled_from(PATHS + NUMBERS[:2]) for a in parser._actions
            if not a.option_strings]


@st.composite
def command_lines(draw, command):
    parser = run_module.COMMANDS[command].parser()
    flags = flag_values(parser)
    argv = [command] + [draw(s) for s in positional_strategy(parser)] + BASE[command]
    for flag in draw(st.lists(st.sampled_from(sorted(flags)), max_size=4, unique=True)):
        argv.append(flag)
        if flags[flag] is not None:
            argv.append(draw(flags[flag]))
    return argv


def _resolve(argv, root):
    out = []
    for a in argv:
        if a.startswith("@"):
            a = os.path.join(root, a[1:])
        out.append(a)
    return out


def _files(root):
    return {os.path.relpath(os.path.join(d, f), root)
            for d, _, fs in os.walk(root) for f in fs} | \
        {os.path.relpath(d, root) + "/" for d, _, _ in os.walk(root)}


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A folder to run in: a file, a folder, the data cache, and no network (every
    dataset's mirror is a closed local port, the Debian Fashion-MNIST folder absent)."""
    from fixtures import unused_port_url
    (tmp_path / "file").write_text("not a checkpoint")
    (tmp_path / "folder").mkdir()
    os.symlink(tmp_path / "gone", tmp_path / "broken")        # a link to nothing
    # The data cache with a folder where MNIST's first file belongs.
    (tmp_path / "data" / "mnist" / "train-images-idx3-ubyte.gz").mkdir(parents=True)
    # A real run folder (3-unit SFNN, one epoch): for attack and train --resume.
    assert run_module.main(["train", "--model", "sfnn", "--estimator", "raiko", "--quiet",
                            "--output-dir", str(tmp_path / "run")] + BASE["train"]) == 0
    url = unused_port_url()
    for var in ("IMB_MNIST_MIRRORS", "IMB_FASHION_MIRRORS", "IMB_CIFAR10_MIRRORS"):
        monkeypatch.setenv(var, url)
    monkeypatch.setenv("IMB_FASHION_SYSTEM_DIR", str(tmp_path / "no-debian-package"))
    monkeypatch.setenv("IMB_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("IMB_BACKEND", raising=False)
    monkeypatch.chdir(tmp_path)
    # What the commands import is imported now: the budget's timer must not stop an
    # import half-way (a half-imported PyTorch cannot be imported again).
    for module in ("torch", "imb_ref.twin", "matplotlib.pyplot", "scipy.io", "tqdm"):
        try:
            __import__(module)
        except ImportError:
            pass
    return tmp_path


def run_to_the_end(argv):
    """(exit code or None if it ran past TIMEOUT_S, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, TIMEOUT_S)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = run_module.main(argv)
            except SystemExit as exc:          # argparse: --help (0) and its errors (2)
                code = exc.code
    except OutOfBudget:
        code = None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("command", list(run_module.COMMANDS))
def test_hostile_command_lines_end_in_0_or_one_line_and_2(command, workspace):
    @settings(max_examples=int(os.environ.get("IMB_FUZZ_EXAMPLES", 30)), suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                      HealthCheck.too_slow])
    @given(command_lines(command))
    def check(argv):
        argv = _resolve(argv, str(workspace))
        before = _files(str(workspace))
        code, _, err = run_to_the_end(argv)
        assert code is not None, f"{argv} did not finish in {TIMEOUT_S:g} s: not small"
        assert code in (0, 2), (argv, code, err)
        assert "Traceback" not in err, (argv, err)
        new = sorted(_files(str(workspace)) - before)
        assert not [f for f in new if f.endswith(".tmp") or ".tmp." in f], (argv, new)
        if code == 2:
            assert err.startswith("error: ") and err.count("\n") == 1, (argv, err)
            assert not new, (argv, new)            # a refusal leaves nothing behind
    check()


@pytest.mark.parametrize("command, positional, outcome", [
    ("train", [], 0), ("infoplane", [], 0), ("attack", ["@run"], 0), ("golden", ["@new"], 0),
    ("bench", [], 0), ("table1", [], 2),          # MNIST is not in the offline workspace
    ("table1", ["--plan"], 0)])
def test_the_base_of_each_command_finishes_quickly(command, positional, outcome, workspace):
    """The base the fuzzed flags start from is a real run that ends, small enough that
    no line built on it depends on the machine's speed."""
    argv = _resolve([command] + positional + BASE[command], str(workspace))
    code, _, err = run_to_the_end(argv)
    assert code == outcome, (argv, code, err)
