"""The information-plane experiment: measurement schedule, data-processing checks,
the summary's arithmetic, and a short run's files."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from imb_ref.experiments.infoplane.progress import PairProgress

from imb_ref.experiments import infoplane
from imb_ref.experiments.infoplane import measure, pool
from imb_ref.experiments.infoplane import report as infoplane_report
from imb_ref.training import loop as train_module
from imb_ref.errors import UserError


def test_measurement_epochs_are_log_spaced_and_end_at_the_last():
    e = infoplane.measurement_epochs(20000, 30)
    assert e[0] == 0 and e[-1] == 20000 and e == sorted(set(e))
    assert len(e) <= 31 and e[1] == 1
    assert infoplane.measurement_epochs(3, 30) == [0, 1, 2, 3]


def test_data_processing_check_fires_on_a_broken_plane():
    good = [(3.0, 0.5), (2.0, 0.4), (1.0, 0.4)]
    infoplane.check_data_processing(good, 1.0, "here")
    with pytest.raises(UserError, match=r"I\(Z_2;X\) = 2.000000 < I\(Z_3;X\) = 2.500000"):
        infoplane.check_data_processing([(3.0, 0.5), (2.0, 0.4), (2.5, 0.4)], 1.0, "here")
    with pytest.raises(UserError, match=r"I\(Z_1;Y\) = 1.200000 > I\(X;Y\) = 1.000000"):
        infoplane.check_data_processing([(3.0, 1.2), (2.0, 0.4)], 1.0, "here")


def test_summary_arithmetic():
    # sfnn ends at relevance (0.5, 0.4); jointimb gets there at epoch 10 of 100.
    table = {
        ("sfnn", 1): {0: (1.0, 0.0), 10: (2.0, 0.3), 100: (2.5, 0.5)},
        ("sfnn", 2): {0: (0.5, 0.0), 10: (1.0, 0.2), 100: (1.5, 0.4)},
        ("jointimb", 1): {0: (1.0, 0.0), 10: (2.0, 0.6), 100: (1.6, 0.7)},
        ("jointimb", 2): {0: (0.5, 0.0), 10: (1.2, 0.45), 100: (1.1, 0.6)},
    }
    s = infoplane_report.summarize(table, ["sfnn", "jointimb"], 100)
    assert s["epochs_to_sfnn_final_relevance"]["jointimb"] == {"epoch": 10, "fraction": 0.1}
    assert s["max_relevance"]["jointimb"] == {1: 0.7, 2: 0.6}
    assert s["compression"]["jointimb"][1]["compresses"] is True        # 2.0 -> 1.6
    assert s["compression"]["sfnn"][1]["compresses"] is False           # still rising


# Two seeds, two layers, measured at epochs 0, 10 and 100: every over-seed figure below
# is worked out by hand in the test.
BY_SEED = {
    ("sfnn", 1): {0: {0: (1.0, 0.0), 10: (2.0, 0.3), 100: (2.5, 0.5)},
                  1: {0: (1.0, 0.0), 10: (2.0, 0.4), 100: (2.6, 0.7)}},
    ("sfnn", 2): {0: {0: (0.5, 0.0), 10: (1.0, 0.2), 100: (1.5, 0.4)},
                  1: {0: (0.5, 0.0), 10: (1.0, 0.3), 100: (1.2, 0.6)}},
    ("jointimb", 1): {0: {0: (1.0, 0.0), 10: (2.0, 0.6), 100: (1.6, 0.7)},
                      1: {0: (1.0, 0.0), 10: (2.0, 0.5), 100: (2.2, 0.65)}},
    ("jointimb", 2): {0: {0: (0.5, 0.0), 10: (1.2, 0.45), 100: (1.1, 0.6)},
                      1: {0: (0.5, 0.0), 10: (1.1, 0.4), 100: (1.3, 0.5)}},
}


def test_over_seed_summary_by_hand():
    """Per seed and over seeds: final relevance with mean, std (ddof 1), min, max; the
    epoch each seed reaches its own SFNN's final relevance in every layer; compression
    per seed; and the verdicts, from the one judge's paired one-sided t-tests. With two
    seeds the t statistic has 1 degree of freedom, P(T > t) = 1/2 - atan(t) / pi."""
    import math
    cauchy = lambda t: 0.5 - math.atan(t) / math.pi
    t = infoplane_report.summarize_seeds(BY_SEED, ["sfnn", "jointimb"])
    assert t["seeds"] == [0, 1]
    z1 = t["final_relevance"]["jointimb"][1]
    assert z1["per_seed"] == {0: 0.7, 1: 0.65}
    assert z1["mean"] == pytest.approx(0.675) and z1["std"] == pytest.approx(0.05 / 2 ** 0.5)
    assert (z1["min"], z1["max"]) == (0.65, 0.7)
    assert t["max_relevance"]["sfnn"][2]["per_seed"] == {0: 0.4, 1: 0.6}
    # Seed 0: JointIMB passes SFNN's (0.5, 0.4) at epoch 10; seed 1 never has (0.7, 0.6).
    assert t["reach_sfnn"]["jointimb"] == {"per_seed": {0: 10, 1: None}, "reached": 1}
    # Compression: seed 0's JointIMB layers fall (2.0 -> 1.6, 1.2 -> 1.1); seed 1's rise.
    assert t["compression"]["jointimb"] == {1: {0: True, 1: False}, 2: {0: True, 1: False}}
    height = t["verdicts"]["height: jointimb above sfnn"]
    # Z_1: +0.2 and -0.05: mean 0.075, SE 0.125, t = 0.6.
    assert height["Z_1"][0] == "not decided" and "n = 2 seeds" in height["Z_1"][1]
    assert f"p = {cauchy(0.6):.3g}" in height["Z_1"][1]
    assert height["Z_2"][0] == "not decided"
    # Speed: fractions 10/100 and 1 (never: the whole run): 1 - mean = 0.45, SE 0.45, t = 1.
    speed = t["verdicts"]["speed: jointimb reaches sfnn's final relevance"]
    assert speed[0] == "not decided" and f"p = {cauchy(1.0):.3g}" in speed[1]
    # Largest falls of I(Z_l;X): JointIMB 0.4 and 0 bit against 0.01: t = 0.19 / 0.2.
    comp = t["verdicts"]["compression: jointimb"]
    assert comp[0] == "not decided" and f"p = {cauchy(0.95):.3g}" in comp[1]
    # SFNN never falls in either seed: no spread, the whole sample below 0.01.
    assert t["verdicts"]["compression: sfnn"][0] == "refuted"
    # Final I(Z_l;X): SFNN (2.5, 1.5) and (2.6, 1.2), JointIMB (1.6, 1.1) and (2.2, 1.3).
    x1 = t["final_I_X"]["jointimb"][1]
    assert x1["per_seed"] == {0: 1.6, 1: 2.2} and x1["mean"] == pytest.approx(1.9)
    left = t["verdicts"]["compression: jointimb left of sfnn at the end"]
    # Z_1: SFNN - JointIMB = +0.9, +0.4: both seeds agree, yet t = 0.65 / 0.25 = 2.6 on
    # one degree of freedom is p = 0.117: two seeds do not decide it.
    assert left["Z_1"][0] == "not decided" and f"p = {cauchy(2.6):.3g}" in left["Z_1"][1]
    assert left["Z_2"][0] == "not decided"
    # SFNN's highest relevance: Z_1 0.5 and 0.7: 0.8 minus them, 0.3 and 0.1, t = 2.
    below = t["verdicts"]["height: sfnn stays below 0.8 bit"]["Z_1"]
    assert below[0] == "not decided" and f"p = {cauchy(2.0):.3g}" in below[1]
    md = "\n".join(infoplane_report.seeds_markdown(t))
    assert "| jointimb | 0.675 +- 0.035 (0.650 .. 0.700) |" in md
    assert "- jointimb: 1 of 2 seeds reach it (seed 0: 10, seed 1: -)" in md
    assert "| sfnn | 2.550 +- 0.071 (2.500 .. 2.600) | 1.350 +- 0.212 (1.200 .. 1.500) |" in md


@pytest.mark.parametrize("differences, word", [
    ([0.1, 0.2, 0.05], "not decided"),           # three seeds agree, t = 2.65 on 2 df
    ([0.30, 0.32, 0.31, 0.29, -0.01], "supported"),   # one of five disagrees, t = 3.83
    ([0.2, -0.05], "not decided"),               # t = 0.6 on 1 df
    ([-0.1, -0.3, -0.2, -0.25], "refuted"),      # the other way, t = -5.42 on 3 df
    ([0.3], "not tested"),                       # one seed
])
def test_a_claim_over_seeds_is_the_judges_paired_t_test(differences, word):
    """The one-sample t statistic of the per-seed differences, by hand, and its tail."""
    import re
    from scipy import stats
    got = infoplane_report.verdict(differences)
    assert got[0] == word
    if word == "not tested":
        assert "fewer than 2 seeds" in got[1]
        return
    d = np.asarray(differences)
    t = d.mean() / (d.std(ddof=1) / np.sqrt(d.size))
    p = stats.t.sf(abs(t), d.size - 1)            # the tail on the side the word names
    printed = float(re.search(r"p = ([0-9.e-]+)", got[1]).group(1))
    assert printed == pytest.approx(p, rel=5e-3)  # printed to 3 significant figures


def test_the_figure_shows_each_seed_faint_behind_the_mean():
    fig = infoplane_report.figure(infoplane_report.seed_mean(BY_SEED), ["sfnn", "jointimb"],
                                  100, by_seed=BY_SEED)
    faint = [line for ax in fig.axes for line in ax.lines if line.get_alpha() == 0.3]
    assert len(faint) == 2 * 2 * 2                  # models x layers x seeds
    alone = infoplane_report.figure(infoplane_report.seed_mean(BY_SEED), ["sfnn"], 100)
    assert not [line for ax in alone.axes for line in ax.lines if line.get_alpha() == 0.3]


@pytest.mark.parametrize("curve, compresses", [
    ({0: (1.0, 0), 10: (2.0, 0), 100: (1.985, 0)}, True),     # a fall of 0.015 bit
    ({0: (1.0, 0), 10: (2.0, 0), 100: (1.995, 0)}, False),    # 0.005: within noise
    ({0: (1.0, 0), 10: (2.0, 0), 50: (1.5, 0), 100: (1.9, 0)}, True),  # fell, partly back
    ({0: (2.0, 0), 10: (1.0, 0), 100: (0.5, 0)}, True),       # the peak is the start
    ({0: (1.0, 0), 10: (1.5, 0), 100: (2.0, 0)}, False),      # the peak is the end
])
def test_compression_is_a_fall_after_the_peak(curve, compresses):
    """The summary's compression test: I(Z_l;X) ends more than 0.01 bit below its peak,
    the peak before the last measurement; the peak, the final value and the fall are
    reported as measured."""
    c = infoplane_report.summarize({("sfnn", 1): curve}, ["sfnn"], 100)["compression"]["sfnn"][1]
    peak = max(curve, key=lambda e: curve[e][0])
    assert c["compresses"] is compresses
    assert (c["peak_epoch"], c["peak_I_X"], c["final_I_X"]) == (peak, curve[peak][0],
                                                                curve[100][0])
    assert c["drop"] == pytest.approx(curve[peak][0] - curve[100][0], abs=1e-12)


def test_short_run_writes_csv_png_and_summary(tmp_path, run_py):
    out = tmp_path / "ip"
    args = [sys.executable, run_py, "infoplane", "--epochs", "4", "--seeds",
            "2", "--points", "3", "--hidden", "5,4,3", "--output-dir", str(out), "--quiet"]
    res = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader(open(out / "infoplane.csv")))
    assert list(rows[0]) == ["model", "seed", "epoch", "layer", "I_X", "I_Y"]
    epochs = infoplane.measurement_epochs(4, 3)
    assert len(rows) == 3 * 2 * len(epochs) * 3           # models x seeds x epochs x layers
    for r in rows:
        assert r["model"] in ("sfnn", "jointimb", "greedyimb")
        assert 0.0 <= float(r["I_Y"]) <= 1.0 + 1e-9 and 0.0 <= float(r["I_X"]) <= 12.0
    png = (out / "infoplane.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10000
    import matplotlib.image
    assert matplotlib.image.imread(str(out / "infoplane.png")).shape[2] in (3, 4)
    summary = json.load(open(out / "summary.json"))
    assert set(summary["max_relevance"]) == {"sfnn", "jointimb", "greedyimb"}
    assert "jointimb" in summary["epochs_to_sfnn_final_relevance"]
    # The over-seed figures, recomputed here from the CSV by hand.
    last = {(r["model"], int(r["layer"]), int(r["seed"])): float(r["I_Y"])
            for r in rows if int(r["epoch"]) == 4}
    last_x = {(r["model"], int(r["layer"]), int(r["seed"])): float(r["I_X"])
              for r in rows if int(r["epoch"]) == 4}
    final = summary["over_seeds"]["final_relevance"]
    for (m, l, seed), value in last.items():
        assert final[m][str(l)]["per_seed"][str(seed)] == value
        assert summary["over_seeds"]["final_I_X"][m][str(l)]["per_seed"][str(seed)] == \
            last_x[(m, l, seed)]
        pair = [last[(m, l, 0)], last[(m, l, 1)]]
        assert final[m][str(l)]["mean"] == pytest.approx(sum(pair) / 2, abs=1e-12)
        assert final[m][str(l)]["std"] == pytest.approx(abs(pair[0] - pair[1]) / 2 ** 0.5,
                                                        abs=1e-12)
    assert "## Verdicts over seeds" in res.stdout
    assert "Highest relevance" in res.stdout and "infoplane.png" in res.stdout
    assert "models: sfnn, greedyimb, jointimb, network 12-5-4-3-2" in res.stdout
    # Rerunning into the same folder skips what is complete and changes nothing.
    again = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and list(csv.DictReader(open(out / "infoplane.csv"))) == rows


def test_interrupted_rows_are_dropped_before_resuming(tmp_path):
    path = tmp_path / "infoplane.csv"
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, infoplane.CSV_COLUMNS)
        w.writeheader()
        w.writerow(dict(model="sfnn", seed=0, epoch=0, layer=1, I_X=1, I_Y=0))
        w.writerow(dict(model="sfnn", seed=0, epoch=5, layer=1, I_X=1, I_Y=0))
        w.writerow(dict(model="jointimb", seed=0, epoch=0, layer=1, I_X=1, I_Y=0))
    done = infoplane.completed_runs(str(path), 5)
    assert done == {("sfnn", 0)}
    infoplane.drop_partial(str(path), done)
    assert [r["model"] for r in csv.DictReader(open(path))] == ["sfnn", "sfnn"]


def test_bad_models_flag(run_py):
    res = subprocess.run([sys.executable, run_py, "infoplane", "--models",
                          "sfnn,det"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "--models 'sfnn,det'" in res.stderr


def _rows(path):
    return sorted(tuple(r.values()) for r in csv.DictReader(open(path)))


def test_parallel_jobs_give_the_same_numbers(tmp_path, run_py):
    """Each (model, seed) is a pure function of its seed: two worker processes write
    exactly the rows one process does (in another order). A stale part file from an
    interrupted run is overwritten, and the parts folder is gone at the end."""
    base = [sys.executable, run_py, "infoplane", "--models", "sfnn,jointimb",
            "--epochs", "3", "--seeds", "2", "--points", "3", "--hidden", "5,4,3", "--quiet"]
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    (parallel / "parts").mkdir(parents=True)
    (parallel / "parts" / "sfnn-0.csv").write_text("sfnn,0,0,1,9.9,9.9\n")
    for out, jobs in ((serial, "1"), (parallel, "2")):
        res = subprocess.run(base + ["--jobs", jobs, "--output-dir", str(out)],
                             capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, res.stderr
    rows = _rows(serial / "infoplane.csv")
    assert len(rows) == 2 * 2 * 4 * 3 and _rows(parallel / "infoplane.csv") == rows
    errors = {k: v["test_error"] for k, v in json.load(open(serial / "runs.json")).items()}
    assert errors == {k: v["test_error"]
                      for k, v in json.load(open(parallel / "runs.json")).items()}
    assert not (parallel / "parts").exists()


def test_a_workers_error_reaches_the_parent(tmp_path):
    """A UserError raised inside a worker (here: an unknown optimiser) is raised in the
    parent, which then stops the pool."""
    from dataclasses import replace

    from imb_ref.training.settings import RunSettings
    from imb_ref.data import load_dataset
    cfg = RunSettings.of(hidden="3", samples=2, epochs=1, optimizer="nonsense")
    data = load_dataset("synthetic12", val_size=0)
    with pytest.raises(UserError, match="unknown optimizer 'nonsense'"):
        list(pool.run_in_workers(cfg, [("sfnn", 0), ("jointimb", 0)], data, 2,
                                 str(tmp_path), 2, PairProgress(["a", "b"], 1, True)))


@pytest.mark.parametrize("flags, message", [
    (["--jobs", "0"], "--jobs 0: must be at least 1"),
    (["--jobs", "2", "--backend", "cupy"], "with --backend cupy use --jobs 1"),
    (["--jobs", "2", "--model", "sfnn"], "--model is not a flag of `python run.py infoplane`"),
])
def test_bad_jobs_flag(run_py, flags, message):
    res = subprocess.run([sys.executable, run_py, "infoplane"] + flags,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and message in res.stderr and "Traceback" not in res.stderr


def test_ctrl_c_stops_every_worker_with_one_line(tmp_path, run_py):
    """Ctrl-C (SIGINT to the process group, as a terminal sends it) during a --jobs run:
    exit 130, one line on stderr naming how to continue, and no worker left running."""
    import os
    import signal
    import time
    out = tmp_path / "ip"
    proc = subprocess.Popen(
        [sys.executable, run_py, "infoplane", "--models", "sfnn,jointimb",
         "--epochs", "1000", "--seeds", "1", "--points", "3", "--hidden", "5,4,3",
         "--jobs", "2", "--quiet", "--output-dir", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while not ((out / "parts" / "jointimb-0.npz").exists() and
               (out / "parts" / "sfnn-0.npz").exists()) and time.time() < deadline:
        time.sleep(0.2)                      # both workers have a checkpoint
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err.count("\n") == 1 and \
        f"rerun the same python run.py infoplane command with --output-dir {out}" in err
    deadline = time.time() + 10              # stopped workers may linger as zombies
    while time.time() < deadline:            # until the system reaps them
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break                            # the group is empty: no worker survived
        time.sleep(0.2)
    else:
        pytest.fail("a worker is still running 10 s after Ctrl-C")


def _tiny_cfg(**kw):
    from dataclasses import replace

    from imb_ref.training.settings import RunSettings
    base = dict(hidden="5,4,3", samples=2, test_samples=2, epochs=2, batch_size=64,
                optimizer="adam", lr=0.003, quiet=True, dtype="float64")
    base.update(kw)
    return RunSettings.of(**base)


def _measure(cfg, data):
    import numpy as np
    rows = []
    res = infoplane.train_and_measure(cfg, infoplane.build("sfnn", cfg), data, np, 0,
                                      cfg.training.epochs, 3, rows.append)
    return rows, res


def test_a_task_file_is_measured_against_its_own_labels(tmp_path):
    """--data-file: every I(Z_l;Y) is computed against the file's labels. The fixture
    labels each pattern by the parity of its count, a task unlike the built-in rule: the
    measurement at epoch 0 equals one made by hand against the file's labels and
    differs from one against the built-in rule's."""
    import numpy as np
    from scipy.io import savemat

    from imb_ref.data import load_dataset
    from imb_ref.data import synthetic12 as s12
    x, y = s12.make_task()
    parity = (x.sum(axis=1) % 2).astype(np.int64)
    path = tmp_path / "var_u.mat"
    savemat(path, {"F": x, "y": parity[None, :]})
    cfg = _tiny_cfg(data_file=str(path))
    data = load_dataset("synthetic12", data_file=str(path))
    rows, _ = _measure(cfg, data)
    # The same network measured by hand against the file's labels and the rule's:
    from imb_ref.exact import information_plane
    from imb_ref.models.sbn import init_params
    params = init_params((12, 5, 4, 3, 2), np.random.default_rng(np.random.SeedSequence(0)))
    w = np.full(4096, 1 / 4096)
    by_file = information_plane(params, x, parity, w, n_classes=2)
    by_rule = information_plane(params, x, y, w, n_classes=2)
    first = [r for r in rows if r["epoch"] == 0]
    got = [float(r["I_Y"]) for r in first]
    np.testing.assert_allclose(got, [p[1] for p in by_file], atol=1e-10)
    assert max(abs(a - p[1]) for a, p in zip(got, by_rule)) > 1e-4


