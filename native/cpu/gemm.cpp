// The GEMM engine of gemm.h: Goto/BLIS-style blocking around the 6x16
// register-blocked microkernels of gemm_kernels.cpp (6x32 on AVX-512: two
// column panels per call).
//
// Blocking (per gemm_run):
//   K is cut into blocks of at most kMaxKc (near-equal lengths, a function of
//   K only: this is what fixes the summation order; bf16 problems use blocks
//   twice as long, the same bytes). A B micro-panel of one block (kc x 16
//   floats, <= 16 KiB; two on AVX-512) stays in L1 while the microkernel
//   runs down the A micro-panels of the task's rows (<= 192 rows x kc, in L2).
// Tasks: the M x N panel grid is cut into row blocks x column blocks. The
//   grid splits the dimension whose operand is cheaper to share: columns
//   when A is the smaller operand (the weights of a conv on a large image),
//   rows when B is (a conv on a 2x2 image, whose weights are read once).
//   A task walks its columns in groups whose C tiles stay in L2 while every K
//   block is added into them.
// Packing: an operand several tasks read is pre-packed once, in parallel
//   (A when there are several column blocks or groups, B when there are
//   several row blocks and it is small); otherwise each task packs what it
//   uses just before use (the A block per K block, the B micro-panel), so it
//   is read from memory once and used from cache. When the pre-packed panels
//   of all of K would not fit kPrepackBytes, K is walked in super-blocks of
//   whole K blocks.
// bf16 problems: the same plan on panels of half the bytes (gemm.h); the
//   problem's pack_*_bf16 round the operands as they pack.
#include "gemm.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include "avx2_transpose.h"
#include "ddpm/backend.h"
#include "gemm_kernels.h"
#include "simd.h"

