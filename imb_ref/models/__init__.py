"""The five models of Table 1: DET, VIB, SFNN, GreedyIMB and JointIMB.

SFNN, GreedyIMB and JointIMB share one network, the binary stochastic network of
`sbn.py`, and differ only in the weights (gammas, betas) of their objective; DET is
the same network run mean-field (z_l = p_l). VIB has its own module.
"""

MODELS = ("det", "vib", "sfnn", "greedyimb", "jointimb")
