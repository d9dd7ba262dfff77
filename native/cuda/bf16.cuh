// bfloat16 helpers for the channels-last activation format of the CUDA
// backend with precision bf16 (Backend::ActivationFormat::kBFloat16NHWC).
//
// An activation (N, C, H, W) is stored as N*H*W "rows" of C contiguous
// bfloat16 values. Kernels over such tensors hand each thread V consecutive
// channels of one row: V = 8 (one 16-byte load) when C % 8 == 0 and the
// pointers are 16-byte aligned, else V = 1. All arithmetic is in float; only
// loads and stores are bfloat16 (round to nearest even on store).
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

#include "common.cuh"

namespace ddpm {
namespace cuda {

using bf16 = __nv_bfloat16;

// Channels per thread for a row of C channels at these addresses.
inline int nhwc_vec(int C, std::initializer_list<const void*> ptrs) {
  if (C % 8 != 0) return 1;
  for (const void* p : ptrs)
    if (p && !aligned16(p)) return 1;
  return 8;
}

// Device scratch that grows to the largest size asked for and is then
// reused: it allocates (after draining the stream, as work in flight may use
// the old block) only the first time a larger shape is seen, so a training
// step after the first one allocates nothing. The backend's reduction
// partials, the bf16 weight copies and the cuDNN workspace are each one.
class GrowBuffer {
 public:
  GrowBuffer() = default;
  ~GrowBuffer();
  GrowBuffer(const GrowBuffer&) = delete;
  GrowBuffer& operator=(const GrowBuffer&) = delete;
  void* get(size_t bytes, cudaStream_t stream, const char* op);
  void* data() const { return p_; }
  size_t bytes() const { return bytes_; }

 private:
  void* p_ = nullptr;
  size_t bytes_ = 0;
};

#if defined(__CUDACC__)

template <int V>
__device__ __forceinline__ void load_bf16(const bf16* p, float (&v)[V]) {
  if constexpr (V == 8) {
    const uint4 raw = *reinterpret_cast<const uint4*>(p);
    const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&raw);
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      const float2 f = __bfloat1622float2(h[k]);
      v[2 * k] = f.x;
      v[2 * k + 1] = f.y;
    }
  } else {
#pragma unroll
    for (int k = 0; k < V; ++k) v[k] = __bfloat162float(p[k]);
  }
}

template <int V>
__device__ __forceinline__ void store_bf16(bf16* p, const float (&v)[V]) {
  if constexpr (V == 8) {
    uint4 raw;
    __nv_bfloat162* h = reinterpret_cast<__nv_bfloat162*>(&raw);
#pragma unroll
    for (int k = 0; k < 4; ++k) h[k] = __floats2bfloat162_rn(v[2 * k], v[2 * k + 1]);
    *reinterpret_cast<uint4*>(p) = raw;
  } else {
#pragma unroll
    for (int k = 0; k < V; ++k) p[k] = __float2bfloat16_rn(v[k]);
  }
}

// V consecutive floats (any alignment: scalar loads, cached).
template <int V>
__device__ __forceinline__ void load_f32(const float* p, float (&v)[V]) {
#pragma unroll
  for (int k = 0; k < V; ++k) v[k] = __ldg(p + k);
}

#endif  // __CUDACC__

}  // namespace cuda
}  // namespace ddpm
