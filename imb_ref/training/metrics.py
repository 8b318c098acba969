"""A run folder's metrics.jsonl: one JSON object per finished epoch, appended as the
run goes ({"epoch": 3, "train_loss": ..., "val_error": ..., "time_s": ...}).

A crash while a line is being written leaves its last line cut short: that line is
dropped with a warning (the checkpoint, not the log, says where a run stands, and a
resume drops the lines after the checkpoint anyway). Any other unreadable line means
the file was damaged or edited, and is refused in one line naming the file and line.
"""

import json
import sys

from ..errors import UserError


def read_metrics(path, warn=None):
    """[dict] of the epochs in `path` ([] if there is no file). `warn(message)` is
    told about a dropped last line."""
    try:
        with open(path) as fh:
            text = fh.read()
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot be read ({exc}); delete the run folder to start "
                        f"again") from None
    lines = text.split("\n")
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        last = number == len(lines)               # no newline after it: being written
        try:
            record = json.loads(line)
            if not isinstance(record, dict) or type(record.get("epoch")) is not int \
                    or record["epoch"] < 1:
                raise ValueError("no positive integer 'epoch'")
        except ValueError as exc:
            if last:
                if warn is not None:
                    warn(f"warning: {path}: its last line was cut short (a crash while "
                         f"writing it) and is dropped; the checkpoint's epochs are kept")
                break
            raise UserError(f"{path}: line {number} is not a metrics record ({exc}); the "
                            f"file is damaged: repair or delete that line, or start the run "
                            f"again in a new --output-dir") from None
        records.append(record)
    return records


def check_metrics(path):
    """Before a run folder is resumed or anything in it is rewritten: refuse a damaged
    metrics.jsonl, and warn about a last line cut short."""
    read_metrics(path, warn=lambda message: print(message, file=sys.stderr))
