"""Exact enumeration of a small binary stochastic network (widths up to about 12).

For a finite input set with weights w_x (its distribution) and labels y_x, every
quantity of Sections 3.2-3.3 is a sum over the 2**n_l states of each layer:

    T_l[s, t] = p(z_l = t | z_{l-1} = s)     transition matrix, (S_{l-1}, S_l)
                (T_1's rows are the inputs x)
    P_l = p(z_l | x) = T_1 T_2 ... T_l       (N_x, S_l)            products of Eq. (4)
    V_l = p(y_hat | z_l) = T_{l+1} ... T_L softmax(states_L W_L + b_L)   (S_l, C)   Eq. (7)
    V_0 = p(y_hat | x) = T_1 V_1             (N_x, C)
    VCR_l = - sum_x w_x sum_z P_l[x, z] log V_l[z, y_x]   (VCR_0 = - sum_x w_x log V_0[x, y_x])
    KL_l  = sum_s q_{l-1}(s) sum_i KL( Bern(sigmoid(A_l[s, i])) || Bern(sigmoid(rho_i)) ),
            q_0 = w over the inputs, q_{l-1} = w P_{l-1}: the data marginal of z_{l-1}

`exact_objective` returns these and the exact gradient of
sum_l gamma_l VCR_l + sum_l beta_l KL_l, by reverse mode through the matrix products
(the derivative of log T_l[s, t] in A_l[s, i] is t_i - sigmoid(A_l[s, i])).
Information measures come from `layer_joint_tables`. Theory: theory/information.md.
"""

import numpy as np

from .info import mutual_information
from .nn.functions import sigmoid, softmax, softplus


def binary_states(n):
    """All 2**n states of n binary units, (2**n, n); row k is the binary digits of k."""
    k = np.arange(2 ** n)
    return ((k[:, None] >> np.arange(n)) & 1).astype(np.float64)


def transition(A, states):
    """p(t | s) for pre-activations A (S_prev, n) and target states (S, n) -> (S_prev, S).

    log p(t|s) = sum_i [t_i A_i - softplus(A_i)]: exact in both tails."""
    return np.exp(A @ states.T - softplus(A).sum(axis=1, keepdims=True))


def _hidden(params):
    return sum(1 for k in params if k.startswith("W_")) - 1


def forward(params, inputs):
    """Enumerate the network. Returns a dict with states, A, T, P, V, Smax lists."""
    L = _hidden(params)
    states = [inputs] + [binary_states(params[f"W_{l}"].shape[1]) for l in range(L)]
    A, T = [None], [None]
    for l in range(1, L + 1):
        A.append(states[l - 1] @ params[f"W_{l-1}"] + params[f"b_{l-1}"])   # (S_{l-1}, n_l)
        T.append(transition(A[l], states[l]))                                 # (S_{l-1}, S_l)
    P = [None, T[1]]
    for l in range(2, L + 1):
        P.append(P[l - 1] @ T[l])                                             # (N_x, S_l)
    out = states[L] @ params[f"W_{L}"] + params[f"b_{L}"]                     # (S_L, C)
    smax = softmax(out, axis=1)
    V = [None] * (L + 1)
    V[L] = smax
    for l in range(L - 1, -1, -1):
        V[l] = T[l + 1] @ V[l + 1]
    return {"L": L, "states": states, "A": A, "T": T, "P": P, "V": V, "smax": smax}


def _kl_rows(A, rho):
    """sum_i KL(Bern(sigmoid(A)) || Bern(sigmoid(rho))) per row of A, and p."""
    p = sigmoid(A)
    return (p * (A - rho) + softplus(rho) - softplus(A)).sum(axis=1), p


