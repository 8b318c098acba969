"""A fuzz test of the command line: hostile flag values for every command.

Hypothesis builds command lines from the real flag set (each command's parser) with
values drawn from a hostile alphabet (negative, zero, huge, nan, inf, empty, not a
number, paths to a file, a folder and nowhere) and runs them in-process, each with a
budget of about a second: a command that is still working when the budget ends was
accepted, and is stopped there. Every other ending must be exit code 0 or 2, never a
traceback, one line on stderr for exit 2, and no temporary file or run folder left
behind by a refusal.
"""

import contextlib
import io
import os
import signal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import run as run_module

# A slower machine stops more commands at the budget before they reach their end; a
# longer budget (IMB_FUZZ_BUDGET_S) plays a faster machine and reaches further.
BUDGET_S = float(os.environ.get("IMB_FUZZ_BUDGET_S", 1.0))
NUMBERS = ["-1", "0", "1", "2", "3", "1e300", "99999999999", "nan", "inf", "-inf", "",
           "abc", "1,2", "0.5", "-0.5", "1e-300"]
PATHS = ["@file", "@folder", "@nowhere/x", "@file/under", "@new"]


class OutOfBudget(BaseException):
    """Raised by the timer inside a command that got past every check."""


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
        else:
            flags[flag] = st.sampled_from(NUMBERS + PATHS)
    return flags


def positional_strategy(parser):
    return [st.sampled_from(PATHS + NUMBERS[:2]) for a in parser._actions
            if not a.option_strings]


@st.composite
def command_lines(draw, command):
    if command == "bench":
        from imb_ref.experiments.bench import build_parser
        parser = build_parser()
    else:
        parser = run_module.build_parsers()[command]
    flags = flag_values(parser)
    argv = [command] + [draw(s) for s in positional_strategy(parser)]
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
    url = unused_port_url()
    for var in ("IMB_MNIST_MIRRORS", "IMB_FASHION_MIRRORS", "IMB_CIFAR10_MIRRORS"):
        monkeypatch.setenv(var, url)
    monkeypatch.setenv("IMB_FASHION_SYSTEM_DIR", str(tmp_path / "no-debian-package"))
    monkeypatch.setenv("IMB_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("IMB_BACKEND", raising=False)
    monkeypatch.chdir(tmp_path)
    # What the commands import is imported now: the budget's timer must not stop an
    # import half-way (a half-imported PyTorch cannot be imported again).
    for module in ("torch", "tests.torch_twin", "matplotlib.pyplot", "scipy.io", "tqdm"):
        try:
            __import__(module)
        except ImportError:
            pass
    return tmp_path


def run_within_budget(argv):
    """(exit code or None if out of budget, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, BUDGET_S)
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
        code, _, err = run_within_budget(argv)
        if code is None:
            return                               # accepted and working: out of budget
        assert code in (0, 2), (argv, code, err)
        assert "Traceback" not in err, (argv, err)
        new = sorted(_files(str(workspace)) - before)
        assert not [f for f in new if f.endswith(".tmp") or ".tmp." in f], (argv, new)
        if code == 2:
            assert err.startswith("error: ") and err.count("\n") == 1, (argv, err)
            assert not new, (argv, new)            # a refusal leaves nothing behind
    check()
