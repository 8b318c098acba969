"""The house: the reference at the centre imports neither the GPU path nor the
experiments, the import graph has no cycle, and the models are told apart by their
kind, never by name."""

import ast
import os
import re

import pytest

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
PACKAGE = os.path.join(ROOT, "imb_ref")

# The algorithm: layers, objectives, models, exact enumeration, information measures,
# update rules, and the array-module plumbing they need.
REFERENCE = ("imb_ref.algorithm1", "imb_ref.nn", "imb_ref.models", "imb_ref.exact",
             "imb_ref.info", "imb_ref.ib", "imb_ref.estimator_bias", "imb_ref.optim",
             "imb_ref.backend", "imb_ref.errors", "imb_ref.golden")
GPU = ("imb_ref.gpu",)
# Around the reference: the training loop and the experiments built on it.
EXPERIMENTS = ("imb_ref.training", "imb_ref.experiments")


def modules():
    """{module name: path} of every module of the package."""
    found = {}
    for folder, _, files in os.walk(PACKAGE):
        for f in files:
            if f.endswith(".py"):
                rel = os.path.relpath(os.path.join(folder, f), ROOT)[:-3].replace(os.sep, ".")
                found[rel[:-len(".__init__")] if rel.endswith(".__init__") else rel] = \
                    os.path.join(folder, f)
    return found


def imports(name, path, known):
    """The package modules `name` imports, anywhere in the file (a function-level import
    is still a dependency)."""
    tree = ast.parse(open(path).read())
    package = name if path.endswith("__init__.py") else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rsplit(".", 1)[0]
            mod = node.module or ""
            root = (base + "." + mod if mod else base) if node.level else mod
            targets = [root] + [f"{root}.{a.name}" for a in node.names]
        else:
            continue
        out.update(t for t in targets if t in known and t != name)
    return out


def graph():
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def under(name, prefixes):
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_the_reference_imports_no_gpu_code_and_no_experiment():
    g = graph()
    bad = {(a, b) for a, deps in g.items() if under(a, REFERENCE)
           for b in deps if under(b, GPU + EXPERIMENTS)}
    assert not bad, sorted(bad)


def test_the_import_graph_has_no_cycle():
    g = graph()
    # A package imports its submodules on purpose (`from . import sbn`): only edges
    # between modules count, not those from a package to what it holds.
    edges = {a: {b for b in deps if not b.startswith(a + ".")} for a, deps in g.items()}
    state = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in edges[node]:
            if state.get(nxt) == "open":
                pytest.fail("import cycle: " + " -> ".join(path[path.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for node in edges:
        if node not in state:
            visit(node, [node])


def test_models_are_told_apart_by_kind_not_by_name():
    """Every model is listed once (imb_ref.models.KINDS); no code compares a model's
    name with a literal."""
    from imb_ref.models import KINDS, models_in
    from imb_ref.experiments.infoplane import InfoplaneSettings
    assert models_in("table1") == tuple(KINDS)
    assert InfoplaneSettings.default_models() == ("sfnn", "greedyimb", "jointimb")
    names = "|".join(KINDS)
    pattern = re.compile(rf"""(==|!=)\s*["']({names})["']|["']({names})["']\s*(==|!=)|"""
                         rf"""in \(["']({names})["']""")
    hits = []
    for name, path in modules().items():
        for i, line in enumerate(open(path), 1):
            if pattern.search(line):
                hits.append(f"{name}:{i}: {line.strip()}")
    assert not hits, hits


def test_test_doubles_never_reach_the_package():
    """The CuPy stand-in and the kernel emulator are for tests: no module of imb_ref and
    not run.py imports anything from tests/, or names a tests/ module. (The PyTorch twin
    ships in the package, imb_ref/twin.py, and only the benchmark names it.)"""
    doubles = ("cupy_standin", "cuda_emu", "tests.cupy_standin", "tests.cuda_emu")
    paths = list(modules().values()) + [os.path.join(ROOT, "run.py")]
    named = []
    for path in paths:
        tree = ast.parse(open(path).read())
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not [n for n in names if n in doubles or n.startswith("tests")], \
                (path, names)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                    re.match(r"tests\.\w+$", node.value):
                named.append((os.path.relpath(path, ROOT), node.value))
    assert named == []


def test_random_streams_are_named_in_one_place_and_never_renumbered():
    """Every make_rng call names its stream from imb_ref.streams.Stream (no bare number
    scattered over the files), and the numbers are those every earlier result was drawn
    with: a renumbering would change every later run's draws."""
    from imb_ref.streams import Stream
    assert {s.name: int(s) for s in Stream} == {
        "SHUFFLE": 0, "TRAIN_NOISE": 1, "TEST_PASSES": 2, "EPOCH_ERRORS": 3,
        "INFOPLANE_TEST": 7, "ATTACK_CLEAN": 10, "ATTACK_VERIFY": 11, "ATTACK_NAIVE": 12,
        "ATTACK_SEARCH": 13, "ATTACK_FOOLING": 14, "ATTACK_RECHECK": 15}
    bare = []
    for name, path in list(modules().items()) + [("run", os.path.join(ROOT, "run.py"))]:
        for node in ast.walk(ast.parse(open(path).read())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "make_rng" \
                    and len(node.args) >= 3:
                stream = node.args[2]
                if not (isinstance(stream, ast.Attribute) and
                        getattr(stream.value, "id", None) == "Stream"):
                    bare.append(f"{name}:{node.lineno}")
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == \
                    "SeedSequence" and name != "imb_ref.streams" and \
                    not any(k.arg == "spawn_key" for k in node.keywords) and \
                    name != "imb_ref.backend":
                bare.append(f"{name}:{node.lineno} (SeedSequence(seed): use streams.init_rng)")
    assert not bare, bare


def test_code_asks_the_row_for_the_network_never_a_family_name():
    """A model's network is its row's family object (imb_ref.models.families): no module
    compares a family name ('binary', 'gaussian'); only the presets' table is keyed by
    it (training/settings.py)."""
    pattern = re.compile(r"""network\s*(==|!=)|["'](gaussian|binary)["']\s*(==|!=)|"""
                         r"""(==|!=)\s*["'](gaussian|binary)["']""")
    hits = [f"{name}:{i}: {line.strip()}" for name, path in modules().items()
            for i, line in enumerate(open(path), 1) if pattern.search(line)]
    hits += [f"run.py:{i}" for i, line in enumerate(open(os.path.join(ROOT, "run.py")), 1)
             if pattern.search(line)]
    assert not hits, hits
