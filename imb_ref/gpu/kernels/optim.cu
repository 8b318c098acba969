// The optimisers of imb_ref/optim.py as one kernel each: on a GPU the reference update is
// 6 to 13 array operations per parameter (each a launch), this is one. Same arithmetic in
// the same order as optim.py; hyper-parameters and bias corrections come in as scalars
// already cast to REAL, as NumPy casts a Python float against a REAL array. Grid-stride
// loops, no shared memory: see tree.cu's header on how they are tested on the CPU.

#ifndef REAL
#define REAL float
#endif

#define GRID_STRIDE(t, total)                                                        \
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < (total);  \
         t += (long long)blockDim.x * gridDim.x)

// sgd: v = mu v + g; w -= lr v  (mu = 0: w -= lr g, v untouched)
extern "C" __global__ void optim_sgd(REAL* w, const REAL* g, REAL* v, REAL lr, REAL mu,
                                     long long n)
{
    GRID_STRIDE(t, n) {
        REAL step = g[t];
        if (mu != 0) { v[t] = v[t] * mu + g[t]; step = v[t]; }
        w[t] = w[t] - lr * step;
    }
}

// adam: c1 = 1 - b1, c2 = 1 - b2, step = lr / (1 - b1^t), bc2 = 1 - b2^t
extern "C" __global__ void optim_adam(REAL* w, const REAL* g, REAL* m, REAL* v, REAL b1,
                                      REAL c1, REAL b2, REAL c2, REAL step, REAL bc2,
                                      REAL eps, long long n)
{
    GRID_STRIDE(t, n) {
        m[t] = m[t] * b1 + c1 * g[t];
        v[t] = v[t] * b2 + c2 * g[t] * g[t];
        w[t] = w[t] - step * m[t] / (sqrt(v[t] / bc2) + eps);
    }
}

// adamax: u = max(b2 u, |g| + eps); w -= step m / u, step = lr / (1 - b1^t)
extern "C" __global__ void optim_adamax(REAL* w, const REAL* g, REAL* m, REAL* u, REAL b1,
                                        REAL c1, REAL b2, REAL step, REAL eps, long long n)
{
    GRID_STRIDE(t, n) {
        m[t] = m[t] * b1 + c1 * g[t];
        const REAL a = b2 * u[t], b = fabs(g[t]) + eps;
        u[t] = a > b ? a : b;
        w[t] = w[t] - step * m[t] / u[t];
    }
}

// adadelta: E[g2] = rho E[g2] + (1 - rho) g^2; dx = sqrt(E[dx2] + eps) / sqrt(E[g2] + eps) g;
// E[dx2] = rho E[dx2] + (1 - rho) dx^2; w -= lr dx
extern "C" __global__ void optim_adadelta(REAL* w, const REAL* g, REAL* eg, REAL* ed,
                                          REAL rho, REAL c, REAL lr, REAL eps, long long n)
{
    GRID_STRIDE(t, n) {
        eg[t] = eg[t] * rho + c * g[t] * g[t];
        const REAL dx = sqrt(ed[t] + eps) / sqrt(eg[t] + eps) * g[t];
        ed[t] = ed[t] * rho + c * dx * dx;
        w[t] = w[t] - lr * dx;
    }
}

// adagrad: G += g^2; w -= lr g / (sqrt(G) + eps)
extern "C" __global__ void optim_adagrad(REAL* w, const REAL* g, REAL* G, REAL lr, REAL eps,
                                         long long n)
{
    GRID_STRIDE(t, n) {
        G[t] = G[t] + g[t] * g[t];
        w[t] = w[t] - lr * g[t] / (sqrt(G[t]) + eps);
    }
}

// rmsprop: s = a s + (1 - a) g^2; w -= lr g / (sqrt(s) + eps)
extern "C" __global__ void optim_rmsprop(REAL* w, const REAL* g, REAL* s, REAL a, REAL c,
                                         REAL lr, REAL eps, long long n)
{
    GRID_STRIDE(t, n) {
        s[t] = s[t] * a + c * g[t] * g[t];
        w[t] = w[t] - lr * g[t] / (sqrt(s[t]) + eps);
    }
}
