"""A strict stand-in for CuPy on the CPU, for tests only (never imported by imb_ref or
run.py).

Its arrays wrap NumPy arrays and behave as CuPy's do where a GPU would make a
difference:
- they refuse implicit conversion to a host array, with CuPy's message ("Implicit
  conversion to a NumPy array is not allowed"): `.get()` and `asnumpy` are the only
  ways back, and a NumPy array mixed into a device operation is refused as CuPy refuses
  it;
- reductions return 0-d device arrays, not host scalars, so a Python `float()`,
  `int()`, `bool()` or `.item()` on one is a device-to-host transfer, counted in
  `TRANSFERS` (a synchronisation on a GPU);
- only the functions, methods and generator methods that CuPy has exist (the installed
  CuPy's names, else those recorded from CuPy 14.2.0 in tests/data/cupy_names.json);
- `RawModule` runs the CUDA kernels through the g++ build of tests/cuda_emu.py; events
  read the host's clock, memory hooks and the memory pool behave like CuPy's.

`install(monkeypatch)` puts it in `sys.modules["cupy"]` for one test, so that
`import cupy` inside imb_ref (backend.resolve, launch.CupyKernels) finds it.
"""

import json
import os
import sys
import time
import types
from collections import Counter

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin

# The names CuPy has (module, ndarray, random.Generator), so that the stand-in refuses
# what CuPy would refuse. From the installed CuPy where there is one (it imports without
# a GPU); else from tests/data/cupy_names.json, the same names recorded from CuPy 14.2.0
# (the version CI installs; tests/test_cupy_api.py checks the record against it), so the
# stand-in is as strict on a machine with requirements.txt alone.
NAMES_FILE = os.path.join(os.path.dirname(__file__), "data", "cupy_names.json")


def recorded_names():
    with open(NAMES_FILE) as fh:
        record = json.load(fh)
    return {owner: set(record[owner]) for owner in ("module", "ndarray", "Generator")}


try:
    import cupy as _real
    # Read now: once installed, `import cupy` inside CuPy's lazy attributes finds us.
    NAMES = {"module": set(dir(_real)), "ndarray": set(dir(_real.ndarray)),
             "Generator": set(dir(_real.random.Generator))}
    NAMES_FROM = f"CuPy {_real.__version__}"
except Exception:                        # CuPy not installed: the recorded names
    _real = None
    NAMES = recorded_names()
    NAMES_FROM = NAMES_FILE

IMPLICIT = ("Implicit conversion to a NumPy array is not allowed. Please use `.get()` "
            "to construct a NumPy array explicitly.")
TRANSFERS = Counter()                    # device-to-host transfers, by kind


def _has(owner, name):
    """Whether CuPy has `name` in `owner` (module, ndarray, Generator)."""
    return name in NAMES[owner]


def _unwrap(value):
    """Device arrays to their NumPy data; a host array inside a device operation is
    refused, as CuPy refuses it."""
    if isinstance(value, ndarray):
        return value._a
    if isinstance(value, np.ndarray):
        raise TypeError(f"Unsupported type {type(value)}")
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(v) for v in value)
    if isinstance(value, dict):
        return {k: _unwrap(v) for k, v in value.items()}
    return value


def _wrap(value):
    if isinstance(value, (np.ndarray, np.generic)) and not isinstance(value, np.dtype):
        return ndarray(np.asarray(value))
    if isinstance(value, tuple):
        return tuple(_wrap(v) for v in value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


def _index(key):
    """Indices may be device arrays, or host integers and slices."""
    if isinstance(key, tuple):
        return tuple(_index(k) for k in key)
    if isinstance(key, ndarray):
        return key._a
    return key


class ndarray(NDArrayOperatorsMixin):
    """A device array: NumPy data that cannot leave except through `.get()`."""

    __module__ = "cupy"

    def __init__(self, data):
        self._a = data

    # -- what CuPy refuses -----------------------------------------------------------
    def __array__(self, dtype=None, copy=None):
        raise TypeError(IMPLICIT)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        out = kwargs.pop("out", None)
        kwargs = _unwrap(kwargs)
        if out is not None:                       # in place: write into the device data
            kwargs["out"] = tuple(_unwrap(o) for o in out)
            getattr(ufunc, method)(*_unwrap(inputs), **kwargs)
            return out[0] if len(out) == 1 else out
        return _wrap(getattr(ufunc, method)(*_unwrap(inputs), **kwargs))

    def __array_function__(self, func, types_, args, kwargs):
        if not _has("module", func.__name__):
            return NotImplemented
        return _wrap(func(*_unwrap(args), **_unwrap(kwargs)))

    # -- the ways back to the host, each counted -----------------------------------------
    def get(self, stream=None, order="C", out=None):
        TRANSFERS["get"] += 1
        return self._a.copy()

    def item(self):
        TRANSFERS["item"] += 1
        return self._a.item()

    def tolist(self):
        TRANSFERS["tolist"] += 1
        return self._a.tolist()

    def __float__(self):
        TRANSFERS["float"] += 1
        return float(self._a)

    def __int__(self):
        TRANSFERS["int"] += 1
        return int(self._a)

    def __bool__(self):
        TRANSFERS["bool"] += 1
        return bool(self._a)

    def __index__(self):
        TRANSFERS["index"] += 1
        return self._a.__index__()

    # -- the rest: NumPy's behaviour on the device ---------------------------------------
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    nbytes = property(lambda self: self._a.nbytes)
    itemsize = property(lambda self: self._a.itemsize)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: ndarray(self._a.T))

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        return (ndarray(np.asarray(row)) for row in self._a)

    def __getitem__(self, key):
        return _wrap(self._a[_index(key)])

    def __setitem__(self, key, value):
        self._a[_index(key)] = _unwrap(value) if not isinstance(value, np.ndarray) \
            else value

    def __repr__(self):
        return f"array({np.array2string(self._a)}) (CuPy stand-in)"

    def __copy__(self):
        return ndarray(self._a.copy())

    def __getattr__(self, name):
        if name.startswith("_") or not _has("ndarray", name):
            raise AttributeError(f"'cupy.ndarray' object has no attribute {name!r}")
        attr = getattr(self._a, name)
        if not callable(attr):
            return _wrap(attr)
        return lambda *args, **kwargs: _wrap(attr(*_unwrap(args), **_unwrap(kwargs)))


