"""Settings: one class per command, a run's identity is RunSettings equality, --plan's
lines are the train parser's inverse, and run folders written before RunSettings existed
(config.json holding the old flat Config's 40 fields, information-plane parts holding
only the settings that change a trajectory) still resume and are still reused."""

import json
import shlex
from dataclasses import asdict, fields, replace

import numpy as np
import pytest

from imb_ref import cli
from imb_ref.flags import unparse
from imb_ref.training.commands import train_line
from imb_ref.errors import UserError
from imb_ref.experiments import infoplane
from imb_ref.models import KINDS
from imb_ref.experiments.table1 import (Table1Settings, check_reuse, retraining_runs,
                                        selection_runs)
from imb_ref.training import checkpoint
from imb_ref.training.commands import TrainSettings
from imb_ref.training.settings import RunSettings, Where
from test_train import small_synthetic

# config.json as the flat Config wrote it until 2026-12-05: a selection run of README's
# CIFAR10 table (`table1 --dataset cifar10 --data-dir /work/shared/data --samples 8
# --test-samples 8 --epochs 30 --patience 5 --beta-grid 1e-4 --seeds 2 --quiet
# --output-dir /root/imb_runs/t1-cifar30`), the information plane's and the table's
# fields beside the run's.
OLD_CONFIG = {
    "dataset": "cifar10", "data_dir": "/work/shared/data", "data_file": None,
    "val_size": None, "limit_train": None, "limit_val": None, "limit_test": None,
    "cifar_train_batches": 5, "backend": "numpy", "dtype": "float32", "seed": 0,
    "seeds": 1, "models": "sfnn,greedyimb,jointimb", "points": 30, "jobs": 1, "model":
    "vib", "hidden": "512,512", "samples": 8, "test_samples": 8, "test_runs": 10,
    "gammas": "1", "betas": "1e-4", "estimator": "raiko", "vib_k": 256, "vib_beta":
    0.0001, "vib_samples": 32, "vib_test_samples": 12, "optimizer": "adam", "lr": 0.001,
    "momentum": 0.9, "clip": 0.0, "batch_size": 100, "shuffle": True, "epochs": 30,
    "stage_epochs": None, "patience": 5, "max_memory": 2.0, "fused": None, "preset":
    "paper", "output_dir": "/root/imb_runs/t1-cifar30/runs/vib-select-beta0.0001",
    "quiet": True}


def test_identity_is_equality_and_where_a_run_is_computed_is_not_part_of_it():
    a = RunSettings.from_flags({"dataset": "mnist", "hidden": "6"})
    b = a.replace(data_dir="/elsewhere", backend="cupy", max_memory=9.0, fused=False,
                  quiet=True)
    assert a == b and a.differences(b) == []
    assert a != a.replace(lr=0.5)
    assert a.differences(a.replace(lr=0.5, seed=3)) == [("seed", 0, 3), ("lr", None, 0.5)]
    # Exactly the `where` group, its five fields, stays out of the comparison.
    assert [f.name for f in fields(RunSettings) if not f.compare] == ["where"]
    assert sorted(f.name for f in fields(Where)) == \
        ["backend", "data_dir", "fused", "max_memory", "quiet"]


def test_a_resumed_run_takes_only_where_and_epochs_from_the_flags():
    saved = RunSettings.from_flags({"dataset": "mnist", "hidden": "6", "epochs": 3})
    again = saved.resumed_with({"epochs": 9, "backend": "cupy", "quiet": True}, "DIR")
    assert (again.training.epochs, again.where.backend, again.where.quiet,
            again.network.hidden) == (9, "cupy", True, (6,))
    assert saved.resumed_with({"hidden": "6"}, "DIR") == saved       # the same value: fine
    with pytest.raises(UserError, match="--lr 0.5: DIR was made with lr = None"):
        saved.resumed_with({"lr": 0.5}, "DIR")
    with pytest.raises(UserError, match="--preset paper"):
        saved.resumed_with({"preset": "paper"}, "DIR")


def test_an_old_config_json_reads_as_the_run_it_describes():
    old = RunSettings.from_dict(OLD_CONFIG)
    assert (old.network.model, old.network.hidden, old.network.vib_samples,
            old.training.preset, old.where.data_dir) == \
        ("vib", (512, 512), 32, "paper", "/work/shared/data")
    # Its table's command, parsed today, makes the same run: reused, not refused.
    command, flags = cli.parse(
        "table1 --dataset cifar10 --data-dir /work/shared/data --samples 8 --test-samples 8 "
        "--epochs 30 --patience 5 --beta-grid 1e-4 --seeds 2 --quiet --output-dir "
        "/root/imb_runs/t1-cifar30".split())
    table = Table1Settings.from_flags(flags)
    _, today, _ = [r for r in selection_runs(table, "vib", "out") if r[0] == 1e-4][0]
    assert today == old


def test_table1_refuses_a_folder_of_another_run_naming_the_setting(tmp_path):
    folder = tmp_path / "vib-select-beta0.0001"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(dict(OLD_CONFIG, samples=4)))
    cfg = RunSettings.from_dict(OLD_CONFIG)
    with pytest.raises(UserError, match="made with samples = 4 but this table asks for 8"):
        check_reuse(cfg, str(folder))
    (folder / "config.json").write_text(json.dumps(dict(OLD_CONFIG, backend="cupy",
                                                        data_dir="/x", seeds=5)))
    check_reuse(cfg, str(folder))             # where it ran, and the table's seeds: reused


def _planned_runs():
    """Every run a small table plans: the selection runs and, for an assumed choice,
    the retraining runs (booleans and None values included)."""
    table = Table1Settings.from_flags({
        "dataset": "fashion-mnist", "val_size": 40, "hidden": "6,5", "samples": 2,
        "epochs": 4, "seeds": 2, "beta_grid": "1e-3,1e-4", "test_runs": 1,
        "vib_k": 3, "shuffle": False, "lr": 0.125, "clip": 2.5, "quiet": True,
        "data_dir": "some dir/with space"})
    runs = []
    for name, _ in table.rows:
        runs += [(cfg, folder) for _, cfg, folder in selection_runs(table, name, "out")]
        runs += [(cfg, folder) for _, cfg, folder in
                 retraining_runs(table, name, 1e-4 if KINDS[name].grid else None,
                                 {"epochs": 3, "stage_epochs": 2}, "out")]
    return runs


def test_every_planned_line_parses_back_to_its_settings():
    """--plan writes each run as a train command through the parser's inverse
    (flags.unparse); parsed again, the line gives the same settings, field for field
    (the `where` fields too, not only the run's identity)."""
    runs = _planned_runs()
    assert len(runs) == 2 + 3 * 2 + 5 * 2
    for cfg, folder in runs:
        line = train_line(cfg, folder)
        argv = shlex.split(line)[2:]              # after `python run.py`
        command, flags = cli.parse(argv)
        settings = TrainSettings.from_flags(flags)
        assert command == "train" and settings.output_dir == folder
        assert asdict(settings.run) == asdict(cfg), line


def test_the_inverse_refuses_a_setting_the_parser_has_no_flag_for():
    with pytest.raises(ValueError, match="no flag for \\['points'\\]"):
        unparse(cli.COMMANDS["train"].parser(), {"epochs": 3, "points": 30})
