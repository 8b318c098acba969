"""`python run.py report`: the reports of results/ from the committed run summaries.

    python run.py report                          # regenerate results/*.md, claims.md/json, README's block
    python run.py report --check                  # exit 1 naming each generated file that is stale
    python run.py report --add NAME RUN [RUN ...] # results/runs/NAME.json from finished train folders, then regenerate
"""

import json
import os
from dataclasses import dataclass, replace

from ..errors import UserError
from ..files import atomic_write
from ..flags import flag, take
from . import report


@dataclass(frozen=True)
class ReportSettings:
    folders: tuple = flag((), "with --add: finished train run folders, one per (model, "
                          "seed)", name="RUN", nargs="*")
    add: str = flag(None, "write results/runs/NAME.json from the run folders named "
                    "(numbers from the folders; a title, notes and differences already in "
                    "NAME.json are kept), then regenerate", metavar="NAME")
    title: str = flag(None, "with --add: the summary's title")
    check: bool = flag(False, "write nothing: exit 1 naming each report that differs from "
                       "what the summaries give, 0 if none does", action="store_true")
    results: str = flag("results", "the reports' folder, whose runs/ holds the summaries")
    readme: str = flag("README.md", "the README whose claims block is rewritten; none to "
                       "leave it")

    @classmethod
    def from_flags(cls, flags):
        own = take(cls, dict(flags))
        settings = cls(**{**own, "folders": tuple(own.get("folders", ()))})
        add, folders = settings.add, settings.folders
        if add is None and folders:
            raise UserError("report: run folders are read only with --add NAME")
        if add is not None and not folders:
            raise UserError(f"report --add {add}: name the finished run folders to gather")
        if add is not None and (not add or "/" in add or add.startswith(".")):
            raise UserError(f"report --add {add!r}: a summary's name is a plain file name, "
                            f"e.g. mnist-authors-5seeds")
        if add is None and settings.title is not None:
            raise UserError("report: --title names the summary that --add NAME writes; "
                            "give it with --add")
        if add is not None and settings.check:
            raise UserError("report: --check reads the committed summaries; give it "
                            "without --add")
        if settings.readme in ("", "none"):
            settings = replace(settings, readme=None)
        return settings


def add_summary(settings):
    from ..training.commands import train_line
    from .gather import from_infoplane_folder, from_train_folders
    path = os.path.join(settings.results, "runs", settings.add + ".json")
    previous = None
    if os.path.isfile(path):
        with open(path) as fh:
            previous = json.load(fh)
    plane = [f for f in settings.folders if os.path.isfile(os.path.join(f, "infoplane.csv"))]
    if plane and len(settings.folders) > 1:
        raise UserError(f"report --add {settings.add}: an information-plane folder is "
                        f"gathered alone ({plane[0]})")
    if plane:
        summary = from_infoplane_folder(settings.add, plane[0], previous, settings.title)
    else:
        summary = from_train_folders(settings.add, settings.folders, train_line, previous,
                                     settings.title)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with atomic_write(path) as fh:
        fh.write(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {path}: {', '.join(summary['models'])}, seeds {summary['this_run']['seeds']}")


def stale(settings):
    """The generated files that differ from what the summaries give."""
    files, block = report.render(report.load_runs(os.path.join(settings.results, "runs")))
    out = []
    for rel, text in files.items():
        path = os.path.join(settings.results, rel)
        if not os.path.isfile(path) or open(path).read() != text:
            out.append(path)
    if settings.readme:
        with open(settings.readme) as fh:
            text = fh.read()
        if report.splice(text, block) != text:
            out.append(settings.readme)
    return out


def report_command(settings):
    if not os.path.isdir(settings.results):
        raise UserError(f"--results {settings.results}: no such folder (the reports' "
                        f"folder, whose runs/ holds the committed summaries)")
    if settings.readme and not os.path.isfile(settings.readme):
        raise UserError(f"--readme {settings.readme}: no such file (--readme none to leave "
                        f"the README alone)")
    if settings.readme:
        with open(settings.readme) as fh:
            report.splice(fh.read(), "")       # refuses a README without the block
    if settings.check:
        old = stale(settings)
        for path in old:
            print(f"stale: {path} (regenerate with python run.py report)")
        if not old:
            print(f"every report in {settings.results} is what its summaries give")
        return 1 if old else 0
    if settings.add:
        add_summary(settings)
    written = report.write(settings.results, settings.readme)
    print(f"wrote {len(written)} files: {settings.results}/*.md, claims.md, claims.json"
          + (f" and {settings.readme}'s claims block" if settings.readme else ""))
    return 0
