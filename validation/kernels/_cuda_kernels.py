"""numba.cuda kernel definitions (see validation/kernels/cuda.py, which imports this module
lazily). Module-level so the CUDA simulator can swap `cuda` in the kernels' globals."""

# ruff: noqa: E402  (the NumPy alias must precede the numba.cuda import)
from infersim.validation.kernels.cuda_compat import numpy_compat

numpy_compat()

from numba import cuda, float32, float64

from infersim.validation.kernels.cpu import VFMA_DEPTH  # one definition of the FMA chain depth

BLOCK = 256  # threads per block of the 1-D kernels (shared array size of the reduction)
TILE = 16  # GEMM tile edge (TILE × TILE threads per block)


@cuda.jit
def copy(a, c):  # pragma: no cover - device code
    i0 = cuda.grid(1)
    step = cuda.gridsize(1)
    for i in range(i0, a.shape[0], step):
        c[i] = a[i]


@cuda.jit
def scale(c, b, s):  # pragma: no cover
    i0 = cuda.grid(1)
    step = cuda.gridsize(1)
    for i in range(i0, c.shape[0], step):
        b[i] = s * c[i]


@cuda.jit
def add(a, b, c):  # pragma: no cover
    i0 = cuda.grid(1)
    step = cuda.gridsize(1)
    for i in range(i0, a.shape[0], step):
        c[i] = a[i] + b[i]


@cuda.jit
def triad(b, c, a, s):  # pragma: no cover
    i0 = cuda.grid(1)
    step = cuda.gridsize(1)
    for i in range(i0, b.shape[0], step):
        a[i] = b[i] + s * c[i]


@cuda.jit
def vfma(x, out, c1, c2):  # pragma: no cover
    i0 = cuda.grid(1)
    step = cuda.gridsize(1)
    for i in range(i0, x.shape[0], step):
        v = x[i]
        w = v * c1
        y0 = v
        y1 = v + c2
        y2 = v - c2
        y3 = w
        y4 = w + c2
        y5 = w - c2
        y6 = v + c1
        y7 = w + c1
        for _ in range(VFMA_DEPTH):
            y0 = y0 * w + c2
            y1 = y1 * w + c2
            y2 = y2 * w + c2
            y3 = y3 * w + c2
            y4 = y4 * w + c2
            y5 = y5 * w + c2
            y6 = y6 * w + c2
            y7 = y7 * w + c2
        out[i] = ((y0 + y1) + (y2 + y3)) + ((y4 + y5) + (y6 + y7))


@cuda.jit
def empty(out):  # pragma: no cover
    if cuda.grid(1) == 0:
        out[0] = 1


def make_sum(nbtype):
    @cuda.jit
    def block_sum(a, out):  # pragma: no cover
        sm = cuda.shared.array(BLOCK, dtype=nbtype)
        t = cuda.threadIdx.x
        acc = nbtype(0)
        for i in range(cuda.grid(1), a.shape[0], cuda.gridsize(1)):
            acc += a[i]
        sm[t] = acc
        cuda.syncthreads()
        s = cuda.blockDim.x // 2  # a power of two ≤ BLOCK
        while s > 0:
            if t < s:
                sm[t] += sm[t + s]
            cuda.syncthreads()
            s //= 2
        if t == 0:
            cuda.atomic.add(out, 0, sm[0])
    return block_sum


def make_gemm(nbtype):
    @cuda.jit
    def gemm(A, B, C):  # pragma: no cover
        sa = cuda.shared.array((TILE, TILE), dtype=nbtype)
        sb = cuda.shared.array((TILE, TILE), dtype=nbtype)
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        row = cuda.blockIdx.y * TILE + ty
        col = cuda.blockIdx.x * TILE + tx
        M, K = A.shape
        N = B.shape[1]
        acc = nbtype(0)
        for k0 in range(0, K, TILE):
            sa[ty, tx] = A[row, k0 + tx] if (row < M and k0 + tx < K) else nbtype(0)
            sb[ty, tx] = B[k0 + ty, col] if (k0 + ty < K and col < N) else nbtype(0)
            cuda.syncthreads()
            for kk in range(TILE):
                acc += sa[ty, kk] * sb[kk, tx]
            cuda.syncthreads()
        if row < M and col < N:
            C[row, col] = acc
    return gemm


SUM = {"fp32": make_sum(float32), "fp64": make_sum(float64)}
GEMM = {"fp32": make_gemm(float32), "fp64": make_gemm(float64)}
