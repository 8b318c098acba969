"""Models as attack targets.

A target gives, for a batch x (B, d):
    draws(x, rng, S) -> logits (B, S, C), cache     S fresh draws of the network
    backward(cache, dlogits) -> dx (B, d)           from the model's hand-written backward
    decide(x, rng, samples) -> (B, C)               the real decision rule: the softmax
                                                    averaged over `samples` fresh draws
    single_draws(x, rng, samples) -> (B, samples)   each draw's own argmax
A binary stochastic network's draw is one path through the network (z_l ~ Bernoulli);
its gradient goes through the Raiko (or straight-through) surrogate. In 'meanfield' mode
the samples are replaced by their probabilities (z_l = p_l), a deterministic network.
"""

from ...models import sbn
from ...nn.bernoulli import SURROGATES
from ...nn.functions import softmax


class ModelTarget:
    def __init__(self, model, params, mode="sample"):
        if mode not in ("sample", "meanfield"):
            raise ValueError(f"mode {mode!r}")
        self.model, self.params = model, params
        self.stochastic = model.kind.stochastic
        self.mode = mode if self.stochastic else "meanfield"
        # The input gradient goes through a pathwise surrogate: the model's own, else
        # Raiko's (REINFORCE and the exact objective give none through the samples).
        self.estimator = model.estimator if model.estimator in SURROGATES else "raiko"
        self.n_classes = model.sizes[-1]

    # -- the attack's view -----------------------------------------------------------
    def draws(self, x, rng, S):
        """The network family's (imb_ref.models.families) S independent draws."""
        return self.model.kind.network.draws(self.model, self.params, x, rng, S,
                                             self.mode == "meanfield", self.estimator)

    def backward(self, cache, dlogits):
        return self.model.kind.network.input_backward(self.model, self.params, cache,
                                                      dlogits, self.estimator)

    # -- the model's decision --------------------------------------------------------
    def draw_probs(self, x, rng, samples):
        """The softmax of each of `samples` fresh draws, (B, samples, C) (one for DET)."""
        if not self.stochastic:
            return softmax(sbn.logits_forward(self.params, x, None)[0], axis=2)
        saved, self.mode = self.mode, "sample"
        try:
            logits, _ = self.draws(x, rng, samples)
        finally:
            self.mode = saved
        return softmax(logits, axis=2)

    def decide(self, x, rng, samples):
        return self.draw_probs(x, rng, samples).mean(axis=1)

    def single_draws(self, x, rng, samples):
        if not self.stochastic:
            return sbn.logits_forward(self.params, x, None)[0].argmax(axis=2)
        saved, self.mode = self.mode, "sample"
        try:
            logits, _ = self.draws(x, rng, samples)
        finally:
            self.mode = saved
        return logits.argmax(axis=2)
