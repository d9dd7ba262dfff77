// Deterministic sums of float partials across slices (blocks of a
// reduction), in double: the finalize step of the bf16 reductions
// (nhwc_batchnorm.cu) and of the first layer's weight gradient
// (nhwc_conv_small_cin.cu).
//
// part[q][slice][c] for q < Q, slice < slices, c < C. A finalize kernel runs
// fold_grid(C) blocks of kFoldBlock threads: kFoldChannels channels (x) by
// kFoldLanes lanes (y), so that even 64 channels spread over 8 SMs and each
// lane adds only slices / 128 partials (the loads' latency, not their bytes,
// is the cost: one thread per channel adding 512 partials took 60-110 us on
// an H200).
#pragma once

#include <cuda_runtime.h>

namespace ddpm {
namespace cuda {

constexpr int kFoldChannels = 8, kFoldLanes = 128;
inline dim3 fold_block() { return dim3(kFoldChannels, kFoldLanes); }
inline dim3 fold_grid(int C) { return dim3((C + kFoldChannels - 1) / kFoldChannels); }

#if defined(__CUDACC__)

__device__ __forceinline__ int fold_channel() { return blockIdx.x * kFoldChannels + threadIdx.x; }

template <int Q>
using FoldShared = double[Q][kFoldLanes][kFoldChannels];

// sum[q] = the sum over all slices of part[q][.][c], c = fold_channel(), for
// q < Q, in double, in one fixed order: lane y adds slices y, y + kFoldLanes,
// ... in order, then the lanes are added by a fixed tree. Every thread of the
// block must call it; the result is in lane 0 (threadIdx.y == 0).
template <int Q>
__device__ __forceinline__ void fold_slices(const float* __restrict__ part, long long slices, int C,
                                            FoldShared<Q>& sm, double (&sum)[Q]) {
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int c = fold_channel();
#pragma unroll
  for (int q = 0; q < Q; ++q) {
    double s = 0.0;
    if (c < C) {
      const float* p = part + static_cast<long long>(q) * slices * C + c;
#pragma unroll 4
      for (long long k = ty; k < slices; k += kFoldLanes) s += static_cast<double>(p[k * C]);
    }
    sm[q][ty][tx] = s;
  }
  __syncthreads();
  for (int half = kFoldLanes / 2; half > 0; half /= 2) {
    if (ty < half) {
#pragma unroll
      for (int q = 0; q < Q; ++q) sm[q][ty][tx] += sm[q][ty + half][tx];
    }
    __syncthreads();
  }
#pragma unroll
  for (int q = 0; q < Q; ++q) sum[q] = sm[q][0][tx];
}

#endif  // __CUDACC__

}  // namespace cuda
}  // namespace ddpm