# ---- module-level functions ---------------------------------------------------------
def asarray(a, dtype=None, order=None):
    if isinstance(a, ndarray):
        return a if dtype is None or a.dtype == dtype else ndarray(a._a.astype(dtype))
    return ndarray(np.array(a, dtype=dtype, copy=True))


array = asarray


def asnumpy(a, stream=None, order="C", out=None):
    return a.get() if isinstance(a, ndarray) else np.asarray(a)


def get_array_module(*arrays):
    return sys.modules[__name__] if any(isinstance(a, ndarray) for a in arrays) else np


class _Generator:
    """cupy.random.Generator: only the methods CuPy's has."""

    def __init__(self, seed):
        self._g = np.random.default_rng(seed)

    def __getattr__(self, name):
        if name.startswith("_") or not _has("Generator", name):
            raise AttributeError(f"'cupy.random.Generator' object has no attribute {name!r}")
        method = getattr(self._g, name)
        return lambda *args, **kwargs: _wrap(np.asarray(method(*_unwrap(args),
                                                               **_unwrap(kwargs))))


random = types.SimpleNamespace(default_rng=_Generator)


# ---- cupy.cuda: one device, events and hooks that time nothing ------------------------
class _Device:
    def __init__(self, device=0):
        self.id = device

    def synchronize(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class _Event:
    """Records the host's clock: the stand-in's work is done when it returns."""

    def __init__(self, *args, **kwargs):
        self.t = None

    def record(self, stream=None):
        self.t = time.perf_counter()

    def synchronize(self):
        pass


class MemoryHook:
    name = "standin"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class _Pool:
    def used_bytes(self):
        return 0

    def total_bytes(self):
        return 0

    def free_all_blocks(self):
        pass


_POOL = _Pool()


def get_default_memory_pool():
    return _POOL


cuda = types.SimpleNamespace(
    runtime=types.SimpleNamespace(
        getDeviceCount=lambda: 1,
        getDeviceProperties=lambda i: {"name": b"CuPy stand-in (CPU)"}),
    Device=_Device, Event=_Event, MemoryHook=MemoryHook,
    get_elapsed_time=lambda start, end: 1000.0 * (end.t - start.t))     # ms, as CuPy


# ---- raw kernels through the g++ build of tests/cuda_emu.py ---------------------------
class RawModule:
    """CuPy's RawModule over kernels/*.cu: -DREAL and -DNCLASS from the options pick the
    build; a launch runs the kernel's grid-stride loop on the arrays' NumPy data."""

    def __init__(self, code=None, options=(), **kwargs):
        from cuda_emu import EmuKernels
        self._emu = EmuKernels()
        opts = dict(o[2:].split("=", 1) for o in options if o.startswith("-D"))
        self._dtype = np.float32 if opts.get("REAL") == "float" else np.float64
        self._nclass = int(opts.get("NCLASS", 1))

    def get_function(self, name):
        def launch(grid, block, args, **kwargs):
            host = [a._a if isinstance(a, ndarray) else a for a in args]
            self._emu(name, self._dtype, self._nclass, 0, *host)
        return launch


# ---- everything else: NumPy's function where CuPy has one of that name --------------
def __getattr__(name):
    if name.startswith("__") or not _has("module", name) or not hasattr(np, name):
        raise AttributeError(f"module 'cupy' (stand-in) has no attribute {name!r}")
    attr = getattr(np, name)
    if isinstance(attr, type) or not callable(attr):
        return attr                              # dtypes, constants
    return lambda *args, **kwargs: _wrap(attr(*_unwrap(args), **_unwrap(kwargs)))


__version__ = "stand-in"


def install(monkeypatch):
    """Make `import cupy` find this module for the rest of one test; resets the caches
    imb_ref keeps per array module."""
    from imb_ref.gpu import fused, launch
    module = sys.modules[__name__]
    monkeypatch.setitem(sys.modules, "cupy", module)
    monkeypatch.setattr(launch, "_CUPY_KERNELS", None)
    monkeypatch.setattr(fused, "_CONSTANTS", {})
    return module
