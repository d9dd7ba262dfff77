// The GEMM microkernels (gemm_kernels.h) and the run-time choice of
// instruction set (gemm.h: GemmIsa).
//
//   generic       6x16 in portable C++ (float32), and the bf16 emulation;
//   avx2          6x16 in 12 ymm accumulators (AVX2 + FMA);
//   avx512        6x32: two 6x16 tiles in 12 zmm accumulators, one A
//                 broadcast feeding both (AVX-512 F);
//   avx512-bf16   the same 6x32 shape on bf16 pair panels with vdpbf16ps
//                 (each instruction adds two K terms per lane: twice the
//                 multiply-adds of a float32 FMA, from half the panel bytes).
//
// Why 6x32 on AVX-512: a zmm row of B is one whole 16-column panel, so a 6x16
// tile would have only 6 accumulators, too few to cover the FMA latency at
// two FMAs a cycle; pairing two panels gives 12 independent chains and halves
// the A broadcasts per FMA, without changing the panel layout (every packer
// of the convolutions keeps writing 6- and 16-wide panels).
#include "gemm_kernels.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

#include "batchnorm_eval.h"
#include "simd.h"


namespace ddpm {
namespace cpu {
namespace {

constexpr int MR = kGemmMR;
constexpr int NR = kGemmNR;

// ---- portable -----------------------------------------------------------

void store_tile_generic(const float (&acc)[MR][NR], float* c, int64_t ldc, int rows, bool accumulate,
                        const float* bias) {
  for (int r = 0; r < rows; ++r) {
    float* cr = c + r * ldc;
    if (accumulate) {
      for (int j = 0; j < NR; ++j) cr[j] = cr[j] + acc[r][j];
    } else {
      const float add = bias ? bias[r] : 0.0f;
      for (int j = 0; j < NR; ++j) cr[j] = acc[r][j] + add;
    }
  }
}

void tile_generic(int kc, const float* a, const float* b, float* c, int64_t ldc, int rows,
                  bool accumulate, const float* bias) {
  float acc[MR][NR] = {};
  for (int k = 0; k < kc; ++k) {
    const float* bk = b + k * NR;
    for (int r = 0; r < MR; ++r) {
      const float av = a[k * MR + r];
      for (int j = 0; j < NR; ++j) acc[r][j] += av * bk[j];
    }
  }
  store_tile_generic(acc, c, ldc, rows, accumulate, bias);
}

void kernel_generic(int kc, const void* a, const void* b0, const void* b1, float* c0, int64_t ldc0,
                    float* c1, int64_t ldc1, int rows, bool accumulate, const float* bias) {
  tile_generic(kc, static_cast<const float*>(a), static_cast<const float*>(b0), c0, ldc0, rows, accumulate, bias);
  if (b1) tile_generic(kc, static_cast<const float*>(a), static_cast<const float*>(b1), c1, ldc1, rows, accumulate, bias);
}

// The bf16 emulation: the products of two bf16 values are exact in float32,
// so only the order of the additions can differ from vdpbf16ps (which may
// also flush float32 subnormal sums); the tests hold both to the same
// tolerance.
void tile_generic_bf16(int kc, const uint16_t* a, const uint16_t* b, float* c, int64_t ldc, int rows,
                       bool accumulate, const float* bias) {
  float acc[MR][NR] = {};
  for (int p = 0; p < (kc + 1) / 2; ++p) {
    const uint16_t* ap = a + p * 2 * MR;
    const uint16_t* bp = b + p * 2 * NR;
    for (int r = 0; r < MR; ++r) {
      const float a0 = bf16_to_float(ap[2 * r]), a1 = bf16_to_float(ap[2 * r + 1]);
      for (int j = 0; j < NR; ++j) {
        acc[r][j] += a0 * bf16_to_float(bp[2 * j]);
        acc[r][j] += a1 * bf16_to_float(bp[2 * j + 1]);
      }
    }
  }
  store_tile_generic(acc, c, ldc, rows, accumulate, bias);
}

void kernel_generic_bf16(int kc, const void* a, const void* b0, const void* b1, float* c0, int64_t ldc0,
                         float* c1, int64_t ldc1, int rows, bool accumulate, const float* bias) {
  const auto* a16 = static_cast<const uint16_t*>(a);
  tile_generic_bf16(kc, a16, static_cast<const uint16_t*>(b0), c0, ldc0, rows, accumulate, bias);
  if (b1) tile_generic_bf16(kc, a16, static_cast<const uint16_t*>(b1), c1, ldc1, rows, accumulate, bias);
}

void round_panel_bf16_scalar(uint16_t* dst, const float* src, int width, int kc) {
  for (int k = 0; k < kc; ++k)
    for (int j = 0; j < width; ++j) dst[(k / 2) * 2 * width + 2 * j + k % 2] = float_to_bf16(src[k * width + j]);
  if (kc % 2)
    for (int j = 0; j < width; ++j) dst[(kc / 2) * 2 * width + 2 * j + 1] = 0;
}

#ifdef DDPM_X86
// ---- AVX2 ----------------------------------------------------------------

// One row of the microtile out to C (see MicroKernel for the two modes).
__attribute__((target("avx2,fma"), always_inline)) inline void store_row_avx2(
    float* cr, __m256 lo, __m256 hi, bool accumulate, const float* bias) {
  if (accumulate) {
    lo = _mm256_add_ps(_mm256_loadu_ps(cr), lo);
    hi = _mm256_add_ps(_mm256_loadu_ps(cr + 8), hi);
  } else if (bias) {
    const __m256 bv = _mm256_broadcast_ss(bias);
    lo = _mm256_add_ps(lo, bv);
    hi = _mm256_add_ps(hi, bv);
  }
  _mm256_storeu_ps(cr, lo);
  _mm256_storeu_ps(cr + 8, hi);
}

// 6x16 tile in 12 ymm accumulators; per k: two loads of B, six broadcasts
// of A, twelve FMAs (Zen 3 / Haswell and later issue two FMAs a cycle).
// The k loop is inline assembly: GCC's allocation of the intrinsic version
// rotates accumulators through the broadcast registers and reloads B from
// memory, which measured 60 GFLOP/s against 83 for this loop on one Zen 3
// core (peak 94). The accumulators stay C++ variables ("+x" operands); the
// loop's temporaries are ymm0-3, so the compiler puts them in ymm4-15.
__attribute__((target("avx2,fma"))) void tile_avx2(int kc, const float* a, const float* b, float* c,
                                                    int64_t ldc, int rows, bool accumulate,
                                                    const float* bias) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
#define DDPM_GEMM_STEP(o)                                                             \
  "vmovups " #o "*64(%[b]), %%ymm0\n\t"                                              \
  "vmovups " #o "*64+32(%[b]), %%ymm1\n\t"                                           \
  "vbroadcastss " #o "*24(%[a]), %%ymm2\n\t"                                         \
  "vbroadcastss " #o "*24+4(%[a]), %%ymm3\n\t"                                       \
  "vfmadd231ps %%ymm0, %%ymm2, %[c00]\n\t"                                           \
  "vfmadd231ps %%ymm1, %%ymm2, %[c01]\n\t"                                           \
  "vfmadd231ps %%ymm0, %%ymm3, %[c10]\n\t"                                           \
  "vfmadd231ps %%ymm1, %%ymm3, %[c11]\n\t"                                           \
  "vbroadcastss " #o "*24+8(%[a]), %%ymm2\n\t"                                       \
  "vbroadcastss " #o "*24+12(%[a]), %%ymm3\n\t"                                      \
  "vfmadd231ps %%ymm0, %%ymm2, %[c20]\n\t"                                           \
  "vfmadd231ps %%ymm1, %%ymm2, %[c21]\n\t"                                           \
  "vfmadd231ps %%ymm0, %%ymm3, %[c30]\n\t"                                           \
  "vfmadd231ps %%ymm1, %%ymm3, %[c31]\n\t"                                           \
  "vbroadcastss " #o "*24+16(%[a]), %%ymm2\n\t"                                      \
  "vbroadcastss " #o "*24+20(%[a]), %%ymm3\n\t"                                      \
  "vfmadd231ps %%ymm0, %%ymm2, %[c40]\n\t"                                           \
  "vfmadd231ps %%ymm1, %%ymm2, %[c41]\n\t"                                           \
  "vfmadd231ps %%ymm0, %%ymm3, %[c50]\n\t"                                           \
  "vfmadd231ps %%ymm1, %%ymm3, %[c51]\n\t"
#define DDPM_GEMM_OPERANDS                                                            \
  [c00] "+x"(c00), [c01] "+x"(c01), [c10] "+x"(c10), [c11] "+x"(c11), [c20] "+x"(c20), \
      [c21] "+x"(c21), [c30] "+x"(c30), [c31] "+x"(c31), [c40] "+x"(c40),             \
      [c41] "+x"(c41), [c50] "+x"(c50), [c51] "+x"(c51), [a] "+r"(a), [b] "+r"(b)
  int64_t quads = kc / 4;
  if (quads > 0) {
    asm volatile(
        "1:\n\t" DDPM_GEMM_STEP(0) DDPM_GEMM_STEP(1) DDPM_GEMM_STEP(2) DDPM_GEMM_STEP(3)
        "add $96, %[a]\n\t"
        "add $256, %[b]\n\t"
        "dec %[n]\n\t"
        "jnz 1b\n\t"
        : DDPM_GEMM_OPERANDS, [n] "+r"(quads)
        :
        : "xmm0", "xmm1", "xmm2", "xmm3", "cc", "memory");
  }
  for (int k = kc % 4; k > 0; --k) {
    asm volatile(DDPM_GEMM_STEP(0) "add $24, %[a]\n\t"
                                   "add $64, %[b]\n\t"
                 : DDPM_GEMM_OPERANDS
                 :
                 : "xmm0", "xmm1", "xmm2", "xmm3", "cc", "memory");
  }
#undef DDPM_GEMM_OPERANDS
#undef DDPM_GEMM_STEP
  store_row_avx2(c, c00, c01, accumulate, bias);
  if (rows > 1) store_row_avx2(c + ldc, c10, c11, accumulate, bias ? bias + 1 : nullptr);
  if (rows > 2) store_row_avx2(c + 2 * ldc, c20, c21, accumulate, bias ? bias + 2 : nullptr);
  if (rows > 3) store_row_avx2(c + 3 * ldc, c30, c31, accumulate, bias ? bias + 3 : nullptr);
  if (rows > 4) store_row_avx2(c + 4 * ldc, c40, c41, accumulate, bias ? bias + 4 : nullptr);
  if (rows > 5) store_row_avx2(c + 5 * ldc, c50, c51, accumulate, bias ? bias + 5 : nullptr);
}

__attribute__((target("avx2,fma"))) void kernel_avx2(int kc, const void* a, const void* b0, const void* b1,
                                                      float* c0, int64_t ldc0, float* c1, int64_t ldc1,
                                                      int rows, bool accumulate, const float* bias) {
  tile_avx2(kc, static_cast<const float*>(a), static_cast<const float*>(b0), c0, ldc0, rows, accumulate, bias);
  if (b1) tile_avx2(kc, static_cast<const float*>(a), static_cast<const float*>(b1), c1, ldc1, rows, accumulate, bias);
}

// ---- AVX-512 --------------------------------------------------------------

// One row of a 16-column tile out to C: the same additions as store_row_avx2.
__attribute__((target(DDPM_AVX512), always_inline)) inline void store_row_avx512(
    float* cr, __m512 acc, bool accumulate, const float* bias) {
  if (accumulate) {
    acc = _mm512_add_ps(_mm512_loadu_ps(cr), acc);
  } else if (bias) {
    acc = _mm512_add_ps(acc, _mm512_set1_ps(*bias));
  }
  _mm512_storeu_ps(cr, acc);
}

// The AVX-512 loops for float32 (vbroadcastss + vfmadd231ps) and bf16 pair
// panels (vpbroadcastd + vdpbf16ps) are the same code: per step (one k, or
// one pair of k) a B panel row is 64 bytes and an A panel row 24 bytes in
// both layouts. As for AVX2, the loop body is assembly with the accumulators
// as C++ operands ("+v"); the temporaries are zmm0-3. (The loop itself is
// C++: with its counter the paired asm would exceed GCC's 30 operands.)
// The twelve products of one step, B's two rows in zmm0 and zmm1.
#define DDPM_Z_PRODUCTS2(o, BCAST, MADD)                                             \
  BCAST " " #o "*24(%[a]), %%zmm2\n\t"                                              \
  BCAST " " #o "*24+4(%[a]), %%zmm3\n\t"                                            \
  MADD " %%zmm0, %%zmm2, %[c00]\n\t"                                                \
  MADD " %%zmm1, %%zmm2, %[c01]\n\t"                                                \
  MADD " %%zmm0, %%zmm3, %[c10]\n\t"                                                \
  MADD " %%zmm1, %%zmm3, %[c11]\n\t"                                                \
  BCAST " " #o "*24+8(%[a]), %%zmm2\n\t"                                            \
  BCAST " " #o "*24+12(%[a]), %%zmm3\n\t"                                           \
  MADD " %%zmm0, %%zmm2, %[c20]\n\t"                                                \
  MADD " %%zmm1, %%zmm2, %[c21]\n\t"                                                \
  MADD " %%zmm0, %%zmm3, %[c30]\n\t"                                                \
  MADD " %%zmm1, %%zmm3, %[c31]\n\t"                                                \
  BCAST " " #o "*24+16(%[a]), %%zmm2\n\t"                                           \
  BCAST " " #o "*24+20(%[a]), %%zmm3\n\t"                                           \
  MADD " %%zmm0, %%zmm2, %[c40]\n\t"                                                \
  MADD " %%zmm1, %%zmm2, %[c41]\n\t"                                                \
  MADD " %%zmm0, %%zmm3, %[c50]\n\t"                                                \
  MADD " %%zmm1, %%zmm3, %[c51]\n\t"
#define DDPM_Z_STEP2(o, BCAST, MADD)                                                 \
  "vmovups " #o "*64(%[b0]), %%zmm0\n\t"                                            \
  "vmovups " #o "*64(%[b1]), %%zmm1\n\t" DDPM_Z_PRODUCTS2(o, BCAST, MADD)
#define DDPM_Z_STEP1(o, BCAST, MADD)                                                 \
  "vmovups " #o "*64(%[b0]), %%zmm0\n\t"                                            \
  BCAST " " #o "*24(%[a]), %%zmm2\n\t"                                              \
  BCAST " " #o "*24+4(%[a]), %%zmm3\n\t"                                            \
  MADD " %%zmm0, %%zmm2, %[c00]\n\t"                                                \
  MADD " %%zmm0, %%zmm3, %[c10]\n\t"                                                \
  BCAST " " #o "*24+8(%[a]), %%zmm2\n\t"                                            \
  BCAST " " #o "*24+12(%[a]), %%zmm3\n\t"                                           \
  MADD " %%zmm0, %%zmm2, %[c20]\n\t"                                                \
  MADD " %%zmm0, %%zmm3, %[c30]\n\t"                                                \
  BCAST " " #o "*24+16(%[a]), %%zmm2\n\t"                                           \
  BCAST " " #o "*24+20(%[a]), %%zmm3\n\t"                                           \
  MADD " %%zmm0, %%zmm2, %[c40]\n\t"                                                \
  MADD " %%zmm0, %%zmm3, %[c50]\n\t"
#define DDPM_Z_OPERANDS1                                                              \
  [c00] "+v"(c00), [c10] "+v"(c10), [c20] "+v"(c20), [c30] "+v"(c30), [c40] "+v"(c40), \
      [c50] "+v"(c50), [a] "+r"(a), [b0] "+r"(b0)
#define DDPM_Z_OPERANDS2                                                                \
  DDPM_Z_OPERANDS1, [c01] "+v"(c01), [c11] "+v"(c11), [c21] "+v"(c21), [c31] "+v"(c31), \
      [c41] "+v"(c41), [c51] "+v"(c51), [b1] "+r"(b1)
#define DDPM_Z_CLOBBERS "xmm0", "xmm1", "xmm2", "xmm3", "cc", "memory"

// The whole kernel for one (BCAST, MADD) pair: `steps` rows of the panels.
#define DDPM_Z_KERNEL_BODY(BCAST, MADD)                                                   \
  const char* a = static_cast<const char*>(a_in);                                         \
  const char* b0 = static_cast<const char*>(b0_in);                                       \
  const char* b1 = static_cast<const char*>(b1_in);                                       \
  __m512 c00 = _mm512_setzero_ps(), c10 = _mm512_setzero_ps(), c20 = _mm512_setzero_ps(); \
  __m512 c30 = _mm512_setzero_ps(), c40 = _mm512_setzero_ps(), c50 = _mm512_setzero_ps(); \
  int64_t quads = steps / 4;                                                              \
  if (b1) {                                                                               \
    __m512 c01 = _mm512_setzero_ps(), c11 = _mm512_setzero_ps(), c21 = _mm512_setzero_ps(); \
    __m512 c31 = _mm512_setzero_ps(), c41 = _mm512_setzero_ps(), c51 = _mm512_setzero_ps(); \
    for (; quads > 0; --quads)                                                            \
      asm volatile(DDPM_Z_STEP2(0, BCAST, MADD) DDPM_Z_STEP2(1, BCAST, MADD)               \
                   DDPM_Z_STEP2(2, BCAST, MADD) DDPM_Z_STEP2(3, BCAST, MADD)              \
                   "add $96, %[a]\n\t"                                                    \
                   "add $256, %[b0]\n\t"                                                  \
                   "add $256, %[b1]\n\t"                                                  \
                   : DDPM_Z_OPERANDS2                                                     \
                   :                                                                      \
                   : DDPM_Z_CLOBBERS);                                                    \
    for (int k = steps % 4; k > 0; --k)                                                   \
      asm volatile(DDPM_Z_STEP2(0, BCAST, MADD) "add $24, %[a]\n\t"                       \
                                                "add $64, %[b0]\n\t"                      \
                                                "add $64, %[b1]\n\t"                      \
                   : DDPM_Z_OPERANDS2                                                     \
                   :                                                                      \
                   : DDPM_Z_CLOBBERS);                                                    \
    const __m512 second[MR] = {c01, c11, c21, c31, c41, c51};                             \
    for (int r = 0; r < rows; ++r)                                                        \
      store_row_avx512(c1 + r * ldc1, second[r], accumulate, bias ? bias + r : nullptr);  \
  } else {                                                                                \
    for (; quads > 0; --quads)                                                            \
      asm volatile(DDPM_Z_STEP1(0, BCAST, MADD) DDPM_Z_STEP1(1, BCAST, MADD)               \
                   DDPM_Z_STEP1(2, BCAST, MADD) DDPM_Z_STEP1(3, BCAST, MADD)              \
                   "add $96, %[a]\n\t"                                                    \
                   "add $256, %[b0]\n\t"                                                  \
                   : DDPM_Z_OPERANDS1                                                     \
                   :                                                                      \
                   : DDPM_Z_CLOBBERS);                                                    \
    for (int k = steps % 4; k > 0; --k)                                                   \
      asm volatile(DDPM_Z_STEP1(0, BCAST, MADD) "add $24, %[a]\n\t"                       \
                                                "add $64, %[b0]\n\t"                      \
                   : DDPM_Z_OPERANDS1                                                     \
                   :                                                                      \
                   : DDPM_Z_CLOBBERS);                                                    \
  }                                                                                       \
  const __m512 first[MR] = {c00, c10, c20, c30, c40, c50};                                \
  for (int r = 0; r < rows; ++r)                                                          \
    store_row_avx512(c0 + r * ldc0, first[r], accumulate, bias ? bias + r : nullptr);

__attribute__((target(DDPM_AVX512))) void kernel_avx512(int kc, const void* a_in, const void* b0_in,
                                                         const void* b1_in, float* c0, int64_t ldc0,
                                                         float* c1, int64_t ldc1, int rows,
                                                         bool accumulate, const float* bias) {
  const int steps = kc;
  DDPM_Z_KERNEL_BODY("vbroadcastss", "vfmadd231ps")
}

__attribute__((target(DDPM_AVX512_BF16))) void kernel_avx512_bf16(int kc, const void* a_in,
                                                                   const void* b0_in, const void* b1_in,
                                                                   float* c0, int64_t ldc0, float* c1,
                                                                   int64_t ldc1, int rows, bool accumulate,
                                                                   const float* bias) {
  const int steps = (kc + 1) / 2;
  DDPM_Z_KERNEL_BODY("vpbroadcastd", "vdpbf16ps")
}
// The bf16 6x32 kernel for a 3x3 convolution by taps (conv_taps.cpp): the B
// rows read where they lie in a zero-padded copy of the input (channel-pair
// rows, ldb bytes apart) instead of packed 64 bytes apart, and the nine taps'
// segments, each at its own offset into the copy, summed in one call.
#define DDPM_ZS_STEP2(o, BCAST, MADD)                                                \
  "vmovups (%[b0]), %%zmm0\n\t"                                                      \
  "vmovups (%[b0],%[d1]), %%zmm1\n\t"                                                \
  "add %[ldb], %[b0]\n\t" DDPM_Z_PRODUCTS2(o, BCAST, MADD)
#define DDPM_ZS_OPERANDS2                                                                 \
  DDPM_Z_OPERANDS1, [c01] "+v"(c01), [c11] "+v"(c11), [c21] "+v"(c21), [c31] "+v"(c31), \
      [c41] "+v"(c41), [c51] "+v"(c51)
__attribute__((target(DDPM_AVX512_BF16))) void taps_kernel_avx512_bf16(int kc, int taps, const int64_t* offsets,
                                                                        const void* a_in, const void* b0_in,
                                                                        const void* b1_in, int64_t ldb, float* c0,
                                                                        int64_t ldc0, float* c1, int64_t ldc1,
                                                                        int rows, const float* bias,
                                                                        const TapsEpilogue* epilogue) {
  const int steps = (kc + 1) / 2;
  const char* a = static_cast<const char*>(a_in);
  __m512 c00 = _mm512_setzero_ps(), c10 = _mm512_setzero_ps(), c20 = _mm512_setzero_ps();
  __m512 c30 = _mm512_setzero_ps(), c40 = _mm512_setzero_ps(), c50 = _mm512_setzero_ps();
  __m512 c01 = _mm512_setzero_ps(), c11 = _mm512_setzero_ps(), c21 = _mm512_setzero_ps();
  __m512 c31 = _mm512_setzero_ps(), c41 = _mm512_setzero_ps(), c51 = _mm512_setzero_ps();
  // The second panel as an offset from the first (GCC allows 30 asm operands); without one, the
  // first is read twice and the second sum dropped.
  const int64_t d1 = b1_in ? static_cast<const char*>(b1_in) - static_cast<const char*>(b0_in) : 0;
  for (int seg = 0; seg < taps; ++seg) {
    const char* b0 = static_cast<const char*>(b0_in) + offsets[seg];
    for (int64_t quads = steps / 4; quads > 0; --quads)
      asm volatile(DDPM_ZS_STEP2(0, "vpbroadcastd", "vdpbf16ps") DDPM_ZS_STEP2(1, "vpbroadcastd", "vdpbf16ps")
                   DDPM_ZS_STEP2(2, "vpbroadcastd", "vdpbf16ps") DDPM_ZS_STEP2(3, "vpbroadcastd", "vdpbf16ps")
                   "add $96, %[a]\n\t"
                   : DDPM_ZS_OPERANDS2
                   : [ldb] "r"(ldb), [d1] "r"(d1)
                   : DDPM_Z_CLOBBERS);
    for (int k = steps % 4; k > 0; --k)
      asm volatile(DDPM_ZS_STEP2(0, "vpbroadcastd", "vdpbf16ps") "add $24, %[a]\n\t"
                   : DDPM_ZS_OPERANDS2
                   : [ldb] "r"(ldb), [d1] "r"(d1)
                   : DDPM_Z_CLOBBERS);
  }
  const __m512 first[MR] = {c00, c10, c20, c30, c40, c50};
  const __m512 second[MR] = {c01, c11, c21, c31, c41, c51};
  if (epilogue) {
    for (int r = 0; r < rows; ++r) {
      // The values store_row_avx512 would store, then the BatchNorm.
      __m512 v0 = first[r], v1 = second[r];
      if (bias) {
        v0 = _mm512_add_ps(v0, _mm512_set1_ps(bias[r]));
        v1 = _mm512_add_ps(v1, _mm512_set1_ps(bias[r]));
      }
      const float s = epilogue->scale[r], t = epilogue->shift[r];
      _mm512_storeu_ps(c0 + r * ldc0, bn_relu_add16(v0, s, t, epilogue->add0 ? epilogue->add0[r] : 0.0f));
      if (c1) _mm512_storeu_ps(c1 + r * ldc1, bn_relu_add16(v1, s, t, epilogue->add1 ? epilogue->add1[r] : 0.0f));
    }
    return;
  }
  for (int r = 0; r < rows; ++r) {
    store_row_avx512(c0 + r * ldc0, first[r], false, bias ? bias + r : nullptr);
    if (c1) store_row_avx512(c1 + r * ldc1, second[r], false, bias ? bias + r : nullptr);
  }
}
#undef DDPM_ZS_OPERANDS2
#undef DDPM_ZS_STEP2
#undef DDPM_Z_PRODUCTS2
#undef DDPM_Z_KERNEL_BODY
#undef DDPM_Z_CLOBBERS
#undef DDPM_Z_OPERANDS2
#undef DDPM_Z_OPERANDS1
#undef DDPM_Z_STEP1
#undef DDPM_Z_STEP2

// round_panel_bf16 with vcvtne2ps2bf16 (round to nearest even, subnormals to
// zero, exactly float_to_bf16), then a word permutation that interleaves the
// two rows of each K pair.
__attribute__((target(DDPM_AVX512_BF16))) void round_panel_bf16_avx512(uint16_t* dst, const float* src,
                                                                        int width, int kc) {
  const int pairs = kc / 2;
  if (width == NR) {
    for (int p = 0; p < (kc + 1) / 2; ++p) {
      const __m512 even = _mm512_loadu_ps(src + 2 * p * NR);
      const __m512 odd = p < pairs ? _mm512_loadu_ps(src + (2 * p + 1) * NR) : _mm512_setzero_ps();
      _mm512_storeu_si512(dst + p * 2 * NR, bf16_pair_row(even, odd));
    }
    return;
  }
  // width == MR: a pair is 12 consecutive floats, rows k and k + 1.
  const __m256i interleave = _mm256_set_epi16(15, 14, 13, 12, 11, 5, 10, 4, 9, 3, 8, 2, 7, 1, 6, 0);
  for (int p = 0; p < (kc + 1) / 2; ++p) {
    const __mmask16 load = p < pairs ? 0x0FFF : 0x003F;
    const __m512 v = _mm512_maskz_loadu_ps(load, src + 2 * p * MR);
    const __m256i words = (__m256i)_mm512_cvtneps_pbh(v);
    _mm256_mask_storeu_epi16(dst + p * 2 * MR, 0x0FFF, _mm256_permutexvar_epi16(interleave, words));
  }
}

// ---- CPU features ---------------------------------------------------------

struct CpuFeatures {
  GemmIsa isa = GemmIsa::kGeneric;
  bool bf16 = false;
  std::string env_error;  // a DDPM_CPU_ISA that names no instruction set
  CpuFeatures() {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) isa = GemmIsa::kAvx2;
    if (isa == GemmIsa::kAvx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl"))
      isa = GemmIsa::kAvx512;
    bf16 = isa == GemmIsa::kAvx512 && __builtin_cpu_supports("avx512bf16");
    apply_env_cap();
  }
  // DDPM_CPU_ISA=generic|avx2|avx512 makes this CPU look like one with at
  // most that instruction set (and no AVX512_BF16 below avx512), e.g. to
  // time an AVX2-only host's kernels on an AVX-512 machine.
  void apply_env_cap() {
    const char* env = std::getenv("DDPM_CPU_ISA");
    if (!env || !*env) return;
    const std::string want(env);
    GemmIsa cap;
    if (want == "generic") cap = GemmIsa::kGeneric;
    else if (want == "avx2") cap = GemmIsa::kAvx2;
    else if (want == "avx512") cap = GemmIsa::kAvx512;
    else {
      env_error = "environment variable DDPM_CPU_ISA: expected generic, avx2 or avx512, got '" + want + "'";
      return;
    }
    if (cap < isa) isa = cap;
    if (isa != GemmIsa::kAvx512) bf16 = false;
  }
};
#else
struct CpuFeatures {
  GemmIsa isa = GemmIsa::kGeneric;
  bool bf16 = false;
  std::string env_error;
};
#endif

const CpuFeatures& cpu_features() {
  static const CpuFeatures features;
  return features;
}

std::atomic<int> g_isa_cap{static_cast<int>(GemmIsa::kAvx512)};

}  // namespace

const char* gemm_isa_name(GemmIsa isa) {
  switch (isa) {
    case GemmIsa::kAvx512: return "avx512";
    case GemmIsa::kAvx2: return "avx2";
    default: return "generic";
  }
}

GemmIsa gemm_cpu_isa() { return cpu_features().isa; }

const std::string& gemm_cpu_isa_env_error() { return cpu_features().env_error; }

bool gemm_cpu_has_bf16() { return cpu_features().bf16; }

GemmIsa gemm_isa() {
  const int cap = g_isa_cap.load(std::memory_order_relaxed);
  return static_cast<GemmIsa>(std::min(cap, static_cast<int>(cpu_features().isa)));
}

void gemm_limit_isa(GemmIsa cap) { g_isa_cap.store(static_cast<int>(cap), std::memory_order_relaxed); }

bool gemm_use_avx2() { return gemm_isa() >= GemmIsa::kAvx2; }

bool gemm_bf16_native() { return gemm_cpu_has_bf16() && gemm_isa() == GemmIsa::kAvx512; }

int gemm_panels_per_kernel_call() { return gemm_isa() == GemmIsa::kAvx512 ? 2 : 1; }

const char* gemm_kernel_name(bool bf16) {
  if (bf16) return gemm_bf16_native() ? "avx512-bf16" : "generic-bf16";
  return gemm_isa_name(gemm_isa());
}

MicroKernel gemm_microkernel(GemmIsa isa, bool bf16) {
#ifdef DDPM_X86
  if (bf16) return isa == GemmIsa::kAvx512 && gemm_cpu_has_bf16() ? kernel_avx512_bf16 : kernel_generic_bf16;
  if (isa == GemmIsa::kAvx512) return kernel_avx512;
  if (isa == GemmIsa::kAvx2) return kernel_avx2;
#else
  (void)isa;
  if (bf16) return kernel_generic_bf16;
#endif
  return kernel_generic;
}

TapsKernel gemm_taps_kernel_bf16() {
#ifdef DDPM_X86
  if (gemm_bf16_native()) return taps_kernel_avx512_bf16;
#endif
  return nullptr;
}

void round_panel_bf16(uint16_t* dst, const float* src, int width, int kc) {
#ifdef DDPM_X86
  if (gemm_bf16_native()) {
    round_panel_bf16_avx512(dst, src, width, kc);
    return;
  }
#endif
  round_panel_bf16_scalar(dst, src, width, kc);
}

uint16_t float_to_bf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  if ((u & 0x7F800000u) == 0) return static_cast<uint16_t>((u >> 16) & 0x8000u);           // zero, subnormal
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);  // NaN: quiet
  return static_cast<uint16_t>((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);                  // nearest even
}

float bf16_to_float(uint16_t h) {
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}

}  // namespace cpu
}  // namespace ddpm
