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

from ..errors import UserError
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


def read_folder(folder):
    """(config dict, summary dict, stage lengths or None) of one finished run folder."""
    if not os.path.isdir(folder):
        raise UserError(f"{folder}: not a run folder (no such folder)")
    cfg, summary = _read(folder, "config.json"), _read(folder, "summary.json")
    stages = None
    if KINDS.get(cfg.get("model")) is not None and KINDS[cfg["model"]].greedy:
        counts = {}
        for row in read_metrics(os.path.join(folder, "metrics.jsonl")):
            counts[row["stage"]] = counts.get(row["stage"], 0) + 1
        stages = [counts[k] for k in sorted(counts)]
    return cfg, summary, stages


def _percent(error, dataset):
    """Test error as a percentage, or accuracy for CIFAR10, as the paper reports it."""
    return round(100 * (1 - error), 4) if dataset == "cifar10" else round(100 * error, 4)


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
    tree = [m for m in by_model if KINDS[m].beta == "betas"]
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
        if c["dataset"] != "synthetic12":
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
        "metric": "test accuracy (%)" if dataset == "cifar10" else "test error (%)",
        "better": "higher" if dataset == "cifar10" else "lower",
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
