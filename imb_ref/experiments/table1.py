"""Table 1 of the paper, reproduced with one command (Section 5.1, Appendix D).

For each model (DET, VIB, SFNN, GreedyIMB, JointIMB):
  1. selection: train on the training split with the last 10,000 images held out, once
     per beta of `--beta-grid` (VIB, GreedyIMB, JointIMB; the paper: 10^-1 .. 10^-10),
     with early stopping on the validation error; keep the beta and the number of
     epochs with the lowest validation error;
  2. retraining: from scratch on the full training set with that beta for that many
     epochs, once per seed;
  3. evaluation: the test error (MNIST, Fashion-MNIST) or accuracy (CIFAR10) averaged over
     the test passes, mean and standard deviation over seeds; with --attack cw-l2, the
     robustness columns from the C&W evaluation of the seed-`--seed` model.
Every run is an ordinary run folder under <output-dir>/runs/; a finished one is reused
and an interrupted one resumes from its checkpoint, so the command can be rerun after an
interruption. Writes <output-dir>/table1.md, table1.json and table1.png (the retraining
runs' test error by epoch beside the paper's numbers).
"""

import datetime
import json
import math
import os
import platform
import sys
import time
from dataclasses import dataclass

import numpy as np

from ..training import checkpoint
from ..backend import device_name
from ..flags import check_ranges, flag, holding, quoted, show, take, typed
from ..training.settings import MAX_SEEDS, RunSettings, load, split_list
from ..data import SOURCES
from ..errors import UserError
from ..training.evaluate import chunk_size
from ..training.run import (build_model, finished_or_resumable, finished_summary,
                                   output_folder, run_seconds, train_run)
from ..files import (atomic_write, folder_busy, optional_figure, run_folder, save_figure,
                     write_json)
from ..claims import judge
from ..models import KINDS, models_in       # Table 1's rows, in its order
from ..models.families import BINARY
from .attack.command import AttackSettings
from ..training.loop import stage_length
from ..training.metrics import check_metrics, read_metrics

PAPER_BETA_GRID = tuple(float(f"1e-{i}") for i in range(1, 11))     # 10^-1 .. 10^-10


def beta_grid(text, name):
    """--beta-grid: a comma list of positive numbers -> a tuple of floats."""
    try:
        grid = tuple(float(b) for b in (split_list(text, name, "1e-3,1e-4,1e-5")
                                        if isinstance(text, str) else text))
    except ValueError:
        grid = ()
    if not grid or not all(math.isfinite(b) and b > 0 for b in grid):
        raise UserError(f"{name} {quoted(text)}: give a comma list of positive numbers, "
                        f"e.g. 1e-3,1e-4,1e-5")
    return grid


def metric_name(dataset):
    return SOURCES[dataset].reported