def exact_objective(params, inputs, labels, weights, gammas, betas, grads=True):
    """Exact VCR_l (l = 0..L), KL_l (l = 1..L), their weighted sum, and its gradient.

    inputs (N, d), labels (N,) int, weights (N,) summing to 1 (the data distribution).
    Returns dict: 'loss', 'vcr' (L+1,), 'kl' (L,), 'grads' (keys of params).
    """
    f = forward(params, inputs)
    L, T, P, V, A, states = f["L"], f["T"], f["P"], f["V"], f["A"], f["states"]
    w = np.asarray(weights, dtype=np.float64)
    y = np.asarray(labels)
    N = len(y)
    onehot = np.zeros((N, V[L].shape[1]))
    onehot[np.arange(N), y] = 1.0
    gammas, betas = np.asarray(gammas, float), np.asarray(betas, float)

    vcr = np.zeros(L + 1)
    logV0 = np.log(V[0][np.arange(N), y])
    vcr[0] = -np.sum(w * logV0)
    logVy = [None]
    for l in range(1, L + 1):
        lv = np.log(V[l]) @ onehot.T                  # (S_l, N): log V_l[z, y_x]
        logVy.append(lv)
        vcr[l] = -np.sum(w[:, None] * P[l] * lv.T)
    q = [w] + [w @ P[l] for l in range(1, L)]         # marginal of z_{l-1}, l = 1..L
    kl = np.zeros(L)
    krows, probs = [None], [None]
    for l in range(1, L + 1):
        k, p = _kl_rows(A[l], params[f"rho_{l}"])
        krows.append(k)
        probs.append(p)
        kl[l - 1] = q[l - 1] @ k
    out = {"loss": float(gammas @ vcr + betas @ kl), "vcr": vcr, "kl": kl}
    if not grads:
        return out

    # ---- reverse mode ------------------------------------------------------------------
    dP = [None] + [-gammas[l] * w[:, None] * logVy[l].T for l in range(1, L + 1)]
    dT = [None] + [np.zeros_like(T[l]) for l in range(1, L + 1)]
    dA = [None] + [np.zeros_like(A[l]) for l in range(1, L + 1)]
    g = {}
    for l in range(1, L + 1):                          # KL_l = q_{l-1} . k_l(A_l)
        p = probs[l]
        dA[l] += betas[l - 1] * q[l - 1][:, None] * p * (1 - p) * (A[l] - params[f"rho_{l}"])
        g[f"rho_{l}"] = betas[l - 1] * (q[l - 1][:, None] * (sigmoid(params[f"rho_{l}"]) - p)).sum(0)
        if l >= 2:                                     # q_{l-1} = w P_{l-1}
            dP[l - 1] += betas[l - 1] * np.outer(w, krows[l])
    # V chain, bottom up: V_0 = T_1 V_1, V_l = T_{l+1} V_{l+1}
    dV = -gammas[0] * w[:, None] * onehot / V[0]
    for l in range(0, L):
        dT[l + 1] += dV @ V[l + 1].T
        dV = T[l + 1].T @ dV
        if l + 1 <= L:
            # VCR_{l+1}'s dependence on V_{l+1}: -gamma sum_x w_x P[x,z] onehot[x,c] / V[z,c]
            dV += -gammas[l + 1] * (P[l + 1] * w[:, None]).T @ onehot / V[l + 1]
    dsmax = dV
    # P chain, top down: P_l = P_{l-1} T_l, P_1 = T_1
    for l in range(L, 1, -1):
        dT[l] += P[l - 1].T @ dP[l]
        dP[l - 1] += dP[l] @ T[l].T
    dT[1] += dP[1]
    # softmax rows -> output layer
    smax = f["smax"]
    dout = smax * (dsmax - (dsmax * smax).sum(axis=1, keepdims=True))
    g[f"W_{L}"] = states[L].T @ dout
    g[f"b_{L}"] = dout.sum(0)
    for l in range(1, L + 1):                          # log T_l[s, t] = t.A_s - sum softplus(A_s)
        dlogT = dT[l] * T[l]
        dA[l] += dlogT @ states[l] - dlogT.sum(axis=1, keepdims=True) * sigmoid(A[l])
        g[f"W_{l-1}"] = states[l - 1].T @ dA[l]
        g[f"b_{l-1}"] = dA[l].sum(0)
    out["grads"] = g
    return out


def predictive_distribution(params, inputs):
    """p(y_hat | x) = V_0 of the module docstring, (N, C): the network's exact
    prediction, the sum over every state of the last hidden layer (the limit of the
    Monte Carlo average over leaves as their number grows)."""
    return forward(params, inputs)["V"][0]


def max_transition_entries(hidden):
    """The largest transition matrix the enumeration builds, in entries: 2**(n_l +
    n_{l+1}) for consecutive hidden widths (and 2**n_1 per input row)."""
    return max([2 ** n for n in hidden] + [2 ** (a + b) for a, b in zip(hidden, hidden[1:])])


def layer_joint_tables(params, inputs, labels, weights, n_classes=None):
    """Joint tables of each hidden layer: p(x, z_l) (N, S_l) and p(y, z_l) (C, S_l)."""
    f = forward(params, inputs)
    w = np.asarray(weights, float)
    C = n_classes or int(np.max(labels)) + 1
    onehot = np.zeros((len(labels), C))
    onehot[np.arange(len(labels)), labels] = 1.0
    tables = []
    for l in range(1, f["L"] + 1):
        pxz = w[:, None] * f["P"][l]
        tables.append((pxz, onehot.T @ pxz))
    return tables, f


def information_plane(params, inputs, labels, weights, n_classes=None):
    """[(I(Z_l;X), I(Z_l;Y)) for l = 1..L] in bits, exactly."""
    tables, _ = layer_joint_tables(params, inputs, labels, weights, n_classes)
    return [(mutual_information(pxz), mutual_information(pyz)) for pxz, pyz in tables]


def relevance_decoder(pyz):
    """p(y | z_l) of Eq. (3) from the joint table p(y, z_l) (C, S); columns with
    p(z) = 0 are left at zero."""
    pz = pyz.sum(axis=0, keepdims=True)
    return np.divide(pyz, pz, out=np.zeros_like(pyz), where=pz > 0)


def layer_to_layer_information(params, inputs, weights, l):
    """I(Z_l; Z_{l-1}) in bits (l >= 2; for l = 1 it is I(Z_1; X))."""
    f = forward(params, inputs)
    w = np.asarray(weights, float)
    q = w if l == 1 else w @ f["P"][l - 1]
    return mutual_information(q[:, None] * f["T"][l])
