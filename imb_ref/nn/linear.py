"""The affine layer y = x W + b on particles of any leading shape.

Rows are vectors (x is (..., n_in), W is (n_in, n_out)), as in the model issue's
notation a_l = z_{l-1} W_{l-1} + b_{l-1}.
"""


def linear_forward(x, W, b):
    """x (..., n_in), W (n_in, n_out), b (n_out,) -> y (..., n_out), cache."""
    y = x @ W + b
    return y, (x, W)


def linear_backward(dy, cache, need_dx=True):
    """dy (..., n_out) -> dx (..., n_in) or None, dW (n_in, n_out), db (n_out,).

    The weight gradient sums over every particle: the leading axes are flattened
    into one so that a single matrix product does the sum.
    """
    x, W = cache
    n_in, n_out = W.shape
    x2 = x.reshape(-1, n_in)
    dy2 = dy.reshape(-1, n_out)
    dW = x2.T @ dy2
    db = dy2.sum(axis=0)
    dx = (dy @ W.T) if need_dx else None
    return dx, dW, db
