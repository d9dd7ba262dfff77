// The x86 SIMD pieces of the CPU kernels: DDPM_X86 where the intrinsics
// exist (the run-time-selected AVX2 / AVX-512 paths, gemm.h: GemmIsa, are
// compiled only there), the AVX-512 target attribute strings, and the
// rounding of two K rows into one bf16 pair row.
#pragma once

#if defined(__x86_64__) || defined(__i386__)
// GCC 12 reports the _mm512_undefined_* placeholders inside some AVX-512
// intrinsics (shifts, unpacks, shuffles, multiplies) as "(maybe)
// uninitialized" where they are inlined; those warnings are located in the
// intrinsics' header, so silencing them around its inclusion leaves ours on.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#define DDPM_X86 1

// Functions using AVX-512 (F, BW, VL) carry __attribute__((target(DDPM_AVX512)));
// those also using the bf16 instructions, DDPM_AVX512_BF16.
#define DDPM_AVX512 "avx512f,avx512bw,avx512vl,avx2,fma"
#define DDPM_AVX512_BF16 DDPM_AVX512 ",avx512bf16"

namespace ddpm {
namespace cpu {

// Two consecutive K rows of a 16-column B panel (row k in `even`, row k + 1
// in `odd`) as one row of its bf16 pair panel: word 2j = bf16(even[j]),
// word 2j + 1 = bf16(odd[j]), rounded to nearest even (vcvtne2ps2bf16, which
// also turns subnormals into zeros, exactly as float_to_bf16).
__attribute__((target(DDPM_AVX512_BF16), always_inline)) inline __m512i bf16_pair_row(__m512 even, __m512 odd) {
  // Words 0-15 hold row k, 16-31 row k + 1: lane j takes words j and 16 + j.
  const __m512i interleave = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7,
                                              22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  return _mm512_permutexvar_epi16(interleave, (__m512i)_mm512_cvtne2ps_pbh(odd, even));
}

}  // namespace cpu
}  // namespace ddpm
#endif
