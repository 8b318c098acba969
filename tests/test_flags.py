"""A flag is declared once, on its settings field (imb_ref/flags.py): each command's
parser is generated from its settings class, and the parsed values are read back by the
same fields."""

from dataclasses import dataclass, fields

import pytest

from imb_ref import cli, flags
from imb_ref.errors import UserError
from imb_ref.flags import flag
from imb_ref.training.settings import GROUP, GROUPS, Network, RunSettings


def _declared(cls, command):
    """Every declared field `command` offers, nested classes included: (class, field)."""
    out = []
    for f in fields(cls):
        if flags.declared(f) and flags.offered(f, command):
            out.append((cls, f))
        inner = flags.nested(f)
        if inner is not None:
            out += _declared(inner, command)
    return out


@pytest.mark.parametrize("name", list(cli.COMMANDS))
def test_every_flag_of_every_command_is_one_declared_field(name):
    """The parser's arguments are exactly the declared fields: none written beside the
    settings class, none declared twice (argparse refuses a flag added twice)."""
    row = cli.COMMANDS[name]
    parser = row.parser()
    parsed = {a.dest for a in parser._actions if a.dest != "help"}
    declared = [flags.dest(f) for _, f in _declared(row.settings, name)]
    assert len(declared) == len(set(declared))
    assert parsed == set(declared)


def test_a_field_added_to_a_settings_class_is_a_flag_with_its_default_in_the_help():
    @dataclass(frozen=True)
    class Settings:
        run: RunSettings = None
        widgets: int = flag(7, "widgets per run", "experiment")
        label: str = flag(None, "the run's label", "output", default_text="none")

    p = flags.parser("infoplane", "a demo.", Settings)     # offers infoplane's run flags
    text = " ".join(p.format_help().split())
    assert "--widgets WIDGETS widgets per run (default 7)" in text
    assert "--label LABEL the run's label (default none)" in text
    assert "--seed SEED" in text and "--model" not in text
    given = vars(p.parse_args(["--widgets", "3", "--seed", "4"]))
    own = flags.take(Settings, given)
    assert own == {"widgets": 3} and given == {"seed": 4}     # the rest are run settings


def test_a_run_setting_is_offered_only_by_the_commands_its_declaration_names():
    train = cli.COMMANDS["train"].parser()._option_string_actions
    infoplane = cli.COMMANDS["infoplane"].parser()._option_string_actions
    model = Network.__dataclass_fields__["model"]
    assert model.metadata["commands"] == ("train",)
    assert "--model" in train and "--model" not in infoplane


def test_defaults_in_the_help_come_from_the_declarations():
    """Each "(default ...)" is read where the value is declared: the field, the
    datasets' defaults, the run presets, the information plane's own presets."""
    def help_of(command):
        return " ".join(cli.COMMANDS[command].parser().format_help().split())
    train, infoplane = help_of("train"), help_of("infoplane")
    from imb_ref.experiments.infoplane import InfoplaneSettings as I
    from imb_ref.training.settings import DATASET_DEFAULTS, PRESETS
    assert f"{flags.show(DATASET_DEFAULTS['synthetic12']['hidden'])} for synthetic12" in train
    assert "(default 512,512; 10,8,6,4 for synthetic12)" in train      # typed, shown as typed
    assert f"{PRESETS['authors']['*']['epochs']} with --preset authors" in train
    assert f"(default {I.EPOCHS}; {I.PRESETS['paper']['epochs']} with --preset paper)" \
        in infoplane
    assert f"(default 1; {I.PRESETS['paper']['seeds']} with --preset paper)" in infoplane
    assert "with --preset authors" not in infoplane      # its --preset is its own


def test_an_attack_option_without_the_attack_is_refused_by_table1():
    from imb_ref.experiments.table1 import Table1Settings
    with pytest.raises(UserError, match="--attack-n: an attack option; add --attack cw-l2"):
        Table1Settings.from_flags({"attack_n": 5})
    settings = Table1Settings.from_flags({"attack": "cw-l2", "attack_n": 5})
    assert settings.attack.n == 5


def test_the_inverse_of_a_generated_parser_round_trips():
    """flags.unparse is the parser's inverse (table1 --plan's lines rely on it)."""
    p = cli.COMMANDS["train"].parser()
    values = {"seed": 3, "hidden": (8, 4), "betas": (1e-4, 2.5e-7), "shuffle": False,
              "quiet": True, "lr": 0.5}
    assert vars(p.parse_args(flags.unparse(p, values))) == values


def test_where_a_computation_runs_is_declared_once_for_the_runs_and_the_attack():
    """--backend, --dtype, --data-dir and --quiet mean the same in `train` and `attack`:
    one declaration (settings.SHARED), each command with its own default."""
    from imb_ref.experiments.attack.command import AttackCommand
    from imb_ref.training.settings import SHARED
    for name, declaration in SHARED.items():
        for cls in (GROUPS[GROUP[name]], AttackCommand):
            f = cls.__dataclass_fields__[name]
            assert f.metadata["help"] == declaration["help"], (cls.__name__, name)
    assert AttackCommand.dtype == "float64" and RunSettings().training.dtype == "float32"


def test_a_range_is_declared_on_its_field_and_checked_in_one_line():
    """minimum/above/below/maximum on a field: check_ranges refuses a value outside, and
    a float that is not finite (a NaN passes every comparison), naming the flag."""
    @dataclass(frozen=True)
    class Settings:
        widgets: int = flag(7, "widgets", minimum=1, maximum=9)
        rate: float = flag(0.5, "a rate", above=0.0, below=1.0)
        spare: int = flag(0, "spares", minimum=0)

    flags.check_ranges(Settings())
    for settings, message in ((Settings(widgets=10), "--widgets 10: must be between 1 and 9"),
                              (Settings(rate=0.0), "--rate 0.0: must be a finite number "
                                                   "above 0"),
                              (Settings(rate=float("nan")), "--rate nan: must be a finite "
                                                            "number above 0"),
                              (Settings(rate=1.0), "--rate 1.0: must be below 1"),
                              (Settings(spare=-1), "--spare -1: must be 0 or more")):
        with pytest.raises(UserError) as err:
            flags.check_ranges(settings)
        assert str(err.value) == message
    # The run settings declare theirs: no list of names beside them.
    with pytest.raises(UserError, match="--momentum 1.0: must be below 1"):
        RunSettings.from_flags({"momentum": 1.0}).check()
