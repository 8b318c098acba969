"""The information-plane experiment: measurement schedule, data-processing checks,
the summary's arithmetic, and a short run's files."""

import csv
import json
import subprocess
import sys

import pytest

from imb_ref import infoplane
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
    s = infoplane.summarize(table, ["sfnn", "jointimb"], 100)
    assert s["epochs_to_sfnn_final_relevance"]["jointimb"] == {"epoch": 10, "fraction": 0.1}
    assert s["max_relevance"]["jointimb"] == {1: 0.7, 2: 0.6}
    assert s["compression"]["jointimb"][1]["compresses"] is True        # 2.0 -> 1.6
    assert s["compression"]["sfnn"][1]["compresses"] is False           # still rising


def test_short_run_writes_csv_png_and_summary(tmp_path, run_py):
    out = tmp_path / "ip"
    args = [sys.executable, run_py, "--dataset", "synthetic12", "--epochs", "4", "--seeds",
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
    assert "Highest relevance" in res.stdout and "infoplane.png" in res.stdout
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
    infoplane._drop_partial(str(path), done)
    assert [r["model"] for r in csv.DictReader(open(path))] == ["sfnn", "sfnn"]


def test_bad_models_flag(run_py):
    res = subprocess.run([sys.executable, run_py, "--dataset", "synthetic12", "--models",
                          "sfnn,det"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "--models 'sfnn,det'" in res.stderr


def _rows(path):
    return sorted(tuple(r.values()) for r in csv.DictReader(open(path)))


def test_parallel_jobs_give_the_same_numbers(tmp_path, run_py):
    """Each (model, seed) is a pure function of its seed: two worker processes write
    exactly the rows one process does (in another order). A stale part file from an
    interrupted run is overwritten, and the parts folder is gone at the end."""
    base = [sys.executable, run_py, "--dataset", "synthetic12", "--models", "sfnn,jointimb",
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

    from imb_ref.config import Config
    from imb_ref.data import load_dataset
    cfg = replace(Config(), hidden="3", samples=2, epochs=1, optimizer="nonsense")
    data = load_dataset("synthetic12", val_size=0)
    with pytest.raises(UserError, match="unknown optimizer 'nonsense'"):
        list(infoplane._run_in_workers(cfg, [("sfnn", 0), ("jointimb", 0)], data, 2,
                                       str(tmp_path), lambda row: None, 2))


@pytest.mark.parametrize("flags, message", [
    (["--jobs", "0"], "--jobs 0: must be at least 1"),
    (["--jobs", "2", "--backend", "cupy"], "with --backend cupy use --jobs 1"),
    (["--jobs", "2", "--model", "sfnn"], "--jobs trains the information-plane experiment"),
])
def test_bad_jobs_flag(run_py, flags, message):
    res = subprocess.run([sys.executable, run_py, "--dataset", "synthetic12"] + flags,
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
        [sys.executable, run_py, "--dataset", "synthetic12", "--models", "sfnn,jointimb",
         "--epochs", "1000", "--seeds", "1", "--points", "3", "--hidden", "5,4,3",
         "--jobs", "2", "--quiet", "--output-dir", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while not (out / "parts" / "jointimb-0.csv").exists() and time.time() < deadline:
        time.sleep(0.2)                      # both workers are training
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err.count("\n") == 1 and f"rerun with --output-dir {out}" in err
    deadline = time.time() + 10              # stopped workers may linger as zombies
    while time.time() < deadline:            # until the system reaps them
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break                            # the group is empty: no worker survived
        time.sleep(0.2)
    else:
        pytest.fail("a worker is still running 10 s after Ctrl-C")
