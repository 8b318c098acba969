// Fused kernels for the stochastic tree of Section 4 (Algorithm 1): the leaves are
// drawn inside the kernels from a counter-based generator and never written to memory.
//
// Compiled per (REAL, NCLASS): REAL is float or double, NCLASS the number of classes C,
// a compile-time constant so the C logits of a leaf stay in registers. The same source
// is compiled by NVRTC through CuPy (imb_ref/gpu/fused.py) and, for the tests, by the host
// C++ compiler with a small shim (tests/cuda_emu.py). Every kernel is a grid-stride loop
// with no shared memory and no barrier, so its result does not depend on the launch
// configuration: one host thread running the loop alone computes the same numbers.
//
// Noise. Particle i of hidden layer l (i = (b * P + g) * M + c: example b, parent g,
// child c) and unit j draw their uniform from Philox4x32-10 (Salmon et al. 2011) at
//     counter = (i mod 2^32, j / 4, l, i / 2^32),  key = (key[0], key[1]),
// word j mod 4 of the output. imb_ref/gpu/philox.py: philox_uniforms writes out the same
// numbers in the layout of imb_ref/models/sbn.py, so the reference path can be run on
// exactly the noise a fused step used.

#ifndef REAL
#define REAL float
#endif
#ifndef NCLASS
#define NCLASS 10
#endif

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

struct philox_block { unsigned int v[4]; };

// Philox4x32 with 10 rounds, as Random123's philox4x32_R(10, ...).
__device__ __forceinline__ philox_block philox4x32_10(unsigned int c0, unsigned int c1,
                                                       unsigned int c2, unsigned int c3,
                                                       unsigned int k0, unsigned int k1)
{
    for (int r = 0; r < 10; ++r) {
        if (r > 0) { k0 += PHILOX_W0; k1 += PHILOX_W1; }
        unsigned int hi0 = __umulhi(PHILOX_M0, c0), lo0 = PHILOX_M0 * c0;
        unsigned int hi1 = __umulhi(PHILOX_M1, c2), lo1 = PHILOX_M1 * c2;
        unsigned int n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
        c0 = n0; c1 = lo1; c2 = n2; c3 = lo0;
    }
    philox_block out;
    out.v[0] = c0; out.v[1] = c1; out.v[2] = c2; out.v[3] = c3;
    return out;
}

__device__ __forceinline__ philox_block unit_block(unsigned long long i, unsigned int q,
                                                   int layer, const unsigned int* key)
{
    return philox4x32_10((unsigned int)(i & 0xffffffffull), q, (unsigned int)layer,
                         (unsigned int)(i >> 32), key[0], key[1]);
}

// A 32-bit word to a uniform in [0, 1), exactly representable in REAL: the top 24 bits
// for float (as NumPy's float32 generator), all 32 for double.
__device__ __forceinline__ REAL to_uniform(unsigned int bits)
{
    if (sizeof(REAL) == 4) return (REAL)(bits >> 8) * (REAL)5.9604644775390625e-08;
    return (REAL)bits * (REAL)2.3283064365386963e-10;
}

#define GRID_STRIDE(t, total)                                                        \
    for (long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x; t < (total);  \
         t += (long long)blockDim.x * gridDim.x)

// z[i, j] = 1[u(i, j) < p[i / M, j]] for the children of a stored (non-leaf) layer.
// p: (nparent, n), z: (nparent * M, n). One item per (child, group of four units).
extern "C" __global__ void tree_sample(const REAL* p, REAL* z, const unsigned int* key,
                                       long long nparent, int M, int n, int layer)
{
    const int nq = (n + 3) / 4;
    GRID_STRIDE(t, nparent * M * nq) {
        const long long i = t / nq;
        const int q = (int)(t % nq);
        const REAL* prow = p + (i / M) * n;
        philox_block r = unit_block((unsigned long long)i, (unsigned int)q, layer, key);
        #pragma unroll
        for (int w = 0; w < 4; ++w) {
            const int j = 4 * q + w;
            if (j < n) z[i * n + j] = to_uniform(r.v[w]) < prow[j] ? (REAL)1 : (REAL)0;
        }
    }
}

