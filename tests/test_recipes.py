"""README's three "How to add" recipes, each followed in a test alone: a sixth model, a
fifth dataset and a fourth sampled estimator, registered here and nowhere else, train
through `python run.py train`. If one of them needs another file, its test fails."""

import json

import numpy as np

from imb_ref import cli as run_module
from imb_ref import data
from imb_ref.models import KINDS, Kind
from imb_ref.models.families import BINARY
from imb_ref.nn import bernoulli

TINY = ["--hidden", "4,3", "--samples", "2", "--epochs", "2", "--test-runs", "1", "--quiet"]


def _train(tmp_path, capsys, argv):
    out = tmp_path / "run"
    assert run_module.main(["train"] + argv + TINY + ["--output-dir", str(out)]) == 0, \
        capsys.readouterr().err
    summary = json.load(open(out / "summary.json"))
    assert summary["epochs_trained"] == 2 and 0 <= summary["test_error_mean"] <= 1
    return summary, capsys.readouterr().out


def test_add_a_model_is_one_row(tmp_path, capsys, monkeypatch):
    """Recipe 1: a row in imb_ref/models/__init__.py (here: JointIMB's objective without
    the KL terms, a 'VCR-only' model on the binary network). The row is added before
    anything reads the rows; it trains with `train`, and since it names no experiment,
    Table 1's plan and the information plane's defaults are the five models' as before."""
    from imb_ref.experiments.infoplane import InfoplaneSettings
    before_plan = _plan(tmp_path / "before", capsys)
    monkeypatch.setitem(KINDS, "vcronly", Kind("vcronly", "VCR-only", BINARY, tree=True,
                                               stochastic=True, imb=True))
    summary, printed = _train(tmp_path, capsys, ["--model", "vcronly", "--betas", "0",
                                                 "--estimator", "raiko"])
    assert summary["model"] == "vcronly" and "model: vcronly, network 12-4-3-2" in printed
    after_plan = _plan(tmp_path / "before", capsys)
    assert after_plan == before_plan and "vcronly" not in after_plan
    assert InfoplaneSettings.from_flags({}).model_list() == ["sfnn", "greedyimb", "jointimb"]
    # Asked for by name, the information plane measures it like any tree model.
    chosen = InfoplaneSettings.from_flags({"models": "sfnn,vcronly"}).model_list()
    assert chosen == ["sfnn", "vcronly"]


def _plan(out, capsys):
    """table1 --plan's lines for a tiny MNIST-shaped table (the folder need not exist)."""
    argv = ["table1", "--plan", "--hidden", "3", "--samples", "2", "--epochs", "1",
            "--seeds", "1", "--beta-grid", "1e-4", "--output-dir", str(out)]
    capsys.readouterr()
    assert run_module.main(argv) == 0
    return capsys.readouterr().out


def test_add_a_dataset_is_one_entry(tmp_path, capsys, monkeypatch):
    """Recipe 2: an entry in imb_ref/data/__init__.py's SOURCES with its loader (here: a
    three-class task made in code)."""
    def xor3(root, options):
        rng = np.random.default_rng(0)
        x = rng.random((300, 6))
        y = (x[:, 0] > 0.5).astype(int) + (x[:, 1] > 0.5)
        return x[:240], y[:240], x[240:], y[240:]
    monkeypatch.setitem(data.SOURCES, "xor3", data.Source(xor3, 3, 40, on_disk=False))
    summary, printed = _train(tmp_path, capsys, ["--dataset", "xor3", "--model", "det"])
    assert summary["dataset"] == "xor3"
    assert "xor3: 200 train / 40 val / 60 test, 6 features, 3 classes" in printed


def test_add_an_estimator_is_one_surrogate(tmp_path, capsys, monkeypatch):
    """Recipe 3: an entry in imb_ref/nn/bernoulli.py's SURROGATES (here: the 'slope
    annealed' straight-through, dz/da = 1/2)."""
    monkeypatch.setitem(bernoulli.SURROGATES, "half", lambda dz_sum, p: 0.5 * dz_sum)
    summary, printed = _train(tmp_path, capsys, ["--model", "sfnn", "--estimator", "half"])
    assert "estimator half" in printed
