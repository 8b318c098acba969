"""Table 1's driver: a smoke run of the whole table on a tiny subset, its files, resume."""

import json
import os
import subprocess
import sys

from fixtures import write_mnist_like
import numpy as np
import pytest

from imb_ref.errors import UserError
from imb_ref.experiments.table1 import Table1Settings, mean_curve
from imb_ref.models import KINDS, models_in

MODELS = models_in("table1")
PAPER = {m: KINDS[m].paper for m in MODELS}


def test_whole_table_on_a_tiny_subset(tmp_path, run_py):
    data = tmp_path / "fashion"
    write_mnist_like(str(data), n_train=200, n_test=40)
    env = dict(os.environ, IMB_FASHION_SYSTEM_DIR=str(data))   # stands in for the package
    out = tmp_path / "t1"
    args = [sys.executable, run_py, "table1", "--dataset", "fashion-mnist", "--val-size",
            "50", "--hidden", "8", "--samples", "2", "--epochs", "1", "--seeds", "1",
            "--beta-grid", "1e-3,1e-4", "--test-runs", "2", "--vib-k", "4", "--output-dir",
            str(out), "--quiet", "--attack", "cw-l2", "--attack-n", "3", "--attack-iters", "3",
            "--attack-binary-steps", "1", "--attack-eval-samples", "4", "--eot-samples", "2"]
    res = subprocess.run(args, capture_output=True, text=True, timeout=600, env=env)
    assert res.returncode == 0, res.stderr
    table = json.load(open(out / "table1.json"))
    assert [r["model"] for r in table["rows"]] == list(MODELS)
    for r in table["rows"]:
        assert r["seeds"] == 1 and len(r["per_seed"]) == 1 and 0 <= r["mean"] <= 100
        assert r["paper"] is None                     # no paper numbers for Fashion-MNIST
        assert set(r["robustness"]) >= {"untargeted"}
        assert (r["beta"] is None) == (r["model"] in ("det", "sfnn"))
    assert table["backend"] == "numpy" and table["device"] == "cpu" and "command" in table
    md = open(out / "table1.md").read()
    n = len(MODELS)        # the table (a header, a row per model), then every pair's difference
    assert md.count("\n| ") == (1 + n) + (1 + n * (n - 1) // 2) and "fashion-mnist" in md
    runs = sorted(os.listdir(out / "runs"))
    assert "jointimb-select-beta0.001" in runs and "vib-seed0" in runs
    # Each row's learning curve is its retraining run's per-epoch test error (one seed here).
    for r in table["rows"]:
        logged = [json.loads(l)["test_error"]
                  for l in open(out / "runs" / f"{r['model']}-seed0" / "metrics.jsonl")]
        assert len(r["test_curve"]) == r["epochs"] == len(logged)
        np.testing.assert_allclose(r["test_curve"], 100 * np.array(logged), rtol=1e-12)
    assert (out / "table1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Rerun: every run is reused, nothing retrained.
    again = subprocess.run(args, capture_output=True, text=True, timeout=600, env=env)
    assert again.returncode == 0
    assert "training" not in again.stdout and "reused" in again.stdout
    # The same folder with another network: refused in one line, nothing mixed.
    other = [a if a != "8" else "9" for a in args]
    assert other != args
    before = (out / "table1.json").read_text()
    mixed = subprocess.run(other, capture_output=True, text=True, timeout=600, env=env)
    assert mixed.returncode == 2 and mixed.stderr.count("\n") == 1
    assert "was made with hidden = '8' but this table asks for '9'" in mixed.stderr
    assert (out / "table1.json").read_text() == before


PAPER_TEXT = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "paper",
                          "information-multi-bottlenecks.txt")


def test_paper_numbers_are_read_from_the_papers_table_1():
    """Every model row's Table 1 figures (imb_ref.models.KINDS[m].paper) against the rows of Table 1 in the paper's
    text (where the text is on hand: ../shared/paper next to the repository)."""
    if not os.path.isfile(PAPER_TEXT):
        pytest.skip(f"the paper's text is not at {PAPER_TEXT}")
    names = {"DET": "det", "VIB ([1])": "vib", "SFNN ([25])": "sfnn",
             "GreedyIMB": "greedyimb", "JointIMB": "jointimb"}
    found = {}
    for line in open(PAPER_TEXT):
        for label, model in names.items():
            rest = line.strip()[len(label):].split()
            if line.startswith(label + " ") and len(rest) == 4:
                found[model] = dict(zip(("mnist", "cifar10", "targeted", "untargeted"),
                                        map(float, rest)))
    assert found == PAPER


def test_the_paper_column_is_the_papers_and_ours_is_ours():
    """table1.md puts each row's paper figure beside our figure, never in its place."""
    from imb_ref.experiments.table1 import markdown
    rows = [{"model": m, "beta": None, "mean": 10.0 + i, "std": 0.5, "seeds": 2,
             "per_seed": [9.5 + i, 10.5 + i], "paper": PAPER[m]["mnist"], "epochs": 3,
             "wall_s": 1.0, "robustness": {}} for i, m in enumerate(MODELS)]
    table = {"dataset": "mnist", "metric": "test error (%)", "command": "c", "date": "d",
             "backend": "numpy", "device": "cpu", "machine": "m", "network": "512,512",
             "M": 8, "test_runs": 2, "limits": {}, "wall_s": 1.0, "rows": rows}
    md = markdown(table)
    for i, m in enumerate(MODELS):
        line = next(l for l in md.splitlines() if l.startswith(f"| {m} |"))
        cells = [c.strip() for c in line.split("|")]
        assert f"{10.0 + i:.2f} +- 0.50" in cells and f"{PAPER[m]['mnist']:.2f}" in cells


def test_table1_rejects_synthetic12(run_py):
    res = subprocess.run([sys.executable, run_py, "table1", "--dataset", "synthetic12"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and res.stderr == ("error: table1 --dataset synthetic12: "
                                                  "Table 1 is for mnist, "
                                                  "fashion-mnist, cifar10\n")
    with pytest.raises(UserError, match="Table 1 is for mnist"):
        Table1Settings.from_flags({"dataset": "synthetic12", "hidden": "4"})


def test_greedyimb_is_retrained_on_the_schedule_that_won():
    """Selection ran 100 + 100 epochs (2 layers, 200 epochs) and its best validation
    error came at epoch 130: the retraining runs stage 1 for 100 epochs and stage 2 for
    30, not 65 + 65. Other models retrain for the best epoch alone."""
    from imb_ref.training.settings import RunSettings
    from imb_ref.models.registry import Model
    from imb_ref.experiments.table1 import retraining_schedule
    from imb_ref.training.loop import greedy_stage
    sel = RunSettings.from_flags({"dataset": "mnist", "hidden": "8,8", "epochs": 200})
    chosen = {"best_epoch": 130, "epochs_trained": 150}
    schedule = retraining_schedule("greedyimb", chosen, sel)
    assert schedule == {"epochs": 130, "stage_epochs": 100}
    model = Model("greedyimb", (4, 8, 8, 2))
    stages = [greedy_stage(model, e, schedule["epochs"], schedule["stage_epochs"])
              for e in range(1, 131)]
    assert stages.count(1) == 100 and stages.count(2) == 30
    assert retraining_schedule("jointimb", chosen, sel) == {"epochs": 130}
    assert retraining_schedule("greedyimb", chosen,
                               RunSettings.from_flags({"dataset": "mnist", "hidden": "8,8", "epochs": 200,
                                        "stage_epochs": 40}))["stage_epochs"] == 40


def test_plan_runs_under_xargs_and_gathers_the_same_table(tmp_path, run_py):
    """--plan prints the runs that can start now as self-contained commands; xargs -P 2
    runs them, a second plan lists the retraining runs, and --table1 without --plan
    then gathers the folders without training anything. The gathered table equals the
    one --table1 computes by itself (every run is a pure function of its settings)."""
    data = tmp_path / "fashion"
    write_mnist_like(str(data), n_train=120, n_test=30)
    env = dict(os.environ, IMB_FASHION_SYSTEM_DIR=str(data))
    common = [sys.executable, run_py, "table1", "--dataset", "fashion-mnist", "--val-size",
              "40", "--hidden", "6", "--samples", "2", "--epochs", "1", "--seeds", "2",
              "--beta-grid", "1e-3,1e-4", "--test-runs", "1", "--vib-k", "3", "--quiet"]
    planned, direct = tmp_path / "planned", tmp_path / "direct"

    def plan():
        res = subprocess.run(common + ["--plan", "--output-dir", str(planned)],
                             capture_output=True, text=True, timeout=120, env=env)
        assert res.returncode == 0, res.stderr
        return [line for line in res.stdout.splitlines() if line]

    def run_all(lines):
        plan_file = tmp_path / "plan.txt"
        plan_file.write_text("\n".join(lines) + "\n")
        shell = f"xargs -P 2 -d '\\n' -I CMD sh -c CMD < {plan_file}"
        res = subprocess.run(["sh", "-c", shell], capture_output=True, text=True,
                             timeout=600, env=dict(env, PATH=os.path.dirname(sys.executable)
                                                   + os.pathsep + env["PATH"]))
        assert res.returncode == 0, res.stderr

    # A run another worker trains right now (it holds the folder's lock) is not planned
    # again, and keeps its model's retraining back; stderr names it.
    from imb_ref.files import folder_lock
    busy = planned / "runs" / "sfnn-select"
    os.makedirs(busy)
    with folder_lock(str(busy)):
        res = subprocess.run(common + ["--plan", "--output-dir", str(planned)],
                             capture_output=True, text=True, timeout=120, env=env)
        assert res.returncode == 0, res.stderr
        assert len(res.stdout.splitlines()) == 2 * 3 + 1 and "sfnn-select" not in res.stdout
        assert "1 run(s) are being trained by another process now" in res.stderr
        assert "sfnn-select" in res.stderr
    first = plan()
    assert len(first) == 2 * 3 + 2            # DET, SFNN once; VIB, GreedyIMB, JointIMB per beta
    assert all("--output-dir" in line and "-select" in line for line in first)
    run_all(first)
    second = plan()
    assert len(second) == 5 * 2 and all("-seed" in line for line in second)
    run_all(second)
    assert plan() == []
    # Stand in for a run that took 1000 s elsewhere: the gathered row must report it.
    slow = planned / "runs" / "jointimb-seed0" / "summary.json"
    summary = json.load(open(slow))
    slow.write_text(json.dumps(dict(summary, wall_s=summary["wall_s"] + 1000)))
    gathered = subprocess.run(common + ["--output-dir", str(planned)], capture_output=True,
                              text=True, timeout=600, env=env)
    assert gathered.returncode == 0, gathered.stderr
    assert "training" not in gathered.stdout and "reused" in gathered.stdout
    alone = subprocess.run(common + ["--output-dir", str(direct)], capture_output=True,
                           text=True, timeout=600, env=env)
    assert alone.returncode == 0, alone.stderr
    rows = lambda folder: [(r["model"], r["beta"], r["epochs"], r["per_seed"])
                           for r in json.load(open(folder / "table1.json"))["rows"]]
    assert rows(planned) == rows(direct)
    # A row's wall time is its runs' time, read from their folders, not the gathering's.
    table = json.load(open(planned / "table1.json"))
    for r in table["rows"]:
        runs = [json.load(open(f / "summary.json"))["wall_s"]
                for f in (planned / "runs").iterdir() if f.name.startswith(r["model"] + "-")]
        assert len(runs) == (1 if r["model"] in ("det", "sfnn") else 2) + 2   # selection + seeds
        assert r["wall_s"] == pytest.approx(sum(runs), abs=0.1)      # rounded to 0.1 s
        # >= : the tiny runs themselves may round to 0.0 s on a fast machine.
        assert (r["wall_s"] >= 1000) == (r["model"] == "jointimb")


def test_plan_needs_table1_and_an_output_dir(run_py):
    res = subprocess.run([sys.executable, run_py, "train", "--plan"], capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 2 and "`python run.py table1`" in res.stderr
    res = subprocess.run([sys.executable, run_py, "table1", "--plan"], capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 2 and "--plan needs --output-dir" in res.stderr


def test_a_rows_curve_is_the_seeds_mean_in_the_tables_metric():
    """Two seeds' per-epoch test errors average epoch by epoch, in percent; CIFAR10's
    metric is accuracy, so the curve is 100 (1 - error)."""
    seeds = [[0.10, 0.05, 0.04], [0.20, 0.07, 0.02]]
    np.testing.assert_allclose(mean_curve(seeds, "error"), [15.0, 6.0, 3.0], rtol=1e-12)
    np.testing.assert_allclose(mean_curve(seeds, "accuracy"), [85.0, 94.0, 97.0],
                               rtol=1e-12)
    assert mean_curve([[0.1, 0.2], [0.3]], "error") == pytest.approx([20.0])   # common epochs
    assert mean_curve([], "error") == []


def test_model_pairs_are_judged_by_the_one_judge():
    """Seeds (1.5, 1.7) and (1.0, 1.2) of two binary-network models, paired by seed: the
    differences are 0.5 and 0.5, no spread, so "JointIMB has the lower error" is
    supported with p = 0 (an exact difference); VIB against JointIMB is Welch's test
    (another network), t = 0.1 / 0.141 on 2 df; one seed is not tested."""
    from scipy import stats
    from imb_ref.experiments.table1 import markdown, model_pairs
    row = lambda m, seeds, paper: {"model": m, "beta": None, "per_seed": seeds,
                                   "mean": float(np.mean(seeds)), "std": float(np.std(seeds)),
                                   "paper": paper, "seeds": len(seeds), "epochs": 1,
                                   "wall_s": 1.0}
    rows = [row("sfnn", [1.5, 1.7], 1.44), row("jointimb", [1.0, 1.2], 1.36),
            row("vib", [1.1, 1.3], None), row("det", [1.65], 1.73)]
    pairs = {(p["a"], p["b"]): p for p in model_pairs(rows, "lower")}
    assert len(pairs) == 6
    p = pairs[("sfnn", "jointimb")]
    # float64 sums of a few decimals: exact to about 1e-15
    assert p["difference"] == pytest.approx(0.5, abs=1e-12)
    assert p["verdict"] == "refuted" and p["test"] == "one-sided paired t-test"
    assert p["paper_difference"] == pytest.approx(0.08)
    q = pairs[("jointimb", "vib")]
    assert q["test"] == "one-sided Welch t-test" and q["verdict"] == "not decided"
    assert q["p"] == pytest.approx(stats.ttest_ind([1.0, 1.2], [1.1, 1.3], equal_var=False,
                                                   alternative="less").pvalue, abs=1e-12)
    assert pairs[("sfnn", "det")]["verdict"] == "not tested"
    md = markdown({"dataset": "mnist", "metric": "test error (%)", "command": "c",
                   "date": "d", "backend": "numpy", "device": "cpu", "machine": "m",
                   "network": "512,512", "M": 8, "test_runs": 2, "limits": {},
                   "wall_s": 1.0, "rows": rows})
    assert "| sfnn - jointimb | +0.50 | refuted | one-sided paired t-test |" in md
    assert "| jointimb - vib | -0.10 | not decided | one-sided Welch t-test |" in md
    assert "| sfnn - det | -0.05 | not tested (fewer than 2 seeds (2 and 1)) |" in md
