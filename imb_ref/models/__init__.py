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
    imb: bool = False   # its objective has the per-layer terms, weighted by gammas, betas
    grid: object = None     # what a beta of Table 1's grid sets: beta -> {setting: value}
    greedy: bool = False    # trained one layer per stage (Section 4.1)
    # The paper's experiments it takes part in ("table1": Sections 5.1-5.2; "infoplane":
    # Section 5.3's defaults), and its figures in Table 1: MNIST test error (%), CIFAR10
    # test accuracy (%), MNIST robustness (%) under targeted and untargeted C&W L2. A row
    # added without them trains with `train` and joins no experiment.
    experiments: frozenset = frozenset()
    paper: dict = None


TABLE1, PLANE = frozenset({"table1"}), frozenset({"table1", "infoplane"})


def every_layer(beta):
    """Table 1's grid for the IMB models: beta_l = beta for every layer (Appendix D)."""
    return {"betas": (beta,)}


def bottleneck(beta):
    """Table 1's grid for VIB: the weight of its one KL term."""
    return {"vib_beta": beta}


# The one list of models, in Table 1's order.
KINDS = {k.name: k for k in (
    Kind("det", "DET", BINARY, tree=False, stochastic=False, experiments=TABLE1,
         paper={"mnist": 1.73, "cifar10": 53.91, "targeted": 0.00, "untargeted": 0.00}),
    Kind("vib", "VIB", GAUSSIAN, tree=False, stochastic=True, grid=bottleneck,
         experiments=TABLE1,
         paper={"mnist": 1.45, "cifar10": 54.41, "targeted": 83.70, "untargeted": 93.10}),
    Kind("sfnn", "SFNN", BINARY, tree=True, stochastic=True, experiments=PLANE,
         paper={"mnist": 1.44, "cifar10": 55.94, "targeted": 83.00, "untargeted": 95.20}),
    Kind("greedyimb", "GreedyIMB", BINARY, tree=True, stochastic=True, imb=True,
         grid=every_layer,
         greedy=True, experiments=PLANE,
         paper={"mnist": 1.54, "cifar10": 57.61, "targeted": 83.21, "untargeted": 94.30}),
    Kind("jointimb", "JointIMB", BINARY, tree=True, stochastic=True, imb=True,
         grid=every_layer,
         experiments=PLANE,
         paper={"mnist": 1.36, "cifar10": 55.62, "targeted": 84.16, "untargeted": 96.00}),
)}


def models_in(experiment):
    """The models that take part in one of the paper's experiments ("table1",
    "infoplane"), in Table 1's order, read from the rows when asked (a row added later
    is seen)."""
    return tuple(name for name, k in KINDS.items() if experiment in k.experiments)


def tree_models():
    """Every model trained on the tree (the information plane can measure any of them)."""
    return tuple(name for name, k in KINDS.items() if k.tree)
# How SFNN, GreedyIMB and JointIMB get their gradient: one of the sampled estimators of
# nn/bernoulli.py on the tree of M**L leaves, or "exact": the objective's M -> infinity
# limit and its exact gradient, by enumerating every state of every layer
# (imb_ref/exact.py; small networks such as the 12-bit task's, on NumPy).
def estimators():
    """Every estimator the tree can train with, read when asked (a surrogate added to
    nn.bernoulli.SURROGATES is offered at once)."""
    return sampled_estimators() + ("exact",)


MAX_EXACT_ENTRIES = 2 ** 22      # the largest transition matrix enumerated: 32 MB in float64
