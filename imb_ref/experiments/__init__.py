"""The paper's experiments, built on the training loop: the information plane
(infoplane/, Section 5.3), Table 1 (table1.py, Section 5.1), the Carlini-Wagner
evaluation (attack/, Section 5.2) and the benchmark against PyTorch (bench.py)."""
