"""imb_ref's command line: parse (parsers.py), build the command's settings (each
class lives with its job and checks itself), dispatch. run.py at the repository's root,
and `python -m imb_ref` where the package is installed, call `main`; USAGE, which
`--help` prints, shows the commands.
"""

import os
import sys

USAGE = """imb_ref's command line: one command per job.

    python run.py                                  # the embedded demo (no download): a short
                                                   # information-plane run, a few minutes
    python run.py train --dataset mnist            # one model (default JointIMB)
    python run.py --backend cupy --dataset cifar10 # the same: `train` is the default command
    python run.py train --resume runs/mnist-...    # continue an interrupted run
    python run.py infoplane --preset paper         # Section 5.3 in full (20,000 epochs, 5 seeds)
    python run.py table1 --dataset mnist           # Table 1 (Section 5.1), the paper's protocol
    python run.py attack runs/mnist-jointimb-...   # Section 5.2: C&W L2 against a trained run
    python run.py golden case.npz                  # a reference case for cross-checks
    python run.py golden --check case.npz          # check a case another framework wrote
    python run.py bench                            # time the objective against PyTorch
    python run.py report                           # results/ and the claims, judged, from results/runs/

Each command has its own --help; a flag of another command is refused. Bad input ends
with one line on stderr and exit code 2."""

from . import backend
from .errors import UserError
from .experiments import infoplane
from .experiments.infoplane import InfoplaneSettings
from .parsers import COMMANDS, build_parsers, resume_line, train_line
from .training.commands import GoldenSettings, TrainSettings, golden_command, train_command
from .training.run import build_model
from .training.settings import check_backend, load

# Flags that were modes before the commands existed.
FORMER_MODES = {"--table1": "table1", "--export-golden": "golden", "--plan": "table1",
                "--checkpoint": "attack"}


def foreign_flag(command, extras, parsers):
    """The one-line refusal of arguments that `command` does not take."""
    token = extras[0]
    if not token.startswith("-"):
        return f"`python run.py {command}` takes no argument {token!r}"
    flag = token.split("=", 1)[0]
    if flag in FORMER_MODES:
        return (f"{flag}: that job is now its own command, `python run.py "
                f"{FORMER_MODES[flag]}` (see python run.py {FORMER_MODES[flag]} --help)")
    owners = [c for c, p in parsers.items() if flag in p._option_string_actions]
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
        print(USAGE + "\n\ncommands:\n" + "\n".join(
            f"  {c:10} {text}" for c, text in COMMANDS.items()))
        raise SystemExit(0)
    if argv[0] in COMMANDS:
        command, rest = argv[0], argv[1:]
    elif argv[0].startswith("-"):
        command, rest = "train", argv
    else:
        raise UserError(f"unknown command {argv[0]!r}: choose one of {', '.join(COMMANDS)} "
                        "(see python run.py --help)")
    if command == "bench":
        return command, {"argv": rest}
    parsers = build_parsers()
    namespace, extras = parsers[command].parse_known_args(rest)
    if extras:
        raise UserError(foreign_flag(command, extras, parsers))
    return command, vars(namespace)

def infoplane_command(settings):
    xp = backend.resolve(settings.run.backend)
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
    xp = None if settings.plan else backend.resolve(settings.base.backend)
    run_table1(settings, xp, lines=CommandLines(program()),
               command_line=" ".join(list(program()) + sys.argv[1:]))
    return 0


def attack_command(job):
    from imb_ref.experiments.attack.command import run_attack
    run_attack(job, backend.resolve(job.backend), build_model)
    return 0


def bench_command(argv):
    from imb_ref.experiments import bench
    return bench.main(argv, prog="python run.py bench")


def report_command(settings):
    from imb_ref.claims.command import report_command as run_report
    return run_report(settings)


def _report_settings(flags):
    from imb_ref.claims.command import ReportSettings
    return ReportSettings.from_flags(flags)


def _table1_settings(flags):
    from imb_ref.experiments.table1 import Table1Settings
    return Table1Settings.from_flags(flags)


def _attack_settings(flags):
    from imb_ref.experiments.attack.command import AttackCommand
    return AttackCommand.from_flags(flags)


# Each command: its settings from the parser's flags (checked there), and its job.
SETTINGS = {"train": TrainSettings.from_flags, "infoplane": InfoplaneSettings.from_flags,
            "table1": _table1_settings, "attack": _attack_settings,
            "golden": GoldenSettings.from_flags, "bench": lambda flags: flags["argv"],
            "report": _report_settings}
RUN = {"train": train_command, "infoplane": infoplane_command, "table1": table1_command,
       "attack": attack_command, "golden": golden_command, "bench": bench_command,
       "report": report_command}


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
    argv = sys.argv[1:] if argv is None else list(argv)
    command, flags = parse(argv)
    if command != "bench" and not flags.get("plan"):   # --plan's output is commands
        print(why(argv, command), flush=True)
    return RUN[command](SETTINGS[command](flags))


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
