"""Every random stream of a run, named in one place.

All randomness in a run comes from its one `--seed`. The parameters' initialisation is
drawn from `SeedSequence(seed)` itself (`init_rng`); every other stream from
`SeedSequence(seed, spawn_key=(stream, ...))` (`backend.make_rng`), where `stream` is
one of the numbers below and the rest of the key says which epoch, pass or attack. A
stream's draws are thus a pure function of (seed, stream, key): a resumed run draws
exactly what an uninterrupted one would, on either backend, without saving generator
state.

The numbers are part of every result written so far: changing one changes the draws of
every run made after the change (and a run resumed across it would mix two). Add a new
stream with a new number; never renumber.
"""

from enum import IntEnum

import numpy as np


class Stream(IntEnum):
    SHUFFLE = 0           # the training set's order, per epoch (loop.train_epoch)
    TRAIN_NOISE = 1       # the tree's uniforms and VIB's eps, per epoch (loop.train_epoch)
    TEST_PASSES = 2       # the final evaluation's stochastic test passes (evaluate.evaluate)
    EPOCH_ERRORS = 3      # each epoch's validation and test error (loop.fit)
    INFOPLANE_TEST = 7    # the information plane's sampled test error (infoplane)
    ATTACK_CLEAN = 10     # the attack's clean decision on each image (attack.report)
    ATTACK_VERIFY = 11    # re-deciding a candidate adversarial image, per check
    ATTACK_NAIVE = 12     # the single-draw attack's noise and its own judgement
    ATTACK_SEARCH = 13    # the EOT and mean-field attacks' noise, per target mode
    ATTACK_FOOLING = 14   # the per-sample fooling probability's single draws
    ATTACK_RECHECK = 15   # re-deciding the naive attack's claimed successes


def init_rng(seed):
    """The generator the parameters are initialised from: SeedSequence(seed) with no
    spawn key, so no stream above can coincide with it."""
    return np.random.default_rng(np.random.SeedSequence(seed))
