"""A PyTorch twin of the IMB objective, used only as a test oracle.

Same parameters, same uniforms, same tree layout; gradients from autograd through the
estimator's surrogate: z = p + (z - p).detach() (Raiko) or z = a + (z - a).detach()
(straight-through). Everything in float64. Not imported by imb_ref.
"""

import math

import torch


def twin_objective(params, x, y, uniforms, M, gammas, betas, estimator="raiko"):
    """Returns (loss, vcr (L+1,), kl (L,), grads dict) as float64 torch tensors."""
    P = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()}
    x = torch.tensor(x, dtype=torch.float64)
    y = torch.tensor(y, dtype=torch.long)
    L = len(uniforms)
    B = x.shape[0]
    z = x[:, None, :]
    kls = []
    for l in range(1, L + 1):
        a = z @ P[f"W_{l-1}"] + P[f"b_{l-1}"]                    # (B, M**(l-1), n)
        p = torch.sigmoid(a)
        u = torch.tensor(uniforms[l - 1], dtype=torch.float64)
        sample = (u < p[:, :, None, :]).to(torch.float64)
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
    ell = torch.log_softmax(logits, -1).gather(-1, y[:, None, None].expand(-1, logits.shape[1], 1))[..., 0]
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
    return loss.detach().numpy(), vcr.detach().numpy(), kl.detach().numpy(), grads
