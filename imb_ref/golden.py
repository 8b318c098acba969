"""Reference cases of the IMB objective, for cross-checking another framework.

A case is one `.npz`: the inputs of one evaluation of the JointIMB objective with the
Raiko estimator, and what it computes. Format 2 (written by `python run.py golden`)
keeps every intermediate, as llm.c's reference cases do, so that an implementation that
disagrees finds its first wrong tensor; format 1 (the outputs alone) still replays.

    inputs (both formats)
      format_version  () 1 or 2
      x (B, d) float, y (B,) int, M () int, gammas (L+1,), betas (L,)
      W_0..W_L (n_l, n_{l+1}), b_0..b_L (n_{l+1},), rho_1..rho_L (n_l,)   parameters
      u_1..u_L (B, M**(l-1), M, n_l)      uniforms: z_l = 1[u_l < p_l], children contiguous
    intermediates (format 2), in the order of the computation
      a_l (B, M**(l-1), n_l)   pre-activations of layer l's parent particles
      p_l (B, M**(l-1), n_l)   sigmoid(a_l)
      z_l (B, M**l, n_l)       samples, the M children of a parent side by side
      logits (B, M**L, C)      the leaves' logits
      ell (B, M**L)            log softmax(logits)[y], the leaves' log-likelihoods
      VCR_0..VCR_L ()          relevance terms, Eq. (6)-(7), batch means, nats
      KL_1..KL_L ()            compression terms, Eq. (10), batch means, nats
    outputs (both formats)
      vcr (L+1,), kl (L,), loss ()
    backward intermediates (format 2): gradients of `loss`
      dlogits (B, M**L, C)     at the leaf logits
      da_L..da_1 (as a_l)      at each layer's pre-activations (through the samples, with
                               z treated as sigmoid(a) (Raiko), plus the KL term's)
      grad_W_l, grad_b_l, grad_rho_l (as the parameters)

`check(case)` recomputes every tensor from the case's inputs in float64 and compares it
with the stored one, in the order above, against a tolerance chosen from the case's
dtype; `python run.py golden --check CASE.npz` (or `python -m imb_ref.golden --check
CASE.npz` where the package is installed) prints the report and names the first
tensor that disagrees.
"""

import sys

import numpy as np

from .backend import to_numpy
from .errors import UserError
from .files import atomic_write, check_writable_file, path_problem
from .models import sbn
from .nn.bernoulli import SURROGATES, bernoulli_backward, bernoulli_forward, sum_children
from .nn.kl import bernoulli_kl_backward, bernoulli_kl_forward
from .nn.linear import flat_matmul, linear_backward, linear_forward
from .nn.softmax import log_softmax_at_backward, log_softmax_at_forward
from .nn.vcr import vcr_backward, vcr_forward

FORMAT_VERSION = 2
FORMATS = (1, 2)
# Relative tolerance of a stored tensor against the float64 recomputation, by the
# case's dtype: float64 agrees to rounding (1e-13 to 1e-14 relative in practice; 1e-9
# leaves room for another order of summation); float32 carries ~6e-8 per operation,
# through sums of hundreds of terms, exp and log (about 1e-5 measured on the test
# shapes; 1e-3 still catches any real error, which is of order one).
RTOL = {np.dtype(np.float64): 1e-9, np.dtype(np.float32): 1e-3}


