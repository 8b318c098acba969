"""`python run.py attack DIR`: attack a trained run and report.

The model type and configuration come from the checkpoint; the images are the first
`--attack-n` of the run's test split (the paper: the first 1,000 MNIST test images).
Writes <output-dir>/attack.json (the settings and every figure) and attack.png (a grid
of originals, adversarials and perturbations); the output folder defaults to the run's.
"""

import os
import time
from dataclasses import dataclass, fields

import numpy as np

from ...training import checkpoint
from ...backend import device_name
from ...training.settings import RunSettings, load, shared
from ...files import check_writable_folder, write_json
from ...flags import check_ranges, dest, flag, take
from ...training.loop import progress_bar
from .cw import CWConfig
from .report import BUDGETS, attack_images, concat, grid_png, metrics


@dataclass(frozen=True)
class AttackSettings:
    """The attack's settings, each declared once with its flag (the flags are
    --attack-<field> but --eot-samples). The C&W optimiser's own defaults are
    CWConfig's."""
    n: int = flag(1000, "first N test images", "attack", name="--attack-n", minimum=1)
    mode: str = flag("both", "which attacks", "attack", name="--attack-mode",
                     choices=("targeted", "untargeted", "both"))
    iters: int = flag(CWConfig.iters, "Adam iterations per binary-search step (the "
                      "reference code used 10000)", "attack", name="--attack-iters",
                      minimum=1)
    binary_steps: int = flag(CWConfig.binary_steps, "binary-search steps on c", "attack",
                             name="--attack-binary-steps", minimum=1)
    lr: float = flag(CWConfig.lr, "Adam's learning rate", "attack", name="--attack-lr")
    kappa: float = flag(CWConfig.kappa, "confidence margin kappa", "attack",
                        name="--attack-kappa")
    initial_const: float = flag(CWConfig.initial_const, "initial c", "attack",
                                name="--attack-initial-const")
    eot: int = flag(CWConfig.eot, "fresh draws averaged per attack step (expectation over "
                    "transformation)", "attack", name="--eot-samples", minimum=1)
    eval_samples: int = flag(100, "fresh draws in the decision rule that verifies each "
                             "success", "attack", name="--attack-eval-samples", minimum=1)
    batch: int = flag(100, "images attacked together", "attack", name="--attack-batch",
                      minimum=1)

    @classmethod
    def from_flags(cls, flags):
        """The settings from a command's parsed flags (taken out of `flags`), checked."""
        settings = cls(**take(cls, flags))
        check_ranges(settings)
        return settings

    @classmethod
    def dests(cls):
        """The parsed flags' names of the attack's options."""
        return {dest(f) for f in fields(cls)}

    def cw(self):
        """The C&W optimiser's settings (cw.py)."""
        return CWConfig(iters=self.iters, binary_steps=self.binary_steps, lr=self.lr,
                        kappa=self.kappa, initial_const=self.initial_const, eot=self.eot)


@dataclass(frozen=True)
class AttackCommand:
    """`python run.py attack RUN`: the run attacked, the attack, and where it runs and
    writes (table1 --attack makes one per row)."""
    checkpoint: str = flag(None, "a run's output folder or its checkpoint.npz", name="RUN")
    attack: AttackSettings = AttackSettings()
    backend: str = shared("backend", "numpy")
    dtype: str = shared("dtype", "float64")
    data_dir: str = shared("data_dir", None, default_text="the run's")
    output_dir: str = flag(None, "where attack.json and attack.png go", "output",
                           default_text="the run's folder")
    quiet: bool = shared("quiet", False)

    @classmethod
    def from_flags(cls, flags):
        from ...backend import default_backend
        flags = dict(flags)
        attack = AttackSettings.from_flags(flags)
        own = take(cls, flags)
        own.setdefault("backend", default_backend())
        return cls(attack=attack, **own)