@dataclass(frozen=True)
class Table1Settings:
    """`python run.py table1`: each row's run settings (the paper's preset, then the flags
    given, resolved once per model since the preset differs by family), the seeds, the
    beta grid, and the attack of the robustness columns. Every run of the table is one
    of these rows with the seed, beta, split and schedule of its step (row())."""
    rows: tuple = holding(RunSettings)   # ((model, RunSettings), ...) in Table 1's order
    seeds: int = flag(5, "retraining seeds seed, seed+1, ... (the paper's protocol)",
                      "Table 1", minimum=1, maximum=MAX_SEEDS)
    beta_grid: tuple = flag(PAPER_BETA_GRID, "betas tried on the validation split (the "
                            "paper's 10^-1 .. 10^-10)", "Table 1", parse=beta_grid)
    plan: bool = flag(False, "with --output-dir: print the runs that can start now, one "
                      "self-contained command per line (the selection runs, then each "
                      "model's retraining once its selection is finished), for xargs -P, "
                      "GNU parallel or a SLURM array; plan again after they finish, then "
                      "run without --plan to gather the table (and make the attacks)",
                      "Table 1", action="store_true")
    attack: AttackSettings = flag(None, "also the robustness columns: attack the "
                                  "seed-`--seed` model of each row (the attack's options "
                                  "below)", "Table 1", choices=("cw-l2",),
                                  default_text="none")
    output_dir: str = flag(None, "table folder; rerun with the same folder to reuse "
                           "finished runs and resume interrupted ones", "output",
                           default_text="runs/table1-<dataset>-<time>")
    # The table's run settings where no flag says otherwise.
    RUN_DEFAULTS = {"dataset": "mnist", "preset": "paper"}
    DEFAULT_TEXT = RUN_DEFAULTS

    @classmethod
    def from_flags(cls, flags):
        flags = dict(flags)
        own = take(cls, flags, exclude=("attack",))
        attack = flags.pop("attack", None)
        given = [k for k in flags if k in AttackSettings.dests()]
        if given and not attack:
            raise UserError(f"--{given[0].replace('_', '-')}: an attack option; add "
                            f"--attack cw-l2 for the robustness columns")
        attack = AttackSettings.from_flags(flags) if attack else None
        flags = {**cls.RUN_DEFAULTS, **flags}
        rows = tuple((name, RunSettings.from_flags({**flags, "model": name}).check())
                     for name in models_in("table1"))   # every run's settings first
        settings = cls(rows, attack=attack, **own)
        check_ranges(settings)
        if not SOURCES[settings.dataset].table1:
            raise UserError(f"table1 --dataset {settings.dataset}: Table 1 is for " +
                            ", ".join(d for d, s in SOURCES.items() if s.table1))
        return settings

    def __post_init__(self):
        typed(self)

    @property
    def announce(self):
        """--plan's output is command lines for a program: no "command:" line first."""
        return not self.plan

    @property
    def models(self):
        """The table's models, in its order (the rows made from the flags)."""
        return [name for name, _ in self.rows]

    def row(self, name, **step):
        """Model `name`'s run settings with this step's changes (seed, beta, ...)."""
        return dict(self.rows)[name].replace(**step)

    @property
    def base(self):
        """The settings every row shares (data, network, M, test passes): JointIMB's."""
        return self.row("jointimb")

    @property
    def dataset(self):
        return self.base.data.dataset

    def seed_list(self):
        return list(range(self.base.training.seed, self.base.training.seed + self.seeds))

    def grid(self):
        """The betas of --beta-grid."""
        return list(self.beta_grid)


def check_reuse(cfg, folder):
    """Refuse to reuse a run folder made with other settings, naming the first that
    differs: a table must never mix runs of two configurations. Settings are compared
    as runs are (RunSettings ==), so the data's folder, the backend or --max-memory may
    differ."""
    path = os.path.join(folder, "config.json")
    if not os.path.exists(path):
        return
    with open(path) as fh:
        saved = RunSettings.from_dict(json.load(fh), missing=cfg)
    for key, ours, theirs in cfg.differences(saved)[:1]:
        raise UserError(f"{folder} was made with {key} = {quoted(theirs)} but this table "
                        f"asks for {quoted(ours)}: use another --output-dir, or delete that "
                        f"folder to redo the run")


def _run(cfg, data, xp, folder, log):
    check_reuse(cfg, folder)
    summary, resume = finished_or_resumable(folder)
    if summary is not None:
        log(f"  {os.path.basename(folder)}: finished earlier, reused")
        return summary
    model = build_model(cfg, data.n_features, data.n_classes)
    if resume is not None:
        checkpoint.check_against(os.path.join(folder, checkpoint.FILENAME), resume, model)
        check_metrics(os.path.join(folder, "metrics.jsonl"))
    chunk_size(model, np.dtype(cfg.training.dtype).itemsize, cfg.where.max_memory, 1, True)
    log(f"  {os.path.basename(folder)}: " + ("resuming" if resume else "training"))
    return train_run(cfg, model, data, xp, folder, resume=resume, log=lambda m: None)


def _beta_over(name, beta):
    """The setting a beta of the grid sets for this model: VIB's beta or the IMB betas."""
    return {} if beta is None else KINDS[name].grid(beta)


