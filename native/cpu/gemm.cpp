// The GEMM engine of gemm.h: Goto/BLIS-style blocking around a 6x16
// register-blocked microkernel.
//
// Blocking (per gemm_run):
//   K is cut into blocks of at most kMaxKc (equal lengths, a function of K
//   only: this is what fixes the summation order). A B micro-panel of one
//   block (kc x 16 floats, <= 16 KiB) stays in L1 while the microkernel runs
//   down the A micro-panels of the task's rows (<= 192 rows x kc, in L2).
//   A is packed once per call ("pre-packed", in parallel) since every task
//   reads it; B is pre-packed too when several row blocks share it, and is
//   otherwise packed by the one task that uses each panel, just before use.
//   When the pre-packed panels of all of K would not fit kPrepackFloats, K is
//   walked in super-blocks of whole K blocks.
// Tasks: the M x N panel grid is cut into row blocks x column blocks; a
//   task walks its columns in groups whose C tiles stay in L2 while every K
//   block of the super-block is added into them.
#include "gemm.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include "ddpm/backend.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define DDPM_X86 1
#endif

namespace ddpm {
namespace cpu {
namespace {

constexpr int MR = kGemmMR;
constexpr int NR = kGemmNR;
constexpr int kMaxKc = 256;                      // K block: B micro-panel 16 KiB
constexpr int64_t kMaxRowPanelsPerBlock = 32;    // 192 rows of A per task
constexpr int64_t kGroupTileFloats = 32 * 1024;  // C tiles a task keeps hot (128 KiB)
constexpr int64_t kPrepackFloats = 4 << 20;      // 16 MiB of shared packed panels
std::atomic<int64_t> g_prepack_limit{kPrepackFloats};

// out(r, j) = acc(r, j) + bias[r]          (first K block)
// out(r, j) = out(r, j) + acc(r, j)        (accumulate)
// for r < rows; rows of the packed A beyond `rows` are zero and not stored.
using MicroKernel = void (*)(int kc, const float* a, const float* b, float* c, int64_t ldc,
                             int rows, bool accumulate, const float* bias);

void kernel_generic(int kc, const float* a, const float* b, float* c, int64_t ldc, int rows,
                    bool accumulate, const float* bias) {
  float acc[MR][NR] = {};
  for (int k = 0; k < kc; ++k) {
    const float* bk = b + k * NR;
    for (int r = 0; r < MR; ++r) {
      const float av = a[k * MR + r];
      for (int j = 0; j < NR; ++j) acc[r][j] += av * bk[j];
    }
  }
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

#ifdef DDPM_X86
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
__attribute__((target("avx2,fma"))) void kernel_avx2(int kc, const float* a, const float* b,
                                                      float* c, int64_t ldc, int rows,
                                                      bool accumulate, const float* bias) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
#define DDPM_GEMM_STEP(ko)                                             \
  {                                                                    \
    const __m256 b0 = _mm256_loadu_ps(b + (ko) * NR);                  \
    const __m256 b1 = _mm256_loadu_ps(b + (ko) * NR + 8);              \
    __m256 av = _mm256_broadcast_ss(a + (ko) * MR + 0);                \
    c00 = _mm256_fmadd_ps(av, b0, c00);                                \
    c01 = _mm256_fmadd_ps(av, b1, c01);                                \
    av = _mm256_broadcast_ss(a + (ko) * MR + 1);                       \
    c10 = _mm256_fmadd_ps(av, b0, c10);                                \
    c11 = _mm256_fmadd_ps(av, b1, c11);                                \
    av = _mm256_broadcast_ss(a + (ko) * MR + 2);                       \
    c20 = _mm256_fmadd_ps(av, b0, c20);                                \
    c21 = _mm256_fmadd_ps(av, b1, c21);                                \
    av = _mm256_broadcast_ss(a + (ko) * MR + 3);                       \
    c30 = _mm256_fmadd_ps(av, b0, c30);                                \
    c31 = _mm256_fmadd_ps(av, b1, c31);                                \
    av = _mm256_broadcast_ss(a + (ko) * MR + 4);                       \
    c40 = _mm256_fmadd_ps(av, b0, c40);                                \
    c41 = _mm256_fmadd_ps(av, b1, c41);                                \
    av = _mm256_broadcast_ss(a + (ko) * MR + 5);                       \
    c50 = _mm256_fmadd_ps(av, b0, c50);                                \
    c51 = _mm256_fmadd_ps(av, b1, c51);                                \
  }
  int k = 0;
  for (; k + 4 <= kc; k += 4) {
    _mm_prefetch(reinterpret_cast<const char*>(a + 24 * MR), _MM_HINT_T0);
    DDPM_GEMM_STEP(0)
    DDPM_GEMM_STEP(1)
    DDPM_GEMM_STEP(2)
    DDPM_GEMM_STEP(3)
    a += 4 * MR;
    b += 4 * NR;
  }
  for (; k < kc; ++k) {
    DDPM_GEMM_STEP(0)
    a += MR;
    b += NR;
  }
#undef DDPM_GEMM_STEP
  const float* bias_row = bias;
  store_row_avx2(c, c00, c01, accumulate, bias_row);
  if (rows > 1) store_row_avx2(c + ldc, c10, c11, accumulate, bias ? bias + 1 : nullptr);
  if (rows > 2) store_row_avx2(c + 2 * ldc, c20, c21, accumulate, bias ? bias + 2 : nullptr);
  if (rows > 3) store_row_avx2(c + 3 * ldc, c30, c31, accumulate, bias ? bias + 3 : nullptr);
  if (rows > 4) store_row_avx2(c + 4 * ldc, c40, c41, accumulate, bias ? bias + 4 : nullptr);
  if (rows > 5) store_row_avx2(c + 5 * ldc, c50, c51, accumulate, bias ? bias + 5 : nullptr);
}

bool cpu_has_avx2_fma() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#endif

std::atomic<bool> g_force_generic{false};

MicroKernel select_kernel() {
#ifdef DDPM_X86
  static const bool avx2 = cpu_has_avx2_fma();
  if (avx2 && !g_force_generic.load(std::memory_order_relaxed)) return kernel_avx2;
#endif
  return kernel_generic;
}

// A grow-only, 64-byte aligned float buffer. Thread-local instances give
// each pool thread its panel scratch, and the calling thread its pre-packed
// panels, without any allocation in steady state.
class Scratch {
 public:
  ~Scratch() { std::free(data_); }
  float* get(size_t floats) {
    if (floats > capacity_) {
      std::free(data_);
      size_t bytes = (floats * sizeof(float) + 63) / 64 * 64;
      data_ = static_cast<float*>(std::aligned_alloc(64, bytes));
      if (!data_) {
        capacity_ = 0;
        throw Error("gemm: out of memory allocating " + std::to_string(bytes) + " bytes of workspace");
      }
      capacity_ = floats;
    }
    return data_;
  }

