"""One interface over the five models, so the training loop does not branch on them.

`Model(name, sizes, ...)` has
    init(rng, dtype)                              -> params (host arrays)
    loss_and_grads(params, x, y, xp_rng, stage)   -> dict(loss, grads, terms)
    predict_proba(params, x, xp_rng)              -> (B, C) mean softmax
    predict_meanfield(params, x)                  -> (B, C)
    frozen(stage)                                 -> names the optimiser must not touch
    bytes_per_example(training)                   -> working memory of one example
What differs between the models is read from `self.kind` (imb_ref.models.KINDS).

This is the reference: it imports no GPU code. A faster path for the tree (the fused
kernels of imb_ref/gpu/fused.py) is handed in as `accelerator` by whoever builds the model
(imb_ref.training.experiment.build_model); it needs only `available(model, xp)`,
`objective(model, params, x, y, rng, gammas, betas)` and
`predict_proba(model, params, x, rng)`.
"""

from dataclasses import dataclass, field

import numpy as np

from ..backend import array_module
from ..exact import exact_objective
from . import KINDS, sbn, vib


def exact_step(params, x, y, gammas, betas):
    """The exact objective (the M -> infinity limit of the sampled one) and its gradient
    on the batch (x, y), by enumerating every state of every layer (imb_ref.exact);
    NumPy, float64 inside, gradients returned in the parameters' dtype."""
    w = np.full(x.shape[0], 1.0 / x.shape[0])
    out = exact_objective({k: v.astype(np.float64) for k, v in params.items()},
                          x.astype(np.float64), y, w, gammas, betas)
    out["grads"] = {k: g.astype(params[k].dtype) for k, g in out["grads"].items()}
    return out


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
        if self.kind.network == "gaussian":
            return vib.init_params(self.sizes, rng, self.vib_k, dtype)
        return sbn.init_params(self.sizes, rng, dtype, with_prior=self.kind.stochastic)

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
        if self.kind.beta is None:          # SFNN and DET: VCR_0 alone, the likelihood
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
        B = x.shape[0]
        if self.kind.network == "gaussian":
            eps = rng.standard_normal((B, self.vib_samples, self.vib_k), dtype=x.dtype)
            out = vib.vib_objective(params, x, y, eps, self.vib_beta)
            return {"loss": out["loss"], "grads": out["grads"],
                    "terms": {"ce": out["ce"], "kl": out["kl"]}}
        gammas, betas = self.weights(stage)
        xp = array_module(x)
        if self.exact:
            out = exact_step(params, x, y, gammas, betas)
        elif not self.kind.stochastic:      # DET: z_l = p_l, no sampling
            out = sbn.imb_objective(params, x, y, None, 1, gammas, betas)
        elif self.uses_fused(xp):
            out = self.accelerator.objective(self, params, x, y, rng, gammas, betas)
        else:
            u = sbn.sample_uniforms(rng, B, self.M, self.sizes[1:-1], x.dtype)
            out = sbn.imb_objective(params, x, y, u, self.M, gammas, betas, self.estimator)
        return {"loss": out["loss"], "grads": out["grads"],
                "terms": {"vcr": out["vcr"], "kl": out["kl"]}}

    # -- prediction ----------------------------------------------------------------------
    def predict_proba(self, params, x, rng):
        B = x.shape[0]
        if self.kind.network == "gaussian":
            eps = rng.standard_normal((B, self.vib_test_samples, self.vib_k), dtype=x.dtype)
            return vib.predict_proba(params, x, eps)
        if not self.kind.stochastic:
            return sbn.predict_proba(params, x, None)
        if self.uses_fused(array_module(x)):
            return self.accelerator.predict_proba(self, params, x, rng)
        u = sbn.sample_uniforms(rng, B, self.test_samples, self.sizes[1:-1], x.dtype)
        return sbn.predict_proba(params, x, u)

    def predict_meanfield(self, params, x):
        if self.kind.network == "gaussian":
            return vib.predict_proba(params, x, None)
        return sbn.predict_proba(params, x, None)

    def n_params(self):
        """Number of parameters: the layers' weights and biases, the priors' logits
        (stochastic models), VIB's bottleneck and decoder."""
        s = self.sizes
        if self.kind.network == "gaussian":
            enc = sum(a * b + b for a, b in zip(s[:-2], s[1:-1]))
            return enc + 2 * (s[-2] * self.vib_k + self.vib_k) + self.vib_k * s[-1] + s[-1]
        layers = sum(a * b + b for a, b in zip(s[:-1], s[1:]))
        return layers + (sum(s[1:-1]) if self.kind.stochastic else 0)   # priors' logits

    def bytes_per_example(self, itemsize, training=True):
        if training and self.exact:     # a dozen float64 rows of S_l = 2**n_l per layer
            return 8 * 12 * sum(2 ** n for n in self.sizes[1:-1])
        if not self.stochastic_tree:
            S = ((self.vib_samples if training else self.vib_test_samples)
                 if self.kind.network == "gaussian" else 1)
            return itemsize * (4 * sum(self.sizes) + 4 * S * (self.vib_k + self.sizes[-1]))
        M = self.M if training else self.test_samples
        return sbn.bytes_per_example(self.sizes, M, itemsize, training)
