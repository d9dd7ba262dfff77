// The time-embedding path, as native/cpu/dense.cpp: Linear through cuBLAS
// sgemm (row-major tensors read as column-major transposes), SiLU, and the
// table lookup. Linear's bias is broadcast into y before the GEMM (beta = 1);
// its gradient is a column sum.
#include <string>

#include "common.cuh"
#include "ops.h"

namespace ddpm {
namespace cuda {

[[noreturn]] void throw_cublas(const char* op, const char* call, cublasStatus_t s) {
  const std::string fn = std::string(call).substr(0, std::string(call).find('('));
  throw Error(std::string("cuda ") + op + ": " + fn + " failed: " + cublasGetStatusString(s) + " (cublasStatus " +
              std::to_string(static_cast<int>(s)) + ")");
}
#define DDPM_CUBLAS(op, call)                                                    \
  do {                                                                           \
    cublasStatus_t _s = (call);                                                  \
    if (_s != CUBLAS_STATUS_SUCCESS) ::ddpm::cuda::throw_cublas((op), #call, _s); \
  } while (0)

namespace {

// y[n, o] = b[o]
__global__ void broadcast_rows_kernel(const float* __restrict__ b, float* __restrict__ y, long long total,
                                      int out) {
  const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
  for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride)
    y[i] = b[i % out];
}

// db[o] = sum_n dy[n, o]; consecutive threads read consecutive columns.
// db[o] = sum over rows n of dy[n, o]. A block takes 32 columns; its 32 row
// lanes ty add rows ty, ty + 32, ... in order, then the 32 lane sums are
// added in lane order: a fixed order, 32 times shorter chains than one
// thread a column (which took ~18 us a call at N = 512 on an H200).
constexpr int kColLanes = 32;
__global__ void column_sum_kernel(const float* __restrict__ dy, float* __restrict__ db, int N, int out) {
  __shared__ float part[kColLanes][33];
  const int o = blockIdx.x * 32 + threadIdx.x;
  float s = 0.0f;
  if (o < out)
    for (int n = threadIdx.y; n < N; n += kColLanes) s += dy[static_cast<long long>(n) * out + o];
  part[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && o < out) {
    float t = 0.0f;
    for (int k = 0; k < kColLanes; ++k) t += part[k][threadIdx.x];
    db[o] = t;
  }
}

__global__ void silu_fwd_kernel(const float* x, float* y, size_t n) {
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const float v = x[i];
    y[i] = v / (1.0f + expf(-v));
  }
}

__global__ void silu_bwd_kernel(const float* x, const float* dy, float* dx, size_t n) {
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const float v = x[i];
    const float s = 1.0f / (1.0f + expf(-v));
    dx[i] = dy[i] * s * (1.0f + v * (1.0f - s));
  }
}

__global__ void embedding_kernel(const float* __restrict__ table, const int32_t* __restrict__ t,
                                 float* __restrict__ out, int N, int D, int T, DeviceError* err) {
  const long long total = static_cast<long long>(N) * D;
  const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
  for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const int n = static_cast<int>(i / D), d = static_cast<int>(i % D);
    const int tt = t[n];
    if (tt < 0 || tt >= T) {
      if (d == 0) report_error(err, kErrEmbeddingIndex, n, tt, T);
      out[i] = 0.0f;
    } else {
      out[i] = table[static_cast<long long>(tt) * D + d];
    }
  }
}

void check_dense(const char* op, int N, int in, int out) {
  if (N <= 0 || in <= 0 || out <= 0)
    throw Error(std::string("cuda ") + op + ": N, in and out must be positive, got " + shape_str({N, in, out}));
}

}  // namespace

namespace ops {

void linear_forward(const Ctx& ctx, const float* x, const float* w, const float* b, float* y, int N, int in,
                    int out) {
  cublasHandle_t h = ctx.cublas;
  const char* op = "linear_forward";
  check_dense(op, N, in, out);
  float beta = 0.0f;
  if (b) {
    const long long total = static_cast<long long>(N) * out;
    broadcast_rows_kernel<<<grid_for(total, kThreads, ctx), kThreads, 0, ctx.stream>>>(b, y, total, out);
    check_launch(op);
    beta = 1.0f;
  }
  const float one = 1.0f;
  // y^T (out x N) = w (out x in) . x^T (in x N); w is (in x out) column-major.
  DDPM_CUBLAS(op, cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, out, N, in, &one, w, in, x, in, &beta, y, out));
}

void linear_backward(const Ctx& ctx, const float* x, const float* w, const float* dy, float* dx, float* dw,
                     float* db, int N, int in, int out) {
  cublasHandle_t h = ctx.cublas;
  const char* op = "linear_backward";
  check_dense(op, N, in, out);
  const float one = 1.0f, zero = 0.0f;
  // dw^T (in x out) = x^T (in x N) . dy (N x out)
  DDPM_CUBLAS(op, cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_T, in, out, N, &one, x, in, dy, out, &zero, dw, in));
  if (db) {
    column_sum_kernel<<<(out + 31) / 32, dim3(32, kColLanes), 0, ctx.stream>>>(dy, db, N, out);
    check_launch(op);
  }
  // dx^T (in x N) = w^T (in x out) . dy^T (out x N)
  if (dx) DDPM_CUBLAS(op, cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, in, N, out, &one, w, in, dy, out, &zero, dx, in));
}

void silu_forward(const Ctx& ctx, const float* x, float* y, size_t n) {
  if (n == 0) return;
  silu_fwd_kernel<<<grid_for(static_cast<long long>(n), kThreads, ctx), kThreads, 0, ctx.stream>>>(x, y, n);
  check_launch("silu_forward");
}

void silu_backward(const Ctx& ctx, const float* x, const float* dy, float* dx, size_t n) {
  if (n == 0) return;
  silu_bwd_kernel<<<grid_for(static_cast<long long>(n), kThreads, ctx), kThreads, 0, ctx.stream>>>(x, dy, dx, n);
  check_launch("silu_backward");
}

void embedding_gather(const Ctx& ctx, const float* table, const int32_t* t, float* out, int N, int D, int T) {
  if (N <= 0 || D <= 0) return;
  if (T <= 0) throw Error("cuda embedding_gather: T must be positive, got " + std::to_string(T));
  embedding_kernel<<<grid_for(static_cast<long long>(N) * D, kThreads, ctx), kThreads, 0, ctx.stream>>>(
      table, t, out, N, D, T, ctx.error);
  check_launch("embedding_gather");
}

}  // namespace ops
}  // namespace cuda
}  // namespace ddpm