// The leaf layer forward, fused: draw leaf i's units, form its logits z W + b, and the
// log-softmax at the example's label, without writing z.
// p: (nparent, n) parent probabilities; W: (n, NCLASS); b: (NCLASS,); y: (B,) labels;
// leaves: leaves per example (the M**L of the tree). Writes logits (nparent * M, NCLASS),
// lse (nparent * M,) = logsumexp of the logits, ell = logits[y] - lse.
extern "C" __global__ void tree_leaf_forward(const REAL* p, const REAL* W, const REAL* b,
                                             const int* y, const unsigned int* key,
                                             REAL* logits, REAL* lse, REAL* ell,
                                             long long nparent, int M, int n, int leaves,
                                             int layer)
{
    const int nq = (n + 3) / 4;
    GRID_STRIDE(i, nparent * M) {
        const REAL* prow = p + (i / M) * n;
        REAL acc[NCLASS];
        #pragma unroll
        for (int k = 0; k < NCLASS; ++k) acc[k] = 0;
        for (int q = 0; q < nq; ++q) {
            philox_block r = unit_block((unsigned long long)i, (unsigned int)q, layer, key);
            #pragma unroll
            for (int w = 0; w < 4; ++w) {
                const int j = 4 * q + w;
                if (j < n && to_uniform(r.v[w]) < prow[j]) {
                    const REAL* Wrow = W + j * NCLASS;
                    #pragma unroll
                    for (int k = 0; k < NCLASS; ++k) acc[k] += Wrow[k];
                }
            }
        }
        REAL m = acc[0] + b[0];
        #pragma unroll
        for (int k = 0; k < NCLASS; ++k) {
            acc[k] += b[k];
            logits[i * NCLASS + k] = acc[k];
            m = acc[k] > m ? acc[k] : m;
        }
        const int label = y[i / leaves];
        REAL s = 0, picked = 0;
        #pragma unroll
        for (int k = 0; k < NCLASS; ++k) {         // no acc[label]: keeps acc in registers
            s += exp(acc[k] - m);
            if (k == label) picked = acc[k];
        }
        const REAL l = m + log(s);
        lse[i] = l;
        ell[i] = picked - l;
    }
}

// The leaf layer's weight gradient, dW = sum over leaves of z^T dlogits, with the leaves
// drawn again from the same counters instead of read back. One item per (chunk of
// `chunk` consecutive parents, group of four units); it writes its four rows of the
// chunk's partial sum: partial (nchunk, n, NCLASS), summed over chunks by the caller.
extern "C" __global__ void tree_leaf_weight_grad(const REAL* p, const REAL* dlogits,
                                                 const unsigned int* key, REAL* partial,
                                                 long long nparent, int M, int n, int chunk,
                                                 int layer)
{
    const int nq = (n + 3) / 4;
    const long long nchunk = (nparent + chunk - 1) / chunk;
    GRID_STRIDE(t, nchunk * nq) {
        const long long c = t / nq;
        const int q = (int)(t % nq);
        REAL acc[4][NCLASS];
        #pragma unroll
        for (int w = 0; w < 4; ++w) {
            #pragma unroll
            for (int k = 0; k < NCLASS; ++k) acc[w][k] = 0;
        }
        const long long g_end = (c + 1) * chunk < nparent ? (c + 1) * chunk : nparent;
        for (long long g = c * chunk; g < g_end; ++g) {
            REAL pg[4];
            #pragma unroll
            for (int w = 0; w < 4; ++w) pg[w] = 4 * q + w < n ? p[g * n + 4 * q + w] : (REAL)0;
            for (int m = 0; m < M; ++m) {
                const long long i = g * M + m;
                philox_block r = unit_block((unsigned long long)i, (unsigned int)q, layer, key);
                const REAL* d = dlogits + i * NCLASS;
                #pragma unroll
                for (int w = 0; w < 4; ++w) {
                    if (to_uniform(r.v[w]) < pg[w]) {
                        #pragma unroll
                        for (int k = 0; k < NCLASS; ++k) acc[w][k] += d[k];
                    }
                }
            }
        }
        #pragma unroll
        for (int w = 0; w < 4; ++w) {
            const int j = 4 * q + w;
            if (j < n) {
                #pragma unroll
                for (int k = 0; k < NCLASS; ++k) partial[(c * n + j) * NCLASS + k] = acc[w][k];
            }
        }
    }
}

