"""Time one JointIMB training step (forward, backward, SGD update) against PyTorch.

    python -m imb_ref.experiments.bench [--shapes mnist,cifar10] [--impl numpy,torch-eager,...]
                            [--steps 20] [--json FILE]

Shapes: batch 100, M = 32, 784-512-512-10 (MNIST) and 3072-512-512-10 (CIFAR10).
Implementations: numpy; cupy (the reference path) and cupy-fused (imb_ref/gpu/fused.py: leaves
drawn in-kernel) where a GPU is present; and, where torch is installed, an
equivalent PyTorch step: the twin, a plug-in named by --twin (by default
imb_ref/twin.py: same tree sampling, the Raiko surrogate), eager, and with
`torch.compile` on a GPU. All run in this one process; each reports the median
of `--steps` timed steps after two warm-up steps (CUDA events on a GPU), examples per
second, peak memory, and the ratio to torch-eager on the same device
(torch-eager's ms / this one's: above 1 is faster).
"""

import importlib
import importlib.util
import statistics
import sys
import time
import tracemalloc
from dataclasses import dataclass

import numpy as np

from ..errors import UserError
from ..files import atomic_write, check_writable_file, write_json
from ..flags import check_ranges, flag, parser, take
from ..gpu.fused import FusedPath
from ..models.registry import Model
from ..gpu.launch import optimizer_kernels
from ..optim import make_optimizer

SHAPES = {"mnist": (784, 512, 512, 10), "cifar10": (3072, 512, 512, 10)}
BATCH, M, BETA = 100, 32, 1e-4


def _data(sizes, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((BATCH, sizes[0]), dtype=np.float32),
            rng.integers(0, sizes[-1], BATCH))


def time_numpy(sizes, steps, xp=np, fused=False):
    model = Model("jointimb", sizes, M=M, gammas=(1.0,) * 3, betas=(BETA,) * 2,
                  accelerator=FusedPath() if fused else None)
    if fused and not model.uses_fused(xp):
        raise RuntimeError("no fused path for this backend")
    params = {k: xp.asarray(v) for k, v in model.init(np.random.default_rng(0),
                                                       np.float32).items()}
    x, y = (xp.asarray(a) for a in _data(sizes))
    opt = make_optimizer("sgd", 0.01, momentum=0.0,
                         kernels=optimizer_kernels(xp, fused))
    rng = np.random.default_rng(1) if xp is np else xp.random.default_rng(1)

    def step():
        out = model.loss_and_grads(params, x, y, rng)
        opt.step(params, out["grads"])

    times = []
    for i in range(steps + 2):
        if xp is np:
            if i == 2:
                tracemalloc.start()
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
        else:
            start, end = xp.cuda.Event(), xp.cuda.Event()
            start.record()
            step()
            end.record()
            end.synchronize()
            times.append(xp.cuda.get_elapsed_time(start, end) / 1000)
    if xp is np:
        peak = tracemalloc.get_traced_memory()[1] / 2 ** 20
        tracemalloc.stop()
    else:
        peak = gpu_peak_mb(xp, step)
    return statistics.median(times[2:]) * 1000, peak


def gpu_peak_mb(cupy, step):
    """The most device memory in use (MB) during one more, untimed, step: the bytes CuPy's
    pool has handed out, as torch.cuda.max_memory_allocated counts them.

    A memory hook sees every allocation and free from the pool; it runs Python on each,
    so it watches an extra step rather than the timed ones. (The pool's own size,
    total_bytes, is no measure: it keeps the blocks of whatever ran before in this
    process, the reference path's 210 MB leaf tensor included.)"""
    pool = cupy.get_default_memory_pool()

    class Peak(cupy.cuda.MemoryHook):
        name = "imb_ref_bench_peak"

        def __init__(self):
            self.used = self.peak = pool.used_bytes()

        def malloc_postprocess(self, **kw):
            self.used += kw["mem_size"]
            self.peak = max(self.peak, self.used)

        def free_postprocess(self, **kw):
            self.used -= kw["mem_size"]

    hook = Peak()
    with hook:
        step()
        cupy.cuda.Device().synchronize()
    return hook.peak / 2 ** 20


