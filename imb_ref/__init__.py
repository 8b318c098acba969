"""imb_ref: a NumPy/CuPy reference implementation of Information Multi-Bottlenecks.

Every forward and backward pass is written by hand; library functions take the array
module of the arrays they are given (NumPy on the CPU, CuPy on the GPU).
"""

__version__ = "0.1.0"
