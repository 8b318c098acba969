"""The five models of Table 1: DET, VIB, SFNN, GreedyIMB and JointIMB, one row each.

SFNN, GreedyIMB and JointIMB share one network, the binary stochastic network of
`sbn.py`, and differ only in the weights (gammas, betas) of their objective; DET is
the same network run mean-field (z_l = p_l). VIB has its own network (`vib.py`). A row
names its network family (`families.py`: everything the code asks of a network), so
adding a model is a row here, plus a family where the network is new.
"""

from dataclasses import dataclass

from ..nn.bernoulli import estimators as sampled_estimators
from .families import BINARY, GAUSSIAN  # noqa: F401  (the families a row names)


@dataclass(frozen=True)
class Kind:
    """What sets one model apart from the others: the code asks these questions, never
    the model's name."""
    name: str           # the --model value
    label: str          # as the paper writes it
    network: object     # its family: BINARY, the binary stochastic network (sbn.py), or
                        # GAUSSIAN, an encoder and a Gaussian bottleneck (vib.py)
    tree: bool          # trained on the tree of M**L sampled leaves (or its exact limit)
    stochastic: bool    # predicts by averaging draws (all but DET)
    beta: str = None    # the setting Table 1's beta grid varies: "betas", "vib_beta"
    greedy: bool = False    # trained one layer per stage (Section 4.1)


# The one list of models, in Table 1's order.
KINDS = {k.name: k for k in (
    Kind("det", "DET", BINARY, tree=False, stochastic=False),
    Kind("vib", "VIB", GAUSSIAN, tree=False, stochastic=True, beta="vib_beta"),
    Kind("sfnn", "SFNN", BINARY, tree=True, stochastic=True),
    Kind("greedyimb", "GreedyIMB", BINARY, tree=True, stochastic=True, beta="betas",
         greedy=True),
    Kind("jointimb", "JointIMB", BINARY, tree=True, stochastic=True, beta="betas"),
)}
MODELS = tuple(KINDS)
TREE_MODELS = tuple(name for name, k in KINDS.items() if k.tree)   # Section 5.3's three
# How SFNN, GreedyIMB and JointIMB get their gradient: one of the sampled estimators of
# nn/bernoulli.py on the tree of M**L leaves, or "exact": the objective's M -> infinity
# limit and its exact gradient, by enumerating every state of every layer
# (imb_ref/exact.py; small networks such as the 12-bit task's, on NumPy).
def estimators():
    """Every estimator the tree can train with, read when asked (a surrogate added to
    nn.bernoulli.SURROGATES is offered at once)."""
    return sampled_estimators() + ("exact",)


MAX_EXACT_ENTRIES = 2 ** 22      # the largest transition matrix enumerated: 32 MB in float64
