"""Every name the CuPy path reaches exists in the installed CuPy, with the keyword
arguments the code passes: read from imb_ref's source, checked against the real module
(the CUDA 12 wheel imports without a GPU; only allocating needs one)."""

import ast
import inspect
import os

import pytest

cupy = pytest.importorskip("cupy", reason="CuPy is not installed (CI installs "
                           "cupy-cuda12x to check its API without a GPU)")

PACKAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "imb_ref")
# The names the array module goes by in imb_ref: `xp` (numpy or cupy), and `cupy`.
MODULE_NAMES = ("xp", "cupy", "self.xp")


def _chain(node):
    """'xp.random.default_rng' for the attribute node xp.random.default_rng, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    elif isinstance(node, ast.Attribute):
        return None
    else:
        return None
    dotted = ".".join(reversed(parts))
    for prefix in MODULE_NAMES:
        if dotted.startswith(prefix + "."):
            return dotted[len(prefix) + 1:]
    return None


def uses():
    """{'random.default_rng': {(file, line, keywords)}} over imb_ref's source."""
    found = {}
    for folder, _, files in os.walk(PACKAGE):
        for f in files:
            if not f.endswith(".py"):
                continue
            path = os.path.join(folder, f)
            tree = ast.parse(open(path).read())
            calls = {id(n.func): n for n in ast.walk(tree) if isinstance(n, ast.Call)}
            for node in ast.walk(tree):
                if isinstance(node, ast.Attribute) and not isinstance(node.ctx, ast.Store):
                    name = _chain(node)
                    if name is None:
                        continue
                    call = calls.get(id(node))
                    kws = tuple(k.arg for k in call.keywords if k.arg) if call else ()
                    found.setdefault(name, set()).add(
                        (os.path.relpath(path, PACKAGE), node.lineno, kws))
    return found


def _resolve(name):
    obj = cupy
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def test_the_source_reaches_the_array_module():
    names = uses()
    # A sample of what the reference and the GPU path use, so that the reading works.
    assert {"asarray", "zeros_like", "take_along_axis", "random.default_rng",
            "cuda.runtime.getDeviceCount", "RawModule"} <= set(names), sorted(names)


def test_every_name_exists_in_cupy_with_the_keywords_passed():
    missing, bad_keywords = [], []
    for name, sites in sorted(uses().items()):
        # A chain is checked up to its longest prefix on the module (xp.float32 is a
        # dtype; xp.cuda.Event() is an object whose methods are not module attributes).
        try:
            target = _resolve(name)
        except AttributeError:
            missing.append(f"{name} (at {sorted(sites)[0][:2]})")
            continue
        try:
            params = inspect.signature(target).parameters
        except (TypeError, ValueError):
            continue                          # a builtin or a class without a signature
        if any(p.kind == p.VAR_KEYWORD for p in params.values()):
            continue
        for file, line, kws in sites:
            for kw in kws:
                if kw not in params:
                    bad_keywords.append(f"{name}({kw}=...) at {file}:{line}")
    assert not missing, missing
    assert not bad_keywords, bad_keywords


def test_cupy_installed_without_a_gpu_is_still_refused_in_one_line(capsys):
    """The wheel imports here, but --backend cupy must not believe there is a GPU."""
    try:
        if cupy.cuda.runtime.getDeviceCount() > 0:
            pytest.skip("this machine has a GPU")
    except Exception:
        pass
    from imb_ref import cli as run_module
    assert run_module.main(["train", "--backend", "cupy", "--epochs", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --backend cupy: CuPy sees no usable GPU") and \
        err.count("\n") == 1


def test_the_recorded_names_are_the_installed_cupys():
    """tests/data/cupy_names.json, the names the stand-in allows where CuPy is absent,
    is CuPy's own list: equal to the installed CuPy's where it is the recorded version,
    and where another version is installed, every name the project uses is in both."""
    import json

    import cupy_standin
    with open(cupy_standin.NAMES_FILE) as fh:
        version = json.load(fh)["cupy"]
    recorded = cupy_standin.recorded_names()
    real = {"module": {n for n in dir(cupy) if not n.startswith("__")},
            "ndarray": {n for n in dir(cupy.ndarray) if not n.startswith("__")},
            "Generator": {n for n in dir(cupy.random.Generator) if not n.startswith("__")}}
    if cupy.__version__ == version:
        assert recorded == real
    for dotted in uses():                    # xp.<name>... as the source writes them
        name = dotted.split(".")[0]
        if name.startswith("__"):            # xp.__name__: every module has it
            continue
        assert name in recorded["module"] and name in real["module"], dotted