def _attack_all(model, params, x_all, y_all, a, seed, xp, quiet):
    """attack_images over the images in batches of a.batch, with one progress bar;
    returns the concatenated raw outcomes."""
    goals = (1 if a.mode != "targeted" else 0) + \
        (model.sizes[-1] - 1 if a.mode != "untargeted" else 0)
    # EOT + mean-field, verified with the margin and again by the majority decision, and
    # the single-draw attack.
    attacks = 5 if model.kind.stochastic else 1
    total = goals * attacks * a.binary_steps * a.iters * ((len(y_all) + a.batch - 1) // a.batch)
    bar = progress_bar(total, "C&W L2", quiet, unit="it")
    raws = []
    for start in range(0, len(y_all), a.batch):
        xb = xp.asarray(x_all[start:start + a.batch])
        yb = xp.asarray(y_all[start:start + a.batch])
        raws.append(attack_images(model, params, xb, yb, a.cw(), a.mode, seed + start,
                                  a.eval_samples, xp, progress=lambda: bar.update(1)))
    bar.close()
    return concat(raws)


def run_attack(job, xp, build_model, log=print):
    """Attack the run `job` names (an AttackCommand) on `xp`; writes attack.json and
    attack.png and returns what attack.json holds."""
    path = checkpoint.resolve_path(job.checkpoint)
    params_h, best_h, _, meta = checkpoint.load(path)
    cfg = RunSettings.from_dict(meta["config"])
    a, backend_name = job.attack, job.backend
    # The first a.n test images, in float64, from the run's data (or --data-dir).
    data = load(cfg.replace(data_dir=job.data_dir or cfg.where.data_dir, limit_train=1,
                            limit_val=1, limit_test=a.n, quiet=True, dtype="float64"))
    model = build_model(cfg, data.n_features, data.n_classes)
    checkpoint.check_against(path, (params_h, best_h, {}, meta), model)
    dtype = np.dtype(job.dtype)
    params = {k: xp.asarray(v, dtype=dtype) for k, v in (best_h or params_h).items()}
    out_dir = job.output_dir or os.path.dirname(path)
    check_writable_folder(out_dir, "--output-dir")       # before the attack, not after it
    x_all = data.test.x.astype(dtype)
    y_all = data.test.y
    log(f"   attack: C&W L2 ({a.mode}) on the first {len(y_all)} test images of "
        f"{cfg.data.dataset}, model {model.name} from {path}")
    log(f" settings: {a.iters} iterations, {a.binary_steps} binary-search steps, lr "
        f"{a.lr}, kappa {a.kappa}, initial c {a.initial_const}, {a.eot} EOT draws, "
        f"{a.eval_samples} draws per verification; backend {backend_name} "
        f"({device_name(xp)})")
    t0 = time.time()
    raw = _attack_all(model, params, x_all, y_all, a, cfg.training.seed, xp, job.quiet)
    result = {"settings": {"attack": "cw-l2", "mode": a.mode, "n_images": int(len(y_all)),
                           "iterations": a.iters, "binary_steps": a.binary_steps,
                           "lr": a.lr, "kappa": a.kappa, "initial_const": a.initial_const,
                           "eot_samples": a.eot, "eval_samples": a.eval_samples,
                           "budgets": list(BUDGETS), "checkpoint": path,
                           "backend": backend_name, "device": device_name(xp)},
              "model": model.name, "dataset": cfg.data.dataset,
              "results": metrics(raw), "wall_s": round(time.time() - t0, 1)}
    os.makedirs(out_dir, exist_ok=True)                  # made once there is a result
    write_json(os.path.join(out_dir, "attack.json"), result)
    adv, ok = (raw["u_adv"], raw["u_success"]) if "u_adv" in raw else \
        (raw["t_adv0"], raw["t_success"][:, 0])
    grid_png(os.path.join(out_dir, "attack.png"), x_all, adv, ok, raw["correct"])
    log(describe(result))
    log(f"wrote {os.path.join(out_dir, 'attack.json')} and attack.png")
    return result


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
