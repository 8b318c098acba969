"""The one judge: a claim of the paper, the figures of a run, one stated test, one verdict.

Every verdict in `results/` and the README comes from `judge(claim, run)`. The words are
four, and each has one meaning:

* **supported**: the test rejects "the claim is false" at the one-sided level 0.025;
* **refuted**: the test rejects "the claim is true" at 0.025 (the opposite one-sided
  test, or for comparability the difference lies beyond the margin);
* **not decided**: neither;
* **not tested**: the run cannot test the claim, and the reason is printed (a model
  without a run, fewer than 2 seeds, a run shorter than the claim's length, a stage cut
  off). No statistic is computed then.

The level is that of a two-sided 5% test, so that a verdict and the 95% interval printed
beside it never disagree: supported exactly when the interval lies wholly on the claim's
side of zero (inside the margin, for comparability), refuted exactly when it lies wholly
on the other side (beyond the margin), not decided when it spans zero (or a margin's
edge). At the one-sided 0.05 the matching interval would be a 90% one, and a
"supported" beside a 95% interval reaching below zero reads as a contradiction.

The tests, all from scipy.stats:

| kind | the claim | test |
| --- | --- | --- |
| order | A is better than B | one-sided t-test; paired by seed where the models of a seed share their initialisation and the seeds are known, Welch's otherwise (also from mean, sd and n when only those were kept) |
| comparable | A and B differ by less than a stated margin | two one-sided t-tests (TOST) against the margin, paired or Welch as above |
| threshold | a figure lies above (or below) a value | one-sample one-sided t-test against the value |
| proportion | A's rate over images is higher than B's | one-sided two-proportion z-test over images, with the unpooled standard error of the interval beside it |
| proportion comparable | A's and B's rates differ by less than a margin | two one-sided two-proportion z-tests (TOST) |
| proportion threshold | a rate over images is below a value | exact one-sided binomial test |
| reach | a model reaches a level within a fraction of the run | one-sample one-sided t-test of the per-seed fraction against 1 (a seed that never reaches counts as 1) |

A claim of several parts ("better than each of the other four", "in every layer") is an
intersection: supported when every part is, refuted when any part is, else not decided;
its p-value is the largest of its parts' (the intersection-union test, exact at the
level without a correction). Each verdict carries the effect (oriented so that positive
favours the claim), its 95% confidence interval, the p-value of the test that decided it
and n.
"""

from dataclasses import dataclass, field
from typing import Optional, Tuple

import numpy as np
from scipy import stats

CONFIDENCE = 0.95                   # the interval beside every verdict
LEVEL = (1 - CONFIDENCE) / 2        # each one-sided test's level: 0.025
WORDS = ("supported", "refuted", "not decided", "not tested")


@dataclass(frozen=True)
class Verdict:
    """One judged claim. `effect` is oriented so that a positive value favours the
    claim (for comparability it is the difference itself, to hold against the margin);
    `ci` is its two-sided 95% interval; `p` is the p-value of the test that gave
    `word` (for "not decided", the claim's one-sided p); `n` the sample sizes."""
    word: str
    test: str
    effect: Optional[float] = None
    ci: Optional[Tuple[float, float]] = None
    p: Optional[float] = None
    n: str = ""
    reason: str = ""
    parts: tuple = field(default=())

    def __post_init__(self):
        assert self.word in WORDS, self.word


def not_tested(reason, test=""):
    return Verdict("not tested", test, reason=reason)


# ----------------------------------------------------------------------------- samples


@dataclass(frozen=True)
class Sample:
    """One model's figures in one run: per-seed values (seed -> value) where they were
    kept, else the summary statistics alone (mean, sd with ddof 1, n), as a transcribed
    report keeps them."""
    by_seed: Optional[dict] = None
    mean: Optional[float] = None
    sd: Optional[float] = None
    n: Optional[int] = None

    def __post_init__(self):
        if self.by_seed is not None:
            v = np.asarray(list(self.by_seed.values()), float)
            object.__setattr__(self, "n", v.size)
            object.__setattr__(self, "mean", float(v.mean()))
            object.__setattr__(self, "sd", float(v.std(ddof=1)) if v.size > 1 else None)

    @property
    def values(self):
        return None if self.by_seed is None else np.asarray(list(self.by_seed.values()), float)


def _decide(p_for, p_against):
    """The verdict's word from the two one-sided p-values, and the p printed beside it
    (the claim's one-sided p, or the opposite test's when that refutes it)."""
    if p_for < LEVEL:
        return "supported", p_for
    if p_against < LEVEL:
        return "refuted", p_against
    return "not decided", p_for


