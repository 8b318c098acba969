"""The progress of the information plane's (model, seed) pairs: per pair, epochs done of
total and the time left, on a terminal (tqdm bars) and elsewhere (a line at most every
minute), from this process and from worker processes."""

import io
import os
import pty
import subprocess
import sys

import pytest

from imb_ref.experiments.infoplane.progress import PairProgress


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_line_per_minute_off_a_terminal_with_the_time_left():
    """Two pairs of 10 epochs: one at 1 epoch/s from t = 0, the other at 0.5 epoch/s
    from t = 0; at t = 60 the first has done 10 (60 s... but 10 is its total), so count
    by hand: left = (10 - 10) + (10 - 5) = 5 epochs at the running pair's 0.5/s = 10 s."""
    clock, out = Clock(), io.StringIO()
    p = PairProgress(["sfnn seed 0", "jointimb seed 0"], 10, stream=out, every_s=60,
                     clock=clock)
    p.update(0, 1)
    p.update(1, 1)                          # both start their clock at epoch 0, t = 0
    clock.t = 10.0
    p.update(0, 10)
    p.update(1, 5)
    assert out.getvalue() == ""             # less than a minute: nothing yet
    assert p.rate(0, 10.0) == 1.0 and p.rate(1, 10.0) == 0.5
    assert p.seconds_left(10.0) == pytest.approx(5 / 0.5)
    clock.t = 61.0
    p.update(1, 6)                          # 6 epochs in 61 s: 6/61 per second
    assert out.getvalue() == ("progress: sfnn seed 0 10/10, jointimb seed 0 6/10 epochs; "
                              f"about {round(4 / (6 / 61))}s left\n")
    p.update(1, 7)                          # within the next minute: no second line
    assert out.getvalue().count("\n") == 1


def test_a_continued_pair_is_timed_from_its_first_epoch_here():
    """A pair that resumes at epoch 15,000 of 20,000 is not credited with the 15,000
    epochs an earlier process trained: its rate counts from here."""
    clock = Clock()
    p = PairProgress(["sfnn seed 0"], 20000, stream=io.StringIO(), clock=clock)
    p.update(0, 15001)
    clock.t = 100.0
    p.update(0, 15101)
    assert p.rate(0, 100.0) == pytest.approx(101 / 100)
    assert p.seconds_left(100.0) == pytest.approx((20000 - 15101) / (101 / 100))


def test_quiet_writes_nothing_and_no_rate_before_any_report():
    clock, out = Clock(), Terminal()
    p = PairProgress(["a", "b"], 5, quiet=True, stream=out, every_s=0, clock=clock)
    assert p.seconds_left() is None and "time left not known yet" in p.line()
    clock.t = 100.0
    p.update(0, 3)
    p.close()
    assert out.getvalue() == ""


def test_on_a_terminal_each_pair_has_a_bar():
    out = Terminal()
    p = PairProgress(["sfnn seed 0", "greedyimb seed 0"], 8, stream=out, clock=Clock())
    p.update(0, 3)
    p.close()
    text = out.getvalue()
    assert "sfnn seed 0" in text and "3/8" in text
    assert "greedyimb seed 0 (waiting)" in text and "0/8" in text


def _run_under_a_terminal(args, timeout=300):
    """Run `python run.py args` with its stderr on a pseudo-terminal; returns what the
    terminal showed."""
    master, slave = pty.openpty()
    root = os.path.join(os.path.dirname(__file__), "..")
    proc = subprocess.Popen([sys.executable, "run.py"] + args, cwd=root, stdout=slave,
                            stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 1 << 16)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=timeout)
    os.close(master)
    return proc.returncode, b"".join(chunks).decode(errors="replace")


@pytest.mark.slow
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_the_demo_shows_each_pairs_epochs_on_a_terminal(tmp_path, jobs):
    """`python run.py infoplane` on a terminal shows, while the pairs train (in this
    process or in workers), each pair's epochs done of total."""
    rc, shown = _run_under_a_terminal(["infoplane", "--epochs", "40", "--points", "3",
                                       "--hidden", "4,3", "--models", "sfnn,jointimb",
                                       "--jobs", jobs, "--output-dir", str(tmp_path / "o")])
    assert rc == 0, shown[-2000:]
    for label in ("sfnn seed 0", "jointimb seed 0"):
        assert label in shown and "40/40" in shown
    assert "epoch/s" in shown or "s/epoch" in shown       # tqdm's rate, hence its ETA


@pytest.mark.slow
def test_train_shows_its_bar_on_a_terminal_that_reports_no_size(tmp_path):
    """A new pseudo-terminal reports 0 x 0; tqdm would take -1 rows and draw nothing
    (loop.terminal_shape gives it 80 x 24 instead)."""
    rc, shown = _run_under_a_terminal(["train", "--epochs", "1", "--hidden", "4,3",
                                       "--model", "sfnn", "--output-dir", str(tmp_path / "t")])
    assert rc == 0, shown[-2000:]
    assert "epoch 1/1:" in shown and "step/s" in shown
