"""A flag is declared once, on the settings field it sets.

    seeds: int = flag(1, "initialisations seed, seed+1, ...", "experiment")

says the field's default, its help and its group in `--help`; `parser()` builds a
command's argparse parser from its settings class by walking the fields, and a field
whose type is another settings class (`run: RunSettings`, `attack: AttackSettings`)
brings that class's flags too. `from_flags` reads the parsed values back by the same
fields (`take`), so no list of flag names is written beside a class. The help's
"(default ...)" is read from the declaration: the field's default, else its
`default_text`, and for a run setting what the datasets and presets set it to
(training/settings.py adds those through `default_note`).
"""

import argparse
import math
from dataclasses import field, fields, is_dataclass
from decimal import Decimal

from .errors import ArgumentParser, UserError

# Groups appear in --help in this order (a group not listed comes after, as met).
GROUP_ORDER = ("experiment", "Table 1", "attack", "data", "model", "training", "backend",
               "output")


def number(value):
    """A number as a flag writes it: an int as is, a float by its shortest text that
    reads back to the same float (repr), small ones in scientific notation (1e-4)."""
    if isinstance(value, bool) or not isinstance(value, float):
        return str(value)
    text = repr(value)
    if text.endswith(".0"):
        return text[:-2]
    if value != 0 and (abs(value) < 1e-3 or "e" in text):
        return format(Decimal(text), "e").replace("e-0", "e-").replace("e+0", "e+")
    return text


def show(value):
    """A setting's value as its flag takes it: a tuple as a comma list."""
    if isinstance(value, tuple):
        return ",".join(number(v) for v in value)
    return number(value)


def quoted(value):
    """A value in a message: text and lists quoted as the flag takes them ('8,4',
    'adam'), numbers and None bare."""
    return repr(show(value)) if isinstance(value, (str, tuple)) else show(value)


def flag(default=None, help="", group=None, *, name=None, short=None, choices=None,
         action=None, default_text=None, metavar=None, nargs=None, commands=None,
         parse=None, minimum=None, above=None, below=None, maximum=None):
    """A settings field and its flag. name: the flag when it is not --<field-name>
    (e.g. --attack-n for AttackSettings.n), or the metavar of a positional argument
    (name without dashes); choices: a tuple, or a function read when the parser is
    built (a model row added later is offered); action: "store_true" or "boolean"
    (--x / --no-x); help and default_text: a text, or a function read when the parser is
    built; commands: the commands that offer it (None: every command whose settings hold
    the field); parse: parse(text, flag) -> the typed value (a comma list into a tuple),
    the flag's type; minimum, above, below, maximum: the range of a number (checked by
    check_ranges; a float must also be finite)."""
    return field(default=default, metadata={
        "help": help, "group": group, "name": name, "short": short, "choices": choices,
        "action": action, "default_text": default_text, "metavar": metavar,
        "nargs": nargs, "commands": commands, "parse": parse,
        "range": {k: v for k, v in (("minimum", minimum), ("above", above), ("below", below),
                                    ("maximum", maximum)) if v is not None}})


def typed(settings):
    """Typed at the edge, for a settings class's __post_init__: each field with a parse
    given as text (a flag, a preset) or as a JSON list (a config.json, a checkpoint)
    becomes its typed value here, once."""
    for f in fields(settings):
        value, parse = getattr(settings, f.name), f.metadata.get("parse")
        if parse is not None and isinstance(value, (str, list)):
            object.__setattr__(settings, f.name, parse(value, option(f)))


def out_of_range(value, bounds, integer):
    """Why `value` is outside `bounds` (flag()'s minimum, above, below, maximum), or
    None. A float must be finite (a NaN passes every comparison)."""
    low, high = bounds.get("minimum"), bounds.get("maximum")
    if integer:
        if (low is not None and value < low) or (high is not None and value > high):
            if high is not None:
                return f"must be between {low} and {high:,}"
            return "must be 0 or more" if low == 0 else f"must be at least {low}"
        return None
    if "above" in bounds and not (math.isfinite(value) and value > bounds["above"]):
        return f"must be a finite number above {bounds['above']:g}"
    if low is not None and not (math.isfinite(value) and value >= low):
        return f"must be a finite number of at least {low:g}"
    if not math.isfinite(value):
        return "must be a finite number"
    if "below" in bounds and value >= bounds["below"]:
        return f"must be below {bounds['below']:g}"
    if high is not None and value > high:
        return f"must be at most {high:g}"
    return None


def check_ranges(settings):
    """Refuse, in one line, a value outside its field's declared range."""
    for f in fields(settings):
        bounds, value = f.metadata.get("range"), getattr(settings, f.name)
        if bounds and value is not None and not isinstance(value, bool):
            problem = out_of_range(value, bounds, f.type is int)
            if problem:
                raise UserError(f"{option(f)} {value}: {problem}")


def declared(f):
    """Whether field `f` carries a flag."""
    return "help" in f.metadata


def positional(f):
    name = f.metadata.get("name")
    return name is not None and not name.startswith("-")


def option(f):
    """The field's flag: --<field-name> unless the declaration names another."""
    return f.metadata.get("name") or "--" + f.name.replace("_", "-")


def dest(f):
    """Where argparse stores the field's value: the flag's name with underscores (for
    a positional argument, the field's own name)."""
    return f.name if positional(f) else option(f)[2:].replace("-", "_")