def _tost(diff, se, df, margin):
    """(p of "within the margin": the larger of the two one-sided t-tests against -margin
    and +margin; p of "beyond it": "within it" rejected on one side)."""
    p_tost = max(_p_greater(_t(diff + margin, se), df), _p_greater(_t(margin - diff, se), df))
    p_out = min(_p_greater(_t(diff - margin, se), df), _p_greater(_t(-margin - diff, se), df))
    return p_tost, p_out


def _ci(diff, se, df):
    q = stats.t.ppf(1 - LEVEL, df)
    return (float(diff - q * se), float(diff + q * se))


def _two_sample(a, b, paired):
    """(difference of means a - b, its standard error, degrees of freedom, test name,
    n text). Paired by seed when asked and both sides know the same seeds."""
    if paired and a.by_seed is not None and b.by_seed is not None \
            and sorted(a.by_seed) == sorted(b.by_seed):
        d = np.array([a.by_seed[s] - b.by_seed[s] for s in sorted(a.by_seed)], float)
        return (float(d.mean()), float(d.std(ddof=1) / np.sqrt(d.size)), d.size - 1,
                "paired t-test", f"{d.size} seeds, paired")
    va, vb = a.sd ** 2 / a.n, b.sd ** 2 / b.n
    se = np.sqrt(va + vb)
    # Welch-Satterthwaite degrees of freedom (scipy's ttest_ind_from_stats uses the same).
    df = (va + vb) ** 2 / (va ** 2 / (a.n - 1) + vb ** 2 / (b.n - 1)) if se > 0 else a.n + b.n - 2
    if paired is False:
        why = ""
    elif a.by_seed is None or b.by_seed is None:
        why = ", unpaired: seeds not kept"
    else:
        why = ", unpaired: not the same seeds"
    return (a.mean - b.mean, float(se), float(df), "Welch t-test",
            f"{a.n} and {b.n} seeds{why}")


def _p_greater(t_stat, df):
    """One-sided p of 'the mean is above 0' for a t statistic (degenerate spread: 0 or 1)."""
    return float(stats.t.sf(t_stat, df))


def _t(diff, se):
    if se == 0:
        return np.inf if diff > 0 else (-np.inf if diff < 0 else 0.0)
    return diff / se


def order(a, b, better, paired):
    """Claim: model a is better than model b (`better` "lower" or "higher")."""
    if a.n < 2 or b.n < 2:
        return not_tested(f"fewer than 2 seeds ({a.n} and {b.n})", "t-test")
    diff, se, df, name, n = _two_sample(a, b, paired)
    effect = diff if better == "higher" else -diff
    t = _t(effect, se)
    p_for, p_against = _p_greater(t, df), _p_greater(-t, df)
    word, p = _decide(p_for, p_against)
    return Verdict(word, f"one-sided {name}", effect, _ci(effect, se, df), p, n)


def comparable(a, b, margin, paired):
    """Claim: |a - b| < margin (TOST: both one-sided tests reject at LEVEL)."""
    if a.n < 2 or b.n < 2:
        return not_tested(f"fewer than 2 seeds ({a.n} and {b.n})", "TOST")
    diff, se, df, name, n = _two_sample(a, b, paired)
    word, p = _decide(*_tost(diff, se, df, margin))
    return Verdict(word, f"TOST ({name}), margin {margin:g}", diff, _ci(diff, se, df), p, n)


def threshold(s, value, side):
    """Claim: the figure is `side` ("above" or "below") `value`, over seeds."""
    if s.n < 2:
        return not_tested(f"fewer than 2 seeds ({s.n})", "t-test")
    se = s.sd / np.sqrt(s.n)
    effect = (s.mean - value) if side == "above" else (value - s.mean)
    t = _t(effect, se)
    p_for, p_against = _p_greater(t, s.n - 1), _p_greater(-t, s.n - 1)
    word, p = _decide(p_for, p_against)
    return Verdict(word, "one-sided one-sample t-test", effect, _ci(effect, se, s.n - 1),
                   p, f"{s.n} seeds")


def reach(fractions):
    """Claim: the model reaches the target before the run ends, i.e. the mean fraction of
    the run it needs is below 1 (`fractions`: seed -> fraction; a seed that never
    reaches is 1)."""
    return threshold(Sample(by_seed=fractions), 1.0, "below")


# ----------------------------------------------------------------------------- proportions


@dataclass(frozen=True)
class Rate:
    """A rate over images: `rate` in [0, 1] over `n` images (the targeted rate averages
    an image's 9 targets, so an image counts once)."""
    rate: float
    n: int


