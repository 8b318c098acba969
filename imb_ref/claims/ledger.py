"""The paper's claims, one row each: its words, where they stand, what kind of statement
it is, the paper's figures, and the runs (committed summaries, `results/runs/`) that can
test it, the preferred first.

A row says nothing about the verdict: `judge.judge_claim` decides it from the run's
figures. What a row does fix beforehand is what the judge needs to be fair: the margin of
a comparability claim, with the reason for its size, and the length a claim speaks of
(a run shorter than it cannot test it).
"""

from dataclasses import dataclass
from typing import Optional, Tuple

ALL = ("det", "vib", "sfnn", "greedyimb", "jointimb")
LAYERS = ("Z_1", "Z_2", "Z_3", "Z_4")

# The runs that test each experiment's claims, the preferred first. A name without a
# committed summary (a run still to be made) is skipped.
MNIST = ("mnist-authors-5seeds", "mnist-authors-2seeds", "mnist-30epochs", "mnist-15epochs")
MNIST_GAMMAS = ("mnist-authors-gammas", "mnist-authors-5seeds", "mnist-authors-2seeds")
CIFAR10 = ("cifar10-30epochs",)
ROBUST = ("mnist-robustness-30epochs",)
PLANE = ("infoplane-sgd-raiko-3000x5", "infoplane-exact-adam-3000x5",
         "infoplane-exact-adam-20000x1")
# GreedyIMB at l = 1 in the paper's regime (SGD on the sampled objective) first, as PLANE.
PLANE_L1 = ("infoplane-greedy-l1-sgd-raiko-3000x5", "infoplane-greedy-l1-3000x5") + PLANE


@dataclass(frozen=True)
class Claim:
    """One statement of the paper, as a test can take it.

    kind: "order" (`model` better than each of `others`, on the run's metric or on
    `figure` per layer), "comparable" (within `margin` of `others[0]`), "matches"
    (within `margin` of the figure `value`), "threshold" (`side` of `value` in every
    layer), "reach" (reaches its seed's SFNN final relevance in every layer before the
    run ends), or the proportion kinds "rate-order", "rate-comparable", "rate-threshold"
    (over images, on `figure` = "targeted" or "untargeted")."""
    id: str
    where: str
    words: str
    kind: str
    model: str
    runs: Tuple[str, ...]
    paper: str
    others: Tuple[str, ...] = ()
    figure: Optional[str] = None        # a per-layer or per-image figure; None: the metric
    side: str = "higher"                # for figures: which way the claim points
    value: Optional[float] = None
    margin: Optional[float] = None
    margin_reason: str = ""
    min_epochs: Optional[int] = None    # the length the claim speaks of
    note: str = ""


def _others(model):
    return tuple(m for m in ALL if m != model)


