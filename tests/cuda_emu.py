"""Run imb_ref/gpu/kernels/tree.cu on the CPU: the same source, compiled by the host C++
compiler with a shim for the few CUDA names it uses.

Every kernel in tree.cu is a grid-stride loop without shared memory or barriers, so one
thread with blockDim = gridDim = 1 runs the whole loop and computes what any launch on a
GPU computes. That lets the CPU-only CI check the kernels' arithmetic, their Philox
stream and their indexing against the NumPy reference; what it cannot check is the CUDA
toolchain (tests/test_fused.py compiles the source with nvcc where it exists) and the
GPU itself (the CuPy tests, which skip without one).

`EmuKernels()` is called like imb_ref.gpu.launch.CupyKernels, on NumPy arrays.
"""

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile

import numpy as np

from imb_ref.gpu.launch import KERNEL_DIR, SIGNATURES, kernel_source, launch_args, source_of

SHIM = r"""
#include <cmath>
using std::exp;
using std::log;
using std::isfinite;
using std::log1p;
using std::fabs;
using std::sqrt;
struct emu_dim3 { unsigned int x, y, z; };
static const emu_dim3 threadIdx = {0, 0, 0}, blockIdx = {0, 0, 0};
static const emu_dim3 blockDim = {1, 1, 1}, gridDim = {1, 1, 1};
#define __global__
#define __device__
#define __forceinline__ inline
static inline unsigned int __umulhi(unsigned int a, unsigned int b)
{
    return (unsigned int)(((unsigned long long)a * b) >> 32);
}
"""

CTYPES = {"i64": ctypes.c_int64, "i32": ctypes.c_int32}
REAL = {np.dtype(np.float32): ctypes.c_float, np.dtype(np.float64): ctypes.c_double}


def compiler():
    """The host C++ compiler, or None."""
    return shutil.which(os.environ.get("CXX", "g++")) or shutil.which("c++")


class EmuKernels:
    """tree.cu built as a shared library, one per (dtype, classes), cached by content."""

    def __init__(self, build_dir=None):
        self.build_dir = build_dir or os.path.join(tempfile.gettempdir(), "imb_ref_emu")
        os.makedirs(self.build_dir, exist_ok=True)
        self._libs = {}

    def _lib(self, source, dtype, nclass):
        real = "float" if np.dtype(dtype) == np.float32 else "double"
        key = (source, real, int(nclass))
        if key not in self._libs:
            code = kernel_source(source)
            tag = hashlib.sha1(f"{SHIM}{code}{key}".encode()).hexdigest()[:16]
            so = os.path.join(self.build_dir, f"{source}_{real}_{nclass}_{tag}.so")
            if not os.path.exists(so):
                src = f"{so[:-3]}.{os.getpid()}.cpp"
                path = os.path.join(KERNEL_DIR, f"{source}.cu")
                with open(src, "w") as fh:
                    fh.write(f'#line 1 "shim"\n{SHIM}\n#line 1 "{path}"\n{code}')
                tmp = f"{so}.{os.getpid()}.part"       # parallel test processes: no clash
                subprocess.run([compiler(), "-O2", "-shared", "-fPIC", "-Wall",
                                "-Wno-unknown-pragmas", "-ffp-contract=off", f"-DREAL={real}",
                                f"-DNCLASS={int(nclass)}", src, "-o", tmp],
                               check=True, capture_output=True, text=True)
                os.replace(tmp, so)
            self._libs[key] = ctypes.CDLL(so)
        return self._libs[key]

    def __call__(self, name, dtype, nclass, items, *args):
        fn = getattr(self._lib(source_of(name), dtype, nclass), name)
        fn.restype = None
        converted = []
        for kind, a in zip(SIGNATURES[name], launch_args(name, dtype, args)):
            if kind.endswith("*"):
                converted.append(ctypes.c_void_p(a.ctypes.data))
            elif kind == "real":
                converted.append(REAL[np.dtype(dtype)](a))
            else:
                converted.append(CTYPES[kind](int(a)))
        fn(*converted)
