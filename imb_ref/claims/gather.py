"""A committed run summary from finished `train` run folders (`python run.py report --add`).

Each folder gives one (model, seed): its config.json (the settings), summary.json (the
final test error over the test passes) and metrics.jsonl (GreedyIMB's stage lengths).
The summary keeps the figures and the settings as text, no arrays and no machine paths:
commands name relative folders (`runs/<name>/<model>-<seed>`) and the data folder as
`../shared/data`. What a person wrote in an earlier summary of the same name (title,
notes, differences) is kept; every number is read again from the folders.
"""

import datetime
import json
import os
import platform

from ..data import SOURCES
from ..errors import UserError
from ..flags import show
from ..models import KINDS, families
from ..training.metrics import read_metrics

DATA_DIR = "../shared/data"       # where the machines this project is built on keep the data


def _read(folder, name):
    path = os.path.join(folder, name)
    if not os.path.isfile(path):
        why = ("is not a finished run: it has no summary.json (resume it with python "
               "run.py train --resume)" if name == "summary.json" else f"has no {name}")
        raise UserError(f"{folder} {why}")
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError) as e:
        raise UserError(f"{path}: not readable JSON ({e})") from None


def as_text(config):
    """A config.json's settings with each list as its flag writes it ("512,512",
    "1e-4"): folders written before the lists were typed hold these texts already."""
    return {k: show(tuple(v)) if isinstance(v, list) else v for k, v in config.items()}


def read_folder(folder):
    """(config dict, summary dict, stage lengths or None) of one finished run folder."""
    if not os.path.isdir(folder):
        raise UserError(f"{folder}: not a run folder (no such folder)")
    cfg, summary = as_text(_read(folder, "config.json")), _read(folder, "summary.json")
    stages = None
    if KINDS.get(cfg.get("model")) is not None and KINDS[cfg["model"]].greedy:
        counts = {}
        for row in read_metrics(os.path.join(folder, "metrics.jsonl")):
            counts[row["stage"]] = counts.get(row["stage"], 0) + 1
        stages = [counts[k] for k in sorted(counts)]
    return cfg, summary, stages


def _percent(error, dataset):
    """Test error as a percentage, or accuracy where the paper reports that."""
    return round(SOURCES[dataset].percent(error), 4)


def this_run(configs):
    """The protocol table's "this run" column from the runs' configurations."""
    by_model = {}
    for c in configs:
        by_model.setdefault(c["model"], c)
    first = configs[0]

    def per_model(key, fmt=str):
        vals = {m: fmt(c[key]) for m, c in by_model.items()}
        if len(set(vals.values())) == 1:
            return next(iter(vals.values())) + " for every model"
        return "; ".join(f"{m} {v}" for m, v in vals.items())

    stages = {m: c["stage_epochs"] for m, c in by_model.items() if c.get("stage_epochs")}
    length = (f"to early stopping, patience {first['patience']}, at most "
              f"{first['epochs']:,} epochs" if first["patience"] else
              f"{first['epochs']:,} epochs")
    length += "".join(f"; {m}: stage 1 fixed at {s} epochs" for m, s in stages.items())
    tree = [m for m in by_model if KINDS[m].imb]
    beta = "; ".join([f"{m} {by_model[m]['betas']} per layer" for m in tree] +
                     ([f"vib {by_model['vib']['vib_beta']:g}"] if "vib" in by_model else []))
    v = by_model.get("vib", first)
    seeds = sorted({c["seed"] for c in configs})
    return {
        "selection and retraining": "none: the best-validation epoch's parameters are "
                                    "tested" if first["patience"] else "none",
        "validation": f"the last {first['val_size']:,} training images"
                      if first["val_size"] else "none",
        "M in training": str(first["samples"]),
        "M at test": f"{first['test_samples']} (VIB: {v['vib_test_samples']} bottleneck "
                     f"draws)",
        "test passes": f"{first['test_runs']} (DET: 1)",
        "optimiser": per_model("optimizer"),
        "learning rate": per_model("lr", lambda x: f"{x:g}"),
        "batch size": f"{first['batch_size']}, " + ("reshuffled every epoch" if
                                                    first["shuffle"] else
                                                    "in the data's order"),
        "gradient clipping": f"{first['clip']:g} (global norm)" if first["clip"] else "none",
        "length": length,
        "beta": beta or "-",
        "gamma": per_model("gammas"),
        "VIB": f"K = {v['vib_k']}, linear decoder, {v['vib_samples']} draw(s) per training "
               f"example, {v['vib_test_samples']} at test",
        "seeds": ", ".join(str(s) for s in seeds),
        "precision": first["dtype"],
    }