# ---- computing a case ------------------------------------------------------------------
def compute(params, x, y, uniforms, M, gammas, betas, estimator="raiko"):
    """Every tensor of a format-2 case, from its inputs (float64 NumPy arrays), with the
    nn/ forward/backward pairs in the order of Algorithm 1 (imb_ref/algorithm1.py);
    `estimator` is the samples' pathwise surrogate (nn.bernoulli.SURROGATES)."""
    L = len(uniforms)
    B = x.shape[0]
    gammas, betas = np.asarray(gammas, np.float64), np.asarray(betas, np.float64)
    out, tree = {}, []
    z = x[:, None, :]
    for l in range(1, L + 1):
        a, lin = linear_forward(z, params[f"W_{l-1}"], params[f"b_{l-1}"])
        z, bern = bernoulli_forward(a, uniforms[l - 1])
        kl_l, kl_cache = bernoulli_kl_forward(a, params[f"rho_{l}"])
        tree.append((lin, bern, kl_cache))
        out.update({f"a_{l}": a, f"p_{l}": bern.p, f"z_{l}": z})
        out[f"_kl_{l}"] = kl_l
    logits, out_cache = linear_forward(z, params[f"W_{L}"], params[f"b_{L}"])
    ell, sm_cache = log_softmax_at_forward(logits, y)
    vcr_b, vcr_cache = vcr_forward(ell, M, L)                          # (B, L+1)
    kl_b = np.stack([out.pop(f"_kl_{l}") for l in range(1, L + 1)], axis=1)   # (B, L)
    out.update({"logits": logits, "ell": ell})
    out.update({f"VCR_{l}": vcr_b[:, l].mean() for l in range(L + 1)})
    out.update({f"KL_{l}": kl_b[:, l - 1].mean() for l in range(1, L + 1)})
    out.update({"vcr": vcr_b.mean(axis=0), "kl": kl_b.mean(axis=0),
                "loss": (vcr_b @ gammas + kl_b @ betas).mean()})

    dell = vcr_backward(np.broadcast_to(gammas / B, (B, L + 1)), vcr_cache)
    dlogits = log_softmax_at_backward(dell, sm_cache)
    out["dlogits"] = dlogits
    _, out[f"grad_W_{L}"], out[f"grad_b_{L}"] = linear_backward(dlogits, out_cache,
                                                                  need_dx=False)
    dz_sum = flat_matmul(sum_children(dlogits, M), params[f"W_{L}"].T)
    for l in range(L, 0, -1):
        lin, bern, kl_cache = tree[l - 1]
        da_kl, out[f"grad_rho_{l}"] = bernoulli_kl_backward(np.full(B, betas[l - 1] / B),
                                                            kl_cache)
        da = bernoulli_backward(dz_sum, bern, estimator) + da_kl
        out[f"da_{l}"] = da
        dz_prev, out[f"grad_W_{l-1}"], out[f"grad_b_{l-1}"] = linear_backward(
            da, lin, need_dx=l > 1)
        if l > 1:
            dz_sum = sum_children(dz_prev, M)
    return out


def make_case(params, x, y, uniforms, M, gammas, betas, estimator="raiko"):
    """A format-2 case (host float64 arrays) for these inputs, its estimator recorded."""
    host = lambda v: np.asarray(to_numpy(v), dtype=np.float64)
    params = {k: host(v) for k, v in params.items()}
    x, y = host(x), np.asarray(to_numpy(y), dtype=np.int64)
    uniforms = [host(u) for u in uniforms]
    case = {"format_version": np.array(FORMAT_VERSION), "x": x, "y": y, "M": np.array(M),
            "gammas": np.asarray(gammas, dtype=np.float64),
            "betas": np.asarray(betas, dtype=np.float64),
            "estimator": np.array(estimator), **params}
    case.update({f"u_{l}": u for l, u in enumerate(uniforms, start=1)})
    case.update({k: np.asarray(v) for k, v in
                 compute(params, x, y, uniforms, M, gammas, betas, estimator).items()})
    return case


def case_estimator(case, path="case"):
    """The case's estimator: its `estimator` key, else Raiko (cases written before the
    key was recorded were all Raiko's)."""
    if "estimator" not in case:
        return "raiko"
    name = str(np.asarray(case["estimator"]).reshape(-1)[0]) if np.asarray(
        case["estimator"]).size else ""
    if name not in SURROGATES:
        raise UserError(f"{path}: estimator {name!r} is not one of {sorted(SURROGATES)} "
                        f"(a case records a pathwise estimator); see the reference-case "
                        f"table in README.md")
    return name


def write_case(path, case):
    """Write atomically: a temporary file in the same folder, then rename."""
    check_writable_file(path, "golden FILE.npz")
    with atomic_write(path, "wb") as fh:
        np.savez(fh, **case)
    return path


