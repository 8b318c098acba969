"""The two networks behind the five models, each with everything the rest of the code
asks of a network. A model's row (imb_ref.models.KINDS) names its family; code that
needs to know which network a model has asks the row (`model.kind.network`), never a
string.

- BINARY: the binary stochastic network of sbn.py. SFNN, GreedyIMB and JointIMB train
  it on the tree of M**L sampled leaves (or its exact limit); DET runs it mean-field
  (z_l = p_l), without priors.
- GAUSSIAN: VIB's deterministic encoder, Gaussian bottleneck of K units and decoder
  (vib.py).

A family's methods take the Model (imb_ref.models.registry) whose settings they read.
"""

import numpy as np

from ..backend import array_module
from ..exact import exact_objective
from . import sbn, vib


def exact_step(params, x, y, gammas, betas):
    """The exact objective (the M -> infinity limit of the sampled one) and its gradient
    on the batch (x, y), by enumerating every state of every layer (imb_ref.exact);
    NumPy, float64 inside, gradients returned in the parameters' dtype."""
    w = np.full(x.shape[0], 1.0 / x.shape[0])
    out = exact_objective({k: v.astype(np.float64) for k, v in params.items()},
                          x.astype(np.float64), y, w, gammas, betas)
    out["grads"] = {k: g.astype(params[k].dtype) for k, g in out["grads"].items()}
    return out


class BinaryNetwork:
    name = "binary"
    bottleneck = False            # no separate bottleneck layer: every layer is one

    def init(self, model, rng, dtype):
        return sbn.init_params(model.sizes, rng, dtype, with_prior=model.kind.stochastic)

    def loss_and_grads(self, model, params, x, y, rng, stage):
        gammas, betas = model.weights(stage)
        if model.exact:
            out = exact_step(params, x, y, gammas, betas)
        elif not model.kind.stochastic:      # DET: z_l = p_l, no sampling
            out = sbn.imb_objective(params, x, y, None, 1, gammas, betas)
        elif model.uses_fused(array_module(x)):
            out = model.accelerator.objective(model, params, x, y, rng, gammas, betas)
        else:
            u = sbn.sample_uniforms(rng, x.shape[0], model.M, model.sizes[1:-1], x.dtype)
            out = sbn.imb_objective(params, x, y, u, model.M, gammas, betas,
                                    model.estimator)
        return {"loss": out["loss"], "grads": out["grads"],
                "terms": {"vcr": out["vcr"], "kl": out["kl"]}}

    def predict_proba(self, model, params, x, rng):
        if not model.kind.stochastic:
            return sbn.predict_proba(params, x, None)
        if model.uses_fused(array_module(x)):
            return model.accelerator.predict_proba(model, params, x, rng)
        u = sbn.sample_uniforms(rng, x.shape[0], model.test_samples, model.sizes[1:-1],
                                x.dtype)
        return sbn.predict_proba(params, x, u)

    def predict_meanfield(self, model, params, x):
        return sbn.predict_proba(params, x, None)

    def n_params(self, model):
        s = model.sizes
        layers = sum(a * b + b for a, b in zip(s[:-1], s[1:]))
        return layers + (sum(s[1:-1]) if model.kind.stochastic else 0)   # priors' logits

    def bytes_per_example(self, model, itemsize, training):
        if training and model.exact:    # a dozen float64 rows of S_l = 2**n_l per layer
            return 8 * 12 * sum(2 ** n for n in model.sizes[1:-1])
        if not model.kind.tree:         # DET: one mean-field particle (the same bound as
            return itemsize * (4 * sum(model.sizes)     # VIB's with one draw)
                               + 4 * (model.vib_k + model.sizes[-1]))
        M = model.M if training else model.test_samples
        return sbn.bytes_per_example(model.sizes, M, itemsize, training)

    # -- the attack's view (imb_ref.experiments.attack.target) ---------------------------
    def draws(self, model, params, x, rng, S, meanfield, estimator):
        """Leaf logits (B, S, C) of S independent paths (one for meanfield), and the
        cache `input_backward` needs."""
        if meanfield:
            logits, layers = sbn.logits_forward(params, x, None)
        else:
            B, hidden = x.shape[0], model.sizes[1:-1]
            # S children at layer 1, one child per particle after: S independent paths.
            u = [rng.random((B, 1, S, n) if l == 0 else (B, S, 1, n), dtype=x.dtype)
                 for l, n in enumerate(hidden)]
            logits, layers = sbn.logits_forward(params, x, u)
        return logits, layers

    def input_backward(self, model, params, cache, dlogits, estimator):
        return sbn.logits_input_backward(params, cache, dlogits, estimator)


class GaussianNetwork:
    name = "gaussian"
    bottleneck = True             # one Gaussian bottleneck of model.vib_k units

    def init(self, model, rng, dtype):
        return vib.init_params(model.sizes, rng, model.vib_k, dtype)

    def loss_and_grads(self, model, params, x, y, rng, stage):
        eps = rng.standard_normal((x.shape[0], model.vib_samples, model.vib_k),
                                  dtype=x.dtype)
        out = vib.vib_objective(params, x, y, eps, model.vib_beta)
        return {"loss": out["loss"], "grads": out["grads"],
                "terms": {"ce": out["ce"], "kl": out["kl"]}}

    def predict_proba(self, model, params, x, rng):
        eps = rng.standard_normal((x.shape[0], model.vib_test_samples, model.vib_k),
                                  dtype=x.dtype)
        return vib.predict_proba(params, x, eps)

    def predict_meanfield(self, model, params, x):
        return vib.predict_proba(params, x, None)

    def n_params(self, model):
        s, K = model.sizes, model.vib_k
        enc = sum(a * b + b for a, b in zip(s[:-2], s[1:-1]))
        return enc + 2 * (s[-2] * K + K) + K * s[-1] + s[-1]

    def bytes_per_example(self, model, itemsize, training):
        S = model.vib_samples if training else model.vib_test_samples
        return itemsize * (4 * sum(model.sizes) + 4 * S * (model.vib_k + model.sizes[-1]))

    def draws(self, model, params, x, rng, S, meanfield, estimator):
        eps = None if meanfield else rng.standard_normal((x.shape[0], S, model.vib_k),
                                                         dtype=x.dtype)
        return vib.logits_forward(params, x, eps)

    def input_backward(self, model, params, cache, dlogits, estimator):
        return vib.logits_input_backward(params, cache, dlogits)


BINARY = BinaryNetwork()
GAUSSIAN = GaussianNetwork()
