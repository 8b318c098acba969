"""One interface over the five models, so the training loop does not branch on them.

`Model(name, sizes, ...)` has
    init(rng, dtype)                              -> params (host arrays)
    loss_and_grads(params, x, y, xp_rng, stage)   -> dict(loss, grads, terms)
    predict_proba(params, x, xp_rng)              -> (B, C) mean softmax
    predict_meanfield(params, x)                  -> (B, C)
    frozen(stage)                                 -> names the optimiser must not touch
    bytes_per_example(training)                   -> working memory of one example
What differs between the models is read from `self.kind`, the model's row
(imb_ref.models.KINDS): its flags (tree, stochastic, greedy, beta) and its network
family (`self.kind.network`, imb_ref.models.families), which does the work.

This is the reference: it imports no GPU code. A faster path for the tree (the fused
kernels of imb_ref/gpu/fused.py) is handed in as `accelerator` by whoever builds the model
(imb_ref.training.run.build_model); it needs only `available(model, xp)`,
`objective(model, params, x, y, rng, gammas, betas)` and
`predict_proba(model, params, x, rng)`.
"""

from dataclasses import dataclass, field

from . import KINDS


@dataclass
class Model:
    name: str
    sizes: tuple              # (n_0, n_1, ..., n_L, C)
    M: int = 32               # children per particle at training time
    test_samples: int = 32    # children per particle at test time
    gammas: tuple = ()
    betas: tuple = ()
    estimator: str = "raiko"
    vib_k: int = 256
    vib_beta: float = 1e-3
    vib_samples: int = 1      # bottleneck draws per example in training
    vib_test_samples: int = 12
    accelerator: object = None    # e.g. imb_ref.gpu.fused.FusedPath(); None: the reference
    stages: int = field(init=False)

    def __post_init__(self):
        self.kind = KINDS[self.name]
        self.L = len(self.sizes) - 2
        self.stages = self.L if self.kind.greedy else 1

    @property
    def stochastic_tree(self):
        return self.kind.tree

    @property
    def exact(self):
        """Training on the exact objective (estimator "exact"): no sampling."""
        return self.stochastic_tree and self.estimator == "exact"

    # -- parameters -------------------------------------------------------------------
    def init(self, rng, dtype):
        return self.kind.network.init(self, rng, dtype)

    def frozen(self, stage):
        """GreedyIMB stage l trains layer l's encoder and everything above it; the
        encoder of layers 1..l-1 (W_0..W_{l-2}) and their priors stay fixed."""
        if not self.kind.greedy:
            return set()
        names = {f"W_{j}" for j in range(stage - 1)} | {f"b_{j}" for j in range(stage - 1)}
        return names | {f"rho_{j}" for j in range(1, stage)}

    def weights(self, stage=1):
        """(gammas, betas) of the objective at this stage."""
        L = self.L
        if not self.kind.imb:               # SFNN and DET: VCR_0 alone, the likelihood
            return (1.0,) + (0.0,) * L, (0.0,) * L
        if self.kind.greedy:
            g = [0.0] * (L + 1)
            b = [0.0] * L
            g[stage] = 1.0
            b[stage - 1] = self.betas[stage - 1]
            return tuple(g), tuple(b)
        return tuple(self.gammas), tuple(self.betas)

    def uses_fused(self, xp):
        """Whether training steps on module xp run the accelerator's fused kernels."""
        return (self.accelerator is not None and not self.exact
                and self.accelerator.available(self, xp))

    # -- training objective --------------------------------------------------------------
    def loss_and_grads(self, params, x, y, rng, stage=1):
        return self.kind.network.loss_and_grads(self, params, x, y, rng, stage)

    # -- prediction ----------------------------------------------------------------------
    def predict_proba(self, params, x, rng):
        return self.kind.network.predict_proba(self, params, x, rng)

    def predict_meanfield(self, params, x):
        return self.kind.network.predict_meanfield(self, params, x)

    def n_params(self):
        """Number of parameters: the layers' weights and biases, the priors' logits
        (stochastic models), VIB's bottleneck and decoder."""
        return self.kind.network.n_params(self)

    def bytes_per_example(self, itemsize, training=True):
        return self.kind.network.bytes_per_example(self, itemsize, training)
