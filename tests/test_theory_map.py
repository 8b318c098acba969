"""theory/ and the README stay true: every file, function and test they name exists."""

import importlib
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _map_rows():
    text = open(os.path.join(ROOT, "theory", "README.md")).read()
    rows = [line for line in text.splitlines() if line.startswith("| ") and "](" in line]
    assert len(rows) >= 10, "the map's table was not found"
    return rows


def _resolve(dotted):
    """imb_ref.a.b.C.d -> the object, importing the longest module prefix."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        for name in parts[i:]:
            obj = getattr(obj, name)
        return obj
    raise ModuleNotFoundError(dotted)


def _test_names():
    names = set()
    for f in os.listdir(os.path.join(ROOT, "tests")):
        if f.endswith(".py"):
            names |= set(re.findall(r"^def (test_\w+)", open(os.path.join(ROOT, "tests", f))
                                    .read(), re.M))
    return names


def test_every_file_function_and_test_in_the_map_exists():
    tests = _test_names()
    for row in _map_rows():
        for link in re.findall(r"\]\(([^)]+)\)", row):
            assert os.path.exists(os.path.join(ROOT, "theory", link)), link
        for ref in re.findall(r"`([^`]+)`", row):
            if ref.startswith("imb_ref.") or ref.startswith("imb_ref/"):
                if "/" in ref:
                    assert os.path.exists(os.path.join(ROOT, ref)), ref
                else:
                    _resolve(ref)                     # raises if it is gone
            elif ref.startswith("tests/"):
                assert os.path.exists(os.path.join(ROOT, ref)), ref
            elif ref.startswith("test_"):
                assert ref in tests, f"{ref} is named in theory/README.md but not defined"


def test_every_theory_file_is_in_the_map():
    linked = {link for row in _map_rows() for link in re.findall(r"\]\(([^)]+)\)", row)}
    files = {f for f in os.listdir(os.path.join(ROOT, "theory")) if f.endswith(".md")}
    assert files - {"README.md"} <= linked, files - {"README.md"} - linked


def _stale_references(path, check_tests=True):
    """Backticked names in a document that no longer exist: modules and functions
    (imb_ref.x.y), files (imb_ref/..., tests/..., theory/...) and tests (test_...)."""
    tests = _test_names()
    stale = []
    for ref in set(re.findall(r"`([^`\s]+)`", open(path).read())):
        name = ref.split("(")[0].rstrip(",.")
        if re.fullmatch(r"imb_ref(\.\w+)+", name):
            try:
                _resolve(name)
            except (ImportError, AttributeError):
                stale.append(ref)
        elif re.fullmatch(r"(imb_ref|tests|theory)/[\w/.\-]+", name):
            if not os.path.exists(os.path.join(ROOT, name)):
                stale.append(ref)
        elif check_tests and re.fullmatch(r"test_\w+", name) and name not in tests:
            stale.append(ref)
    return stale


def test_the_derivations_name_only_code_that_exists():
    for f in sorted(os.listdir(os.path.join(ROOT, "theory"))):
        if f.endswith(".md"):
            assert _stale_references(os.path.join(ROOT, "theory", f)) == [], f


def test_the_readme_names_only_code_that_exists():
    # (README's test_error and the like are fields of the output files, not tests)
    assert _stale_references(os.path.join(ROOT, "README.md"), check_tests=False) == []