def test_exact_test_error_is_the_enumerated_prediction():
    """The reported exact error is argmax_y p(y|x) with p(y|x) summed over every state
    (imb_ref.exact.predictive_distribution), which a brute-force sum over the 2**n_L
    states of the last layer, weighted by their exact probabilities, reproduces."""
    import numpy as np

    from imb_ref.data import load_dataset
    from imb_ref.exact import binary_states, forward, predictive_distribution
    from imb_ref.models.sbn import init_params
    data = load_dataset("synthetic12")
    params = init_params((12, 5, 4, 3, 2), np.random.default_rng(3))
    params["b_3"] = np.array([0.3, -0.3])
    x = data.test.x[:50]
    P = forward(params, x)["P"][3]                         # p(z_3 | x), (50, 8)
    logits = binary_states(3) @ params["W_3"] + params["b_3"]
    soft = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(predictive_distribution(params, x), P @ soft, atol=1e-14)
    err = infoplane.exact_error(params, x, data.test.y[:50])
    assert err == np.mean((P @ soft).argmax(axis=1) != data.test.y[:50])


def test_runs_report_exact_and_sampled_test_errors():
    from imb_ref.data import load_dataset
    _, res = _measure(_tiny_cfg(), load_dataset("synthetic12"))
    assert 0 <= res["exact_test_error"] <= 1 and 0 <= res["test_error"] <= 1


