"""Optimisers written by hand, each a small class over a dict of parameters.

`step(params, grads, frozen=())` updates `params` in place; names in `frozen` are left
untouched, their state included (GreedyIMB freezes the encoder below its stage).
`state` is a flat dict of arrays ("<param>/<slot>") plus the step count `t`, so a
checkpoint can save and restore it exactly.

`kernels` (imb_ref.gpu.launch.CupyKernels on a GPU, None otherwise): each parameter's update
runs as one kernel of imb_ref/gpu/kernels/optim.cu, the same arithmetic in the same order,
instead of 6 to 13 array operations (each a launch on a GPU).

Update rules as in the original papers (and PyTorch's defaults where they agree):
  sgd      v = mu v + g;                  w -= lr v                 (momentum mu)
  adam     m, v moments, bias-corrected;   w -= lr m_hat / (sqrt(v_hat) + eps)
  adamax   m, u = max(b2 u, |g|);          w -= lr / (1 - b1^t) m / (u + eps)
  adadelta E[g2], E[dx2] running means;     dx = sqrt(E[dx2]+eps)/sqrt(E[g2]+eps) g
  adagrad  G += g^2;                       w -= lr g / (sqrt(G) + eps)
  rmsprop  E[g2] = a E[g2] + (1-a) g^2;     w -= lr g / (sqrt(E[g2]) + eps)
"""

from .backend import array_module
from .errors import UserError

OPTIMIZERS = ("sgd", "adam", "adamax", "adadelta", "adagrad", "rmsprop")
DEFAULT_LR = {"sgd": 0.1, "adam": 1e-3, "adamax": 2e-3, "adadelta": 1.0, "adagrad": 1e-2,
              "rmsprop": 1e-3}


class Optimizer:
    slots = ()

    def __init__(self, lr, kernels=None, **hyper):
        self.lr = float(lr)
        self.kernels = kernels
        self.hyper = hyper
        self.state = {"t": 0}

    def _slot(self, name, slot, like):
        key = f"{name}/{slot}"
        if key not in self.state:
            self.state[key] = array_module(like).zeros_like(like)
        return self.state[key]

    def step(self, params, grads, frozen=()):
        self.state["t"] += 1
        if self.kernels is not None:
            kernel, slots, scalars = self.fused(self.state["t"])   # the same for every w
        for name, g in grads.items():
            if name in frozen:
                continue
            if self.kernels is None:
                self.update(name, params[name], g, self.state["t"])
            else:
                w = params[name]
                g = array_module(w).ascontiguousarray(g)
                self.kernels(kernel, w.dtype, 1, w.size, w, g,
                             *[self._slot(name, s, w) if s else g for s in slots],
                             *scalars, w.size)

    def update(self, name, w, g, t):
        raise NotImplementedError

    def fused(self, t):
        """(kernel name, state slots it takes after w and g, its scalars) at step t."""
        raise NotImplementedError

    def _moments(self):
        """Adam's and Adamax's (b1, b2, eps), PyTorch's defaults unless given."""
        return self.hyper.get("b1", 0.9), self.hyper.get("b2", 0.999), self.hyper.get("eps", 1e-8)


class SGD(Optimizer):
    def update(self, name, w, g, t):
        mu = self.hyper.get("momentum", 0.9)
        if mu:
            v = self._slot(name, "v", w)
            v *= mu
            v += g
            g = v
        w -= self.lr * g

    def fused(self, t):
        mu = self.hyper.get("momentum", 0.9)
        return "optim_sgd", ("v" if mu else None,), (self.lr, mu)   # mu = 0: no slot