def selection_runs(settings, name, out):
    """[(beta, cfg, folder)]: one run per beta of the grid (one run for DET and SFNN) on
    the training split, early stopping on the validation split, with the first seed."""
    betas = settings.grid() if KINDS[name].grid else [None]
    runs = []
    for beta in betas:
        cfg = settings.row(name, seed=settings.seed_list()[0],
                           patience=settings.base.training.patience or 20, **_beta_over(name, beta))
        tag = f"{name}-select" + ("" if beta is None else f"-beta{beta:g}")
        runs.append((beta, cfg, os.path.join(out, "runs", tag)))
    return runs


def choose(summaries):
    """(validation error, beta, summary) of the selection run with the lowest
    validation error; summaries: [(beta, summary)]."""
    scored = [(s.get("best_val_error") if s.get("best_val_error") is not None
               else s["test_error_mean"], beta, s) for beta, s in summaries]
    return min(scored, key=lambda t: t[0])


def retraining_runs(settings, name, beta, schedule, out):
    """[(seed, cfg, folder)]: the chosen setting retrained on the whole training set."""
    return [(seed, settings.row(name, seed=seed, val_size=0, patience=0, **schedule,
                                **_beta_over(name, beta)),
             os.path.join(out, "runs", f"{name}-seed{seed}"))
            for seed in settings.seed_list()]


def _print_plan(settings, lines):
    """--plan: the runs that can start now, one command per line on stdout; on stderr,
    the runs another process holds, or that every run is finished."""
    lines, busy = plan_table1(settings, lines)
    for line in lines:
        print(line, flush=True)
    if busy:
        print(f"--plan: {len(busy)} run(s) are being trained by another process now and "
              f"are not listed ({', '.join(os.path.basename(f) for f in busy)}); plan "
              f"again when they finish", file=sys.stderr)
    elif not lines:
        print("--plan: every run is finished; run the same command without --plan to "
              "gather the table", file=sys.stderr)


def _row(name, settings, out, data, xp, log):
    """One model's row: its selection runs, its retraining runs (trained, resumed or
    reused), the seed mean and spread of its test metric, and its attack. A row's wall
    time is its runs' (selection and retraining), summed from their folders: a table
    gathered from runs made elsewhere (--plan) or over several sessions reports the time
    they took, not the time to gather them. data: (selection data, full data)."""
    sel_data, full_data = data
    dataset, first_seed = settings.dataset, settings.seed_list()[0]
    summaries, wall_s = [], 0.0
    for beta, cfg, folder in selection_runs(settings, name, out):
        summaries.append((beta, _run(cfg, sel_data, xp, folder, log)))
        wall_s += run_seconds(folder, summaries[-1][1])
    val_error, beta, chosen = choose(summaries)
    schedule = retraining_schedule(name, chosen, settings.base)
    per_seed, curves, attack = [], [], None
    for seed, cfg, folder in retraining_runs(settings, name, beta, schedule, out):
        s = _run(cfg, full_data, xp, folder, log)
        wall_s += run_seconds(folder, s)
        per_seed.append(s["test_error_mean"])
        curves.append(run_curve(folder))
        if settings.attack is not None and seed == first_seed:
            attack = _attack(settings, folder, xp)
    errs = np.array(per_seed)
    metric = metric_name(dataset)
    values = SOURCES[dataset].percent(errs)
    row = {"model": name, "beta": beta, "validation_error": val_error,
           "epochs": int(schedule["epochs"]), "seeds": len(per_seed),
           "mean": float(values.mean()), "std": float(values.std()),
           "per_seed": values.tolist(), "metric": f"test {metric} (%)",
           "paper": KINDS[name].paper.get(dataset), "wall_s": round(wall_s, 1),
           "test_curve": mean_curve(curves, metric)}
    if attack is not None:
        row["robustness"] = attack
        # The paper's robustness columns are MNIST's.
        row["paper_robustness"] = {k: KINDS[name].paper[k] if dataset == "mnist" else None
                                   for k in ("targeted", "untargeted")}
    return row


