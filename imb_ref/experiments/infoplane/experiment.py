"""The experiment over every (model, seed) pair: which pairs are complete, which to train
(seed by seed), merging each finished pair into infoplane.csv and runs.json, and the
report after each whole seed."""

import csv
import json
import os

from ...files import write_json
from .measure import CSV_COLUMNS
from .pair import merge_pair, row_writer
from .pool import run_here, run_in_workers
from .progress import PairProgress
from .report import write_report


def completed_runs(csv_path, final_epoch):
    """(model, seed) pairs whose final epoch is already in the CSV."""
    done = set()
    if os.path.exists(csv_path):
        with open(csv_path) as fh:
            for row in csv.DictReader(fh):
                if int(row["epoch"]) == final_epoch:
                    done.add((row["model"], int(row["seed"])))
    return done


def drop_partial(csv_path, done):
    """Keep only the rows of completed (model, seed) pairs before resuming."""
    if not os.path.exists(csv_path):
        return
    with open(csv_path) as fh:
        rows = [r for r in csv.DictReader(fh) if (r["model"], int(r["seed"])) in done]
    with open(csv_path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def run_experiment(cfg, models, seeds, data, xp, out_dir, points=30, log=None, jobs=1):
    """Train every (model, seed), write infoplane.csv, the figure and the summary;
    `jobs` > 1: that many (model, seed) pairs at once, in worker processes (NumPy).
    `log` prints a line (default: tqdm's, which keeps an open progress bar intact)."""
    if log is None:
        from tqdm import tqdm
        log = tqdm.write
    os.makedirs(out_dir, exist_ok=True)
    csv_path = os.path.join(out_dir, "infoplane.csv")
    done = completed_runs(csv_path, cfg.training.epochs)
    drop_partial(csv_path, done)
    new_file = not os.path.exists(csv_path)
    results_path = os.path.join(out_dir, "runs.json")
    results = {}
    if os.path.exists(results_path):
        with open(results_path) as fh:
            results = json.load(fh)
    # Seed by seed, every model of a seed before the next seed: the models of one seed
    # are compared with each other (summarize_seeds pairs them), so an experiment
    # stopped part-way has whole seeds to compare.
    todo = []
    for seed in seeds:
        for name in models:
            if (name, seed) in done:
                log(f"{name} seed {seed}: already complete in {csv_path}, skipped")
            else:
                todo.append((name, seed))
    with open(csv_path, "a", newline="") as fh:
        if new_file:
            csv.DictWriter(fh, CSV_COLUMNS).writeheader()
        write_row = row_writer(fh)
        progress = PairProgress([f"{name} seed {seed}" for name, seed in todo], cfg.training.epochs,
                                cfg.where.quiet)
        if jobs > 1 and len(todo) > 1:
            finished = run_in_workers(cfg, todo, data, points, out_dir, jobs, progress)
        else:
            finished = run_here(cfg, todo, data, xp, points, out_dir, progress)
        reported = []
        for name, seed, res in finished:
            merge_pair(out_dir, name, seed, write_row)
            results[f"{name}/{seed}"] = res
            write_json(results_path, results)
            if not cfg.where.quiet:
                log(f"{name} seed {seed}: {cfg.training.epochs} epochs in {res['wall_s']}s, "
                    f"test error {100 * res['exact_test_error']:.1f}% exact, "
                    f"{100 * res['test_error']:.1f}% sampled (M = {cfg.network.test_samples})")
            done.add((name, seed))
            whole = [s for s in seeds if all((m, s) in done for m in models)]
            if whole != reported and whole != list(seeds):     # a seed more, run not done
                write_report(cfg, models, seeds, out_dir, results, whole)
                reported = whole
    parts = os.path.join(out_dir, "parts")
    if os.path.isdir(parts) and not os.listdir(parts):
        os.rmdir(parts)
    return write_report(cfg, models, seeds, out_dir, results, list(seeds))
