"""Array-module resolution: NumPy on the CPU, CuPy on the GPU.

The command line resolves the module once (`resolve`); library code never asks which
backend is active and instead uses the module of the arrays it receives
(`array_module`), as in CuPy's "CPU/GPU agnostic code" guide. Arrays cross between host
and device only at the edges: data in (`xp.asarray`, once per run), metrics out
(`to_numpy`).
"""

import os

import numpy as np

from .errors import UserError

BACKENDS = ("numpy", "cupy")

CUPY_HINT = ("install the CuPy wheel that matches your CUDA driver "
             "(pip install cupy-cuda12x or cupy-cuda13x; see README 'GPU set-up'), "
             "or use --backend numpy")


def default_backend():
    """`$IMB_BACKEND` when set, else numpy."""
    return os.environ.get("IMB_BACKEND", "numpy") or "numpy"


def resolve(name):
    """Return the array module for `name` ('numpy' or 'cupy').

    Never falls back: asking for CuPy where it cannot be imported or sees no GPU raises
    a UserError naming the fix.
    """
    if name == "numpy":
        return np
    if name != "cupy":
        raise UserError(f"unknown backend {name!r}: choose one of {', '.join(BACKENDS)}")
    try:
        import cupy
    except Exception as exc:  # ImportError, or a CUDA library that fails to load
        raise UserError(f"--backend cupy: CuPy cannot be imported ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else 'no message'}); "
                        f"{CUPY_HINT}") from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        raise UserError(f"--backend cupy: CuPy sees no usable GPU ({type(exc).__name__}); "
                        f"check nvidia-smi, or use --backend numpy") from None
    if count < 1:
        raise UserError("--backend cupy: CuPy sees no GPU; check nvidia-smi, "
                        "or use --backend numpy")
    return cupy


def array_module(*arrays):
    """The module (numpy or cupy) that owns `arrays`; numpy for plain Python values."""
    for a in arrays:
        mod = type(a).__module__
        if mod.startswith("cupy"):
            import cupy
            return cupy
    return np


def to_numpy(a):
    """Bring an array (or scalar) back to the host as a NumPy array."""
    if type(a).__module__.startswith("cupy"):
        return a.get()
    return np.asarray(a)


def device_name(xp):
    """A human-readable name of the device behind `xp` (the GPU's name for CuPy)."""
    if xp is np:
        return "cpu"
    props = xp.cuda.runtime.getDeviceProperties(xp.cuda.Device().id)
    name = props["name"]
    return name.decode() if isinstance(name, bytes) else str(name)


def make_rng(xp, seed, *stream):
    """A generator for `xp`, made from `seed` and a stream key (e.g. the epoch).

    Every random draw in a run comes from generators made here from the one `--seed`:
    the stream key (e.g. `("epoch", 3)` encoded as integers) makes the generator of an
    epoch a pure function of (seed, epoch), so a resumed run draws exactly what an
    uninterrupted one would, on either backend, without saving device RNG state.
    """
    seq = np.random.SeedSequence(seed, spawn_key=tuple(int(s) for s in stream))
    if xp is np:
        return np.random.default_rng(seq)
    return xp.random.default_rng(int(seq.generate_state(1, np.uint64)[0]))