def run_table1(settings, xp, log=print, lines=None, command_line="python run.py table1"):
    """The table from `settings` (Table1Settings) on `xp`; with --plan, print the runs
    that can start now, each as the command line `lines` (a CommandLines) gives.
    `command_line` is the command that made the table, recorded in table1.json."""
    if settings.plan:
        return _print_plan(settings, lines)
    dataset, base = settings.dataset, settings.base
    out = output_folder(settings.output_dir, f"table1-{dataset}")
    sel_data = load(base)                                      # validation held out
    full_data = load(base.replace(val_size=0, limit_val=None))  # for the retraining
    if len(sel_data.val) == 0:
        raise UserError("table1 selects beta on a validation split: --val-size must be > 0")
    # Made once the data is there; removed again if the first run is refused (a NaN)
    # before anything is finished.
    with run_folder(os.path.join(out, "runs")):
        log(f"Table 1 on {dataset}: models {', '.join(settings.models)}; beta grid "
            f"{settings.grid()}; seeds {settings.seed_list()}; selection on "
            f"{sel_data.summary()}; backend {base.where.backend} ({device_name(xp)}); output {out}")
        t_start = time.time()
        rows = []
        for name in settings.models:
            rows.append(_row(name, settings, out, (sel_data, full_data), xp, log))
            write_json(os.path.join(out, "table1.json"),
                       _table(rows, base, xp, t_start, command_line))
        table = _table(rows, base, xp, t_start, command_line)
        write_json(os.path.join(out, "table1.json"), table)
        md = markdown(table)
        with atomic_write(os.path.join(out, "table1.md")) as fh:
            fh.write(md)
        log(md)
        curves_png(os.path.join(out, "table1.png"), table)
        log(f"wrote {os.path.join(out, 'table1.md')}, table1.json and table1.png")
    return table


# ---- --plan: the table's runs as independent commands, for any scheduler ---------------
def run_command(cfg, folder, lines):
    """One self-contained `python run.py train` line that trains `cfg` into `folder`:
    `lines.train(cfg, folder)`, every setting spelled out by the train parser's inverse
    (so the folder's config.json is the table's, whatever the defaults of the machine
    that runs it); a run interrupted earlier is resumed (`lines.resume(folder)`)."""
    if os.path.exists(os.path.join(folder, checkpoint.FILENAME)):   # no need to load it
        return lines.resume(folder)
    return lines.train(cfg, folder)


def plan_table1(settings, lines):
    """(lines, busy): the runs that can start now, one command per line: every
    unfinished selection run, and the retraining runs of each model whose selection is
    complete; and the folders left out because another process trains them right now
    (it holds their lock). Running the lines (in any order, on any number of machines)
    and planning again reaches the retraining; `table1` without --plan then gathers the
    finished folders."""
    if not settings.output_dir:
        raise UserError("--plan needs --output-dir: the planned runs write their folders "
                        "under it, and the gathering `table1` reads them there")
    out = settings.output_dir
    commands, planned, busy = lines, [], []

    def summary_or_plan(cfg, folder):
        """A finished run's summary; else None, the run listed (or noted as busy)."""
        check_reuse(cfg, folder)
        summary = finished_summary(folder)
        if summary is None and folder_busy(folder):
            busy.append(folder)
        elif summary is None:
            planned.append(run_command(cfg, folder, commands))
        return summary

    for name in settings.models:
        summaries = [(beta, summary_or_plan(cfg, folder)) for beta, cfg, folder
                     in selection_runs(settings, name, out)]
        if any(s is None for _, s in summaries):
            continue
        _, beta, chosen = choose(summaries)
        schedule = retraining_schedule(name, chosen, settings.base)
        for _, cfg, folder in retraining_runs(settings, name, beta, schedule, out):
            summary_or_plan(cfg, folder)
    return planned, busy


