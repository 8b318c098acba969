"""imb_ref's command line: one table of commands (COMMANDS: name, help, settings class,
what runs it); a command's parser is generated from its settings class's declared
fields (flags.py), its settings built and checked by that class, then it runs. run.py at
the repository's root, and `python -m imb_ref` where the package is installed, call
`main`; usage(), which `--help` prints, shows the commands.
"""

import os
import sys

USAGE = """imb_ref's command line: one command per job.

    python run.py                                  # the embedded demo (no download): a short
                                                   # information-plane run, a few minutes
    python run.py train --dataset mnist            # one model (default {model})
    python run.py --backend cupy --dataset cifar10 # the same: `train` is the default command
    python run.py train --resume runs/mnist-...    # continue an interrupted run
    python run.py infoplane --preset paper         # Section 5.3 in full ({paper})
    python run.py table1 --dataset mnist           # Table 1 (Section 5.1), the paper's protocol
    python run.py attack runs/mnist-jointimb-...   # Section 5.2: C&W L2 against a trained run
    python run.py golden case.npz                  # a reference case for cross-checks
    python run.py golden --check case.npz          # check a case another framework wrote
    python run.py bench                            # time the objective against PyTorch
    python run.py report                           # results/ and the claims, judged, from results/runs/

Each command has its own --help; a flag of another command is refused. Bad input ends
with one line on stderr and exit code 2."""

from dataclasses import dataclass
from typing import Callable

from . import backend, flags
from .claims.command import ReportSettings
from .errors import UserError
from .experiments import bench, infoplane
from .experiments.attack.command import AttackCommand
from .experiments.infoplane import InfoplaneSettings
from .experiments.table1 import Table1Settings
from .training.commands import (GoldenSettings, TrainSettings, golden_command, resume_line,
                                train_command, train_line)
from .training.run import build_model
from .models import KINDS
from .training.settings import Network, check_backend, load

# Flags that were modes before the commands existed.
FORMER_MODES = {"--table1": "table1", "--export-golden": "golden", "--plan": "table1",
                "--checkpoint": "attack"}


def infoplane_command(settings):
    xp = backend.resolve(settings.run.where.backend)
    check_backend(settings.run, xp)
    return infoplane.command(settings, xp, load(settings.run))


class CommandLines:
    """The command lines table1 --plan prints, for the program the user ran."""

    def __init__(self, program):
        self.program = program

    def train(self, cfg, folder):
        return train_line(cfg, folder, self.program)

    def resume(self, folder):
        return resume_line(folder, self.program)


def program():
    """How the user ran the command line, as the commands a run prints or records
    should: `python path/to/run.py`, the installed console command `imb-ref`, or
    `python -m imb_ref`; `python run.py` where it cannot tell."""
    first = sys.argv[0] if sys.argv else ""
    if first.endswith("run.py"):
        return ("python", first)
    if os.path.basename(first) == "imb-ref":
        return ("imb-ref",)
    if first.endswith(os.path.join("imb_ref", "__main__.py")):
        return ("python", "-m", "imb_ref")
    return ("python", "run.py")


def table1_command(settings):
    from imb_ref.experiments.table1 import run_table1
    # Planning trains nothing: the backend is resolved where the commands run.
    xp = None if settings.plan else backend.resolve(settings.base.where.backend)
    run_table1(settings, xp, lines=CommandLines(program()),
               command_line=" ".join(list(program()) + sys.argv[1:]))
    return 0


def attack_command(job):
    from imb_ref.experiments.attack.command import run_attack
    run_attack(job, backend.resolve(job.backend), build_model)
    return 0


def report_command(settings):
    from imb_ref.claims.command import report_command as run_report
    return run_report(settings)


@dataclass(frozen=True)
class Command:
    """One command: its name, what it does (the first line of its --help), its settings
    class (whose declared fields are its flags, and whose from_flags builds and checks
    the settings from them), the function that runs it, and more about it for its
    --help where one line is not enough."""
    name: str
    help: str
    settings: type
    run: Callable
    about: str = None

    def parser(self):
        return flags.parser(self.name, self.help + ".", self.settings, epilog=self.about)


