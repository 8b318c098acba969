"""Learning dynamics on the information plane (Section 5.3, Figures 1 and 2).

Trains the 12-10-8-6-4-2 binary stochastic network on the 12-bit task with SFNN,
JointIMB and GreedyIMB, several seeds each, and at log-spaced epochs computes
I(Z_l;X) and I(Z_l;Y) in bits *exactly*, by enumerating every state of every layer over
the whole input distribution (X uniform over the 4096 patterns; imb_ref.exact), as the
paper does ("we could precisely compute the (true) compression and relevance").

At every measurement the data-processing inequalities of the Markov chain
Y -> X -> Z_1 -> ... -> Z_L must hold: I(Z_l;X) >= I(Z_{l+1};X) and I(Z_l;Y) <= I(X;Y).
A violation stops the run with an error (it would mean a bug in the enumeration).

Outputs in the run folder: infoplane.csv (model,seed,epoch,layer,I_X,I_Y) with the rows
of every complete (model, seed) pair, runs.json (each pair's loss and test errors),
infoplane.png (Figure 1's panels), and summary.json / summary.md (the paper's claims
against what this run shows; report.py reads the CSV and writes these).

A pair in progress keeps its rows in parts/<model>-<seed>.csv, written row by row, and
its parameters and optimiser state in parts/<model>-<seed>.npz, saved every
CHECKPOINT_EVERY epochs and at each measurement. Rerunning the same command with the same
--output-dir skips the complete pairs and continues the others from their checkpoints,
with the numbers of an uninterrupted run; a complete pair's rows move to infoplane.csv.

Each (model, seed) is a pure function of its seed, so `jobs` > 1 trains several at once,
one per worker process (NumPy, one BLAS thread each): the paper's protocol is 15 of them.
The numbers are the same as with jobs = 1.

The rooms: settings.py (InfoplaneSettings), measure.py (one pair: the hook on the training
loop and the exact measurements), pair.py (one pair's files in progress), pool.py (pairs
here or in worker processes), experiment.py (every pair, the bookkeeping), report.py (the
summary over seeds, judged by imb_ref.claims.judge, and the figure), progress.py (the
pairs' progress bars), command.py (the command).
"""

from .command import command
from .experiment import completed_runs, drop_partial, run_experiment
from .measure import (CHECKPOINT_EVERY, CSV_COLUMNS, build, check_data_processing,
                      exact_error, label_information, measurement_epochs, train_and_measure,
                      whole_distribution)
from .pair import pair_paths, train_pair
from .report import figure_title, write_report
from .settings import InfoplaneSettings

__all__ = ["command", "completed_runs", "drop_partial", "run_experiment", "CHECKPOINT_EVERY",
           "CSV_COLUMNS", "build", "check_data_processing", "exact_error",
           "label_information", "measurement_epochs", "train_and_measure",
           "whole_distribution", "pair_paths", "train_pair", "figure_title", "write_report",
           "InfoplaneSettings"]