// VCR's log-mean-exp, bottom-up (Eqs. 6-7, imb_ref/nn/vcr.py): the logsumexp of a
// layer-l particle's leaves is the logsumexp of its M children's, so level l's groups
// come from level l+1's in one pass over M values each. child: (ngroup * M,), parent:
// (ngroup,). Level L is ell itself.
extern "C" __global__ void tree_group_lse(const REAL* child, REAL* parent, long long ngroup,
                                          int M)
{
    GRID_STRIDE(g, ngroup) {
        const REAL* c = child + g * M;
        REAL m = c[0];
        for (int k = 1; k < M; ++k) m = c[k] > m ? c[k] : m;
        if (!isfinite(m)) m = 0;                       // all -inf: the sum is 0, log -inf
        REAL s = 0;
        for (int k = 0; k < M; ++k) s += exp(c[k] - m);
        parent[g] = m + log(s);
    }
}

// dloss/dlogits of every leaf, the VCR backward and the log-softmax backward in one pass:
//   dell_i = - sum_l coef[l] exp(ell_i - lse_{l, group of i}),  coef[l] = gamma_l / (B M**l)
//   dlogits_ik = dell_i (1[k = y] - exp(logits_ik - lse_i)).
// glse: levels 0..L of the group logsumexps, level l (B * M**l values) after levels < l.
extern "C" __global__ void tree_leaf_backward(const REAL* logits, const REAL* lse,
                                              const REAL* ell, const int* y,
                                              const REAL* glse, const REAL* coef,
                                              REAL* dlogits, long long nleaf, int M, int L,
                                              int leaves)
{
    const long long B = nleaf / leaves;
    GRID_STRIDE(i, nleaf) {
        const long long b = i / leaves, r = i % leaves;
        REAL dell = 0;
        long long offset = 0, groups = 1, span = leaves;   // level l: B * M**l groups of span
        for (int l = 0; l <= L; ++l) {
            dell -= coef[l] * exp(ell[i] - glse[offset + b * groups + r / span]);
            offset += B * groups;
            groups *= M;
            span /= M;
        }
        const int label = y[b];
        #pragma unroll
        for (int k = 0; k < NCLASS; ++k) {
            const REAL soft = exp(logits[i * NCLASS + k] - lse[i]);
            dlogits[i * NCLASS + k] = dell * ((k == label ? (REAL)1 : (REAL)0) - soft);
        }
    }
}

__device__ __forceinline__ REAL softplus(REAL v)     // log(1 + e^v), exact in both tails
{
    return (v > 0 ? v : (REAL)0) + log1p(exp(-fabs(v)));
}

__device__ __forceinline__ REAL stable_sigmoid(REAL v)
{
    const REAL e = exp(-fabs(v)), r = (REAL)1 / ((REAL)1 + e);
    return v >= 0 ? r : e * r;
}

// A hidden layer's units, forward: p = sigmoid(a) and the compression term of Eq. (10)
// per unit, KL(Bern(p) || Bern(q)) = p (a - rho) + softplus(rho) - softplus(a)
// (imb_ref/nn/kl.py). a, p, kl: (nrows, n); rho: (n,) prior logits.
extern "C" __global__ void tree_unit_forward(const REAL* a, const REAL* rho, REAL* p,
                                             REAL* kl, long long nrows, int n)
{
    GRID_STRIDE(t, nrows * n) {
        const REAL x = a[t], r = rho[t % n];
        const REAL pt = stable_sigmoid(x);
        p[t] = pt;
        kl[t] = pt * (x - r) + softplus(r) - softplus(x);
    }
}

// A hidden layer's units, backward: the surrogate through z (Raiko: dz/da = p(1-p);
// straight-through: 1) applied to the children's summed gradient, plus the KL term's,
//   da = dz_sum dz/da + coef p (1 - p) (a - rho),        coef = beta / (B P),
// and q - p per unit (q = sigmoid(rho)), which the caller sums into drho = coef sum(q - p).
extern "C" __global__ void tree_unit_backward(const REAL* a, const REAL* p, const REAL* rho,
                                              const REAL* dz_sum, REAL* da, REAL* qp,
                                              REAL coef, int raiko, long long nrows, int n)
{
    GRID_STRIDE(t, nrows * n) {
        const int j = (int)(t % n);
        const REAL pt = p[t], slope = pt * ((REAL)1 - pt);
        da[t] = dz_sum[t] * (raiko ? slope : (REAL)1) + coef * slope * (a[t] - rho[j]);
        qp[t] = stable_sigmoid(rho[j]) - pt;
    }
}
