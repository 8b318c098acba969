"""tests/data/forgot_gammas.npz: the PyTorch twin's committed case with its computed
tensors replaced by those of a twin that forgets the gammas (every gamma 1, the case's
own gammas kept). README's cross-checking recipe checks it to show what a wrong twin
sees; test_golden regenerates it and compares.

    PYTHONPATH=. python tests/forgot_gammas.py      # rewrites tests/data/forgot_gammas.npz
"""

import os

import numpy as np

from imb_ref import golden

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def forgot_gammas_case():
    case = golden.read_case(os.path.join(DATA, "twin_case.npz"))
    L = sum(k.startswith("u_") for k in case)
    wrong = golden.compute(golden.case_params(case), case["x"], case["y"],
                           [case[f"u_{l}"] for l in range(1, L + 1)], int(case["M"]),
                           np.ones_like(case["gammas"]), case["betas"])
    return {**case, **wrong}


if __name__ == "__main__":
    np.savez(os.path.join(DATA, "forgot_gammas.npz"), **forgot_gammas_case())