def breakdown(sizes, steps):
    """cupy-fused: GPU milliseconds per step in each kernel of tree.cu (CUDA events around
    each launch), and the whole step's; the difference is cuBLAS, CuPy's array operations
    and any time the GPU waits for the host."""
    import cupy
    from ..gpu import launch

    class Timed(launch.CupyKernels):
        def __init__(self):
            super().__init__()
            self.events = []

        def __call__(self, name, *args):
            start, end = cupy.cuda.Event(), cupy.cuda.Event()
            start.record()
            super().__call__(name, *args)
            end.record()
            self.events.append((name, start, end))

    timed = Timed()
    saved, launch._CUPY_KERNELS = launch._CUPY_KERNELS, timed
    try:
        whole, _ = time_numpy(sizes, steps, cupy, fused=True)
    finally:
        launch._CUPY_KERNELS = saved
    per_kernel = {}
    for name, start, end in timed.events[len(timed.events) * 2 // (steps + 2):]:
        per_kernel[name] = per_kernel.get(name, 0.0) + cupy.cuda.get_elapsed_time(start, end)
    per_kernel = {k: v / steps for k, v in per_kernel.items()}
    return whole, per_kernel


# The PyTorch side of the comparison is a plug-in, named by --twin (default the package's
# own twin, imb_ref/twin.py, an optional module: PyTorch is an extra and the reference
# never imports it); the benchmark imports it only by the name it is given, only when a
# torch-* implementation is timed. The module must offer
# time_step(sizes, M, gammas, betas, data, steps, compiled) and cuda_available().
DEFAULT_TWIN = "imb_ref.twin"


def load_twin(name):
    """The twin module `name`, or None where it (or PyTorch) cannot be imported here or it
    offers no time_step and cuda_available."""
    if importlib.util.find_spec("torch") is None:
        return None
    try:
        module = importlib.import_module(name)
    except (ImportError, ValueError, TypeError):   # missing, empty or relative name
        return None
    # A module that is not a twin (say, the standard library's `abc`) is none.
    return module if all(callable(getattr(module, f, None))
                         for f in ("time_step", "cuda_available")) else None


def time_torch(twin, sizes, steps, compiled=False):
    return twin.time_step(sizes, M, (1.0,) * 3, (BETA,) * 2, _data(sizes), steps, compiled)


def available_impls(twin=None):
    impls = ["numpy"]
    try:
        import cupy
        if cupy.cuda.runtime.getDeviceCount() > 0:
            impls += ["cupy", "cupy-fused"]
    except Exception:
        pass
    if twin is not None:
        impls.append("torch-eager")
        if twin.cuda_available():
            impls.append("torch-compile")
    return impls


HELP = "time one training step against PyTorch in the same process"


@dataclass(frozen=True)
class BenchSettings:
    """`python run.py bench`: which shapes and implementations, how many steps, where
    the records go, and the PyTorch twin."""
    shapes: str = flag(",".join(SHAPES), "comma list of " + ", ".join(SHAPES))
    impl: str = flag(None, "comma list", default_text="every one available")
    steps: int = flag(20, "timed steps", minimum=1)
    json: str = flag(None, "write the records to this file")
    markdown: str = flag(None, "write the records as a Markdown table to this file (the "
                         "README's Speed table)")
    breakdown: bool = flag(False, "also time each fused kernel within the cupy-fused step "
                           "(GPU only)", action="store_true")
    twin: str = flag(DEFAULT_TWIN, "the PyTorch twin, a module with time_step and "
                     "cuda_available, imported by this name for the torch-* "
                     "implementations")
    announce = False                # its output is the table: no "command:" line first

    @classmethod
    def from_flags(cls, flags):
        """The settings, every flag checked before any timing (one line, exit 2)."""
        a = cls(**take(cls, dict(flags)))
        check_ranges(a)
        for name, path in (("--json", a.json), ("--markdown", a.markdown)):
            if path:
                check_writable_file(path, name)
        for shape in a.shape_list():
            if shape not in SHAPES:
                raise UserError(f"--shapes: unknown shape {shape!r} (choose from "
                                f"{', '.join(SHAPES)})")
        a.implementations()
        return a

    def shape_list(self):
        return self.shapes.split(",")

    def implementations(self):
        """(twin, impls): the twin module (None without PyTorch) and the implementations
        to time, each one checked to be available here."""
        twin = load_twin(self.twin)
        available = available_impls(twin)
        impls = self.impl.split(",") if self.impl else available
        for impl in impls:
            if impl not in available:
                why = (f"; the torch-* implementations need PyTorch and the twin module "
                       f"{self.twin!r} (--twin)" if impl.startswith("torch") and twin is None
                       else "")
                raise UserError(f"implementation {impl!r} is not available here "
                                f"(available: {', '.join(available)}){why}")
        if self.breakdown and "cupy-fused" not in available:
            raise UserError("--breakdown times the fused kernels: it needs CuPy and a GPU")
        return twin, impls


def time_shape(shape, impls, steps, twin):
    """{impl: record} of one shape, each implementation timed in this process."""
    sizes, rows = SHAPES[shape], {}
    for impl in impls:
        if impl == "numpy":
            ms, peak = time_numpy(sizes, steps)
            device = "cpu"
        elif impl in ("cupy", "cupy-fused"):
            import cupy
            from ..backend import device_name
            ms, peak = time_numpy(sizes, steps, cupy, fused=impl == "cupy-fused")
            device = device_name(cupy)
        else:                                   # torch-eager, torch-compile
            ms, peak, device = time_torch(twin, sizes, steps, impl == "torch-compile")
        rows[impl] = {"shape": shape, "impl": impl, "device": device,
                      "ms_per_step": round(ms, 3),
                      "examples_per_s": round(BATCH / (ms / 1000), 1),
                      "peak_mem_mb": None if peak is None else round(peak, 1)}
    for r in rows.values():          # the ratio to torch-eager on the same kind of device
        base = [b for b in rows.values() if b["impl"] == "torch-eager"
                and (b["device"] == "cpu") == (r["device"] == "cpu")]
        r["ratio_vs_torch"] = round(base[0]["ms_per_step"] / r["ms_per_step"], 3) \
            if base else None
    return rows


def print_breakdown(shape, steps):
    whole, per_kernel = breakdown(SHAPES[shape], steps)
    print(f"{shape}: cupy-fused step {whole:.3f} ms, of which in tree.cu's kernels:")
    for name, ms in sorted(per_kernel.items(), key=lambda kv: -kv[1]):
        print(f"    {name:24} {ms:8.3f} ms")
    print(f"    {'(everything else)':24} {whole - sum(per_kernel.values()):8.3f} ms",
          flush=True)


def run(a):
    """Time every shape and implementation of BenchSettings `a`; print and write the
    records."""
    twin, impls = a.implementations()
    records = []
    for shape in a.shape_list():
        for r in time_shape(shape, impls, a.steps, twin).values():
            records.append(r)
            print(f"{shape:8} {r['impl']:14} {r['device']:24} {r['ms_per_step']:10.3f} ms  "
                  f"{r['examples_per_s']:9.1f} ex/s  peak {r['peak_mem_mb']} MB  "
                  f"x{r['ratio_vs_torch']} vs torch-eager", flush=True)
    if a.breakdown:
        for shape in a.shape_list():
            print_breakdown(shape, a.steps)
    if a.json:
        write_json(a.json, records)
    if a.markdown:
        with atomic_write(a.markdown) as fh:
            fh.write(markdown_table(records))
    return 0


def main(argv=None, prog="python -m imb_ref.experiments.bench"):
    """`python -m imb_ref.experiments.bench`: the same as `python run.py bench`."""
    p = parser("bench", HELP + ".", BenchSettings, prog=prog, epilog=__doc__)
    try:
        return run(BenchSettings.from_flags(vars(p.parse_args(argv))))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def markdown_table(records):
    """One row per record: shape, implementation, device, ms, examples/s, peak MB and
    the ratio to torch-eager on the same kind of device."""
    lines = ["| shape | implementation | device | ms per step | examples/s | peak MB | "
             "vs torch-eager |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in records:
        ratio = "-" if r["ratio_vs_torch"] is None else f"{r['ratio_vs_torch']:.2f}x"
        peak = "-" if r["peak_mem_mb"] is None else f"{r['peak_mem_mb']:.0f}"
        lines.append(f"| {r['shape']} | {r['impl']} | {r['device']} | {r['ms_per_step']:.3f} "
                     f"| {r['examples_per_s']:.0f} | {peak} | {ratio} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