# ---- reading and checking a case --------------------------------------------------------
def read_case(path):
    """The case in `path`, checked for its keys, shapes and dtypes (UserError: one line
    naming what is wrong)."""
    problem = path_problem(path)
    if problem:
        raise UserError(f"{path}: {problem}; a reference case (.npz) is expected there")
    try:
        with np.load(path, allow_pickle=False) as data:
            case = {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except (OSError, ValueError, EOFError) as exc:
        raise UserError(f"{path}: unreadable reference case ({exc})") from None
    validate(case, path)
    return case


def layout(case):
    """(L, B, sizes) of a case, from its parameters and inputs."""
    L = sum(1 for k in case if k.startswith("W_")) - 1
    sizes = [case[f"W_{l}"].shape[0] for l in range(L + 1)] + [case[f"W_{L}"].shape[1]]
    return L, case["x"].shape[0], sizes


def expected_shapes(L, B, M, sizes, version):
    """{key: shape} of every tensor a case of this layout holds, inputs first, the rest
    in the order of the computation (which `check` follows)."""
    d, C = sizes[0], sizes[-1]
    shapes = {"x": (B, d), "y": (B,), "M": (), "gammas": (L + 1,), "betas": (L,)}
    for l in range(L + 1):
        shapes[f"W_{l}"] = (sizes[l], sizes[l + 1])
        shapes[f"b_{l}"] = (sizes[l + 1],)
    for l in range(1, L + 1):
        shapes[f"rho_{l}"] = (sizes[l],)
        shapes[f"u_{l}"] = (B, M ** (l - 1), M, sizes[l])
    computed = {}
    if version >= 2:
        for l in range(1, L + 1):
            computed.update({f"a_{l}": (B, M ** (l - 1), sizes[l]),
                             f"p_{l}": (B, M ** (l - 1), sizes[l]),
                             f"z_{l}": (B, M ** l, sizes[l])})
        computed.update({"logits": (B, M ** L, C), "ell": (B, M ** L)})
        computed.update({f"VCR_{l}": () for l in range(L + 1)})
        computed.update({f"KL_{l}": () for l in range(1, L + 1)})
    computed.update({"vcr": (L + 1,), "kl": (L,), "loss": ()})
    if version >= 2:
        computed["dlogits"] = (B, M ** L, C)
        computed.update({f"da_{l}": (B, M ** (l - 1), sizes[l]) for l in range(L, 0, -1)})
    computed.update({f"grad_W_{L}": shapes[f"W_{L}"], f"grad_b_{L}": shapes[f"b_{L}"]})
    for l in range(L, 0, -1):
        computed.update({f"grad_rho_{l}": (sizes[l],),
                         f"grad_W_{l-1}": shapes[f"W_{l-1}"],
                         f"grad_b_{l-1}": shapes[f"b_{l-1}"]})
    return shapes, computed


def validate(case, path="case"):
    """Refuse a malformed case in one line: a missing key, a wrong shape or dtype."""
    def refuse(what):
        raise UserError(f"{path}: {what}; see the reference-case table in README.md")

    if "format_version" not in case:
        refuse("missing key 'format_version'")
    version = int(np.asarray(case["format_version"]).reshape(-1)[0]) \
        if np.asarray(case["format_version"]).size else -1
    if version not in FORMATS:
        refuse(f"format_version {version} is not one of {FORMATS}")
    for key in ("x", "y", "M", "gammas", "betas", "W_0", "W_1", "b_0"):
        if key not in case:
            refuse(f"missing key {key!r}")
    if case["x"].ndim != 2:
        refuse(f"x has shape {case['x'].shape}, expected (B, d)")
    if case["x"].dtype not in RTOL:
        refuse(f"x has dtype {case['x'].dtype}, expected float64 or float32")
    if case["M"].shape != () or not np.issubdtype(case["M"].dtype, np.integer) \
            or int(case["M"]) < 1:
        refuse(f"M must be a positive integer scalar, got {case['M']!r}")
    L = sum(1 for k in case if k.startswith("W_")) - 1
    for l in range(L + 1):
        if f"W_{l}" not in case or case[f"W_{l}"].ndim != 2:
            refuse(f"missing key 'W_{l}' (W_0..W_{L} must each be a matrix)")
    # The widths, in the order of the computation: from x's columns, each W_l's rows must
    # be the layer below's width; a matrix that fits the other way round is transposed.
    n = case["x"].shape[1]
    for l in range(L + 1):
        W = case[f"W_{l}"]
        if W.shape[0] != n:
            below = "x's columns" if l == 0 else f"W_{l - 1}'s columns"
            hint = (": it looks transposed; W is (in, out), so save nn.Linear's weight.T"
                    if W.shape[1] == n else "")
            refuse(f"W_{l} has shape {W.shape}, expected ({n}, n_{l + 1}): its rows are "
                   f"the {n} units of {below}{hint}")
        n = W.shape[1]
    L, B, sizes = layout(case)
    shapes, computed = expected_shapes(L, B, int(case["M"]), sizes, version)
    for key, shape in {**shapes, **computed}.items():
        if key not in case:
            refuse(f"missing key {key!r} (format {version} holds it)")
        if case[key].shape != shape:
            refuse(f"{key} has shape {case[key].shape}, expected {shape}")
        kind = case[key].dtype.kind
        if key in ("y", "M"):
            if kind not in "iu":
                refuse(f"{key} has dtype {case[key].dtype}, expected an integer type")
        elif key.startswith("z_"):
            if kind not in "biuf":
                refuse(f"{key} has dtype {case[key].dtype}, expected 0/1 numbers")
        elif case[key].dtype not in RTOL:
            refuse(f"{key} has dtype {case[key].dtype}, expected float64 or float32")
    C = sizes[-1]
    if case["y"].size and (case["y"].min() < 0 or case["y"].max() >= C):
        refuse(f"y holds labels outside 0..{C - 1}")
    return version


MEANING = {"a": "layer {} pre-activations", "p": "layer {} probabilities",
           "z": "layer {} samples", "VCR": "relevance term VCR_{}",
           "KL": "compression term KL_{}", "da": "gradient at layer {} pre-activations",
           "logits": "leaf logits", "ell": "leaf log-likelihoods", "vcr": "VCR_0..VCR_L",
           "kl": "KL_1..KL_L", "loss": "the objective", "dlogits": "gradient at the leaf logits"}


def meaning(key):
    if key.startswith("grad_"):
        return f"gradient of {key[5:]}"
    head, _, tail = key.rpartition("_")
    if head in MEANING and tail.isdigit():
        return MEANING[head].format(tail)
    return MEANING.get(key, key)


def compare(got, ref, rtol):
    """(max abs diff, max rel diff, index of the largest rel diff). An element's relative
    difference is |got - ref| over max(|ref|, 1e-3 * max |ref| of the tensor): near-zero
    entries of a tensor are judged on the tensor's scale, not on their own."""
    got = np.asarray(got, dtype=np.float64)
    diff = np.abs(got - ref)
    if diff.size == 0:
        return 0.0, 0.0, ()
    scale = max(float(np.abs(ref).max()), np.finfo(np.float64).tiny)
    rel = diff / np.maximum(np.abs(ref), 1e-3 * scale)
    index = np.unravel_index(int(np.argmax(rel)), rel.shape) if rel.ndim else ()
    return float(diff.max()), float(rel.max()), tuple(int(i) for i in index)


def check(case):
    """Recompute `case` in float64 and compare every stored tensor, in the order of the
    computation: [(key, meaning, max abs diff, max rel diff, index, ok)] and the
    tolerance used."""
    version = validate(case)
    rtol = RTOL[case["x"].dtype]
    L, B, sizes = layout(case)
    M = int(case["M"])
    f64 = lambda v: np.asarray(v, dtype=np.float64)
    params = {k: f64(case[k]) for k in case if k.split("_")[0] in ("W", "b", "rho")}
    uniforms = [f64(case[f"u_{l}"]) for l in range(1, L + 1)]
    rows = _rows(case, params, uniforms, M, L, B, sizes, version, rtol, case_estimator(case))
    return rows, rtol


def _rows(case, params, uniforms, M, L, B, sizes, version, rtol, estimator):
    f64 = lambda v: np.asarray(v, dtype=np.float64)
    ref = compute(params, f64(case["x"]), case["y"].astype(np.int64), uniforms, M,
                  f64(case["gammas"]), f64(case["betas"]), estimator)
    rows = []
    for key in expected_shapes(L, B, M, sizes, version)[1]:
        abs_d, rel_d, index = compare(case[key], ref[key], rtol)
        rows.append((key, meaning(key), abs_d, rel_d, index, rel_d <= rtol))
    return rows


def other_estimator(case):
    """The surrogate whose gradients the case's match, where its recorded estimator's do
    not (a straight-through twin checked against a Raiko case), or None."""
    L, B, sizes = layout(case)
    M, version = int(case["M"]), validate(case)
    f64 = lambda v: np.asarray(v, dtype=np.float64)
    params = {k: f64(case[k]) for k in case if k.split("_")[0] in ("W", "b", "rho")}
    uniforms = [f64(case[f"u_{l}"]) for l in range(1, L + 1)]
    rtol = RTOL[case["x"].dtype]
    for name in SURROGATES:
        if name != case_estimator(case) and all(r[5] for r in _rows(
                case, params, uniforms, M, L, B, sizes, version, rtol, name)):
            return name
    return None


def where(index):
    """' at [i, j]' for an entry of an array; nothing for a scalar."""
    return f" at {list(index)}" if index else ""


def report(rows, rtol, out=None, notes=None):
    """Print the check's table; returns 0 when every tensor agrees, else 1. `notes`
    ({key: text}) says more of a tensor: a sample's flipped entries, a scalar's ratio."""
    out, notes = out or sys.stdout, notes or {}
    print(f"{'tensor':12} {'what':38} {'max abs diff':>13} {'max rel diff':>13}  "
          f"(tolerance {rtol:g})", file=out)
    for key, what, abs_d, rel_d, index, ok in rows:
        state = "ok" if ok else "DISAGREES" + where(index)
        note = f"  ({notes[key]})" if key in notes else ""
        print(f"{key:12} {what:38} {abs_d:13.3g} {rel_d:13.3g}  {state}{note}", file=out)
    bad = [r for r in rows if not r[5]]
    if not bad:
        print(f"all {len(rows)} tensors agree", file=out)
        return 0
    key, what, _, rel_d, index, _ = bad[0]
    note = f"; {notes[key]}" if key in notes else ""
    print(f"first disagreement: {key} ({what}), max rel diff {rel_d:.3g}{where(index)}{note}",
          file=out)
    return 1


def samples_note(case, key, ref):
    """For a sample z_l: how many entries differ from 1[u < p] with p recomputed in
    float64, and the smallest |u - p| among them. Where every one is within the case's
    dtype rounding of a tie (u and p equal to float32 precision, say), the twin is not
    wrong: (note, True); else (note, False)."""
    l = int(key.split("_")[1])
    u = np.asarray(case[f"u_{l}"], dtype=np.float64)
    p = np.broadcast_to(ref[f"p_{l}"][:, :, None, :], u.shape).reshape(ref[key].shape)
    flipped = np.asarray(case[key], dtype=np.float64) != ref[key]
    count = int(flipped.sum())
    if not count:
        return None, True
    gaps = np.abs(u.reshape(p.shape) - p)[flipped]
    ties = gaps <= 4 * np.finfo(case["x"].dtype).eps       # u = p to the case's precision
    if ties.all():
        return (f"{count} of {flipped.size} entries flipped, each where u = p to the "
                f"case's rounding: ties within the case's rounding, not a bug"), True
    return (f"{count} of {flipped.size} entries flipped, smallest |u - p| among them "
            f"{float(gaps[~ties].min()):.2g}: not a rounding tie, the probabilities or "
            f"the comparison differ"), False


def scalar_note(got, ref):
    """For a scalar term: a ratio near -1 or 2 (or 1/2) points at a sign or a factor."""
    if ref == 0:
        return None
    r = float(got) / float(ref)
    for value, hint in ((-1.0, "the negative of ours: a sign?"),
                        (2.0, "twice ours: a factor of 2?"), (0.5, "half ours: a factor of 2?")):
        if abs(r - value) < 0.02 * abs(value):
            return f"ratio {r:.3g} to ours, {hint}"
    return None


def explain(case, rows, rtol):
    """(rows, notes): a sample whose flips are all rounding ties counts as agreeing, with
    a note saying so; a disagreeing sample says how many entries flipped and the
    smallest |u - p| among them; a disagreeing scalar, its ratio where it hints at a sign
    or a factor of 2."""
    notes, out = {}, []
    ref = None                        # the float64 recomputation, made once if needed
    for key, what, abs_d, rel_d, index, ok in rows:
        needs = (key.startswith("z_") and (not ok or abs_d)) or (
            not ok and np.asarray(case[key]).shape == ())
        if needs and ref is None:
            f64 = lambda v: np.asarray(v, dtype=np.float64)
            L = layout(case)[0]
            ref = compute({k: f64(case[k]) for k in case_params(case)}, f64(case["x"]),
                          case["y"].astype(np.int64),
                          [f64(case[f"u_{l}"]) for l in range(1, L + 1)], int(case["M"]),
                          f64(case["gammas"]), f64(case["betas"]), case_estimator(case))
        if key.startswith("z_") and (not ok or abs_d):
            note, tie = samples_note(case, key, ref)
            if note:
                notes[key] = note
            ok = ok or tie
        elif not ok and np.asarray(case[key]).shape == ():
            note = scalar_note(case[key], ref[key])
            if note:
                notes[key] = note
        out.append((key, what, abs_d, rel_d, index, ok))
    return out, notes


def check_file(path, out=None):
    """`golden --check`: 0 all agree, 1 a tensor disagrees (UserError: malformed)."""
    out = out or sys.stdout
    case = read_case(path)
    rows, rtol = check(case)
    rows, notes = explain(case, rows, rtol)
    print(f"{path}: format {int(case['format_version'])}, {case['x'].dtype}, "
          f"B = {case['x'].shape[0]}, M = {int(case['M'])}, network "
          f"{'-'.join(map(str, layout(case)[2]))}, estimator {case_estimator(case)}",
          file=out)
    code = report(rows, rtol, out, notes)
    if code:
        other = other_estimator(case)
        if other:
            print(f"every tensor agrees with the {other} estimator instead: the case says "
                  f"estimator = {case_estimator(case)!r}; write the case with your "
                  f"estimator's name (estimator = {other!r}) or compute the {case_estimator(case)} "
                  f"surrogate", file=out)
    return code


def case_params(case):
    return {k: v for k, v in case.items() if k.split("_")[0] in ("W", "b", "rho")}


def replay(case, xp=np):
    """Recompute a case's outputs with sbn.imb_objective (the training code) on `xp`;
    returns {name: max abs difference} over loss, vcr, kl and the gradients."""
    params = {k: xp.asarray(v) for k, v in case_params(case).items()}
    L = len([k for k in case if k.startswith("u_")])
    uniforms = [xp.asarray(case[f"u_{l}"]) for l in range(1, L + 1)]
    out = sbn.imb_objective(params, xp.asarray(case["x"]), xp.asarray(case["y"]), uniforms,
                            int(case["M"]), case["gammas"], case["betas"],
                            case_estimator(case))
    diffs = {"loss": abs(float(to_numpy(out["loss"])) - float(case["loss"])),
             "vcr": float(np.abs(to_numpy(out["vcr"]) - case["vcr"]).max()),
             "kl": float(np.abs(to_numpy(out["kl"]) - case["kl"]).max())}
    for k, g in out["grads"].items():
        diffs[f"grad_{k}"] = float(np.abs(to_numpy(g) - case[f"grad_{k}"]).max())
    return diffs


def main(argv=None):
    """python -m imb_ref.golden --check CASE.npz [CASE.npz ...]"""
    argv = sys.argv[1:] if argv is None else list(argv)
    if len(argv) < 2 or argv[0] != "--check":
        print("usage: python -m imb_ref.golden --check CASE.npz [CASE.npz ...]",
              file=sys.stderr)
        return 2
    try:
        return max(check_file(path) for path in argv[1:])
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