 private:
  float* data_ = nullptr;
  size_t capacity_ = 0;
};

thread_local Scratch tl_panel_scratch;    // B micro-panel + one C tile, per thread
thread_local Scratch tl_prepack_scratch;  // shared pre-packed panels, per calling thread

struct Plan {
  int64_t M, N, K;
  int kc;                       // K block length (the last block may be shorter)
  int64_t nkb;                  // number of K blocks
  int64_t MP, NP;               // row / column micro-panels
  int64_t mcp, ncp;             // panels per row block / column block
  int64_t m_blocks, n_blocks;   // the task grid
  int64_t group;                // column panels whose C tiles a task keeps hot
  bool prepack_b;               // B panels shared by several row blocks
  int64_t kb_per_super;         // K blocks per pre-packed super-block
};

Plan make_plan(const GemmProblem& p, int threads) {
  Plan s;
  s.M = p.M;
  s.N = p.N;
  s.K = p.K;
  // Equal K blocks of at most kMaxKc: a function of K alone.
  s.nkb = (p.K + kMaxKc - 1) / kMaxKc;
  s.kc = static_cast<int>((p.K + s.nkb - 1) / s.nkb);
  s.MP = (p.M + MR - 1) / MR;
  s.NP = (p.N + NR - 1) / NR;
  // Task grid (free to depend on the thread count: it moves no bits).
  s.m_blocks = (s.MP + kMaxRowPanelsPerBlock - 1) / kMaxRowPanelsPerBlock;
  const int64_t target_tasks = threads > 1 ? 4 * static_cast<int64_t>(threads) : 1;
  s.n_blocks = std::min(s.NP, std::max<int64_t>(1, (target_tasks + s.m_blocks - 1) / s.m_blocks));
  s.mcp = (s.MP + s.m_blocks - 1) / s.m_blocks;
  s.m_blocks = (s.MP + s.mcp - 1) / s.mcp;
  s.ncp = (s.NP + s.n_blocks - 1) / s.n_blocks;
  s.n_blocks = (s.NP + s.ncp - 1) / s.ncp;
  s.group = std::max<int64_t>(1, kGroupTileFloats / (s.mcp * MR * NR));
  s.prepack_b = s.m_blocks > 1;
  const int64_t per_kb = (s.MP * MR + (s.prepack_b ? s.NP * NR : 0)) * s.kc;
  s.kb_per_super = std::max<int64_t>(1, g_prepack_limit.load(std::memory_order_relaxed) / per_kb);
  return s;
}

struct SuperBlock {
  int64_t kb0, kb1;  // K blocks [kb0, kb1)
  int64_t k0, len;   // K range [k0, k0 + len)
  const float* a;    // MP panels of len * MR floats
  const float* b;    // NP panels of len * NR floats, or nullptr (packed by tasks)
};

void run_task(const GemmProblem& p, const Plan& s, const SuperBlock& sb, MicroKernel kernel,
              int64_t mb, int64_t nb) {
  const int64_t ir0 = mb * s.mcp, ir1 = std::min(s.MP, ir0 + s.mcp);
  const int64_t jr0 = nb * s.ncp, jr1 = std::min(s.NP, jr0 + s.ncp);
  float* scratch = tl_panel_scratch.get(static_cast<size_t>(s.kc) * NR + MR * NR);
  float* bpanel = scratch;
  float* tile = scratch + static_cast<size_t>(s.kc) * NR;
  for (int64_t g0 = jr0; g0 < jr1; g0 += s.group) {
    const int64_t g1 = std::min(jr1, g0 + s.group);
    for (int64_t kb = sb.kb0; kb < sb.kb1; ++kb) {
      const int64_t k0 = kb * s.kc;
      const int kc = static_cast<int>(std::min<int64_t>(s.kc, s.K - k0));
      const bool first = kb == 0;
      for (int64_t jr = g0; jr < g1; ++jr) {
        const int64_t n0 = jr * NR;
        const int cols = static_cast<int>(std::min<int64_t>(NR, s.N - n0));
        const float* bp;
        if (sb.b) {
          bp = sb.b + jr * sb.len * NR + (k0 - sb.k0) * NR;
        } else {
          p.pack_b(bpanel, k0, kc, n0, cols);
          bp = bpanel;
        }
        for (int64_t ir = ir0; ir < ir1; ++ir) {
          const int64_t m0 = ir * MR;
          const int rows = static_cast<int>(std::min<int64_t>(MR, s.M - m0));
          const float* ap = sb.a + ir * sb.len * MR + (k0 - sb.k0) * MR;
          const float* bias = (first && p.row_bias) ? p.row_bias + m0 : nullptr;
          int64_t ldc = 0;
          float* c = cols == NR ? p.direct_tile(m0, n0, &ldc) : nullptr;
          if (c) {
            kernel(kc, ap, bp, c, ldc, rows, !first, bias);
          } else {
            kernel(kc, ap, bp, tile, NR, rows, false, bias);
            p.store_tile(tile, m0, rows, n0, cols, !first);
          }
        }
      }
    }
  }
}

// K == 0: C = row_bias (or zeros), through the store path.
void store_bias_only(ThreadPool& pool, const GemmProblem& p) {
  const int64_t MP = (p.M + MR - 1) / MR, NP = (p.N + NR - 1) / NR;
  pool.parallel_for(MP, 1, [&](int64_t i0, int64_t i1) {
    float tile[MR * NR];
    for (int64_t ir = i0; ir < i1; ++ir) {
      const int64_t m0 = ir * MR;
      const int rows = static_cast<int>(std::min<int64_t>(MR, p.M - m0));
      for (int r = 0; r < MR; ++r)
        for (int j = 0; j < NR; ++j) tile[r * NR + j] = (p.row_bias && r < rows) ? p.row_bias[m0 + r] : 0.0f;
      for (int64_t jr = 0; jr < NP; ++jr) {
        const int64_t n0 = jr * NR;
        p.store_tile(tile, m0, rows, n0, static_cast<int>(std::min<int64_t>(NR, p.N - n0)), false);
      }
    }
  });
}

}  // namespace

const char* gemm_kernel_name() {
  return select_kernel() == kernel_generic ? "generic" : "avx2";
}

void gemm_force_generic(bool on) { g_force_generic.store(on, std::memory_order_relaxed); }

void gemm_set_prepack_limit(int64_t floats) {
  g_prepack_limit.store(floats > 0 ? floats : kPrepackFloats, std::memory_order_relaxed);
}

void gemm_run(ThreadPool& pool, const GemmProblem& p) {
  if (p.M < 0 || p.N < 0 || p.K < 0)
    throw Error("gemm: negative size M=" + std::to_string(p.M) + " N=" + std::to_string(p.N) +
                " K=" + std::to_string(p.K));
  if (p.M == 0 || p.N == 0) return;
  if (p.K == 0) {
    store_bias_only(pool, p);
    return;
  }
  const MicroKernel kernel = select_kernel();
  const Plan s = make_plan(p, pool.threads());
  for (int64_t kb0 = 0; kb0 < s.nkb; kb0 += s.kb_per_super) {
    SuperBlock sb;
    sb.kb0 = kb0;
    sb.kb1 = std::min(s.nkb, kb0 + s.kb_per_super);
    sb.k0 = kb0 * s.kc;
    sb.len = std::min(s.K, sb.kb1 * s.kc) - sb.k0;
    const size_t a_floats = static_cast<size_t>(s.MP) * MR * sb.len;
    const size_t b_floats = s.prepack_b ? static_cast<size_t>(s.NP) * NR * sb.len : 0;
    float* packed = tl_prepack_scratch.get(a_floats + b_floats);
    sb.a = packed;
    sb.b = s.prepack_b ? packed + a_floats : nullptr;
    // Pre-pack: the A panels, then (when shared) the B panels.
    const int64_t panels = s.MP + (s.prepack_b ? s.NP : 0);
    pool.parallel_for(panels, 4, [&](int64_t q0, int64_t q1) {
      for (int64_t q = q0; q < q1; ++q) {
        if (q < s.MP) {
          const int64_t m0 = q * MR;
          p.pack_a(packed + q * sb.len * MR, m0, static_cast<int>(std::min<int64_t>(MR, s.M - m0)),
                   sb.k0, static_cast<int>(sb.len));
        } else {
          const int64_t jr = q - s.MP, n0 = jr * NR;
          p.pack_b(packed + a_floats + jr * sb.len * NR, sb.k0, static_cast<int>(sb.len), n0,
                   static_cast<int>(std::min<int64_t>(NR, s.N - n0)));
        }
      }
    });
    pool.parallel_for(s.m_blocks * s.n_blocks, 1, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) run_task(p, s, sb, kernel, t / s.n_blocks, t % s.n_blocks);
    });
  }
}

}  // namespace cpu
}  // namespace ddpm
