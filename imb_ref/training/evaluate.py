"""Prediction error of a model on a split: stochastic passes and the mean-field network.

A stochastic network predicts with the softmax averaged over its M**L leaves (Section
5.1, Appendix D): we report the mean and standard deviation of the error over several
independent passes, and the error of the deterministic mean-field network (z_l = p_l).
Examples are processed in chunks sized by `max_memory`.
"""

import os

import numpy as np

from ..backend import make_rng, to_numpy
from ..errors import UserError
from ..streams import Stream

GB = 1024 ** 3


# Parameters, their gradients and up to two optimiser states (Adam's moments): the memory
# training holds whatever the batch size.
COPIES_OF_PARAMETERS = 4


def physical_memory():
    """Bytes of memory on this machine (None where the system does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def check_parameters_fit(model, itemsize, memory=None):
    """Refuse a network whose parameters (with gradients and optimiser state) cannot
    fit in this machine's memory, naming the sizes, before anything is allocated."""
    memory = physical_memory() if memory is None else memory
    need = COPIES_OF_PARAMETERS * model.n_params() * itemsize
    if memory is not None and need > memory:
        raise UserError(f"--hidden {','.join(map(str, model.sizes[1:-1]))}: "
                        f"{model.n_params():,} parameters take {_human(need)} with their "
                        f"gradients and optimiser state, more than this machine's "
                        f"{_human(memory)} of memory; use smaller widths")


def chunk_size(model, itemsize, max_memory_gb, batch, training):
    """Examples per chunk that keep the working memory under `max_memory_gb`; refuses
    a network whose parameters alone do not fit (check_parameters_fit)."""
    check_parameters_fit(model, itemsize)
    per_example = model.bytes_per_example(itemsize, training)
    fit = int(max_memory_gb * GB // per_example)
    if fit < 1:
        M = model.M if training else model.test_samples
        raise UserError(f"one example needs about {_human(per_example)} "
                        f"(hidden {','.join(map(str, model.sizes[1:-1]))}, M={M}, "
                        f"{M ** model.L} leaves) but --max-memory is {max_memory_gb} GB; "
                        f"raise --max-memory or lower --samples")
    return max(1, min(batch, fit))


def _human(n_bytes):
    for unit, size in (("GB", GB), ("MB", 1024 ** 2), ("kB", 1024)):
        if n_bytes >= size:
            return f"{n_bytes / size:.1f} {unit}"
    return f"{n_bytes} bytes"


def count_errors(probs, y):
    """Misclassified examples, left on the device (one transfer per evaluation)."""
    return (probs.argmax(axis=1) != y).sum()


def error_rate(predict, x, y, chunk):
    """Fraction misclassified; `predict(x_chunk)` -> (n, C) probabilities."""
    n = int(y.shape[0])
    if n == 0:
        return float("nan")
    wrong = 0
    for start in range(0, n, chunk):
        probs = predict(x[start:start + chunk])
        wrong = wrong + count_errors(probs, y[start:start + chunk])
    return float(to_numpy(wrong)) / n


def evaluate(model, params, x, y, xp, seed, stream, runs, max_memory_gb):
    """{'error_mean', 'error_std', 'errors', 'meanfield_error'} over `runs` passes."""
    chunk = chunk_size(model, x.dtype.itemsize, max_memory_gb, 1000, training=False)
    errors = []
    for run in range(runs):
        rng = make_rng(xp, seed, Stream.TEST_PASSES, *stream, run)
        errors.append(error_rate(lambda xb: model.predict_proba(params, xb, rng), x, y, chunk))
    meanfield = error_rate(lambda xb: model.predict_meanfield(params, xb), x, y, 1000)
    errors = np.array(errors)
    return {"error_mean": float(errors.mean()), "error_std": float(errors.std()),
            "errors": errors.tolist(), "meanfield_error": meanfield}
