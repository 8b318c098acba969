"""Progress of several (model, seed) pairs trained at once: epochs done of total and the
time left, per pair.

The pairs report the last epoch they finished (`update(i, epoch)`), from this process or
from worker processes through their pairs' epoch files (pool.py; the parent polls them).
On a terminal each pair has a tqdm bar; elsewhere (a pipe, a log file) one line is written at most every
`every_s` seconds; with --quiet nothing. Progress only reads the count: the numbers a
run computes are the same with or without it.

A pair's rate is measured from the first epoch it reports in this process, so a pair
that continues from a checkpoint (epoch 15,000 of 20,000) is not credited with the
epochs an earlier process trained.
"""

import sys
import time


def _duration(seconds):
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds // 60 % 60:02d}m"


class PairProgress:
    def __init__(self, labels, total, quiet=False, stream=None, every_s=60.0,
                 clock=time.monotonic):
        """labels: one name per pair ("sfnn seed 0"); total: epochs of each pair."""
        self.labels, self.total = list(labels), int(total)
        self.stream = sys.stderr if stream is None else stream
        self.quiet, self.every_s, self.clock = quiet, every_s, clock
        self.done = [0] * len(self.labels)
        self.first = [None] * len(self.labels)     # (time, epoch) of the first report
        self.terminal = not quiet and self.stream.isatty()
        self.bars = self._bars() if self.terminal else None
        self.last_line = clock()

    def _bars(self):
        from tqdm import tqdm

        from ...training.loop import terminal_shape
        width = max(len(s) for s in self.labels)
        return [tqdm(total=self.total, desc=f"{label:<{width}} (waiting)", unit="epoch",
                     position=i, leave=False, file=self.stream, **terminal_shape())
                for i, label in enumerate(self.labels)]

    # -- what the pairs report ------------------------------------------------------------
    def update(self, i, epoch):
        """Pair i has finished `epoch` (1-based, counted from the start of its run)."""
        epoch = int(epoch)
        if epoch <= self.done[i] and self.first[i] is not None:
            return
        now = self.clock()
        if self.first[i] is None:
            # Its first report in this process: a continued pair starts its clock here.
            self.first[i] = (now, epoch - 1)
            if self.bars:
                bar = self.bars[i]
                bar.reset(total=self.total)
                bar.n = bar.last_print_n = bar.initial = epoch - 1
                bar.set_description(self.labels[i].ljust(len(bar.desc) - len(" (waiting)")))
        if self.bars:
            bar = self.bars[i]
            started = bar.n == bar.initial
            bar.update(epoch - bar.n)
            if started:
                bar.refresh()               # show the new name at once
        self.done[i] = epoch
        if not self.terminal and not self.quiet and now - self.last_line >= self.every_s:
            self.write_line(now)

    def update_all(self, counts):
        """counts[i]: pair i's last finished epoch (0 until it reports one)."""
        for i, epoch in enumerate(counts):
            if epoch > 0:
                self.update(i, epoch)

    # -- what the user reads --------------------------------------------------------------
    def rate(self, i, now):
        """Epochs per second of pair i in this process (None before two reports)."""
        if self.first[i] is None:
            return None
        t0, e0 = self.first[i]
        if now <= t0 or self.done[i] <= e0:
            return None
        return (self.done[i] - e0) / (now - t0)

    def seconds_left(self, now=None):
        """The epochs left over the pairs divided by the rate at which they are trained
        now (the sum of the running pairs' rates; None before any rate is known)."""
        now = self.clock() if now is None else now
        rates = [r for i in range(len(self.labels)) if self.done[i] < self.total
                 and (r := self.rate(i, now))]
        left = sum(self.total - d for d in self.done)
        if left == 0:
            return 0.0
        return left / sum(rates) if rates else None

    def line(self, now=None):
        """'progress: sfnn seed 0 120/300, jointimb seed 0 95/300, ...; about 2m 10s
        left'."""
        now = self.clock() if now is None else now
        parts = [f"{label} {done}/{self.total}" for label, done
                 in zip(self.labels, self.done)]
        left = self.seconds_left(now)
        return (f"progress: {', '.join(parts)} epochs; "
                + ("time left not known yet" if left is None else
                   f"about {_duration(left)} left"))

    def write_line(self, now=None):
        self.last_line = self.clock() if now is None else now
        print(self.line(now), file=self.stream, flush=True)

    def close(self):
        if self.bars:
            for bar in self.bars:
                bar.close()