def command_lines(name, configs, train_line):
    """One exact command per model (its first seed), folders relative, then a line on
    the other seeds."""
    from ..training.settings import RunSettings
    lines, seen = [], set()
    for c in sorted(configs, key=lambda c: c["seed"]):
        if c["model"] in seen:
            continue
        seen.add(c["model"])
        cfg = RunSettings.from_dict({**c, "data_dir": None, "quiet": True})
        line = train_line(cfg, f"runs/{name}/{c['model']}-{c['seed']}")
        if SOURCES[c["dataset"]].on_disk:
            line += f" --data-dir {DATA_DIR}"
        lines.append(line)
    seeds = sorted({c["seed"] for c in configs})
    lines.append(f"# and the same with --seed in {seeds} (folder runs/{name}/MODEL-SEED)")
    return "\n".join(lines)


def from_train_folders(name, folders, train_line, previous=None, title=None):
    """The summary of `name` from finished train run folders."""
    rows = [read_folder(f) for f in folders]
    if not rows:
        raise UserError("report --add: name at least one finished run folder")
    configs = [c for c, _, _ in rows]
    datasets = sorted({c["dataset"] for c in configs})
    if len(datasets) > 1:
        raise UserError(f"report --add {name}: the folders mix datasets {datasets}")
    dataset = datasets[0]
    models = {}
    for (cfg, s, stages), folder in zip(rows, folders):
        m = models.setdefault(cfg["model"], {"by_seed": {}, "columns": {
            "stopped at epoch": {}, "best validation epoch (error)": {}, "mean-field": {},
            "wall (h)": {}}})
        seed = str(cfg["seed"])
        if seed in m["by_seed"]:
            raise UserError(f"report --add {name}: two folders of {cfg['model']} seed {seed}")
        m["by_seed"][seed] = _percent(s["test_error_mean"], dataset)
        cols = m["columns"]
        cols["stopped at epoch"][seed] = str(s["epochs_trained"]) + (
            f" ({' + '.join(str(k) for k in stages)})" if stages else "")
        best = s.get("best_val_error")
        cols["best validation epoch (error)"][seed] = (
            "-" if best is None else f"{s['best_epoch']} ({100 * best:.1f}%)")
        cols["mean-field"][seed] = f"{_percent(s['meanfield_test_error'], dataset):.2f}"
        cols["wall (h)"][seed] = f"{s['wall_s'] / 3600:.2f}"
        if stages:
            m["stage_epochs"] = ([min(a, b) for a, b in zip(m["stage_epochs"], stages)]
                                 if "stage_epochs" in m else stages)
    for m in models.values():        # seeds in order, whatever the folders' order
        m["by_seed"] = dict(sorted(m["by_seed"].items(), key=lambda kv: int(kv[0])))
        m["columns"] = {k: dict(sorted(v.items(), key=lambda kv: int(kv[0])))
                        for k, v in m["columns"].items()}
    order = [k for k in KINDS if k in models]
    prev = previous or {}
    stamp = max(os.path.getmtime(os.path.join(f, "summary.json")) for f in folders)
    first = configs[0]
    return {
        "name": name,
        "title": title or prev.get("title") or f"{dataset}: {', '.join(order)}",
        "experiment": "table1",
        "protocol": "cifar10" if dataset == "cifar10" else "mnist",
        "dataset": dataset,
        "metric": f"test {SOURCES[dataset].reported} (%)",
        "better": "higher" if SOURCES[dataset].reported == "accuracy" else "lower",
        "source": {"kind": "run folders",
                   "from": f"{len(folders)} finished train folders, gathered with python "
                           f"run.py report --add {name}"},
        "command": command_lines(name, configs, train_line),
        "data": f"{dataset}, the last {first['val_size']:,} training images for "
                f"validation" if first["val_size"] else dataset,
        "hardware": prev.get("hardware") or f"{os.cpu_count()}-core "
                    f"{platform.machine()}, backend {rows[0][1].get('backend')} "
                    f"({rows[0][1].get('device')})",
        "date": datetime.datetime.fromtimestamp(stamp, datetime.timezone.utc)
                .strftime("%Y-%m-%d"),
        "paired_by_seed": [m for m in order if KINDS[m].network is families.BINARY],
        "patience": first["patience"],
        "this_run": this_run(configs),
        "differences": prev.get("differences", []),
        "models": {k: models[k] for k in order},
        "notes": prev.get("notes", []),
    }