namespace ddpm {
namespace cpu {
namespace {

constexpr int MR = kGemmMR;
constexpr int NR = kGemmNR;
constexpr int kMaxKc = 256;                      // K block (float32): B micro-panel 16 KiB
constexpr int kMaxKcBf16 = 512;                  // K block (bf16): the same bytes
constexpr int64_t kMaxRowPanelsPerBlock = 32;    // 192 rows of A per task (192 KiB at kc = 256)
constexpr int64_t kGroupTileFloats = 32 * 1024;  // C tiles a task keeps hot (128 KiB)
constexpr int64_t kPrepackBytes = 16 << 20;      // shared packed panels
std::atomic<int64_t> g_prepack_limit{kPrepackBytes};

#ifdef DDPM_X86
// gemm_pack_a_rows for a full panel: eight columns of the six rows at a
// time, transposed as an 8x8 block (two zero rows), each output group of six
// stored eight wide over the start of the next (the last one 4 + 2 wide, so
// nothing past the block is written).
__attribute__((target("avx2,fma"))) int pack_a_rows6_avx2(float* dst, const float* src, int64_t ld,
                                                          int kc) {
  int k = 0;
  for (; k + 8 <= kc; k += 8) {
    __m256 v0 = _mm256_loadu_ps(src + k), v1 = _mm256_loadu_ps(src + ld + k);
    __m256 v2 = _mm256_loadu_ps(src + 2 * ld + k), v3 = _mm256_loadu_ps(src + 3 * ld + k);
    __m256 v4 = _mm256_loadu_ps(src + 4 * ld + k), v5 = _mm256_loadu_ps(src + 5 * ld + k);
    __m256 v6 = _mm256_setzero_ps(), v7 = _mm256_setzero_ps();
    transpose8x8(v0, v1, v2, v3, v4, v5, v6, v7);
    float* d = dst + k * MR;
    _mm256_storeu_ps(d, v0);
    _mm256_storeu_ps(d + 6, v1);
    _mm256_storeu_ps(d + 12, v2);
    _mm256_storeu_ps(d + 18, v3);
    _mm256_storeu_ps(d + 24, v4);
    _mm256_storeu_ps(d + 30, v5);
    _mm256_storeu_ps(d + 36, v6);
    _mm_storeu_ps(d + 42, _mm256_castps256_ps128(v7));
    _mm_storel_pi(reinterpret_cast<__m64*>(d + 46), _mm256_extractf128_ps(v7, 1));
  }
  return k;
}

// gemm_pack_a_rows_bf16 sixteen columns (eight K pairs) of the rows at a
// time. Each row rounds to eight bf16 pairs, that is eight dwords, the pair
// layout's unit; the 6x8 dword block (rows past `rows` zero) is transposed
// as an 8x8 float block (two more zero rows) and stored as
// pack_a_rows6_avx2 stores.
__attribute__((target(DDPM_AVX512_BF16))) int pack_a_rows_bf16_avx512(uint16_t* dst, const float* src, int64_t ld,
                                                                     int rows, int kc) {
  int k = 0;
  for (; k + 16 <= kc; k += 16) {
    __m256 v[8];
    for (int r = 0; r < MR; ++r)
      v[r] = r < rows ? (__m256)_mm512_cvtneps_pbh(_mm512_loadu_ps(src + r * ld + k)) : _mm256_setzero_ps();
    v[6] = v[7] = _mm256_setzero_ps();
    transpose8x8(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]);
    float* d = reinterpret_cast<float*>(dst + k * MR);  // pair p's six dwords at d + 6p
    for (int p = 0; p < 7; ++p) _mm256_storeu_ps(d + 6 * p, v[p]);
    _mm_storeu_ps(d + 42, _mm256_castps256_ps128(v[7]));
    _mm_storel_pi(reinterpret_cast<__m64*>(d + 46), _mm256_extractf128_ps(v[7], 1));
  }
  return k;
}
#endif

// A grow-only, 64-byte aligned buffer. Thread-local instances give each pool
// thread its panel scratch, and the calling thread its pre-packed panels,
// without any allocation in steady state.
class Scratch {
 public:
  ~Scratch() { std::free(data_); }
  char* get(size_t bytes) {
    if (bytes > capacity_) {
      std::free(data_);
      const size_t rounded = (bytes + 63) / 64 * 64;
      data_ = static_cast<char*>(std::aligned_alloc(64, rounded));
      if (!data_) {
        capacity_ = 0;
        throw Error("gemm: out of memory allocating " + std::to_string(rounded) + " bytes of workspace");
      }
      capacity_ = bytes;
    }
    return data_;
  }

