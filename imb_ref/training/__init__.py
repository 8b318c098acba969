"""Training around the reference: the loop with its after-epoch hook (loop.py),
evaluation and memory checks (evaluate.py), run folders and checkpoints
(checkpoint.py), settings and presets (settings.py), and one run from a configuration
(experiment.py)."""