CLAIMS = (
    # ---------------------------------------------------------------- Section 5.1, MNIST
    Claim("mnist-jointimb-best", "Section 5.1, Table 1",
          "JointIMB already outperforms MLE and VIB on MNIST (Table 1: the lowest error "
          "of the five)", "order", "jointimb", MNIST,
          "1.36% against 1.44 (SFNN), 1.45 (VIB), 1.54 (GreedyIMB), 1.73 (DET)",
          others=_others("jointimb")),
    Claim("mnist-jointimb-vs-mle", "Section 5.1, Table 1",
          "JointIMB already outperforms MLE [...] on MNIST", "order", "jointimb", MNIST,
          "1.36% against 1.44 (SFNN)", others=("sfnn",)),
    Claim("mnist-jointimb-vs-vib", "Section 5.1, Table 1",
          "JointIMB already outperforms [...] VIB on MNIST", "order", "jointimb", MNIST,
          "1.36% against 1.45 (VIB)", others=("vib",)),
    Claim("mnist-authors-logged", "the authors' released code (thanhnguyentang/pib, "
          "nb/read_and_write_expr_results.ipynb)",
          "JointIMB's test error under the released setting: 1.43% (the mean of 30 "
          "logged runs, variance 0.00064)", "matches", "jointimb", MNIST_GAMMAS,
          "1.43%", value=1.4305, margin=0.1,
          margin_reason="a tenth of a point, 10 of the 10,000 test images: four times "
          "the spread of the authors' own 30 runs (sd 0.025 points)",
          note="The logged runs are named g1.0.8-g2.1.0 in the issue that asked for this "
          "check; the stored bash/pib1.sh has versions with gamma_1 = 0.8 and with 1.0. "
          "mnist-authors-gammas trains with gammas (1, 0.8, 1)."),
    # ---------------------------------------------------------------- Section 5.1, CIFAR10
    Claim("cifar10-greedyimb-best", "Section 5.1, Table 1",
          "GreedyMIB outperforms the other models on CIFAR10", "order", "greedyimb",
          CIFAR10, "57.61% accuracy against 55.94 (SFNN), 55.62 (JointIMB), 54.41 (VIB), "
          "53.91 (DET)", others=_others("greedyimb")),
    Claim("cifar10-jointimb-comparable-mle", "Section 5.1, Table 1",
          "The performance of JointPIB on CIFAR10 is also comparable to MLE", "comparable",
          "jointimb", CIFAR10, "55.62% against 55.94 (SFNN): 0.32 points apart",
          others=("sfnn",), margin=1.0,
          margin_reason="1 point of accuracy: three times the paper's own gap between "
          "the two (0.32), and below the gap the paper calls outperforming (GreedyIMB "
          "over SFNN, 1.67)"),
    # ---------------------------------------------------------------- Section 5.2
    *(c for fig in ("targeted", "untargeted") for c in (
        Claim(f"robust-det-fooled-{fig}", "Section 5.2, Table 1",
              "the deterministic model DET is totally fooled by the attacks",
              "rate-threshold", "det", ROBUST, "0.00%", figure=fig, side="below",
              value=0.05, margin_reason="'totally fooled' read as fewer than 1 image in 20 "
              "surviving"),
        Claim(f"robust-sfnn-over-det-{fig}", "Section 5.2, Table 1",
              "SFNN is significantly more adversarially robust than DET", "rate-order",
              "sfnn", ROBUST, {"targeted": "83.00% against 0.00",
                               "untargeted": "95.20% against 0.00"}[fig],
              others=("det",), figure=fig),
        Claim(f"robust-vib-compatible-sfnn-{fig}", "Section 5.2, Table 1",
              "VIB has compatible adversarial robustness with SFNN", "rate-comparable",
              "vib", ROBUST, {"targeted": "83.70% against 83.00",
                              "untargeted": "93.10% against 95.20"}[fig],
              others=("sfnn",), figure=fig, margin=0.05,
              margin_reason="5 points: above the paper's own gaps between the two (0.70 "
              "targeted, 2.10 untargeted); with about 100 images a difference's standard "
              "error is near 6 points, so only the paper's 1,000 images could pass it"),
        Claim(f"robust-jointimb-most-{fig}", "Section 5.2, Table 1",
              "JointIMB is more adversarially robust than the other models", "rate-order",
              "jointimb", ROBUST, {"targeted": "84.16% against 83.70 (VIB), 83.21 "
                                   "(GreedyIMB), 83.00 (SFNN), 0.00 (DET)",
                                   "untargeted": "96.00% against 95.20 (SFNN), 94.30 "
                                   "(GreedyIMB), 93.10 (VIB), 0.00 (DET)"}[fig],
              others=_others("jointimb"), figure=fig))),
    # ---------------------------------------------------------------- Section 5.3
    Claim("plane-jointimb-height", "Section 5.3, Figure 1",
          "MLE is unable to encode the network layers to reach the maximum level of "
          "relevance enabled by IMB", "order", "jointimb", PLANE,
          "JointIMB's layers above SFNN's in Figure 1", others=("sfnn",),
          figure="final_I_Y",
          note="Judged on each layer's final I(Z_l;Y), which is also its highest in "
          "every reported run but one layer of one seed."),
    Claim("plane-sfnn-below-0.8", "Section 5.3",
          "We also trained SFNN up to 100,000 epochs and observed that the level of "
          "relevance of each layer degrades before ever reaching the value of 0.8 bits",
          "threshold", "sfnn", PLANE, "below 0.8 bit in every layer",
          figure="final_I_Y", side="below", value=0.8, min_epochs=100000),
    Claim("plane-jointimb-speed", "Section 5.3",
          "JointIMB at l = 1 needs only about 4.68% of the training epochs to achieve at "
          "least the same level of relevance in all layers of SFNN at the final epoch",
          "reach", "jointimb", PLANE, "4.68% of 20,000 epochs (936)",
          figure="reach_sfnn_final",
          note="Judged as: each seed's JointIMB reaches its own seed's SFNN final "
          "relevance, layer by layer, before the run ends. The paper's fraction is not "
          "comparable across run lengths: the target is SFNN's relevance at the end of "
          "the run."),
    Claim("plane-sfnn-compression", "Section 5.3",
          "compression does occur in SFNN which is consistent with the result reported in "
          "([28])", "threshold", "sfnn", PLANE, "I(Z_l;X) bending over in Figure 1a",
          figure="I_X_fall", side="above", value=0.01, min_epochs=20000,
          note="A fall of I(Z_l;X) after its peak of more than 0.01 bit in some layer."),
    Claim("plane-imb-not-right", "Section 5.3",
          "the compression constraints within the IMB framework keep the layer "
          "representation from shifting to the right (in the information plane) during "
          "the encoding of relevant information", "order", "jointimb", PLANE,
          "JointIMB's layers left of SFNN's in Figure 1", others=("sfnn",),
          figure="final_I_X", side="lower"),
    Claim("plane-imb-relevance-peaks", "Section 5.3",
          "the relevance for IMB increases until some point before decreasing",
          "threshold", "jointimb", PLANE, "Figure 1b", figure="I_Y_fall", side="above",
          value=0.01, min_epochs=20000,
          note="A fall of I(Z_l;Y) after its peak of more than 0.01 bit in some layer."),
    # ---------------------------------------------------------------- Appendix E
    Claim("greedy-l1-speed", "Appendix E",
          "GreedyIMB at l = 1 needs only about 17.95% of the training epochs to achieve at "
          "least the same level of relevance in all layers of SFNN at the final epoch. "
          "Recall that in GreedyIMB at l=1 the PIB principle is applied to the first "
          "hidden layer only.", "reach", "greedyimb-l1", PLANE_L1,
          "17.95% of 20,000 epochs (3,590)", figure="reach_sfnn_final",
          note="The figure is for GreedyIMB's first stage alone (the PIB objective on the "
          "first hidden layer) trained for the whole run, not for the whole greedy "
          "schedule."),
    Claim("greedy-height", "Appendix E, Figure 2",
          "GreedyIMB also achieves a significantly higher level of relevant information at "
          "each layer compared to MLE", "order", "greedyimb", PLANE,
          "GreedyIMB's layers above SFNN's in Figure 2", others=("sfnn",),
          figure="final_I_Y"),
    Claim("greedy-not-right", "Appendix E",
          "the compression constraints within the IMB framework keep the layer "
          "representation from shifting to the right", "order", "greedyimb", PLANE,
          "GreedyIMB's layers left of SFNN's in Figure 2", others=("sfnn",),
          figure="final_I_X", side="lower"),
    Claim("greedy-shifts-left", "Appendix E, Figure 2",
          "The layer representation at the final epoch gradually shifts to the left (i.e., "
          "more compressed) while not degrading the relevance over the greedy training "
          "from layer 1 to layer 4", "threshold", "greedyimb", PLANE, "Figure 2",
          figure="stage_I_X_shift", side="above", value=0.0,
          note="Needs I(Z_l;X) at the end of each greedy stage, per seed."),
)

IDS = tuple(c.id for c in CLAIMS)
assert len(set(IDS)) == len(IDS), "claim ids must be unique"