@pytest.mark.slow
def test_exact_estimator_trains_on_the_exact_objective():
    """--estimator exact: one training step's gradient is exact_objective's on the
    batch (weights 1/B), and training on it lowers the exact loss."""
    import numpy as np

    from imb_ref.data import load_dataset
    from imb_ref.exact import exact_objective
    from imb_ref.training.run import build_model
    cfg = _tiny_cfg(estimator="exact", model="jointimb")
    model = build_model(cfg, 12, 2)
    params = model.init(np.random.default_rng(0), np.float64)
    data = load_dataset("synthetic12")
    x, y = data.train.x[:64], data.train.y[:64]
    out = model.loss_and_grads(params, x, y, None)
    ref = exact_objective(params, x, y, np.full(64, 1 / 64), model.gammas, model.betas)
    assert out["loss"] == ref["loss"]
    for k in ref["grads"]:
        np.testing.assert_array_equal(out["grads"][k], ref["grads"][k])
    f32 = model.loss_and_grads({k: v.astype(np.float32) for k, v in params.items()},
                               x.astype(np.float32), y, None)
    assert all(g.dtype == np.float32 for g in f32["grads"].values())
    from imb_ref.optim import make_optimizer
    opt = make_optimizer("adam", 0.01)
    w = np.full(len(data.train), 1 / len(data.train))
    before = exact_objective(params, data.train.x, data.train.y, w, model.gammas,
                             model.betas, grads=False)["loss"]
    for _ in range(30):
        opt.step(params, model.loss_and_grads(params, data.train.x, data.train.y, None)["grads"])
    after = exact_objective(params, data.train.x, data.train.y, w, model.gammas,
                            model.betas, grads=False)["loss"]
    assert after < before - 0.01


