"""The GPU path around the reference: the fused objective (fused.py), the CUDA kernels
(kernels/tree.cu, kernels/optim.cu), compiling and launching them (launch.py) and their
counter-based generator (philox.py). Nothing in the reference imports this package; a
model gets the fused path handed in (imb_ref.training.run.build_model)."""