def _z_two(a, b, delta=0.0):
    """z of (a.rate - b.rate - delta) and its standard error, unpooled: the same
    standard error as the Wald interval beside the verdict, so that the two agree (the
    pooled one of the textbook test of equality can put the test and the interval on
    opposite sides of the level)."""
    se = float(np.sqrt(a.rate * (1 - a.rate) / a.n + b.rate * (1 - b.rate) / b.n))
    return _t(a.rate - b.rate - delta, se), se


def _wald(diff, se):
    q = float(stats.norm.ppf(1 - LEVEL))
    return (float(diff - q * se), float(diff + q * se))


def proportion_order(a, b):
    """Claim: a's rate is higher than b's (one-sided two-proportion z-test)."""
    z, se = _z_two(a, b)
    p_for, p_against = float(stats.norm.sf(z)), float(stats.norm.cdf(z))
    word, p = _decide(p_for, p_against)
    diff = a.rate - b.rate
    return Verdict(word, "one-sided two-proportion z-test", diff, _wald(diff, se),
                   p, f"{a.n} and {b.n} images")


def proportion_comparable(a, b, margin):
    """Claim: |a.rate - b.rate| < margin (TOST with two one-sided z-tests)."""
    z_lo, se = _z_two(a, b, -margin)
    z_hi, _ = _z_two(a, b, margin)
    p_tost = max(float(stats.norm.sf(z_lo)), float(stats.norm.cdf(z_hi)))
    p_out = min(float(stats.norm.cdf(z_lo)), float(stats.norm.sf(z_hi)))
    word, p = _decide(p_tost, p_out)
    diff = a.rate - b.rate
    return Verdict(word, f"TOST (two-proportion z-tests), margin {margin:g}", diff,
                   _wald(diff, se),
                   p, f"{a.n} and {b.n} images")


def proportion_threshold(a, value, side):
    """Claim: the rate is `side` `value` (exact one-sided binomial test; the count of
    images is the rate times n, rounded)."""
    k = int(round(a.rate * a.n))
    alt_for, alt_against = ("less", "greater") if side == "below" else ("greater", "less")
    p_for = float(stats.binomtest(k, a.n, value, alternative=alt_for).pvalue)
    p_against = float(stats.binomtest(k, a.n, value, alternative=alt_against).pvalue)
    word, p = _decide(p_for, p_against)
    ci = stats.binomtest(k, a.n).proportion_ci(CONFIDENCE, method="exact")
    effect = value - a.rate if side == "below" else a.rate - value
    lo, hi = (value - ci.high, value - ci.low) if side == "below" else (ci.low - value,
                                                                      ci.high - value)
    return Verdict(word, "exact one-sided binomial test", effect, (float(lo), float(hi)),
                   p, f"{a.n} images ({k} robust)")


# ----------------------------------------------------------------------------- parts


def every(parts, labels):
    """A claim of several parts, each a Verdict: the intersection-union rule."""
    parts = tuple(zip(labels, parts))
    words = [v.word for _, v in parts]
    if "not tested" in words:
        lab, v = next((lab, v) for lab, v in parts if v.word == "not tested")
        return Verdict("not tested", v.test, reason=f"{lab}: {v.reason}", parts=parts)
    tests = sorted({v.test for _, v in parts})

    def test_of(lab, v):
        """The parts' test; where they differ, the shown part's first (its effect, p, n)."""
        if len(tests) == 1:
            return tests[0]
        others = "; ".join(t for t in tests if t != v.test)
        return f"{v.test} ({lab}; other parts: {others})"

    if "refuted" in words:
        lab, v = min(((lab, v) for lab, v in parts if v.word == "refuted"), key=lambda x: x[1].p)
        return Verdict("refuted", test_of(lab, v), v.effect, v.ci, v.p, v.n,
                       reason=f"{lab} refuted", parts=parts)
    weakest_label, weakest = max(parts, key=lambda x: x[1].p)
    word = "supported" if all(w == "supported" for w in words) else "not decided"
    return Verdict(word, f"{test_of(weakest_label, weakest)}, every part (intersection-union)",
                   weakest.effect, weakest.ci, weakest.p, weakest.n,
                   reason=f"weakest part: {weakest_label}", parts=parts)


def matches(s, value, margin):
    """Claim: the mean over seeds lies within `margin` of a reported figure `value`
    (one-sample TOST)."""
    if s.n < 2:
        return not_tested(f"fewer than 2 seeds ({s.n})", "TOST")
    se, df = s.sd / np.sqrt(s.n), s.n - 1
    diff = s.mean - value
    word, p = _decide(*_tost(diff, se, df, margin))
    return Verdict(word, f"TOST (one-sample t-tests), margin {margin:g}", diff,
                   _ci(diff, se, df), p, f"{s.n} seeds")


# ----------------------------------------------------------------------------- a claim and a run


