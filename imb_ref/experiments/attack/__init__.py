"""The Carlini-Wagner L2 attack (Section 5.2), evaluated honestly on stochastic networks.

target.py  the models as attack targets: logits of fresh draws, their input gradient
           from the models' own hand-written backward, and the real decision rule
cw.py      the attack: tanh change of variables, Adam, binary search on c, EOT
report.py  targeted and untargeted evaluation, verified metrics, the grid figure
"""
