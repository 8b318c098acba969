"""Launching the CUDA kernels of imb_ref/gpu/kernels/*.cu from Python.

tree.cu holds the fused tree objective's kernels (imb_ref/gpu/fused.py), optim.cu the
optimisers' (imb_ref/optim.py). `CupyKernels` compiles them with NVRTC through CuPy's
RawModule; tests/cuda_emu.py runs the same source on the CPU, called the same way:

    kernels(name, dtype, nclass, items, *args)

dtype picks REAL (float or double), nclass the compile-time number of classes, items the
loop's length (the kernels are grid-stride loops, so it only sizes the grid). Every
argument is checked against SIGNATURES before a launch.
"""

import os

import numpy as np

KERNEL_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kernels")
# A kernel "tree_*" lives in kernels/tree.cu, "optim_*" in kernels/optim.cu.
SOURCES = ("tree", "optim")

# Argument types of the kernels in kernels/*.cu, in order: "real*" an array of the objective's
# dtype, "u32*" / "i32*" unsigned / int arrays, "real" / "i64" / "i32" scalars.
SIGNATURES = {
    "tree_sample": ("real*", "real*", "u32*", "i64", "i32", "i32", "i32"),
    "tree_leaf_forward": ("real*", "real*", "real*", "i32*", "u32*", "real*", "real*",
                          "real*", "i64", "i32", "i32", "i32", "i32"),
    "tree_leaf_weight_grad": ("real*", "real*", "u32*", "real*", "i64", "i32", "i32",
                              "i32", "i32"),
    "tree_group_lse": ("real*", "real*", "i64", "i32"),
    "tree_unit_forward": ("real*", "real*", "real*", "real*", "i64", "i32"),
    "tree_unit_backward": ("real*", "real*", "real*", "real*", "real*", "real*", "real",
                           "i32", "i64", "i32"),
    "tree_leaf_backward": ("real*", "real*", "real*", "i32*", "real*", "real*", "real*",
                           "i64", "i32", "i32", "i32"),
    "optim_sgd": ("real*", "real*", "real*", "real", "real", "i64"),
    "optim_adam": ("real*", "real*", "real*", "real*") + ("real",) * 7 + ("i64",),
    "optim_adamax": ("real*", "real*", "real*", "real*") + ("real",) * 5 + ("i64",),
    "optim_adadelta": ("real*", "real*", "real*", "real*") + ("real",) * 4 + ("i64",),
    "optim_adagrad": ("real*", "real*", "real*", "real", "real", "i64"),
    "optim_rmsprop": ("real*", "real*", "real*") + ("real",) * 4 + ("i64",),
}


def source_of(name):
    """The source file ("tree" or "optim") that holds kernel `name`."""
    return name.split("_", 1)[0]


def kernel_source(source="tree"):
    with open(os.path.join(KERNEL_DIR, f"{source}.cu")) as fh:
        return fh.read()


_ARG_TYPES = {}


def _arg_types(name, dtype):
    """Per argument of kernel `name`: (True, array dtype) or (False, scalar type).
    Built once per (kernel, dtype): a launch's host time is what the fused path saves."""
    key = (name, np.dtype(dtype))
    if key not in _ARG_TYPES:
        types = {"real*": np.dtype(dtype), "u32*": np.dtype(np.uint32),
                 "i32*": np.dtype(np.int32), "real": np.dtype(dtype).type,
                 "i64": np.int64, "i32": np.int32}
        _ARG_TYPES[key] = [(kind.endswith("*"), types[kind]) for kind in SIGNATURES[name]]
    return _ARG_TYPES[key]


def launch_args(name, dtype, args):
    """Check each argument against SIGNATURES and give scalars their C types."""
    types = _arg_types(name, dtype)
    if len(args) != len(types):
        raise TypeError(f"{name} takes {len(types)} arguments, got {len(args)}")
    out = []
    for (is_array, t), a in zip(types, args):
        if is_array:
            if a.dtype != t or not a.flags.c_contiguous:
                raise TypeError(f"{name}: expected a C-contiguous {t} array, got "
                                f"{a.dtype}{'' if a.flags.c_contiguous else ' (strided)'}")
            out.append(a)
        else:
            out.append(t(a))
    return out


class CupyKernels:
    """kernels/tree.cu and optim.cu compiled by NVRTC through CuPy, one module per
    (file, dtype, classes); CuPy caches the binaries on disk between runs."""

    BLOCK = 256

    def __init__(self):
        import cupy
        self.xp = cupy
        self._modules = {}
        self._functions = {}

    def _function(self, name, dtype, nclass):
        key = (name, np.dtype(dtype).name, int(nclass))
        if key not in self._functions:
            source = source_of(name)
            module_key = (source,) + key[1:]
            if module_key not in self._modules:
                real = "float" if np.dtype(dtype) == np.float32 else "double"
                self._modules[module_key] = self.xp.RawModule(
                    code=kernel_source(source),
                    options=(f"-DREAL={real}", f"-DNCLASS={int(nclass)}"))
            self._functions[key] = self._modules[module_key].get_function(name)
        return self._functions[key]

    def __call__(self, name, dtype, nclass, items, *args):
        fn = self._function(name, dtype, nclass)
        # Grid-stride loops: any grid is correct; this one gives each thread a few items.
        grid = max(1, min((int(items) + self.BLOCK - 1) // self.BLOCK, 65535))
        fn((grid,), (self.BLOCK,), tuple(launch_args(name, dtype, args)))


_CUPY_KERNELS = None


def default_kernels(xp):
    """The kernels for arrays of module xp, or None where there is no fused path."""
    global _CUPY_KERNELS
    if xp is np:
        return None
    if _CUPY_KERNELS is None:
        _CUPY_KERNELS = CupyKernels()
    return _CUPY_KERNELS


def optimizer_kernels(xp, fused):
    """The kernels the optimiser should run its updates with (any model), or None:
    --no-fused (fused=False) or NumPy."""
    return None if fused is False else default_kernels(xp)