def sample(entry):
    """A Sample from a summary's entry: {"by_seed": {seed: value}}, {"values": [...]}
    (seeds not known) or {"mean", "sd", "n"} (sd with ddof 1)."""
    if "by_seed" in entry:
        return Sample(by_seed={str(k): float(v) for k, v in entry["by_seed"].items()})
    if "values" in entry:
        v = np.asarray(entry["values"], float)
        return Sample(mean=float(v.mean()), sd=float(v.std(ddof=1)) if v.size > 1 else None,
                      n=v.size)
    return Sample(mean=entry["mean"], sd=entry.get("sd"), n=entry["n"])


def figures(claim, run, model):
    """The figures a claim reads of one model in one run: {label: Sample or Rate}, one
    label per layer for a per-layer figure ("" for the run's metric), or a reason (str)
    why the run has none."""
    entry = run["models"].get(model)
    if entry is None:
        return f"no run of {model} in this summary"
    if claim.kind.startswith("rate"):
        rate = entry.get(claim.figure, {}).get("verified")
        if rate is None:
            return f"no verified {claim.figure} rate of {model}"
        return {"": Rate(rate / 100.0, entry["n"])}
    if claim.figure is None:
        return {"": sample(entry)}
    if claim.figure not in entry:
        return f"the summary keeps no per-seed {claim.figure} of {model}"
    fig = entry[claim.figure]
    if claim.kind == "reach":
        fractions = {s: (1.0 if e is None else e / run["epochs"]) for s, e in fig.items()}
        return {"": Sample(by_seed=fractions)}
    if any(k in fig for k in ("by_seed", "values", "mean")):
        return {"": sample(fig)}
    return {layer: sample(v) for layer, v in fig.items()}


def cannot_test(claim, run):
    """Why this run cannot test this claim (a reason), or None."""
    if claim.min_epochs and (run.get("epochs") or 0) < claim.min_epochs:
        return (f"the run trained {run['epochs']:,} epochs; the claim speaks of "
                f"{claim.min_epochs:,}")
    for model in (claim.model,) + claim.others:
        stages = run["models"].get(model, {}).get("stage_epochs")
        patience = run.get("patience")
        if stages and patience and min(stages) < patience:
            k = stages.index(min(stages)) + 1
            return (f"{model}'s stage {k} trained {min(stages)} epoch(s), fewer than the "
                    f"early stopping's patience ({patience}): the run cannot test the "
                    f"greedy schedule")
    return None


def judge_claim(claim, run):
    """The verdict of one claim (a ledger.Claim) on one run (a committed summary)."""
    why = cannot_test(claim, run)
    if why:
        return not_tested(why)
    mine = figures(claim, run, claim.model)
    if isinstance(mine, str):
        return not_tested(mine)
    theirs = {}
    for other in claim.others:
        f = figures(claim, run, other)
        if isinstance(f, str):
            return not_tested(f)
        theirs[other] = f
    # Paired part by part: JointIMB against DET is paired by seed (same initialisation)
    # even where the same claim also sets it against VIB (its own initialisation, Welch).
    shared = set(run.get("paired_by_seed", ()))

    def paired(other):
        return claim.model in shared and other in shared

    better = run["better"] if claim.figure is None else claim.side
    parts, labels = [], []
    for layer, s in mine.items():
        where = f"{layer} " if layer else ""
        if claim.kind == "order":
            for other, f in theirs.items():
                parts.append(order(s, f[layer], better, paired(other)))
                labels.append(f"{where}vs {other}")
        elif claim.kind == "comparable":
            parts.append(comparable(s, theirs[claim.others[0]][layer], claim.margin,
                                    paired(claim.others[0])))
            labels.append(where.strip() or claim.others[0])
        elif claim.kind == "matches":
            parts.append(matches(s, claim.value, claim.margin))
            labels.append(where.strip() or "the figure")
        elif claim.kind in ("threshold", "reach"):
            parts.append(reach(s.by_seed) if claim.kind == "reach"
                         else threshold(s, claim.value, claim.side))
            labels.append(where.strip() or claim.model)
        elif claim.kind == "rate-order":
            for other, f in theirs.items():
                parts.append(proportion_order(s, f[layer]))
                labels.append(f"vs {other}")
        elif claim.kind == "rate-comparable":
            parts.append(proportion_comparable(s, theirs[claim.others[0]][layer], claim.margin))
            labels.append(claim.others[0])
        elif claim.kind == "rate-threshold":
            parts.append(proportion_threshold(s, claim.value, claim.side))
            labels.append(claim.model)
        else:
            raise ValueError(f"unknown kind of claim {claim.kind!r}")
    return parts[0] if len(parts) == 1 else every(parts, labels)
