#!/usr/bin/env python3
"""imb_ref's command line: one command per job.

    python run.py                                  # the embedded demo (no download): a short
                                                   # information-plane run, a few minutes
    python run.py train --dataset mnist            # one model (default JointIMB)
    python run.py --backend cupy --dataset cifar10 # the same: `train` is the default command
    python run.py train --resume runs/mnist-...    # continue an interrupted run
    python run.py infoplane --preset paper         # Section 5.3 in full (20,000 epochs, 5 seeds)
    python run.py table1 --dataset mnist           # Table 1 (Section 5.1), the paper's protocol
    python run.py attack runs/mnist-jointimb-...   # Section 5.2: C&W L2 against a trained run
    python run.py golden case.npz                  # a reference case for cross-checks
    python run.py golden --check case.npz          # check a case another framework wrote
    python run.py bench                            # time the objective against PyTorch

Each command has its own --help; a flag of another command is refused. Bad input ends
with one line on stderr and exit code 2. The parsers and the dispatch are
imb_ref/cli.py (also `python -m imb_ref` where the package is installed); each job lives
with its experiment (training/experiment.py, experiments/*.py).
"""

import sys

from imb_ref.cli import main

if __name__ == "__main__":
    sys.exit(main())