# ----------------------------------------------------------------------------- the information plane


def plane_label(model, run):
    """A GreedyIMB whose first stage spans the run is "GreedyIMB at l = 1" (Appendix E:
    the PIB objective on the first hidden layer alone)."""
    stage = run.get("stage_epochs")
    return f"{model}-l1" if KINDS[model].greedy and stage and stage >= run["epochs"] \
        else model


def plane_command(name, settings):
    r = settings["run"]
    parts = ["python run.py infoplane", f"--models {settings['models']}",
             f"--seeds {settings['seeds']}", f"--epochs {r['epochs']}",
             f"--points {settings['points']}", f"--estimator {r['estimator']}"]
    if r["estimator"] != "exact":
        parts.append(f"--samples {r['samples']}")
    parts += [f"--optimizer {r['optimizer']}", f"--lr {r['lr']:g}"]
    if r["optimizer"] == "sgd":
        parts.append(f"--momentum {r['momentum']:g}")
    parts += [f"--batch-size {r['batch_size']}", f"--betas {r['betas']}",
              f"--gammas {r['gammas']}"]
    if r.get("stage_epochs"):
        parts.append(f"--stage-epochs {r['stage_epochs']}")
    if r["seed"]:
        parts.append(f"--seed {r['seed']}")
    return " ".join(parts + [f"--output-dir runs/{name}"])


def plane_this_run(settings, seeds):
    r = settings["run"]
    objective = ("exact (the limit M -> infinity, its gradient by enumeration)"
                 if r["estimator"] == "exact" else
                 f"sampled, M = {r['samples']}, the {r['estimator']} estimator")
    optimiser = f"{r['optimizer']}, lr {r['lr']:g}, batch {r['batch_size']}" + (
        f", momentum {r['momentum']:g}" if r["optimizer"] == "sgd" else "")
    stage = (f" (GreedyIMB: stage 1 for all {r['epochs']:,})" if r.get("stage_epochs")
             and r["stage_epochs"] >= r["epochs"] else "")
    return {
        "task": "the file " + os.path.basename(r["data_file"]) if r.get("data_file") else
                "our icosahedral 12-bit task (theory/synthetic12.md), not Shwartz-Ziv and "
                "Tishby's file",
        "network": "12-" + r["hidden"].replace(",", "-") + "-2",
        "split": "80% training",
        "objective": objective,
        "optimiser": optimiser,
        "beta": f"{r['betas']} per layer (JointIMB, GreedyIMB)",
        "gamma": r["gammas"],
        "length": f"{r['epochs']:,} epochs{stage}",
        "seeds": ", ".join(str(s) for s in seeds) + "; the models of a seed share their "
                 "initialisation",
        "measurements": f"{settings['points']} log-spaced epochs",
    }


