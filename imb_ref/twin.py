"""The PyTorch twin of the IMB objective: the cross-checker's worked example, and this
project's test oracle and benchmark baseline.

Same parameters, same uniforms, same tree layout as imb_ref's objective; gradients from
autograd through the estimator's surrogate: z = p + (z - p).detach() (Raiko) or
z = a + (z - a).detach() (straight-through). Everything in float64. A framework author
starts from `reference_case`: run the forward pass on a case's parameters and uniforms,
keep each tensor, backward, save, and `python run.py golden --check` the file.

PyTorch is an optional extra (`pip install "imb_ref[twin]"`); nothing else in imb_ref
imports this module, except the benchmark, by name, when asked to time PyTorch.

    python -m imb_ref.twin case.npz     # writes the twin's own reference case
"""

import math
import sys

NEEDS = 'imb_ref.twin is the PyTorch twin and needs PyTorch: pip install "imb_ref[twin]"'
try:
    import torch
except ImportError as exc:
    if __name__ == "__main__":       # python -m imb_ref.twin: one line, no traceback
        print(f"error: {NEEDS}", file=sys.stderr)
        raise SystemExit(2)
    raise ImportError(NEEDS) from exc


def twin_objective(params, x, y, uniforms, M, gammas, betas, estimator="raiko",
                   intermediates=None):
    """Returns (loss, vcr (L+1,), kl (L,), grads dict) as float64 NumPy arrays; with a
    dict `intermediates`, also fills it with every tensor of a format-2 reference case
    (imb_ref/golden.py): a_l, p_l, z_l, logits, ell, VCR_l, KL_l, and after the backward
    pass dlogits and da_l, the gradients at the logits and at each a_l."""
    P = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()}
    x = torch.tensor(x, dtype=torch.float64)
    y = torch.tensor(y, dtype=torch.long)
    L = len(uniforms)
    B = x.shape[0]
    z = x[:, None, :]
    kls = []
    saved = {}
    for l in range(1, L + 1):
        a = z @ P[f"W_{l-1}"] + P[f"b_{l-1}"]                    # (B, M**(l-1), n)
        a.retain_grad()
        p = torch.sigmoid(a)
        u = torch.tensor(uniforms[l - 1], dtype=torch.float64)
        sample = (u < p[:, :, None, :]).to(torch.float64)
        saved.update({f"a_{l}": a, f"p_{l}": p,
                      f"z_{l}": sample.reshape(B, -1, sample.shape[-1])})
        if estimator == "raiko":
            zz = p[:, :, None, :] + (sample - p[:, :, None, :]).detach()
        else:
            zz = a[:, :, None, :] + (sample - a[:, :, None, :]).detach()
        z = zz.reshape(B, -1, zz.shape[-1])
        rho = P[f"rho_{l}"]
        sp = lambda t: torch.logaddexp(torch.zeros_like(t), t)
        kl = (p * (a - rho) + sp(rho) - sp(a)).sum(-1).mean(-1)   # (B,)
        kls.append(kl.mean())
    logits = z @ P[f"W_{L}"] + P[f"b_{L}"]
    logits.retain_grad()
    ell = torch.log_softmax(logits, -1).gather(-1, y[:, None, None].expand(-1, logits.shape[1], 1))[..., 0]
    saved.update({"logits": logits, "ell": ell})
    N = ell.shape[1]
    vcrs = []
    for l in range(L + 1):
        G = M ** l
        g = ell.reshape(B, G, N // G)
        vcrs.append(-(torch.logsumexp(g, -1) - math.log(N // G)).mean())
    vcr = torch.stack(vcrs)
    kl = torch.stack(kls)
    loss = (torch.tensor(gammas, dtype=torch.float64) * vcr).sum() + \
        (torch.tensor(betas, dtype=torch.float64) * kl).sum()
    loss.backward()
    grads = {k: v.grad.numpy() for k, v in P.items()}
    if intermediates is not None:
        intermediates.update({k: v.detach().numpy() for k, v in saved.items()})
        intermediates.update({f"VCR_{l}": vcr[l].detach().numpy() for l in range(L + 1)})
        intermediates.update({f"KL_{l}": kl[l - 1].detach().numpy()
                              for l in range(1, L + 1)})
        intermediates["dlogits"] = logits.grad.numpy()
        intermediates.update({f"da_{l}": saved[f"a_{l}"].grad.numpy()
                              for l in range(1, L + 1)})
    return loss.detach().numpy(), vcr.detach().numpy(), kl.detach().numpy(), grads


class TorchJointIMB:
    """The same JointIMB training step in PyTorch, for the benchmark (imb_ref.experiments.bench).

    Same tree sampling (M children per particle, uniforms compared with p), the Raiko
    surrogate z = p + (z - p).detach(), VCR_l by logsumexp, KL from logits, one SGD step.
    """

    def __init__(self, sizes, M, gammas, betas, device="cpu", dtype=None, lr=0.01, seed=0):
        dtype = dtype or torch.float32
        g = torch.Generator().manual_seed(seed)
        self.M, self.L = M, len(sizes) - 2
        self.gammas, self.betas, self.lr = list(gammas), list(betas), lr
        self.params = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            limit = math.sqrt(6.0 / (n_in + n_out))
            W = ((torch.rand(n_in, n_out, generator=g) * 2 - 1) * limit).to(device, dtype)
            self.params += [W.requires_grad_(), torch.zeros(n_out, device=device,
                                                            dtype=dtype).requires_grad_()]
        self.rhos = [torch.zeros(n, device=device, dtype=dtype).requires_grad_()
                     for n in sizes[1:-1]]

    def loss(self, x, y):
        B, M = x.shape[0], self.M
        z = x[:, None, :]
        kl_total = 0.0
        sp = torch.nn.functional.softplus
        for l in range(self.L):
            a = z @ self.params[2 * l] + self.params[2 * l + 1]
            p = torch.sigmoid(a)
            u = torch.rand(B, a.shape[1], M, a.shape[2], device=x.device, dtype=x.dtype)
            pp = p[:, :, None, :]
            zz = pp + ((u < pp).to(x.dtype) - pp).detach()
            z = zz.reshape(B, -1, zz.shape[-1])
            rho = self.rhos[l]
            kl = (p * (a - rho) + sp(rho) - sp(a)).sum(-1).mean()
            kl_total = kl_total + self.betas[l] * kl
        logits = z @ self.params[-2] + self.params[-1]
        ell = torch.log_softmax(logits, -1).gather(
            -1, y[:, None, None].expand(-1, logits.shape[1], 1))[..., 0]
        N = ell.shape[1]
        total = kl_total
        for l in range(self.L + 1):
            G = M ** l
            lme = torch.logsumexp(ell.reshape(B, G, N // G), -1) - math.log(N // G)
            total = total - self.gammas[l] * lme.mean()
        return total

    def step(self, x, y):
        loss = self.loss(x, y)
        tensors = self.params + self.rhos
        grads = torch.autograd.grad(loss, tensors)
        with torch.no_grad():
            for t, g in zip(tensors, grads):
                t -= self.lr * g
        return loss


def cuda_available():
    return torch.cuda.is_available()


def time_step(sizes, M, gammas, betas, data, steps, compiled=False):
    """Median ms of `steps` TorchJointIMB steps after two warm-ups (CUDA events on a GPU),
    peak GPU memory in MB (None on the CPU), and the device's name."""
    import statistics
    import time

    device = "cuda" if torch.cuda.is_available() else "cpu"
    net = TorchJointIMB(sizes, M, gammas, betas, device=device)
    x, y = torch.tensor(data[0], device=device), torch.tensor(data[1], device=device)
    step = torch.compile(net.step) if compiled else net.step
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(steps + 2):
        if device == "cuda":
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record()
            step(x, y)
            e.record()
            e.synchronize()
            times.append(s.elapsed_time(e) / 1000)
        else:
            t0 = time.perf_counter()
            step(x, y)
            times.append(time.perf_counter() - t0)
    peak = torch.cuda.max_memory_allocated() / 2 ** 20 if device == "cuda" else None
    name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    return statistics.median(times[2:]) * 1000, peak, name


# ---- a reference case written by the twin -------------------------------------------
# tests/data/twin_case.npz is this function's output, committed: the tests replay
# it without PyTorch (test_golden.test_the_committed_twin_case_replays), so the
# cross-check against an independent implementation runs on every machine.
TWIN_CASE = dict(sizes=(6, 5, 4, 3), M=3, B=4, seed=2026)


def reference_case(sizes, M, B, seed):
    """A reference case (imb_ref/golden.py, format_version 2) whose every intermediate,
    loss, term and gradient comes from this twin's autograd, not from imb_ref. Inputs are
    drawn with NumPy from `seed`; biases and prior logits are non-zero so every gradient
    counts. This is the worked example of writing a case from a framework: run the
    forward pass on the given parameters and uniforms, keep each tensor, backward, save."""
    import numpy as np
    rng = np.random.default_rng(seed)
    params = {}
    for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        params[f"W_{l}"] = rng.normal(0.0, 1.0 / math.sqrt(n_in), size=(n_in, n_out))
        params[f"b_{l}"] = rng.normal(0.0, 0.5, size=n_out)
    for l, n in enumerate(sizes[1:-1], start=1):
        params[f"rho_{l}"] = rng.normal(0.0, 0.5, size=n)
    L = len(sizes) - 2
    x = rng.random((B, sizes[0]))
    y = rng.integers(0, sizes[-1], B).astype(np.int64)
    uniforms = [rng.random((B, M ** l, M, n)) for l, n in enumerate(sizes[1:-1])]
    gammas, betas = rng.random(L + 1), rng.random(L)
    inter = {}
    loss, vcr, kl, grads = twin_objective(params, x, y, uniforms, M, gammas, betas,
                                          intermediates=inter)
    case = {"format_version": np.array(2), "x": x, "y": y, "M": np.array(M), **inter,
            "gammas": gammas, "betas": betas, "loss": np.asarray(loss),
            "vcr": np.asarray(vcr), "kl": np.asarray(kl), **params}
    case.update({f"u_{l}": u for l, u in enumerate(uniforms, start=1)})
    case.update({f"grad_{k}": g for k, g in grads.items()})
    return case


def main(argv=None):
    """python -m imb_ref.twin CASE.npz: write the twin's reference case (TWIN_CASE)."""
    import numpy as np
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or not argv[0].endswith(".npz"):
        print("usage: python -m imb_ref.twin CASE.npz", file=sys.stderr)
        return 2
    np.savez(argv[0], **reference_case(**TWIN_CASE))
    print(f"wrote {argv[0]}")
    return 0


if __name__ == "__main__":         # python -m imb_ref.twin tests/data/twin_case.npz
    raise SystemExit(main())
