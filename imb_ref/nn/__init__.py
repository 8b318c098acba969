"""Layers as forward/backward pairs of plain functions (CS231n style).

`<name>_forward(...) -> (out, cache)` and `<name>_backward(dout, cache) -> grads`.
Every function takes the array module of its inputs, so the same code runs on NumPy
and CuPy.
"""