def from_infoplane_folder(name, folder, previous=None, title=None):
    """The summary of `name` from a finished (or partly finished: its complete seeds)
    information-plane folder: per seed, each layer's final I(Z_l;Y) and I(Z_l;X), the
    largest fall of I(Z_l;X) and of I(Z_l;Y) after their peaks, and the first measured
    epoch at which each model has its own seed's SFNN final relevance in every layer."""
    from ..experiments.infoplane import report as ip
    settings = as_text(_read(folder, "config.json"))
    settings["run"] = as_text(settings["run"])
    csv_path = os.path.join(folder, "infoplane.csv")
    if not os.path.isfile(csv_path):
        raise UserError(f"{folder} has no infoplane.csv: no seed is complete yet")
    by_seed = ip.read_seeds(csv_path)
    pairs = _read(folder, "runs.json")
    models = [m for m in settings["models"].split(",") if any(k[0] == m for k in by_seed)]
    layers = sorted({l for (_, l) in by_seed})
    seeds = sorted(set.intersection(*(set(by_seed[(m, l)]) for m in models for l in layers)))
    if not seeds:
        raise UserError(f"{folder}: no seed is complete for every model yet")
    r = settings["run"]
    epochs = r["epochs"]
    final = lambda m, l, s, i: by_seed[(m, l)][s][max(by_seed[(m, l)][s])][i]
    fall = lambda m, l, s, i: max(v[i] for v in by_seed[(m, l)][s].values()) - final(m, l, s, i)
    out = {}
    for m in models:
        entry = {
            "final_I_Y": {f"Z_{l}": {"by_seed": {str(s): round(final(m, l, s, 1), 6)
                                                 for s in seeds}} for l in layers},
            "final_I_X": {f"Z_{l}": {"by_seed": {str(s): round(final(m, l, s, 0), 6)
                                                 for s in seeds}} for l in layers},
            "I_X_fall": {"by_seed": {str(s): round(max(fall(m, l, s, 0) for l in layers), 6)
                                     for s in seeds}},
            "I_Y_fall": {"by_seed": {str(s): round(max(fall(m, l, s, 1) for l in layers), 6)
                                     for s in seeds}},
        }
        if m != ip.BASELINE and ip.BASELINE in models:
            entry["reach_sfnn_final"] = {str(s): ip._first_reach(
                {l: by_seed[(m, l)][s] for l in layers},
                {l: final(ip.BASELINE, l, s, 1) for l in layers}, layers) for s in seeds}
        errs = [pairs.get(f"{m}/{s}") for s in seeds]
        if all(errs):
            entry["test_error"] = (f"{100 * sum(e['exact_test_error'] for e in errs) / len(errs):.1f}%"
                                   f" / {100 * sum(e['test_error'] for e in errs) / len(errs):.1f}%")
        out[plane_label(m, r)] = entry
    prev = previous or {}
    stamp = os.path.getmtime(csv_path)
    complete = len(seeds) == settings["seeds"]
    return {
        "name": name,
        "title": title or prev.get("title") or f"The information plane, {epochs:,} epochs, "
                                                f"{len(seeds)} seeds",
        "experiment": "infoplane", "protocol": "infoplane", "dataset": "synthetic12",
        "metric": "bits", "better": "higher",
        "source": {"kind": "run folders",
                   "from": f"an information-plane folder, {len(seeds)} of "
                           f"{settings['seeds']} seeds complete"
                           + ("" if complete else " (in progress)")
                           + f", gathered with python run.py report --add {name}"},
        "command": plane_command(name, settings),
        "data": "the 12-bit task, 80% training split; I(Z_l;X) and I(Z_l;Y) exact, over "
                "all 4,096 patterns",
        "hardware": prev.get("hardware") or f"{os.cpu_count()}-core {platform.machine()}, "
                                             f"NumPy",
        "date": datetime.datetime.fromtimestamp(stamp, datetime.timezone.utc)
                .strftime("%Y-%m-%d"),
        "paired_by_seed": [plane_label(m, r) for m in models],
        "epochs": epochs,
        "this_run": plane_this_run(settings, seeds),
        "differences": prev.get("differences", []),
        "models": out,
        "notes": prev.get("notes", []),
    }
