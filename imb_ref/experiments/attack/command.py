"""`python run.py attack DIR`: attack a trained run and report.

The model type and configuration come from the checkpoint; the images are the first
`--attack-n` of the run's test split (the paper: the first 1,000 MNIST test images).
Writes <output-dir>/attack.json (the settings and every figure) and attack.png (a grid
of originals, adversarials and perturbations); the output folder defaults to the run's.
"""

import os
import time

import numpy as np

from ...training import checkpoint
from ...backend import device_name
from ...training.config import Config
from ...data import load_dataset
from ...errors import UserError
from ...files import check_writable_folder, write_json
from ...training.loop import progress_bar
from .cw import CWConfig
from .report import BUDGETS, attack_images, concat, grid_png, metrics


def run_attack(explicit, xp, build_model, backend_name, log=print):
    path = checkpoint.resolve_path(explicit["checkpoint"])
    params_h, best_h, _, meta = checkpoint.load(path)
    cfg = Config.from_dict(meta["config"])
    if "data_dir" in explicit:
        cfg.data_dir = explicit["data_dir"]
    n = explicit.get("attack_n", 1000)
    mode = explicit.get("attack_mode", "both")
    if n < 1:
        raise UserError(f"--attack-n {n}: must be at least 1")
    data = load_dataset(cfg.dataset, cfg.data_dir, cfg.val_size, 1, 1, n, cfg.data_file,
                        quiet=True, dtype=np.float64,
                        cifar_train_batches=cfg.cifar_train_batches)
    model = build_model(cfg, data.n_features, data.n_classes)
    checkpoint.check_against(path, (params_h, best_h, {}, meta), model)
    dtype = np.dtype(explicit.get("dtype", "float64"))
    params = {k: xp.asarray(v, dtype=dtype) for k, v in (best_h or params_h).items()}
    cw = CWConfig(iters=explicit.get("attack_iters", 1000),
                  binary_steps=explicit.get("attack_binary_steps", 9),
                  lr=explicit.get("attack_lr", 1e-2), kappa=explicit.get("attack_kappa", 0.0),
                  initial_const=explicit.get("attack_initial_const", 1e-3),
                  eot=explicit.get("eot_samples", 16))
    eval_samples = explicit.get("attack_eval_samples", 100)
    batch = explicit.get("attack_batch", 100)
    for name, value in (("--attack-iters", cw.iters), ("--attack-binary-steps", cw.binary_steps),
                        ("--eot-samples", cw.eot), ("--attack-eval-samples", eval_samples),
                        ("--attack-batch", batch)):
        if value < 1:
            raise UserError(f"{name} {value}: must be at least 1")
    out_dir = explicit.get("output_dir") or os.path.dirname(path)
    check_writable_folder(out_dir, "--output-dir")       # before the attack, not after it
    x_all = data.test.x.astype(dtype)
    y_all = data.test.y
    log(f"   attack: C&W L2 ({mode}) on the first {len(y_all)} test images of "
        f"{cfg.dataset}, model {model.name} from {path}")
    log(f" settings: {cw.iters} iterations, {cw.binary_steps} binary-search steps, lr "
          f"{cw.lr}, kappa {cw.kappa}, initial c {cw.initial_const}, {cw.eot} EOT draws, "
          f"{eval_samples} draws per verification; backend {backend_name} "
        f"({device_name(xp)})")
    goals = (1 if mode != "targeted" else 0) + (model.sizes[-1] - 1 if mode != "untargeted" else 0)
    # EOT + mean-field, verified with the margin and again by the majority decision, and
    # the single-draw attack.
    attacks = 5 if model.kind.stochastic else 1
    total = goals * attacks * cw.binary_steps * cw.iters * ((len(y_all) + batch - 1) // batch)
    bar = progress_bar(total, "C&W L2", explicit.get("quiet", False), unit="it")
    t0 = time.time()
    raws = []
    for start in range(0, len(y_all), batch):
        xb = xp.asarray(x_all[start:start + batch])
        yb = xp.asarray(y_all[start:start + batch])
        raws.append(attack_images(model, params, xb, yb, cw, mode, cfg.seed + start,
                                  eval_samples, xp, progress=lambda: bar.update(1)))
    bar.close()
    raw = concat(raws)
    result = {"settings": {"attack": "cw-l2", "mode": mode, "n_images": int(len(y_all)),
                           "iterations": cw.iters, "binary_steps": cw.binary_steps,
                           "lr": cw.lr, "kappa": cw.kappa, "initial_const": cw.initial_const,
                           "eot_samples": cw.eot, "eval_samples": eval_samples,
                           "budgets": list(BUDGETS), "checkpoint": path,
                           "backend": backend_name, "device": device_name(xp)},
              "model": model.name, "dataset": cfg.dataset,
              "results": metrics(raw), "wall_s": round(time.time() - t0, 1)}
    os.makedirs(out_dir, exist_ok=True)                  # made once there is a result
    write_json(os.path.join(out_dir, "attack.json"), result)
    adv, ok = (raw["u_adv"], raw["u_success"]) if "u_adv" in raw else \
        (raw["t_adv0"], raw["t_success"][:, 0])
    grid_png(os.path.join(out_dir, "attack.png"), x_all, adv, ok, raw["correct"])
    log(describe(result))
    log(f"wrote {os.path.join(out_dir, 'attack.json')} and attack.png")
    return 0


def pct(v):
    return "n/a" if v is None else f"{100 * v:.1f}%"


def num(v):
    return "n/a" if v is None else f"{v:.3f}"


def describe(result):
    """The attack's figures, each with what it is counted over: success rates and the
    targeted robustness over the images the model classifies correctly (an image
    already misclassified needs no attack), robust accuracies over all images."""
    r = result["results"]
    n, k = r["n_images"], r["n_correct"]
    over_k = f"over the {k} correctly classified image{'s' if k != 1 else ''}"
    over_n = f"over all {n} image{'s' if n != 1 else ''}"

    def of(rate, total):
        return pct(rate) if rate is None else f"{pct(rate)} ({round(rate * total)} of {total})"

    lines = [f"clean accuracy {of(r['clean_accuracy'], n)}"]
    if "untargeted" in r:
        u = r["untargeted"]
        lines.append(f"untargeted: verified success {of(u['success_rate'], k)} {over_k}, "
                     f"mean L2 {num(u['mean_l2'])}; robust accuracy "
                     f"{of(u['robust_accuracy'], n)} {over_n}")
        if "majority_decision" in u:
            m = u["majority_decision"]
            lines.append(f"  majority decision (no margin): success "
                         f"{of(m['success_rate'], k)} {over_k}; robust accuracy "
                         f"{of(m['robust_accuracy'], n)} {over_n}")
        if "single_sample_metric" in u:
            s = u["single_sample_metric"]
            lines.append(f"  single-draw, naive evaluation: success "
                         f"{of(s['success_rate'], k)} {over_k}; robust accuracy "
                         f"{of(s['robust_accuracy'], n)} {over_n}")
    if "targeted" in r:
        t = r["targeted"]
        lines.append(f"targeted, {over_k}, each toward every other label: success "
                     f"best/average/worst {pct(t['best_case']['success_rate'])}/"
                     f"{pct(t['average_case']['success_rate'])}/"
                     f"{pct(t['worst_case']['success_rate'])}; robustness "
                     f"{pct(t['robustness'])} (1 - average success)")
        if "majority_decision" in t:
            lines.append(f"  majority decision (no margin): robustness "
                         f"{pct(t['majority_decision']['robustness'])} {over_k}")
        if "single_sample_metric" in t:
            lines.append(f"  single-draw, naive evaluation: robustness "
                         f"{pct(t['single_sample_metric']['robustness'])} {over_k}")
    return "\n".join(lines)
