"""The five models of Table 1: DET, VIB, SFNN, GreedyIMB and JointIMB.

SFNN, GreedyIMB and JointIMB share one network, the binary stochastic network of
`sbn.py`, and differ only in the weights (gammas, betas) of their objective; DET is
the same network run mean-field (z_l = p_l). VIB has its own module.
"""

from ..nn.bernoulli import ESTIMATORS as SAMPLED_ESTIMATORS

MODELS = ("det", "vib", "sfnn", "greedyimb", "jointimb")
# How SFNN, GreedyIMB and JointIMB get their gradient: one of the sampled estimators of
# nn/bernoulli.py on the tree of M**L leaves, or "exact": the objective's M -> infinity
# limit and its exact gradient, by enumerating every state of every layer
# (imb_ref/exact.py; small networks such as the 12-bit task's, on NumPy).
ESTIMATORS = SAMPLED_ESTIMATORS + ("exact",)
MAX_EXACT_ENTRIES = 2 ** 22      # the largest transition matrix enumerated: 32 MB in float64
