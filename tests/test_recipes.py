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
    assert "test error " in printed and "test accuracy" not in printed


def test_a_dataset_row_says_how_its_figures_are_reported_and_if_table1_takes_it(
        tmp_path, capsys, monkeypatch):
    """What the code asks of a dataset, it asks its row: accuracy or error (the paper
    reports CIFAR10 as accuracy), and whether Table 1 runs on it; never its name."""
    from imb_ref.experiments.table1 import Table1Settings
    from imb_ref.errors import UserError
    toy = data.SOURCES["synthetic12"]
    monkeypatch.setitem(data.SOURCES, "toy", data.Source(toy.load, 2, 0, on_disk=False,
                                                         reported="accuracy", table1=True))
    _, printed = _train(tmp_path, capsys, ["--dataset", "toy", "--model", "det",
                                           "--estimator", "raiko"])
    assert "test accuracy " in printed and "(error " in printed
    assert Table1Settings.from_flags({"dataset": "toy", "hidden": "4,3"}).dataset == "toy"
    try:
        Table1Settings.from_flags({"dataset": "synthetic12"})
    except UserError as exc:
        assert "Table 1 is for mnist, fashion-mnist, cifar10, toy" in str(exc)
    else:
        raise AssertionError("synthetic12 is not a dataset of Table 1")


def test_add_an_estimator_is_one_surrogate(tmp_path, capsys, monkeypatch):
    """Recipe 3: an entry in imb_ref/nn/bernoulli.py's SURROGATES (here: the 'slope
    annealed' straight-through, dz/da = 1/2)."""
    monkeypatch.setitem(bernoulli.SURROGATES, "half", lambda dz_sum, p: 0.5 * dz_sum)
    summary, printed = _train(tmp_path, capsys, ["--model", "sfnn", "--estimator", "half"])
    assert "estimator half" in printed
