// The GPU half of `nativebench env --probe`: a streaming read of device memory and a
// register-resident f32 FMA loop. Compiled to PTX by build.rs when the `cuda` feature is
// on (never on a CPU-only build) and loaded by src/probe/gpu.rs. Matmul throughput is
// measured through cuBLAS (candle's matmul), the library engines themselves call.

// Sums `n` float4s with a grid-stride loop (each thread reads 16-byte words, coalesced
// across the warp) and adds each block's total to `out` once, so the reads cannot be
// optimised away. The buffer is far larger than L2, so this is DRAM/HBM read bandwidth.
extern "C" __global__ void nb_read_f4(const float4* __restrict__ in, unsigned long long n,
                                      float* out) {
    float acc = 0.0f;
    const unsigned long long stride = (unsigned long long)gridDim.x * blockDim.x;
    for (unsigned long long i = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
         i < n; i += stride) {
        const float4 v = in[i];
        acc += (v.x + v.y) + (v.z + v.w);
    }
    // Warp, then block reduction: one atomic per block.
    for (int off = 16; off > 0; off >>= 1) acc += __shfl_down_sync(0xffffffffu, acc, off);
    __shared__ float warp_sums[32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) warp_sums[warp] = acc;
    __syncthreads();
    if (warp == 0) {
        acc = lane < (int)((blockDim.x + 31) >> 5) ? warp_sums[lane] : 0.0f;
        for (int off = 16; off > 0; off >>= 1) acc += __shfl_down_sync(0xffffffffu, acc, off);
        if (lane == 0) atomicAdd(out, acc);
    }
}

// Eight independent FMA chains per thread, `iters` rounds each: 16 FLOPs per thread and
// round, enough independent work to hide the FMA pipeline's latency. Each thread writes
// its result, so nothing is dead code; `a` and `b` come from the host so nothing folds.
#define NB_CHAINS 8
extern "C" __global__ void nb_fma_f32(float* out, int iters, float a, float b) {
    float x[NB_CHAINS];
    const float seed = (float)(blockIdx.x * blockDim.x + threadIdx.x) * 1e-7f;
#pragma unroll
    for (int c = 0; c < NB_CHAINS; ++c) x[c] = seed + (float)c;
    for (int i = 0; i < iters; ++i) {
#pragma unroll
        for (int c = 0; c < NB_CHAINS; ++c) x[c] = fmaf(x[c], a, b);
    }
    float s = 0.0f;
#pragma unroll
    for (int c = 0; c < NB_CHAINS; ++c) s += x[c];
    out[blockIdx.x * blockDim.x + threadIdx.x] = s;
}