def retraining_schedule(name, chosen, sel_cfg):
    """The epochs (and, for GreedyIMB, the stage length) with which the selected run is
    retrained on the full training set: the epochs up to its best validation error, and
    for GreedyIMB the schedule that won, stage for stage. Its stages below the last ran
    their full length (early stopping ends only the last), so the retraining keeps that
    length and stops the last stage at the best epoch: a selection of 100 + 100 epochs
    whose best epoch was 130 is retrained as 100 + 30, not as 65 + 65."""
    t = sel_cfg.training
    epochs = max(int(chosen.get("best_epoch") or chosen["epochs_trained"] or t.epochs), 1)
    if not KINDS[name].greedy:
        return {"epochs": epochs}
    stages = len(sel_cfg.network.hidden)
    return {"epochs": epochs, "stage_epochs": stage_length(stages, t.epochs, t.stage_epochs)}


def _attack(settings, folder, xp):
    """The robustness columns of a row: the attack of its first seed's model."""
    from .attack.command import AttackCommand, run_attack
    job = AttackCommand(folder, settings.attack, backend=settings.base.where.backend, quiet=True)
    r = run_attack(job, xp, build_model, log=lambda m: None)["results"]
    out = {}
    if "targeted" in r:
        out["targeted"] = None if r["targeted"]["robustness"] is None else \
            100 * r["targeted"]["robustness"]
        for key, name in (("majority_decision", "majority"),
                          ("single_sample_metric", "single_sample")):
            if key in r["targeted"]:
                rob = r["targeted"][key]["robustness"]
                out[f"targeted_{name}"] = None if rob is None else 100 * rob
    if "untargeted" in r:
        out["untargeted"] = 100 * r["untargeted"]["robust_accuracy"]
        for key, name in (("majority_decision", "majority"),
                          ("single_sample_metric", "single_sample")):
            if key in r["untargeted"]:
                out[f"untargeted_{name}"] = 100 * r["untargeted"][key]["robust_accuracy"]
    return out


def _table(rows, base, xp, t_start, command_line):
    return {"dataset": base.data.dataset, "metric": f"test {metric_name(base.data.dataset)} (%)",
            "command": command_line,
            "date": datetime.date.today().isoformat(), "backend": base.where.backend,
            "device": device_name(xp), "machine": f"{platform.machine()}, "
            f"{os.cpu_count()} CPU cores", "network": show(base.network.hidden),
            "M": base.network.samples, "test_runs": base.network.test_runs,
            "limits": {"train": base.data.limit_train, "val": base.data.limit_val,
                       "test": base.data.limit_test},
            "wall_s": round(time.time() - t_start, 1), "rows": rows}


def run_curve(folder):
    """A run's per-epoch test error (a fraction), from its metrics.jsonl."""
    return [r["test_error"] for r in read_metrics(os.path.join(folder, "metrics.jsonl"))]


def mean_curve(curves, metric):
    """The seeds' mean per-epoch curve in the table's metric (%), over the epochs every
    seed ran (the seeds of one row run the same epochs)."""
    n = min((len(c) for c in curves), default=0)
    errs = np.mean([c[:n] for c in curves], axis=0) if n else np.zeros(0)
    return (100 * (1 - errs) if metric == "accuracy" else 100 * errs).tolist()