COMMANDS = {c.name: c for c in (
    Command("train", "train and evaluate one model: DET, VIB, SFNN, GreedyIMB or JointIMB",
            TrainSettings, train_command),
    Command("infoplane", "Section 5.3: SFNN, JointIMB and GreedyIMB on the 12-bit task, the "
            "exact information plane during training", InfoplaneSettings, infoplane_command),
    Command("table1", "Table 1 (Section 5.1, Appendix D): the five models with the paper's "
            "selection and retraining protocol, optionally with the robustness columns",
            Table1Settings, table1_command),
    Command("attack", "Section 5.2: Carlini-Wagner L2 against a trained run", AttackCommand,
            attack_command),
    Command("golden", "write one float64 reference case of the objective for cross-checks, "
            "or check a case another framework wrote (--check)", GoldenSettings,
            golden_command),
    Command("bench", bench.HELP, bench.BenchSettings, bench.run, about=bench.__doc__),
    Command("report", "the reports of results/ and the claims ledger, judged, from the "
            "committed run summaries (results/runs/); --add gathers finished run folders "
            "into one", ReportSettings, report_command),
)}


def usage():
    """USAGE with the values it names read where they are declared: train's default
    model, the information plane's paper preset."""
    paper = InfoplaneSettings.PRESETS["paper"]
    return USAGE.format(model=KINDS[Network.model].label,
                        paper=f"{paper['epochs']:,} epochs, {paper['seeds']} seeds")


def foreign_flag(command, extras):
    """The one-line refusal of arguments that `command` does not take."""
    token = extras[0]
    if not token.startswith("-"):
        return f"`python run.py {command}` takes no argument {token!r}"
    flag = token.split("=", 1)[0]
    if flag in FORMER_MODES:
        return (f"{flag}: that job is now its own command, `python run.py "
                f"{FORMER_MODES[flag]}` (see python run.py {FORMER_MODES[flag]} --help)")
    owners = [name for name, c in COMMANDS.items()
              if flag in c.parser()._option_string_actions]
    if owners:
        return (f"{flag} is not a flag of `python run.py {command}`; it belongs to "
                f"{', '.join('`' + c + '`' for c in owners)} "
                f"(see python run.py {command} --help)")
    return f"unrecognized argument {flag} (see python run.py {command} --help)"


def parse(argv):
    """(command, {flag: value} of the flags given). No arguments: the embedded demo;
    flags without a command: `train`."""
    argv = list(argv)
    if not argv:
        return "infoplane", {}
    if argv[0] in ("-h", "--help"):
        print(usage() + "\n\ncommands:\n" + "\n".join(
            f"  {name:10} {c.help}" for name, c in COMMANDS.items()))
        raise SystemExit(0)
    if argv[0] in COMMANDS:
        command, rest = argv[0], argv[1:]
    elif argv[0].startswith("-"):
        command, rest = "train", argv
    else:
        raise UserError(f"unknown command {argv[0]!r}: choose one of {', '.join(COMMANDS)} "
                        "(see python run.py --help)")
    namespace, extras = COMMANDS[command].parser().parse_known_args(rest)
    if extras:
        raise UserError(foreign_flag(command, extras))
    return command, vars(namespace)


def why(argv, command):
    """The first line of output: the command that runs, and why it is that one."""
    if not argv:
        reason = ("no command given: the embedded demo, a short information-plane run; "
                  "python run.py --help lists the commands")
    elif argv[0] != command:
        reason = ("flags without a command run `train`, the default; python run.py alone "
                  "runs the information-plane demo")
    else:
        reason = "named on the command line"
    return f"command: {command} ({reason})"


def run(argv=None):
    """Parse, build the command's settings (every flag checked), say which command runs
    and why (unless its output is meant for a program: bench's table, --plan's lines),
    and run it."""
    argv = sys.argv[1:] if argv is None else list(argv)
    command, given = parse(argv)
    row = COMMANDS[command]
    settings = row.settings.from_flags(given)
    if getattr(settings, "announce", True):
        print(why(argv, command), flush=True)
    return row.run(settings)


def main(argv=None):
    try:
        return run(argv)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`python run.py | head`): no traceback, and nothing more
        # written to the closed pipe (Python would complain once more at exit).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141                             # 128 + SIGPIPE, as a shell reports it
    except KeyboardInterrupt:             # the commands that make folders say more
        print("interrupted before any run folder was made: nothing to resume",
              file=sys.stderr)
        return 130