 private:
  char* data_ = nullptr;
  size_t capacity_ = 0;
};

thread_local Scratch tl_task_scratch;     // B micro-panels, staged tiles, tile map; per thread
thread_local Scratch tl_prepack_scratch;  // shared pre-packed panels, per calling thread
thread_local Scratch tl_round_scratch;    // float32 panels on their way to bf16 (default packers)

size_t round_up64(size_t bytes) { return (bytes + 63) / 64 * 64; }

// Bytes of a packed panel of `len` K rows and `width` (MR or NR) columns.
// A bf16 panel holds whole K pairs; an offset of an even number of K rows
// into a panel is panel_bytes of that number.
size_t panel_bytes(bool bf16, int64_t len, int width) {
  return bf16 ? static_cast<size_t>((len + 1) / 2) * 2 * width * sizeof(uint16_t)
              : static_cast<size_t>(len) * width * sizeof(float);
}

void pack_a_panel(const GemmProblem& p, char* dst, int64_t m0, int rows, int64_t k0, int kc) {
  if (p.bf16)
    p.pack_a_bf16(reinterpret_cast<uint16_t*>(dst), m0, rows, k0, kc);
  else
    p.pack_a(reinterpret_cast<float*>(dst), m0, rows, k0, kc);
}

void pack_b_panel(const GemmProblem& p, char* dst, int64_t k0, int kc, int64_t n0, int cols) {
  if (p.bf16)
    p.pack_b_bf16(reinterpret_cast<uint16_t*>(dst), k0, kc, n0, cols);
  else
    p.pack_b(reinterpret_cast<float*>(dst), k0, kc, n0, cols);
}

struct Plan {
  int64_t M, N, K;
  bool bf16;                    // bf16 panels
  int kc;                       // K block length (the last block may be shorter)
  int64_t nkb;                  // number of K blocks
  int64_t MP, NP;               // row / column micro-panels
  int64_t mcp, ncp;             // panels per row block / column block
  int64_t m_blocks, n_blocks;   // the task grid
  int64_t group;                // column panels whose C tiles a task keeps hot
  bool prepack_a;               // A panels shared by several tasks or groups
  bool prepack_b;               // B panels shared by several row blocks
  int64_t kb_per_super;         // K blocks per pre-packed super-block
  MicroKernel kernel;
  bool pairs;                   // the kernel takes two column panels per call
};

Plan make_plan(const GemmProblem& p, int threads) {
  Plan s;
  s.M = p.M;
  s.N = p.N;
  s.K = p.K;
  s.bf16 = p.bf16;
  const GemmIsa isa = gemm_isa();
  s.kernel = gemm_microkernel(isa, p.bf16);
  s.pairs = gemm_panels_per_kernel_call() == 2;
  // Near-equal K blocks of at most the maximum, rounded up to a multiple of 8
  // (so pixel runs of 8 stay aligned in the packers, and bf16 pairs whole): a
  // function of K (and bf16) alone.
  const int max_kc = p.bf16 ? kMaxKcBf16 : kMaxKc;
  const int64_t blocks = (p.K + max_kc - 1) / max_kc;
  s.kc = static_cast<int>(((p.K + blocks - 1) / blocks + 7) / 8 * 8);
  s.nkb = (p.K + s.kc - 1) / s.kc;
  s.MP = (p.M + MR - 1) / MR;
  s.NP = (p.N + NR - 1) / NR;
  // Task grid (free to depend on the thread count: it moves no bits).
  const int64_t target_tasks = 4 * static_cast<int64_t>(std::max(1, threads));
  const int64_t min_m_blocks = (s.MP + kMaxRowPanelsPerBlock - 1) / kMaxRowPanelsPerBlock;
  const double a_size = static_cast<double>(p.M) * p.K, b_size = static_cast<double>(p.K) * p.N;
  // Whole multiples of the thread count where the panels allow, so that no
  // thread is left with one task more than the others.
  const int64_t t = std::max(1, threads);
  if (a_size <= b_size) {
    s.m_blocks = min_m_blocks;
    int64_t n = std::max<int64_t>(1, (target_tasks + s.m_blocks - 1) / s.m_blocks);
    while ((s.m_blocks * n) % t != 0 && n < s.NP) ++n;
    s.n_blocks = std::min(s.NP, n);
  } else {
    s.m_blocks = std::min(s.MP, (std::max(min_m_blocks, target_tasks) + t - 1) / t * t);
    s.n_blocks = 1;
  }
  s.mcp = (s.MP + s.m_blocks - 1) / s.m_blocks;
  s.m_blocks = (s.MP + s.mcp - 1) / s.mcp;
  s.ncp = (s.NP + s.n_blocks - 1) / s.n_blocks;
  s.n_blocks = (s.NP + s.ncp - 1) / s.ncp;
  s.group = std::max<int64_t>(1, kGroupTileFloats / (s.mcp * MR * NR));
  s.prepack_a = s.n_blocks > 1 || s.ncp > s.group;
  s.prepack_b = s.m_blocks > 1 && panel_bytes(p.bf16, p.K, NR) * s.NP <= static_cast<size_t>(kPrepackBytes);
  const size_t per_kb = (s.prepack_a ? s.MP * panel_bytes(p.bf16, s.kc, MR) : 0) +
                        (s.prepack_b ? s.NP * panel_bytes(p.bf16, s.kc, NR) : 0);
  s.kb_per_super = per_kb == 0 ? s.nkb
                               : std::max<int64_t>(1, g_prepack_limit.load(std::memory_order_relaxed) /
                                                          static_cast<int64_t>(per_kb));
  return s;
}

struct SuperBlock {
  int64_t kb0, kb1;  // K blocks [kb0, kb1)
  int64_t k0, len;   // K range [k0, k0 + len)
  const char* a;     // MP panels of panel_bytes(len, MR), or nullptr (packed by tasks)
  const char* b;     // NP panels of panel_bytes(len, NR), or nullptr (packed by tasks)
};

// Where one C tile of a group is accumulated: straight into C, or into a
// staged MR x NR tile that is loaded from C before and stored to C after the
// super-block. Both see the same sequence of roundings, so staging moves no
// bits. Tiles are staged when C is not a plain strided block there, and when
// its rows are a multiple of 4 KiB apart (a 32x32 NCHW plane): those rows
// all fall in one L1 set, so every access to the tile would miss L1.
struct TileTarget {
  float* c;         // where the microkernel writes
  int64_t ldc;
  float* direct;    // C itself when it is a strided block (ldc_direct apart), else nullptr
  int64_t ldc_direct;
  bool staged;
};

constexpr int64_t kAliasingStrideFloats = 1024;  // 4 KiB

void run_task(const GemmProblem& p, const Plan& s, const SuperBlock& sb, int64_t mb, int64_t nb) {
  const int64_t ir0 = mb * s.mcp, ir1 = std::min(s.MP, ir0 + s.mcp), rows_panels = ir1 - ir0;
  const int64_t jr0 = nb * s.ncp, jr1 = std::min(s.NP, jr0 + s.ncp);
  const size_t bpanel_bytes = round_up64(panel_bytes(s.bf16, s.kc, NR));
  const size_t apanel_bytes = panel_bytes(s.bf16, s.kc, MR);
  const size_t ablock_bytes = sb.a ? 0 : round_up64(rows_panels * apanel_bytes);
  const size_t staged_bytes = static_cast<size_t>(rows_panels * s.group) * MR * NR * sizeof(float);
  const size_t map_bytes = static_cast<size_t>(rows_panels * s.group) * sizeof(TileTarget);
  char* scratch = tl_task_scratch.get(2 * bpanel_bytes + ablock_bytes + staged_bytes + map_bytes);
  char* bpanels = scratch;                    // one or two B micro-panels
  char* ablock = scratch + 2 * bpanel_bytes;  // this task's A rows for one K block
  float* staged = reinterpret_cast<float*>(ablock + ablock_bytes);
  TileTarget* targets = reinterpret_cast<TileTarget*>(ablock + ablock_bytes + staged_bytes);
  const bool continuing = sb.kb0 > 0;  // C already holds the earlier K blocks
  const size_t sb_apanel = panel_bytes(s.bf16, sb.len, MR), sb_bpanel = panel_bytes(s.bf16, sb.len, NR);

  for (int64_t g0 = jr0; g0 < jr1; g0 += s.group) {
    const int64_t g1 = std::min(jr1, g0 + s.group), gn = g1 - g0;
    // Map the group's tiles (and bring staged ones up to date).
    for (int64_t ir = ir0; ir < ir1; ++ir) {
      const int64_t m0 = ir * MR;
      const int rows = static_cast<int>(std::min<int64_t>(MR, s.M - m0));
      for (int64_t jr = g0; jr < g1; ++jr) {
        const int64_t n0 = jr * NR;
        const int cols = static_cast<int>(std::min<int64_t>(NR, s.N - n0));
        TileTarget& t = targets[(ir - ir0) * gn + (jr - g0)];
        t.direct = cols == NR ? p.direct_tile(m0, n0, &t.ldc_direct) : nullptr;
        t.staged = t.direct == nullptr || t.ldc_direct % kAliasingStrideFloats == 0;
        if (!t.staged) {
          t.c = t.direct;
          t.ldc = t.ldc_direct;
          continue;
        }
        t.c = staged + ((ir - ir0) * gn + (jr - g0)) * MR * NR;
        t.ldc = NR;
        if (!continuing) continue;
        if (t.direct) {
          for (int r = 0; r < rows; ++r) std::memcpy(t.c + r * NR, t.direct + r * t.ldc_direct, sizeof(float) * NR);
        } else {
          p.load_tile(t.c, m0, rows, n0, cols);
        }
      }
    }
    for (int64_t kb = sb.kb0; kb < sb.kb1; ++kb) {
      const int64_t k0 = kb * s.kc;
      const int kc = static_cast<int>(std::min<int64_t>(s.kc, s.K - k0));
      const bool first = kb == 0;
      const size_t koff_a = panel_bytes(s.bf16, k0 - sb.k0, MR), koff_b = panel_bytes(s.bf16, k0 - sb.k0, NR);
      if (!sb.a)  // one group per task (see make_plan): each A block is packed once
        for (int64_t ir = ir0; ir < ir1; ++ir) {
          const int64_t m0 = ir * MR;
          pack_a_panel(p, ablock + (ir - ir0) * apanel_bytes, m0, static_cast<int>(std::min<int64_t>(MR, s.M - m0)),
                       k0, kc);
        }
      // Column panels one at a time, or two per kernel call.
      const int64_t step = s.pairs ? 2 : 1;
      for (int64_t jr = g0; jr < g1; jr += step) {
        const int width = static_cast<int>(std::min<int64_t>(step, g1 - jr));
        const char* bp[2] = {nullptr, nullptr};
        for (int h = 0; h < width; ++h) {
          const int64_t n0 = (jr + h) * NR;
          if (sb.b) {
            bp[h] = sb.b + (jr + h) * sb_bpanel + koff_b;
          } else {
            char* dst = bpanels + h * bpanel_bytes;
            pack_b_panel(p, dst, k0, kc, n0, static_cast<int>(std::min<int64_t>(NR, s.N - n0)));
            bp[h] = dst;
          }
        }
        for (int64_t ir = ir0; ir < ir1; ++ir) {
          const int64_t m0 = ir * MR;
          const int rows = static_cast<int>(std::min<int64_t>(MR, s.M - m0));
          const char* ap = sb.a ? sb.a + ir * sb_apanel + koff_a : ablock + (ir - ir0) * apanel_bytes;
          const float* bias = (first && p.row_bias) ? p.row_bias + m0 : nullptr;
          const TileTarget& t0 = targets[(ir - ir0) * gn + (jr - g0)];
          const TileTarget& t1 = width == 2 ? targets[(ir - ir0) * gn + (jr + 1 - g0)] : t0;
          s.kernel(kc, ap, bp[0], bp[1], t0.c, t0.ldc, t1.c, t1.ldc, rows, !first, bias);
        }
      }
    }
    const bool finished = sb.kb1 == s.nkb;  // the last super-block: the group's tiles are final
    for (int64_t ir = ir0; ir < ir1; ++ir) {
      const int64_t m0 = ir * MR;
      const int rows = static_cast<int>(std::min<int64_t>(MR, s.M - m0));
      for (int64_t jr = g0; jr < g1; ++jr) {
        const TileTarget& t = targets[(ir - ir0) * gn + (jr - g0)];
        if (finished) p.finish_tile(t.c, t.ldc, m0, rows, jr * NR, static_cast<int>(std::min<int64_t>(NR, s.N - jr * NR)));
        if (!t.staged) continue;
        if (t.direct) {
          for (int r = 0; r < rows; ++r) std::memcpy(t.direct + r * t.ldc_direct, t.c + r * NR, sizeof(float) * NR);
          continue;
        }
        const int64_t n0 = jr * NR;
        p.store_tile(t.c, m0, rows, n0, static_cast<int>(std::min<int64_t>(NR, s.N - n0)));
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
      for (int64_t jr = 0; jr < NP; ++jr) {
        for (int r = 0; r < MR; ++r)
          for (int j = 0; j < NR; ++j) tile[r * NR + j] = (p.row_bias && r < rows) ? p.row_bias[m0 + r] : 0.0f;
        const int64_t n0 = jr * NR;
        const int cols = static_cast<int>(std::min<int64_t>(NR, p.N - n0));
        p.finish_tile(tile, NR, m0, rows, n0, cols);
        p.store_tile(tile, m0, rows, n0, cols);
      }
    }
  });
}

class StridedProblem final : public GemmProblem {
 public:
  StridedProblem(int64_t m, int64_t n, int64_t k, StridedMatrix a, StridedMatrix b, float* c,
                 int64_t c_rs, int64_t c_cs, const float* bias)
      : a_(a), b_(b), c_(c), c_rs_(c_rs), c_cs_(c_cs) {
    M = m;
    N = n;
    K = k;
    row_bias = bias;
  }
  void pack_a(float* dst, int64_t m0, int rows, int64_t k0, int kc) const override {
    if (a_.col_stride == 1) {
      gemm_pack_a_rows(dst, a_.data + m0 * a_.row_stride + k0, a_.row_stride, rows, kc);
      return;
    }
    for (int i = 0; i < kc; ++i) {
      const float* src = a_.data + m0 * a_.row_stride + (k0 + i) * a_.col_stride;
      for (int r = 0; r < MR; ++r) dst[i * MR + r] = r < rows ? src[r * a_.row_stride] : 0.0f;
    }
  }
  void pack_b(float* dst, int64_t k0, int kc, int64_t n0, int cols) const override {
    for (int i = 0; i < kc; ++i) {
      const float* src = b_.data + (k0 + i) * b_.row_stride + n0 * b_.col_stride;
      float* d = dst + i * NR;
      if (cols == NR && b_.col_stride == 1) {
        for (int j = 0; j < NR; ++j) d[j] = src[j];
      } else {
        for (int j = 0; j < NR; ++j) d[j] = j < cols ? src[j * b_.col_stride] : 0.0f;
      }
    }
  }
  float* direct_tile(int64_t m0, int64_t n0, int64_t* ldc) const override {
    if (c_cs_ != 1) return nullptr;
    *ldc = c_rs_;
    return c_ + m0 * c_rs_ + n0;
  }
  void store_tile(const float* tile, int64_t m0, int rows, int64_t n0, int cols) const override {
    for (int r = 0; r < rows; ++r)
      for (int j = 0; j < cols; ++j) c_[(m0 + r) * c_rs_ + (n0 + j) * c_cs_] = tile[r * NR + j];
  }
  void load_tile(float* tile, int64_t m0, int rows, int64_t n0, int cols) const override {
    for (int r = 0; r < rows; ++r)
      for (int j = 0; j < cols; ++j) tile[r * NR + j] = c_[(m0 + r) * c_rs_ + (n0 + j) * c_cs_];
  }