def test_exact_estimator_refusals(run_py):
    res = subprocess.run([sys.executable, run_py, "infoplane", "--estimator",
                          "exact", "--hidden", "20,20"], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "needs a 1,099,511,627,776-entry matrix" in res.stderr
    # On a GPU (any array module other than NumPy's) the enumeration is refused.
    import types

    from imb_ref.training import settings as config
    with pytest.raises(UserError, match="use --backend numpy, or --estimator raiko"):
        config.check_backend(config.RunSettings.from_flags({"backend": "cupy"}), types.ModuleType("cupy"))
    config.check_backend(config.RunSettings.from_flags({"backend": "cupy", "estimator": "raiko"}),
                         types.ModuleType("cupy"))


def test_figure_has_a_title_and_shared_axes():
    import matplotlib.pyplot as plt
    table = {(m, l): {0: (0.5 * l, 0.0), 10: (l + (m == "sfnn"), 0.3)}
             for m in ("sfnn", "jointimb") for l in (1, 2)}
    fig = infoplane_report.figure(table, ["sfnn", "jointimb"], 10, title="10 epochs, 1 seed, M = 4")
    a, b = fig.axes[:2]
    assert fig._suptitle.get_text() == "10 epochs, 1 seed, M = 4"
    assert a.get_xlim() == b.get_xlim() and a.get_ylim() == b.get_ylim()
    assert a.get_xlim()[1] >= 3.0                   # sfnn's layer 2 reaches I_X = 3
    # Epoch 0 is drawn hollow, apart from the epochs on the colour scale (it took epoch
    # 1's colour before): per layer one coloured collection without it, one hollow with it.
    coloured = [c for c in a.collections if c.get_array() is not None]
    hollow = [c for c in a.collections if c.get_array() is None]
    assert [len(c.get_offsets()) for c in coloured] == [1, 1]        # epoch 10 alone
    assert [tuple(c.get_offsets()[0]) for c in hollow] == [(0.5, 0.0), (1.0, 0.0)]
    assert all(len(c.get_facecolors()) == 0 or c.get_facecolors()[0][3] == 0 for c in hollow)
    plt.close(fig)


def test_the_figure_title_says_information_plane_the_task_and_the_seeds():
    from dataclasses import replace

    from imb_ref.training.settings import RunSettings
    cfg = RunSettings.from_flags({"dataset": "synthetic12"}).replace(epochs=300)
    assert infoplane.figure_title(cfg, 1) == ("Information plane, 12-bit task (icosahedral "
                                              "rule): 300 epochs, 1 seed, exact objective, "
                                              "adam lr 0.01, batch 64")
    cfg = cfg.replace(data_file="/data/var_u.mat")
    assert "12-bit task (var_u.mat): 300 epochs, mean of 5 seeds" in \
        infoplane.figure_title(cfg, 5)


@pytest.mark.slow
def test_an_interrupted_pair_continues_from_its_checkpoint(tmp_path, monkeypatch):
    """A pair stopped mid-run (here by Ctrl-C after epoch 7 of 12; checkpoints every 5
    epochs and at the measurements 0-6, 8, 10, 12) continues after its last checkpoint,
    epoch 6, when the experiment is rerun: the rows and results
    equal an uninterrupted run's exactly, the rows measured after the checkpoint are not
    duplicated, and parts/ is gone at the end."""
    import numpy as np

    from imb_ref.data import load_dataset
    monkeypatch.setattr(measure, "CHECKPOINT_EVERY", 5)
    data = load_dataset("synthetic12")
    cfg = _tiny_cfg(epochs=12)
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    infoplane.run_experiment(cfg, ["greedyimb"], [0], data, np, str(whole), 12, log=print)

    calls = {"n": 0}
    real = train_module.train_epoch

    def stop_after_seven(*args, **kw):
        calls["n"] += 1
        if calls["n"] == 8:
            raise KeyboardInterrupt
        return real(*args, **kw)
    monkeypatch.setattr(train_module, "train_epoch", stop_after_seven)
    with pytest.raises(KeyboardInterrupt):
        infoplane.run_experiment(cfg, ["greedyimb"], [0], data, np, str(broken), 12, log=print)
    part, ckpt = infoplane.pair_paths(str(broken), "greedyimb", 0)
    assert {int(r["epoch"]) for r in csv.DictReader(open(part), infoplane.CSV_COLUMNS)} \
        == {e for e in infoplane.measurement_epochs(12, 12) if e <= 7}
    monkeypatch.setattr(train_module, "train_epoch", real)
    calls["n"] = 0
    counted = []
    monkeypatch.setattr(train_module, "train_epoch",
                        lambda *a, **k: counted.append(a[5]) or real(*a, **k))
    infoplane.run_experiment(cfg, ["greedyimb"], [0], data, np, str(broken), 12, log=print)
    assert counted == list(range(7, 13))                 # epoch 7 trained again
    assert _rows(broken / "infoplane.csv") == _rows(whole / "infoplane.csv")
    assert json.load(open(broken / "runs.json"))["greedyimb/0"]["test_error"] == \
        json.load(open(whole / "runs.json"))["greedyimb/0"]["test_error"]
    assert not (broken / "parts").exists()


def test_a_checkpoint_with_other_settings_is_refused(tmp_path, monkeypatch):
    import numpy as np

    from imb_ref.data import load_dataset
    data = load_dataset("synthetic12")
    real = train_module.train_epoch

    def stop_at_three(*args, **kw):
        if args[5] == 3:                # the epoch
            raise KeyboardInterrupt
        return real(*args, **kw)
    monkeypatch.setattr(train_module, "train_epoch", stop_at_three)
    with pytest.raises(KeyboardInterrupt):
        infoplane.run_experiment(_tiny_cfg(epochs=4), ["sfnn"], [0], data, np,
                                 str(tmp_path), 4, log=print)
    assert os.path.exists(infoplane.pair_paths(str(tmp_path), "sfnn", 0)[1])
    with pytest.raises(UserError, match="trained with lr = 0.003, this run asks for 0.01"):
        infoplane.run_experiment(_tiny_cfg(epochs=4, lr=0.01), ["sfnn"], [0], data, np,
                                 str(tmp_path), 4, log=print)


def test_an_impossible_memory_limit_is_refused_before_any_folder(tmp_path, run_py):
    out = tmp_path / "ip"
    res = subprocess.run([sys.executable, run_py, "infoplane", "--epochs", "1",
                          "--max-memory", "1e-9", "--output-dir", str(out)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "raise --max-memory" in res.stderr
    assert not out.exists()


def test_a_run_in_progress_reports_its_whole_seeds(tmp_path, monkeypatch):
    """Pairs run seed by seed (every model of seed 0 before seed 1), and each seed that
    every model has complete rewrites the summary and the figure: stopped during seed 1,
    the folder holds seed 0's comparison, marked as in progress; the finished run's
    report covers both seeds and is no longer marked."""
    import numpy as np

    from imb_ref.data import load_dataset
    data = load_dataset("synthetic12")
    cfg = _tiny_cfg(epochs=2)
    order, real = [], pool.train_pair

    def stop_at_seed_one(cfg, name, seed, *args, **kw):
        order.append((name, seed))
        if seed == 1:
            raise KeyboardInterrupt
        return real(cfg, name, seed, *args, **kw)
    monkeypatch.setattr(pool, "train_pair", stop_at_seed_one)
    with pytest.raises(KeyboardInterrupt):
        infoplane.run_experiment(cfg, ["sfnn", "jointimb"], [0, 1], data, np,
                                 str(tmp_path), 2, log=print)
    assert order == [("sfnn", 0), ("jointimb", 0), ("sfnn", 1)]
    summary = json.load(open(tmp_path / "summary.json"))
    assert summary["in_progress"] == {"seeds_complete": [0], "seeds": [0, 1]}
    assert summary["over_seeds"]["seeds"] == [0]
    assert "**In progress**: seeds [0] of [0, 1]" in (tmp_path / "summary.md").read_text()
    assert (tmp_path / "infoplane.png").stat().st_size > 10000
    monkeypatch.setattr(pool, "train_pair", real)
    final = infoplane.run_experiment(cfg, ["sfnn", "jointimb"], [0, 1], data, np,
                                     str(tmp_path), 2, log=print)
    assert "in_progress" not in final and final["over_seeds"]["seeds"] == [0, 1]
    assert "In progress" not in (tmp_path / "summary.md").read_text()