@optional_figure
def curves_png(path, t):
    """Each row's test metric by epoch of retraining (mean over seeds), and the paper's
    number as a dashed line of the same colour: whether a row had converged when it was
    measured is seen at a glance."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for i, r in enumerate(t["rows"]):
        colour = f"C{i}"
        curve = r.get("test_curve") or []
        ax.plot(np.arange(1, len(curve) + 1), curve, color=colour, marker=".",
                label=f"{r['model']} ({r['mean']:.2f})")
        if r["paper"] is not None:
            ax.axhline(r["paper"], color=colour, linestyle="--", linewidth=1)
    ax.set_yscale("log")
    values = [v for r in t["rows"] for v in (r.get("test_curve") or []) + [r["paper"]]
              if v is not None and v > 0]
    if values:     # down to the decade below every number, so a labelled tick is under them
        ax.set_ylim(bottom=10 ** math.floor(math.log10(min(values))))
    plain = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(plain)
    ax.tick_params(axis="y", which="minor", labelsize=7)
    ax.set_xlabel("epoch of retraining on the full training set")
    ax.set_ylabel(t["metric"])
    seeds = sorted({r["seeds"] for r in t["rows"]})
    ax.set_title(f"Table 1 on {t['dataset']}: mean of {'/'.join(map(str, seeds))} seeds, "
                 f"M = {t['M']}; dashed: the paper's", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    save_figure(fig, path, dpi=120)
    plt.close(fig)


def model_pairs(rows, better):
    """Every pair of rows, each model against those after it in Table 1's order, judged
    by the one judge (`imb_ref.claims.judge.order`): "a is better than b" ("lower" or
    "higher" is better), paired by seed where both share their initialisation (the
    binary network's models), Welch's otherwise; with one seed it is not tested."""
    sample = lambda r: judge.Sample(by_seed={str(i): v for i, v in enumerate(r["per_seed"])})
    out = []
    for i, a in enumerate(rows):
        for b in rows[i + 1:]:
            paired = all(KINDS[r["model"]].network is BINARY for r in (a, b))
            v = judge.order(sample(a), sample(b), better, paired)
            paper = None if a["paper"] is None or b["paper"] is None \
                else a["paper"] - b["paper"]
            out.append({"a": a["model"], "b": b["model"], "difference": a["mean"] - b["mean"],
                        "verdict": v.word, "test": v.test or "-", "p": v.p, "ci": v.ci,
                        "reason": v.reason, "paper_difference": paper})
    return out


def markdown(t):
    has_attack = any("robustness" in r for r in t["rows"])
    head = f"| model | beta | ours: {t['metric']} | paper | seeds | epochs | wall (s) |"
    sep = "|---|---|---|---|---|---|---|"
    if has_attack:
        head += (" targeted robustness % (ours: verified / majority decision / single-draw"
                 " naive; paper) | untargeted robustness % (ours: verified / majority"
                 " decision / single-draw naive; paper) |")
        sep += "---|---|"
    lines = [f"Table 1 on {t['dataset']}: `{t['command']}`", "",
             f"{t['date']}, {t['backend']} on {t['device']} ({t['machine']}); hidden "
             f"{t['network']}, M = {t['M']}, {t['test_runs']} test passes; limits "
             f"{t['limits']}; wall: the time of the model's runs, summed over selection "
             f"and seeds.",
             "", head, sep]
    fmt = lambda v: "-" if v is None else f"{v:.2f}"
    signed = lambda v: "-" if v is None else f"{v:+.2f}"
    for r in t["rows"]:
        beta = "-" if r["beta"] is None else f"{r['beta']:g}"
        line = (f"| {r['model']} | {beta} | {r['mean']:.2f} +- {r['std']:.2f} | "
                f"{fmt(r['paper'])} | {r['seeds']} | {r['epochs']} | {r['wall_s']:.0f} |")
        if has_attack:
            a, p = r.get("robustness", {}), r.get("paper_robustness", {})
            line += "".join(f" {fmt(a.get(g))} / {fmt(a.get(g + '_majority'))} / "
                            f"{fmt(a.get(g + '_single_sample'))}; {fmt(p.get(g))} |"
                            for g in ("targeted", "untargeted"))
        lines.append(line)
    better = "higher" if "accuracy" in t["metric"] else "lower"
    pairs = model_pairs(t["rows"], better)
    if pairs:
        lines += ["", "Differences of seed means (first model minus second, points of "
                  f"{t['metric']}), and the one judge on \"the first is better\" (one-sided "
                  "at 0.025; the interval is of the first's lead, 95%):", "",
                  "| models | ours | the first better: verdict | test | lead [95% CI] | p | "
                  "paper |", "|---|---|---|---|---|---|---|"]
        for p in pairs:
            ci = "-" if p["ci"] is None else f"[{p['ci'][0]:+.2f}, {p['ci'][1]:+.2f}]"
            pv = "-" if p["p"] is None else f"{p['p']:.3g}"
            word = p["verdict"] + (f" ({p['reason']})" if p["reason"] else "")
            lines.append(f"| {p['a']} - {p['b']} | {signed(p['difference'])} | {word} | "
                         f"{p['test']} | {ci} | {pv} | {signed(p['paper_difference'])} |")
    return "\n".join(lines) + "\n"