 private:
  StridedMatrix a_, b_;
  float* c_;
  int64_t c_rs_, c_cs_;
};

}  // namespace

void gemm_pack_a_rows(float* dst, const float* src, int64_t ld, int rows, int kc) {
  int k = 0;
#ifdef DDPM_X86
  if (rows == MR && gemm_use_avx2()) k = pack_a_rows6_avx2(dst, src, ld, kc);
#endif
  if (rows == MR) {
    for (; k < kc; ++k)
      for (int r = 0; r < MR; ++r) dst[k * MR + r] = src[r * ld + k];
    return;
  }
  for (; k < kc; ++k)
    for (int r = 0; r < MR; ++r) dst[k * MR + r] = r < rows ? src[r * ld + k] : 0.0f;
}

void gemm_pack_a_rows_bf16(uint16_t* dst, const float* src, int64_t ld, int rows, int kc) {
  int k = 0;
#ifdef DDPM_X86
  if (gemm_bf16_native()) k = pack_a_rows_bf16_avx512(dst, src, ld, rows, kc);
#endif
  for (; k < kc; ++k)
    for (int r = 0; r < MR; ++r) dst[(k / 2) * 2 * MR + 2 * r + k % 2] = r < rows ? float_to_bf16(src[r * ld + k]) : 0;
  if (kc % 2)
    for (int r = 0; r < MR; ++r) dst[(kc / 2) * 2 * MR + 2 * r + 1] = 0;
}

void gemm_strided(ThreadPool& pool, int64_t M, int64_t N, int64_t K, StridedMatrix A,
                  StridedMatrix B, float* C, int64_t c_row_stride, int64_t c_col_stride,
                  const float* row_bias) {
  StridedProblem problem(M, N, K, A, B, C, c_row_stride, c_col_stride, row_bias);
  gemm_run(pool, problem);
}

void gemm_set_prepack_limit(int64_t floats) {
  g_prepack_limit.store(floats > 0 ? floats * static_cast<int64_t>(sizeof(float)) : kPrepackBytes,
                        std::memory_order_relaxed);
}

// The default bf16 packers: float32 panels of up to kRoundChunk K rows (in
// L1), rounded and interleaved (gemm_kernels.cpp).
constexpr int kRoundChunk = 256;

void GemmProblem::pack_a_bf16(uint16_t* dst, int64_t m0, int rows, int64_t k0, int kc) const {
  float* f = reinterpret_cast<float*>(tl_round_scratch.get(sizeof(float) * kRoundChunk * NR));
  for (int k = 0; k < kc; k += kRoundChunk) {
    const int n = std::min(kRoundChunk, kc - k);
    pack_a(f, m0, rows, k0 + k, n);
    round_panel_bf16(dst + static_cast<int64_t>(k) * MR, f, MR, n);
  }
}

void GemmProblem::pack_b_bf16(uint16_t* dst, int64_t k0, int kc, int64_t n0, int cols) const {
  float* f = reinterpret_cast<float*>(tl_round_scratch.get(sizeof(float) * kRoundChunk * NR));
  for (int k = 0; k < kc; k += kRoundChunk) {
    const int n = std::min(kRoundChunk, kc - k);
    pack_b(f, k0 + k, n, n0, cols);
    round_panel_bf16(dst + static_cast<int64_t>(k) * NR, f, NR, n);
  }
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
  const Plan s = make_plan(p, pool.threads());
  for (int64_t kb0 = 0; kb0 < s.nkb; kb0 += s.kb_per_super) {
    SuperBlock sb;
    sb.kb0 = kb0;
    sb.kb1 = std::min(s.nkb, kb0 + s.kb_per_super);
    sb.k0 = kb0 * s.kc;
    sb.len = std::min(s.K, sb.kb1 * s.kc) - sb.k0;
    const size_t a_panel = panel_bytes(s.bf16, sb.len, MR), b_panel = panel_bytes(s.bf16, sb.len, NR);
    const size_t a_bytes = s.prepack_a ? round_up64(s.MP * a_panel) : 0;
    const size_t b_bytes = s.prepack_b ? s.NP * b_panel : 0;
    char* packed = (a_bytes + b_bytes) ? tl_prepack_scratch.get(a_bytes + b_bytes) : nullptr;
    sb.a = s.prepack_a ? packed : nullptr;
    sb.b = s.prepack_b ? packed + a_bytes : nullptr;
    // Pre-pack the shared panels: A's, then B's.
    const int64_t a_panels = s.prepack_a ? s.MP : 0;
    const int64_t panels = a_panels + (s.prepack_b ? s.NP : 0);
    pool.parallel_for(panels, 4, [&](int64_t q0, int64_t q1) {
      for (int64_t q = q0; q < q1; ++q) {
        if (q < a_panels) {
          const int64_t m0 = q * MR;
          pack_a_panel(p, packed + q * a_panel, m0, static_cast<int>(std::min<int64_t>(MR, s.M - m0)), sb.k0,
                       static_cast<int>(sb.len));
        } else {
          const int64_t jr = q - a_panels, n0 = jr * NR;
          pack_b_panel(p, packed + a_bytes + jr * b_panel, sb.k0, static_cast<int>(sb.len), n0,
                       static_cast<int>(std::min<int64_t>(NR, s.N - n0)));
        }
      }
    });
    pool.parallel_for(s.m_blocks * s.n_blocks, 1, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) run_task(p, s, sb, t / s.n_blocks, t % s.n_blocks);
    });
  }
}

}  // namespace cpu
}  // namespace ddpm