def holding(settings_class):
    """A field that holds settings of `settings_class` in another form (Table 1's rows:
    one RunSettings per model): its flags are the command's."""
    return field(metadata={"holds": settings_class})


def nested(f):
    """The settings class a field holds, where it holds one: its flags come along
    (`run: RunSettings`; Table 1's `attack` brings the attack's options)."""
    if "holds" in f.metadata:
        return f.metadata["holds"]
    return f.type if isinstance(f.type, type) and is_dataclass(f.type) else None


def offered(f, command):
    commands = f.metadata.get("commands")
    return commands is None or command in commands


def take(cls, flags, exclude=()):
    """Take out of `flags` (parsed values by dest, a dict changed in place) the values
    of `cls`'s own declared fields, as {field name: value}: a command's settings split
    from the run settings by the class's fields, never by a list written beside them."""
    return {f.name: flags.pop(dest(f)) for f in fields(cls)
            if declared(f) and f.name not in exclude and dest(f) in flags}


def plain_default(f):
    """The "(default ...)" of a declaration: its default_text (a text, or a function
    read when the parser is built), else the default itself; "" (no note) for None."""
    text = f.metadata.get("default_text")
    if text is not None:
        return text() if callable(text) else text
    value = f.default
    if value is None or value == ():
        return ""
    if isinstance(value, bool):
        return "on" if value else "off"
    return show(value)


def _walk(cls, command):
    """(field, owner class) of every declared field `command` offers, nested ones in
    place of the field that holds them, in declaration order."""
    for f in fields(cls):
        inner = nested(f)
        if declared(f) and offered(f, command):
            yield f, cls
        if inner is not None:
            yield from _walk(inner, command)


def parser(command, description, settings, prog=None, epilog=None):
    """The argparse parser of `command` (`python run.py <command>`) from its settings
    class: every declared field's flag, in its group. A class may word a nested class's
    field in its own way: `HELP` and `DEFAULT_TEXT` ({field name: text}) on the
    command's class override the declaration's help and "(default ...)". `epilog`:
    more about the command, printed as written after the flags."""
    p = ArgumentParser(prog=prog or f"python run.py {command}", description=description,
                       epilog=epilog, allow_abbrev=False, argument_default=argparse.SUPPRESS,
                       formatter_class=argparse.RawDescriptionHelpFormatter if epilog
                       else argparse.HelpFormatter)
    helps = getattr(settings, "HELP", {})
    defaults = getattr(settings, "DEFAULT_TEXT", {})
    found = list(_walk(settings, command))
    rank = {g: i for i, g in enumerate(GROUP_ORDER)}
    order = sorted(range(len(found)), key=lambda i: (
        -1 if found[i][0].metadata["group"] is None else
        rank.get(found[i][0].metadata["group"], len(rank)), i))
    groups = {}
    for i in order:
        f, owner = found[i]
        md = f.metadata
        if md["group"] is None:
            target = p
        else:
            target = groups.get(md["group"]) or groups.setdefault(
                md["group"], p.add_argument_group(md["group"]))
        default = defaults.get(f.name)
        if default is None:
            note = getattr(owner, "default_note", None)
            default = note(f, command) if note else plain_default(f)
        text = helps.get(f.name, md["help"])
        text = text() if callable(text) else text
        kwargs = {"help": text + ("" if default == "" else f" (default {default})")}
        if positional(f):
            kwargs.update(metavar=md["name"], nargs=md["nargs"])
            target.add_argument(f.name, **{k: v for k, v in kwargs.items()
                                           if v is not None})
            continue
        if md["action"] == "store_true":
            kwargs["action"] = "store_true"
        elif md["action"] == "boolean":
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kind = {int: int, float: float}.get(f.type)
            if md["parse"] is not None:
                kwargs["type"] = lambda text, parse=md["parse"], name=option(f): \
                    parse(text, name)
            elif kind is not None:
                kwargs["type"] = kind
            choices = md["choices"]
            if choices is not None:
                kwargs["choices"] = choices() if callable(choices) else choices
            if md["metavar"]:
                kwargs["metavar"] = md["metavar"]
        names = [option(f)] + ([md["short"]] if md["short"] else [])
        target.add_argument(*names, dest=dest(f), **kwargs)
    return p


def unparse(parser, values):
    """The inverse of `parser`: the arguments that parse back to `values` ({dest: value}).
    A None is left out (the parser's default is None); a boolean is its flag, or
    --no-flag where the flag has one. A value no flag of the parser sets is refused, so
    a setting added without its flag cannot be dropped from a planned line unseen."""
    actions = {a.dest: a for a in parser._actions if a.option_strings}
    missing = sorted(set(values) - set(actions))
    if missing:
        raise ValueError(f"{parser.prog} has no flag for {missing}")
    args = []
    for key, value in values.items():
        action = actions[key]
        name = next(o for o in action.option_strings if o.startswith("--"))
        if value is None or (value is False and action.nargs == 0
                             and not isinstance(action, argparse.BooleanOptionalAction)):
            continue
        if isinstance(action, argparse.BooleanOptionalAction):
            args.append(name if value else "--no-" + name[2:])
        elif action.nargs == 0:                  # store_true
            args.append(name)
        else:
            args += [name, show(value)]
    return args