class Adam(Optimizer):
    def update(self, name, w, g, t):
        b1, b2, eps = self._moments()
        xp = array_module(w)
        m, v = self._slot(name, "m", w), self._slot(name, "v", w)
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * g * g
        step = self.lr / (1 - b1 ** t)
        w -= step * m / (xp.sqrt(v / (1 - b2 ** t)) + eps)

    def fused(self, t):
        b1, b2, eps = self._moments()
        return "optim_adam", ("m", "v"), (b1, 1 - b1, b2, 1 - b2, self.lr / (1 - b1 ** t),
                                          1 - b2 ** t, eps)


class Adamax(Optimizer):
    def update(self, name, w, g, t):
        b1, b2, eps = self._moments()
        xp = array_module(w)
        m, u = self._slot(name, "m", w), self._slot(name, "u", w)
        m *= b1
        m += (1 - b1) * g
        xp.maximum(b2 * u, xp.abs(g) + eps, out=u)
        w -= self.lr / (1 - b1 ** t) * m / u

    def fused(self, t):
        b1, b2, eps = self._moments()
        return "optim_adamax", ("m", "u"), (b1, 1 - b1, b2, self.lr / (1 - b1 ** t), eps)


class Adadelta(Optimizer):
    def update(self, name, w, g, t):
        rho, eps = self.hyper.get("rho", 0.95), self.hyper.get("eps", 1e-6)
        xp = array_module(w)
        eg, ed = self._slot(name, "g2", w), self._slot(name, "dx2", w)
        eg *= rho
        eg += (1 - rho) * g * g
        dx = xp.sqrt(ed + eps) / xp.sqrt(eg + eps) * g
        ed *= rho
        ed += (1 - rho) * dx * dx
        w -= self.lr * dx

    def fused(self, t):
        rho, eps = self.hyper.get("rho", 0.95), self.hyper.get("eps", 1e-6)
        return "optim_adadelta", ("g2", "dx2"), (rho, 1 - rho, self.lr, eps)


class Adagrad(Optimizer):
    def update(self, name, w, g, t):
        eps = self.hyper.get("eps", 1e-10)
        xp = array_module(w)
        G = self._slot(name, "G", w)
        G += g * g
        w -= self.lr * g / (xp.sqrt(G) + eps)

    def fused(self, t):
        return "optim_adagrad", ("G",), (self.lr, self.hyper.get("eps", 1e-10))


class RMSprop(Optimizer):
    def update(self, name, w, g, t):
        a, eps = self.hyper.get("alpha", 0.99), self.hyper.get("eps", 1e-8)
        xp = array_module(w)
        s = self._slot(name, "s", w)
        s *= a
        s += (1 - a) * g * g
        w -= self.lr * g / (xp.sqrt(s) + eps)

    def fused(self, t):
        a, eps = self.hyper.get("alpha", 0.99), self.hyper.get("eps", 1e-8)
        return "optim_rmsprop", ("s",), (a, 1 - a, self.lr, eps)


_CLASSES = {"sgd": SGD, "adam": Adam, "adamax": Adamax, "adadelta": Adadelta,
            "adagrad": Adagrad, "rmsprop": RMSprop}


def make_optimizer(name, lr=None, kernels=None, **hyper):
    """`kernels`: run each update as one kernel (see the module docstring), or None."""
    if name not in _CLASSES:
        raise UserError(f"unknown optimizer {name!r}: choose one of {', '.join(OPTIMIZERS)}")
    return _CLASSES[name](DEFAULT_LR[name] if lr is None else lr, kernels=kernels, **hyper)


def clip_global_norm(grads, max_norm, frozen=()):
    """Scale the trainable gradients together so that their joint L2 norm is at most
    `max_norm` (0: no clipping). Stays on the device; returns the norm before clipping
    as a 0-d array."""
    names = [n for n in grads if n not in frozen]
    xp = array_module(grads[names[0]])
    norm = xp.sqrt(sum((grads[n] * grads[n]).sum() for n in names))
    if max_norm:
        scale = xp.minimum(1.0, max_norm / (norm + 1e-12)).astype(grads[names[0]].dtype)
        for n in names:
            grads[n] *= scale
    return norm
