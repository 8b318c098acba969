"""Training around the reference: the loop with its after-epoch hook (loop.py),
evaluation and memory checks (evaluate.py), run folders and checkpoints
(checkpoint.py, run_state.py, metrics.py), settings and presets (settings.py), one run
from its settings (run.py), and the train and golden commands (commands.py)."""
