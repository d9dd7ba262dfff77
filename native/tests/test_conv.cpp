// The CPU backend's GEMM convolutions against the direct loops of
// reference_conv.h (double accumulation), on many shapes: 1x1 and 3x3, odd
// images, 1x1 images, batch 1, channel counts that are not multiples of the
// 6x16 microtile, a large-ish layer, many K blocks; plus the transposed conv,
// the GEMM engine on plain matrices (super-blocks included), every
// microkernel the CPU can run (generic, AVX2, AVX-512; each ISA it lacks is
// skipped with a line saying so), the bf16 convolutions, and bit-identical
// results for 1 and 2 threads.
//
// Tolerance. An output is an fp32 sum of K products with |term| <= 1 (all
// inputs are U(-1, 1)), where K = Cin*k*k (forward), Cout*k*k (data
// gradient) or N*H*W (filter gradient). Rounding each of the K partial sums
// (the i-th of typical size sqrt(i)/3) by at most u/2 (u = 2^-24) adds up, in
// quadrature, to an error of standard deviation about u*K/8. We allow
// atol = 2*u*K, 16 of those (the largest of ~1e5 outputs lands near 4-5; the
// worst case u*K^1.5/9, every rounding going the same way, is far above),
// plus rtol = 1e-6 (a few ulps of the output) for the last rounding.
//
// bf16 convolutions round x, w and dy to bfloat16 and sum the (exact)
// products in float32. Against a reference computed from the same rounded
// inputs they are held to the same float32 tolerance: that checks the
// rounding (any other rounding than the reference's moves outputs by about
// 2^-9 of a term, far beyond it), the pair layout and the summation. Against
// the float32 reference of the unrounded inputs they differ by the rounding
// of the operands, a random walk of K terms each off by up to 2^-8 of its
// size: held to 8 standard deviations of that walk (see bf16_vs_float32).
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "conv1x1_narrow.h"
#include "conv_small_cin.h"
#include "conv_taps.h"
#include "cpu_backend.h"
#include "cpu_ops.h"
#include "ddpm/backend.h"
#include "gemm.h"
#include "gemm_kernels.h"
#include "reference_conv.h"
#include "testing.h"

using namespace ddpm;
using namespace ddpm::testing;
using Vec = std::vector<float>;
using DVec = std::vector<double>;

namespace {

constexpr double kUnitRoundoff = 1.0 / (1 << 24);
constexpr double kRtol = 1e-6;
double atol_for(int64_t K) { return 2.0 * kUnitRoundoff * static_cast<double>(K) + 1e-7; }

using cpu::ConvMath;

std::unique_ptr<Backend> backend(int threads) { return std::unique_ptr<Backend>(create_cpu_backend(threads)); }

std::string shape_tag(const char* op, int N, int Cin, int H, int W, int Cout, int k, ConvMath math) {
  return std::string(op) + (math == ConvMath::kBf16 ? " bf16" : "") + " N" + std::to_string(N) + " " +
         std::to_string(Cin) + "->" + std::to_string(Cout) + " " + std::to_string(H) + "x" + std::to_string(W) +
         (k ? " k" + std::to_string(k) : std::string());
}

// What the reference multiplies: the inputs themselves, or (bf16) the
// inputs rounded as the packers round them.
Vec operand(const Vec& v, ConvMath math) {
  if (math == ConvMath::kFloat32) return v;
  Vec r(v.size());
  for (size_t i = 0; i < v.size(); ++i) r[i] = cpu::bf16_to_float(cpu::float_to_bf16(v[i]));
  return r;
}

// db[c] = sum over samples and pixels of dy[n][c] (the bias gradient is a
// plain sum of dy, no GEMM: unrounded in every math).
DVec channel_sums(const Vec& dy, int N, int C, int64_t HW) {
  DVec s(C, 0.0);
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < C; ++c)
      for (int64_t i = 0; i < HW; ++i) s[c] += dy[(int64_t(n) * C + c) * HW + i];
  return s;
}

bool same_bits(const Vec& a, const Vec& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

void conv_case(int N, int Cin, int H, int W, int Cout, int k, uint32_t seed, int threads = 2,
               ConvMath math = ConvMath::kFloat32) {
  cpu::ThreadPool pool(threads);
  const size_t nx = size_t(N) * Cin * H * W, ny = size_t(N) * Cout * H * W;
  Vec x = random_vector(nx, seed), w = random_vector(size_t(Cout) * Cin * k * k, seed + 1);
  Vec b = random_vector(Cout, seed + 2), dy = random_vector(ny, seed + 3);
  Vec y(ny), dx(nx), dw(w.size()), db(Cout);
  cpu::conv2d_forward(pool, math, x.data(), w.data(), b.data(), y.data(), N, Cin, H, W, Cout, k);
  cpu::conv2d_backward(pool, math, x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data(), N, Cin, H, W,
                       Cout, k);
  const Vec xr = operand(x, math), wr = operand(w, math), dyr = operand(dy, math);
  DVec ry(ny), rdx(nx), rdw(w.size());
  ref::conv2d_forward(xr.data(), wr.data(), b.data(), ry.data(), N, Cin, H, W, Cout, k);
  ref::conv2d_backward(xr.data(), wr.data(), dyr.data(), rdx.data(), rdw.data(), nullptr, N, Cin, H, W, Cout, k);
  const DVec rdb = channel_sums(dy, N, Cout, int64_t(H) * W);
  const std::string tag = shape_tag("conv", N, Cin, H, W, Cout, k, math);
  const int64_t pixels = int64_t(N) * H * W;
  // The bias adds one more term to the forward sum.
  CHECK_CLOSE(tag + " y", y.data(), ry.data(), ny, atol_for(int64_t(Cin) * k * k + 1), kRtol);
  CHECK_CLOSE(tag + " dx", dx.data(), rdx.data(), nx, atol_for(int64_t(Cout) * k * k), kRtol);
  CHECK_CLOSE(tag + " dw", dw.data(), rdw.data(), dw.size(), atol_for(pixels), kRtol);
  CHECK_CLOSE(tag + " db", db.data(), rdb.data(), db.size(), atol_for(pixels), kRtol);
  // No bias; dx and db skipped: dw is bit-identical, y is the biased y minus b.
  Vec y0(ny), dw2(w.size());
  cpu::conv2d_forward(pool, math, x.data(), w.data(), nullptr, y0.data(), N, Cin, H, W, Cout, k);
  DVec ry0(ny);
  ref::conv2d_forward(xr.data(), wr.data(), nullptr, ry0.data(), N, Cin, H, W, Cout, k);
  CHECK_CLOSE(tag + " y without bias", y0.data(), ry0.data(), ny, atol_for(int64_t(Cin) * k * k), kRtol);
  cpu::conv2d_backward(pool, math, x.data(), w.data(), dy.data(), nullptr, dw2.data(), nullptr, N, Cin, H, W,
                       Cout, k);
  CHECK_MSG(same_bits(dw, dw2), tag + ": dw differs without dx and db");
}

void conv_transpose_case(int N, int Cin, int H, int W, int Cout, uint32_t seed, int threads = 2,
                         ConvMath math = ConvMath::kFloat32) {
  cpu::ThreadPool pool(threads);
  const size_t nx = size_t(N) * Cin * H * W, ny = size_t(N) * Cout * 4 * H * W;
  Vec x = random_vector(nx, seed), w = random_vector(size_t(Cin) * Cout * 4, seed + 1);
  Vec b = random_vector(Cout, seed + 2), dy = random_vector(ny, seed + 3);
  Vec y(ny), dx(nx), dw(w.size()), db(Cout);
  cpu::conv_transpose2x2_forward(pool, math, x.data(), w.data(), b.data(), y.data(), N, Cin, H, W, Cout);
  cpu::conv_transpose2x2_backward(pool, math, x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data(), N,
                                  Cin, H, W, Cout);
  const Vec xr = operand(x, math), wr = operand(w, math), dyr = operand(dy, math);
  DVec ry(ny), rdx(nx), rdw(w.size());
  ref::conv_transpose2x2_forward(xr.data(), wr.data(), b.data(), ry.data(), N, Cin, H, W, Cout);
  ref::conv_transpose2x2_backward(xr.data(), wr.data(), dyr.data(), rdx.data(), rdw.data(), nullptr, N, Cin, H, W,
                                  Cout);
  const DVec rdb = channel_sums(dy, N, Cout, 4 * int64_t(H) * W);
  const std::string tag = shape_tag("convT", N, Cin, H, W, Cout, 0, math);
  const int64_t pixels = int64_t(N) * H * W;
  CHECK_CLOSE(tag + " y", y.data(), ry.data(), ny, atol_for(Cin + 1), kRtol);
  CHECK_CLOSE(tag + " dx", dx.data(), rdx.data(), nx, atol_for(4 * int64_t(Cout)), kRtol);
  CHECK_CLOSE(tag + " dw", dw.data(), rdw.data(), dw.size(), atol_for(pixels), kRtol);
  CHECK_CLOSE(tag + " db", db.data(), rdb.data(), db.size(), atol_for(4 * pixels), kRtol);
  Vec dw2(w.size());
  cpu::conv_transpose2x2_backward(pool, math, x.data(), w.data(), dy.data(), nullptr, dw2.data(), nullptr, N, Cin,
                                  H, W, Cout);
  CHECK_MSG(same_bits(dw, dw2), tag + ": dw differs without dx and db");
}

// Every conv op's outputs (y, dx, dw, db of the conv, then of the
// transposed conv with the same x), in `math`, on a pool of `threads`.
std::vector<Vec> conv_outputs(int threads, ConvMath math, int N, int Cin, int H, int W, int Cout, int k,
                              uint32_t seed) {
  cpu::ThreadPool pool(threads);
  const size_t nx = size_t(N) * Cin * H * W, ny = size_t(N) * Cout * H * W, nu = ny * 4;
  Vec x = random_vector(nx, seed), w = random_vector(size_t(Cout) * Cin * k * k, seed + 1);
  Vec b = random_vector(Cout, seed + 2), dy = random_vector(ny, seed + 3);
  Vec wt = random_vector(size_t(Cin) * Cout * 4, seed + 4), du = random_vector(nu, seed + 5);
  std::vector<Vec> out = {Vec(ny), Vec(nx), Vec(w.size()), Vec(Cout), Vec(nu), Vec(nx), Vec(wt.size()), Vec(Cout)};
  cpu::conv2d_forward(pool, math, x.data(), w.data(), b.data(), out[0].data(), N, Cin, H, W, Cout, k);
  cpu::conv2d_backward(pool, math, x.data(), w.data(), dy.data(), out[1].data(), out[2].data(), out[3].data(), N,
                       Cin, H, W, Cout, k);
  cpu::conv_transpose2x2_forward(pool, math, x.data(), wt.data(), b.data(), out[4].data(), N, Cin, H, W, Cout);
  cpu::conv_transpose2x2_backward(pool, math, x.data(), wt.data(), du.data(), out[5].data(), out[6].data(),
                                  out[7].data(), N, Cin, H, W, Cout);
  return out;
}

const char* const kOutputNames[] = {"conv y", "conv dx", "conv dw", "conv db", "convT y", "convT dx", "convT dw", "convT db"};

// Runs every conv op on 1 and 2 threads (and twice on 2) and requires
// identical bits.
void threads_case(int N, int Cin, int H, int W, int Cout, int k, uint32_t seed, ConvMath math = ConvMath::kFloat32) {
  const std::vector<Vec> one = conv_outputs(1, math, N, Cin, H, W, Cout, k, seed);
  const std::vector<Vec> two = conv_outputs(2, math, N, Cin, H, W, Cout, k, seed);
  const std::vector<Vec> again = conv_outputs(2, math, N, Cin, H, W, Cout, k, seed);
  const std::string tag = shape_tag("threads", N, Cin, H, W, Cout, k, math);
  for (size_t i = 0; i < one.size(); ++i) {
    CHECK_MSG(same_bits(one[i], two[i]), tag + ": " + kOutputNames[i] + " differs between 1 and 2 threads");
    CHECK_MSG(same_bits(two[i], again[i]), tag + ": " + kOutputNames[i] + " differs run to run");
  }
}

// C (M x N) = A (M x K) * B (K x N) + bias, all row-major: the engine alone.
class MatrixProblem final : public cpu::GemmProblem {
 public:
  MatrixProblem(const float* a, const float* b, float* c, int64_t m, int64_t n, int64_t k) : a_(a), b_(b), c_(c) {
    M = m;
    N = n;
    K = k;
  }
  void pack_a(float* dst, int64_t m0, int rows, int64_t k0, int kc) const override {
    for (int i = 0; i < kc; ++i)
      for (int r = 0; r < cpu::kGemmMR; ++r) dst[i * cpu::kGemmMR + r] = r < rows ? a_[(m0 + r) * K + k0 + i] : 0.0f;
  }
  void pack_b(float* dst, int64_t k0, int kc, int64_t n0, int cols) const override {
    for (int i = 0; i < kc; ++i)
      for (int j = 0; j < cpu::kGemmNR; ++j) dst[i * cpu::kGemmNR + j] = j < cols ? b_[(k0 + i) * N + n0 + j] : 0.0f;
  }
  float* direct_tile(int64_t m0, int64_t n0, int64_t* ldc) const override {
    if ((m0 / cpu::kGemmMR) % 2) return nullptr;  // every other row panel is staged
    *ldc = N;
    return c_ + m0 * N + n0;
  }
  void store_tile(const float* tile, int64_t m0, int rows, int64_t n0, int cols) const override {
    for (int r = 0; r < rows; ++r)
      for (int j = 0; j < cols; ++j) c_[(m0 + r) * N + n0 + j] = tile[r * cpu::kGemmNR + j];
  }
  void load_tile(float* tile, int64_t m0, int rows, int64_t n0, int cols) const override {
    for (int r = 0; r < rows; ++r)
      for (int j = 0; j < cols; ++j) tile[r * cpu::kGemmNR + j] = c_[(m0 + r) * N + n0 + j];
  }

 private:
  const float* a_;
  const float* b_;
  float* c_;
};

void matrix_case(int64_t M, int64_t N, int64_t K, bool bias, uint32_t seed, ConvMath math = ConvMath::kFloat32) {
  Vec a = random_vector(M * K, seed), b = random_vector(K * N, seed + 1), bv = random_vector(M, seed + 2);
  const Vec ar = operand(a, math), br = operand(b, math);
  DVec ref(M * N);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double s = bias ? bv[m] : 0.0;
      for (int64_t k = 0; k < K; ++k) s += double(ar[m * K + k]) * br[k * N + n];
      ref[m * N + n] = s;
    }
  std::unique_ptr<cpu::ThreadPool> pools[2] = {std::make_unique<cpu::ThreadPool>(1), std::make_unique<cpu::ThreadPool>(2)};
  Vec c[2];
  for (int t = 0; t < 2; ++t) {
    c[t].assign(M * N, NAN);
    MatrixProblem p(a.data(), b.data(), c[t].data(), M, N, K);
    if (bias) p.row_bias = bv.data();
    p.bf16 = math == ConvMath::kBf16;
    cpu::gemm_run(*pools[t], p);
  }
  const std::string tag = std::string(math == ConvMath::kBf16 ? "gemm bf16 " : "gemm ") + std::to_string(M) + "x" +
                          std::to_string(N) + "x" + std::to_string(K);
  CHECK_CLOSE(tag, c[1].data(), ref.data(), c[1].size(), atol_for(K + 1), kRtol);
  CHECK_MSG(std::memcmp(c[0].data(), c[1].data(), c[0].size() * sizeof(float)) == 0, tag + ": 1 vs 2 threads differ");
}

// Runs fn with the kernels capped at `isa`, restoring the default after.
template <typename Fn>
void with_isa(cpu::GemmIsa isa, Fn fn) {
  cpu::gemm_limit_isa(isa);
  try {
    fn();
  } catch (...) {
    cpu::gemm_limit_isa(cpu::GemmIsa::kAvx512);
    throw;
  }
  cpu::gemm_limit_isa(cpu::GemmIsa::kAvx512);
}

}  // namespace

TEST(conv3x3_odd_image) { conv_case(2, 3, 5, 7, 5, 3, 1); }
TEST(conv3x3_one_pixel_image) { conv_case(3, 17, 1, 1, 33, 3, 2); }
TEST(conv3x3_batch1_untiled_channels) { conv_case(1, 33, 3, 3, 17, 3, 3); }
TEST(conv3x3_small_channels) { conv_case(4, 5, 4, 4, 3, 3, 4); }
TEST(conv3x3_wide_rows) { conv_case(2, 8, 32, 32, 17, 3, 5); }
TEST(conv3x3_row_not_multiple_of_16) { conv_case(2, 6, 9, 20, 7, 3, 6); }
TEST(conv3x3_2x2_batch_folded) { conv_case(8, 64, 2, 2, 96, 3, 7); }
TEST(conv3x3_64_to_128_16x16) { conv_case(2, 64, 16, 16, 128, 3, 8); }
TEST(conv3x3_many_k_blocks) { conv_case(2, 130, 4, 4, 20, 3, 9); }
TEST(conv3x3_8x8_rows_of_8) { conv_case(3, 24, 8, 8, 40, 3, 14); }
TEST(conv3x3_4x4_rows_of_4) { conv_case(4, 32, 4, 4, 20, 3, 15); }
TEST(conv1x1_odd_image) { conv_case(2, 5, 5, 7, 17, 1, 10); }
TEST(conv1x1_output_layer) { conv_case(2, 64, 16, 16, 3, 1, 11); }
TEST(conv1x1_one_pixel_batch1) { conv_case(1, 3, 1, 1, 1, 1, 12); }
TEST(conv1x1_many_channels) { conv_case(3, 300, 3, 5, 33, 1, 13); }

TEST(conv_transpose_small) { conv_transpose_case(2, 16, 4, 4, 8, 20); }
TEST(conv_transpose_one_pixel) { conv_transpose_case(1, 3, 1, 1, 5, 21); }
TEST(conv_transpose_odd_untiled) { conv_transpose_case(3, 17, 5, 7, 33, 22); }
TEST(conv_transpose_2x2_batch_folded) { conv_transpose_case(8, 64, 2, 2, 32, 23); }
TEST(conv_transpose_128_to_64_8x8) { conv_transpose_case(2, 128, 8, 8, 64, 24); }
TEST(conv_transpose_wide_rows) { conv_transpose_case(2, 5, 16, 16, 3, 25); }

TEST(gemm_plain_matrices) {
  matrix_case(1, 1, 1, true, 30);
  matrix_case(7, 33, 5, true, 31);
  matrix_case(64, 100, 300, false, 32);
  matrix_case(200, 48, 513, true, 33);  // several row blocks: B pre-packed and shared
  matrix_case(13, 17, 0, true, 34);     // K = 0: C = bias
}

// Conv forward and backward outputs (y, dx, dw) with the given pre-pack
// limit (0 = default).
std::vector<Vec> conv_with_prepack_limit(int64_t limit, ConvMath math, int N, int Cin, int H, int W, int Cout,
                                         uint32_t seed) {
  cpu::ThreadPool pool(2);
  Vec x = random_vector(size_t(N) * Cin * H * W, seed), w = random_vector(size_t(Cout) * Cin * 9, seed + 1);
  Vec b = random_vector(Cout, seed + 2), dy = random_vector(size_t(N) * Cout * H * W, seed + 3);
  std::vector<Vec> out = {Vec(dy.size()), Vec(x.size()), Vec(w.size())};
  cpu::gemm_set_prepack_limit(limit);
  cpu::conv2d_forward(pool, math, x.data(), w.data(), b.data(), out[0].data(), N, Cin, H, W, Cout, 3);
  cpu::conv2d_backward(pool, math, x.data(), w.data(), dy.data(), out[1].data(), out[2].data(), nullptr, N, Cin, H,
                       W, Cout, 3);
  cpu::gemm_set_prepack_limit(0);
  return out;
}

void super_blocks_case(ConvMath math) {
  // A limit below one K block's panels: every K block is its own super-block,
  // and staged tiles (2x2 images: scattered; 32x32: 4 KiB row strides) are
  // reloaded from C between them. Same bits as one super-block.
  const int shapes[][5] = {{2, 40, 6, 6, 13}, {8, 300, 2, 2, 20}, {2, 70, 32, 32, 7}};
  for (const auto& sh : shapes) {
    const std::vector<Vec> whole = conv_with_prepack_limit(0, math, sh[0], sh[1], sh[2], sh[3], sh[4], 42);
    const std::vector<Vec> split = conv_with_prepack_limit(1000, math, sh[0], sh[1], sh[2], sh[3], sh[4], 42);
    const std::string tag = shape_tag("super-blocks", sh[0], sh[1], sh[2], sh[3], sh[4], 3, math);
    CHECK_MSG(same_bits(whole[0], split[0]), tag + ": y differs");
    CHECK_MSG(same_bits(whole[1], split[1]), tag + ": dx differs");
    CHECK_MSG(same_bits(whole[2], split[2]), tag + ": dw differs");
  }
  cpu::gemm_set_prepack_limit(1000);
  try {
    matrix_case(200, 40, 700, true, 40, math);
    conv_case(2, 40, 6, 6, 13, 3, 41, 2, math);
    conv_transpose_case(8, 64, 2, 2, 32, 46, 2, math);
  } catch (...) {
    cpu::gemm_set_prepack_limit(0);
    throw;
  }
  cpu::gemm_set_prepack_limit(0);
}

TEST(gemm_super_blocks) { super_blocks_case(ConvMath::kFloat32); }

TEST(bit_identical_across_threads) {
  threads_case(4, 64, 16, 16, 128, 3, 60);
  threads_case(32, 128, 2, 2, 96, 3, 61);
  threads_case(3, 5, 7, 9, 17, 3, 62);
  threads_case(2, 64, 32, 32, 3, 1, 63);
}

// ---- every instruction set the CPU has ---------------------------------------

const cpu::GemmIsa kAllIsas[] = {cpu::GemmIsa::kGeneric, cpu::GemmIsa::kAvx2, cpu::GemmIsa::kAvx512};

// Calls fn(isa) with the kernels capped at each ISA the CPU has, printing a
// line for each it lacks; restores the default after.
template <typename Fn>
void for_each_isa(Fn fn) {
  for (cpu::GemmIsa isa : kAllIsas) {
    if (isa > cpu::gemm_cpu_isa()) {
      std::printf("    (skipped %s: this CPU does not have it)\n", cpu::gemm_isa_name(isa));
      continue;
    }
    with_isa(isa, [&] {
      CHECK(std::string(cpu::gemm_kernel_name()) == cpu::gemm_isa_name(isa));
      fn(isa);
    });
  }
}

// The shapes every kernel variant is checked on: each packer path (rows of
// 16, 8 and 4 pixels, odd images, batch-folded 2x2, 1x1), partial tiles, an
// odd and an even number of column panels (paired on AVX-512), several K
// blocks.
void kernel_cases(ConvMath math, uint32_t seed) {
  conv_case(2, 3, 5, 7, 5, 3, seed, 2, math);
  conv_case(2, 33, 8, 8, 17, 3, seed + 1, 2, math);
  conv_case(3, 16, 16, 16, 24, 3, seed + 2, 2, math);
  conv_case(4, 32, 4, 4, 20, 3, seed + 3, 2, math);
  conv_case(8, 64, 2, 2, 96, 3, seed + 4, 2, math);
  conv_case(2, 130, 4, 4, 20, 3, seed + 5, 2, math);
  conv_case(2, 5, 5, 7, 17, 1, seed + 6, 2, math);
  conv_transpose_case(3, 17, 5, 7, 33, seed + 7, 2, math);
  conv_transpose_case(2, 128, 8, 8, 64, seed + 8, 2, math);
  matrix_case(200, 48, 513, true, seed + 9, math);
  matrix_case(7, 33, 5, true, seed + 10, math);
  threads_case(4, 16, 8, 8, 24, 3, seed + 11, math);
}

TEST(every_isa_matches_reference) {
  for_each_isa([](cpu::GemmIsa) { kernel_cases(ConvMath::kFloat32, 50); });
  std::printf("    (default microkernel: %s)\n", cpu::gemm_kernel_name());
}

// The AVX2 and AVX-512 microkernels perform the same FMAs in the same order
// (the 6x32 AVX-512 tile is two 6x16 tiles): their results are identical.
TEST(avx2_and_avx512_kernels_agree_bitwise) {
  if (cpu::gemm_cpu_isa() < cpu::GemmIsa::kAvx512) {
    std::printf("    (skipped: this CPU has no AVX-512)\n");
    return;
  }
  const int shapes[][6] = {{4, 64, 16, 16, 128, 3}, {32, 128, 2, 2, 96, 3}, {3, 5, 7, 9, 17, 3}, {2, 64, 32, 32, 3, 1}};
  for (const auto& sh : shapes) {
    std::vector<Vec> out[2];
    const cpu::GemmIsa isas[2] = {cpu::GemmIsa::kAvx2, cpu::GemmIsa::kAvx512};
    for (int i = 0; i < 2; ++i)
      with_isa(isas[i], [&] { out[i] = conv_outputs(2, ConvMath::kFloat32, sh[0], sh[1], sh[2], sh[3], sh[4], sh[5], 80); });
    const std::string tag = shape_tag("avx2 vs avx512", sh[0], sh[1], sh[2], sh[3], sh[4], sh[5], ConvMath::kFloat32);
    for (size_t i = 0; i < out[0].size(); ++i) CHECK_MSG(same_bits(out[0][i], out[1][i]), tag + ": " + kOutputNames[i] + " differs");
  }
}

// ---- the filter gradient by taps (conv_taps.cpp) -------------------------

// The taps path against the reference on the rounded operands, on the shapes it
// takes: one-row and tall images, one image, Cout not a multiple of 6, one
// and three 16-channel panels (an odd number of (tap, panel) tiles), 2 to 40
// K blocks (fewer and more than its 16 groups); bit-identical on 1, 2 and 3
// threads; and it declines what it does not take (W < 16 or not a multiple
// of 8, Cin not a multiple of 16).
void taps_case(int N, int Cin, int H, int W, int Cout, uint32_t seed, ConvMath math) {
  const size_t nx = size_t(N) * Cin * H * W, ny = size_t(N) * Cout * H * W;
  const Vec x = random_vector(nx, seed), dy = random_vector(ny, seed + 1);
  const Vec xr = operand(x, math), dyr = operand(dy, math);
  const Vec w(size_t(Cout) * Cin * 9, 0.0f);
  DVec rdw(w.size()), unused(nx);
  ref::conv2d_backward(xr.data(), w.data(), dyr.data(), unused.data(), rdw.data(), nullptr, N, Cin, H, W, Cout, 3);
  Vec dw[3];
  for (int threads = 1; threads <= 3; ++threads) {
    cpu::ThreadPool pool(threads);
    dw[threads - 1].assign(w.size(), NAN);
    CHECK(cpu::conv3x3_filter_grad_by_taps(pool, math, x.data(), dy.data(), dw[threads - 1].data(), N, Cin, H, W, Cout));
  }
  const std::string tag = shape_tag("taps", N, Cin, H, W, Cout, 3, math);
  CHECK_CLOSE(tag + " dw", dw[0].data(), rdw.data(), dw[0].size(), atol_for(int64_t(N) * H * W), kRtol);
  CHECK_MSG(same_bits(dw[0], dw[1]) && same_bits(dw[0], dw[2]), tag + ": 1, 2 and 3 threads differ");
}

TEST(filter_gradient_by_taps) {
  for (ConvMath math : {ConvMath::kFloat32, ConvMath::kBf16}) {
    if (math == ConvMath::kBf16 ? !cpu::gemm_bf16_native() : !cpu::gemm_use_avx2()) {
      std::printf("    (skipped %s: the path needs %s)\n", math == ConvMath::kBf16 ? "bf16" : "float32",
                  math == ConvMath::kBf16 ? "AVX512_BF16" : "AVX2");
      continue;
    }
    taps_case(3, 16, 1, 16, 5, 200, math);    // one-row images
    taps_case(1, 48, 20, 24, 13, 201, math);  // one image, three panels, Cout = 2 * 6 + 1
    taps_case(6, 16, 32, 32, 16, 202, math);  // the tiny preset's first level: many blocks, 16 groups
    taps_case(2, 32, 16, 16, 7, 203, math);
  }
  cpu::ThreadPool pool(2);
  Vec x(2 * 16 * 8 * 8, 1.0f), dy(2 * 16 * 8 * 8, 1.0f), dw(16 * 16 * 9, -1.0f);
  CHECK(!cpu::conv3x3_filter_grad_by_taps(pool, ConvMath::kFloat32, x.data(), dy.data(), dw.data(), 2, 16, 8, 8, 16));
  CHECK(!cpu::conv3x3_filter_grad_by_taps(pool, ConvMath::kFloat32, x.data(), dy.data(), dw.data(), 2, 8, 8, 16, 16));
  CHECK(!cpu::conv3x3_filter_grad_by_taps(pool, ConvMath::kFloat32, x.data(), dy.data(), dw.data(), 1, 16, 4, 20, 16));
  CHECK(dw[0] == -1.0f);  // declined: nothing written
  with_isa(cpu::GemmIsa::kGeneric, [&] {
    CHECK(!cpu::conv3x3_filter_grad_by_taps(pool, ConvMath::kFloat32, x.data(), dy.data(), dw.data(), 1, 16, 8, 16, 16));
  });
}

// The bf16 forward by taps and its adjoint (the data gradient) against the
// reference on the rounded operands: odd and one-channel inputs (a half-empty
// last pair), one output channel and a partial row panel, one-row and
// 48-wide images, with a bias; 1, 2 and 3 threads bit-identical; declined
// in float32 and for W not a multiple of 16.
void forward_taps_case(int N, int Cin, int H, int W, int Cout, uint32_t seed) {
  const size_t nx = size_t(N) * Cin * H * W, ny = size_t(N) * Cout * H * W;
  const Vec x = random_vector(nx, seed), w = random_vector(size_t(Cout) * Cin * 9, seed + 1);
  const Vec b = random_vector(Cout, seed + 2), dy = random_vector(ny, seed + 3);
  const Vec xr = operand(x, ConvMath::kBf16), wr = operand(w, ConvMath::kBf16), dyr = operand(dy, ConvMath::kBf16);
  DVec ry(ny), rdx(nx), rdw(w.size());
  ref::conv2d_forward(xr.data(), wr.data(), b.data(), ry.data(), N, Cin, H, W, Cout, 3);
  ref::conv2d_backward(xr.data(), wr.data(), dyr.data(), rdx.data(), rdw.data(), nullptr, N, Cin, H, W, Cout, 3);
  Vec y[3], dx[3];
  for (int threads = 1; threads <= 3; ++threads) {
    cpu::ThreadPool pool(threads);
    y[threads - 1].assign(ny, NAN);
    dx[threads - 1].assign(nx, NAN);
    CHECK(cpu::conv3x3_forward_by_taps(pool, ConvMath::kBf16, x.data(), w.data(), false, b.data(), y[threads - 1].data(),
                                       N, Cin, H, W, Cout));
    // The data gradient: dy through the adjoint weights (w read as (Cin, Cout, 3, 3) of the adjoint).
    CHECK(cpu::conv3x3_forward_by_taps(pool, ConvMath::kBf16, dy.data(), w.data(), true, nullptr,
                                       dx[threads - 1].data(), N, Cout, H, W, Cin));
  }
  const std::string tag = shape_tag("taps forward", N, Cin, H, W, Cout, 3, ConvMath::kBf16);
  CHECK_CLOSE(tag + " y", y[0].data(), ry.data(), ny, atol_for(int64_t(Cin) * 9 + 1), kRtol);
  CHECK_CLOSE(tag + " dx", dx[0].data(), rdx.data(), nx, atol_for(int64_t(Cout) * 9), kRtol);
  CHECK_MSG(same_bits(y[0], y[1]) && same_bits(y[0], y[2]) && same_bits(dx[0], dx[1]) && same_bits(dx[0], dx[2]),
            tag + ": 1, 2 and 3 threads differ");
}

TEST(forward_by_taps_bf16) {
  if (!cpu::gemm_bf16_native()) {
    std::printf("    (skipped: the path needs AVX512_BF16)\n");
    return;
  }
  forward_taps_case(2, 3, 5, 16, 7, 210);    // the first layer's 3 channels: one pair half empty
  forward_taps_case(1, 1, 1, 48, 1, 211);    // one channel in, one out, a one-row image
  forward_taps_case(3, 16, 32, 32, 16, 212);  // the tiny preset's first level
  forward_taps_case(2, 33, 16, 16, 13, 213);
  cpu::ThreadPool pool(2);
  Vec x(2 * 16 * 8 * 8, 1.0f), w(16 * 16 * 9, 1.0f), y(2 * 16 * 8 * 8, -1.0f);
  CHECK(!cpu::conv3x3_forward_by_taps(pool, ConvMath::kFloat32, x.data(), w.data(), false, nullptr, y.data(), 1, 16, 8, 16, 16));
  CHECK(!cpu::conv3x3_forward_by_taps(pool, ConvMath::kBf16, x.data(), w.data(), false, nullptr, y.data(), 2, 16, 8, 8, 16));
  CHECK(y[0] == -1.0f);  // declined: nothing written
}

// The first layer (conv_small_cin.cpp: at most four input channels, W a
// multiple of 16), forward and backward, against the reference, in float32 and on
// bf16-rounded operands (emulated where the CPU lacks AVX512_BF16: the path
// rounds its own copies), with Cout covering its 8-, 4- and 1-channel
// blocks; the same bits on 1 and 2 threads and on AVX2 and AVX-512; and it
// declines what it does not take.
TEST(small_cin_backward) {
  struct S {
    int N, Cin, H, W, Cout;
  };
  for (ConvMath math : {ConvMath::kFloat32, ConvMath::kBf16})
    for (const S s : {S{3, 3, 8, 16, 16}, S{2, 1, 5, 32, 13}, S{2, 4, 3, 48, 9}, S{1, 2, 1, 16, 1}}) {
      conv_case(s.N, s.Cin, s.H, s.W, s.Cout, 3, 400, 2, math);
      const size_t nx = size_t(s.N) * s.Cin * s.H * s.W, ny = size_t(s.N) * s.Cout * s.H * s.W;
      const Vec x = random_vector(nx, 410), w = random_vector(size_t(s.Cout) * s.Cin * 9, 411), dy = random_vector(ny, 412);
      const Vec b = random_vector(s.Cout, 413);
      Vec dx[3], dw[3], y[3];
      const cpu::GemmIsa isas[3] = {cpu::GemmIsa::kAvx512, cpu::GemmIsa::kAvx512, cpu::GemmIsa::kAvx2};
      for (int r = 0; r < 3; ++r) {
        if (isas[r] > cpu::gemm_cpu_isa()) continue;
        cpu::gemm_limit_isa(isas[r]);
        cpu::ThreadPool pool(r == 1 ? 1 : 2);
        dx[r].assign(nx, NAN);
        dw[r].assign(w.size(), NAN);
        y[r].assign(ny, NAN);
        CHECK(cpu::conv3x3_small_cin_backward(pool, math, x.data(), w.data(), dy.data(), dx[r].data(), dw[r].data(), s.N,
                                              s.Cin, s.H, s.W, s.Cout));
        CHECK(cpu::conv3x3_small_cin_forward(pool, math, x.data(), w.data(), b.data(), y[r].data(), s.N, s.Cin, s.H, s.W,
                                             s.Cout));
      }
      cpu::gemm_limit_isa(cpu::GemmIsa::kAvx512);
      const std::string tag = shape_tag("small cin", s.N, s.Cin, s.H, s.W, s.Cout, 3, math);
      for (int r = 1; r < 3; ++r) {
        if (dx[r].empty() || dx[0].empty()) continue;
        CHECK_MSG(same_bits(dx[0], dx[r]) && same_bits(dw[0], dw[r]) && same_bits(y[0], y[r]),
                  tag + (r == 1 ? ": 1 and 2 threads differ" : ": AVX2 and AVX-512 differ"));
      }
    }
  cpu::ThreadPool pool(2);
  Vec x(2 * 5 * 8 * 16, 1.0f), w(4 * 5 * 9, 1.0f), dy(2 * 4 * 8 * 16, 1.0f), dw(w.size(), -1.0f);
  CHECK(!cpu::conv3x3_small_cin_backward(pool, ConvMath::kFloat32, x.data(), w.data(), dy.data(), nullptr, dw.data(), 2, 5, 8,
                                         16, 4));  // five input channels
  CHECK(!cpu::conv3x3_small_cin_backward(pool, ConvMath::kFloat32, x.data(), w.data(), dy.data(), nullptr, dw.data(), 2, 3, 8,
                                         24, 4));  // rows of 24
  CHECK(dw[0] == -1.0f);  // declined: nothing written
}

// conv2d_batchnorm_relu_eval applies the eval BatchNorm + ReLU + add to each
// output tile as the convolution finishes it (the taps kernel's tiles, the
// GEMM engine's finish_tile, a pass after the narrow 1x1): bit for bit what
// conv2d_forward then batchnorm_relu_forward (eval) give, on every path,
// with and without bias and add, for 1 and 2 threads, tiles crossing sample
// boundaries (HW not a multiple of 16), and K in several super-blocks.
void conv_bn_eval_case(ConvMath math, int N, int Cin, int H, int W, int Cout, int k, uint32_t seed) {
  const int64_t HW = static_cast<int64_t>(H) * W;
  Vec x = random_vector(size_t(N) * Cin * HW, seed), w = random_vector(size_t(Cout) * Cin * k * k, seed + 1);
  Vec b = random_vector(Cout, seed + 2), gamma = random_vector(Cout, seed + 3), beta = random_vector(Cout, seed + 4);
  Vec mean = random_vector(Cout, seed + 5), var = random_vector(Cout, seed + 6), add = random_vector(size_t(N) * Cout, seed + 7);
  for (float& v : var) v = 0.2f + std::fabs(v);
  for (float& v : gamma) v += 1.0f;
  for (int threads : {1, 2}) {
    cpu::ThreadPool pool(threads);
    for (int variant = 0; variant < 4; ++variant) {
      const float* bias = variant & 1 ? b.data() : nullptr;
      const float* a = variant & 2 ? add.data() : nullptr;
      Vec z(size_t(N) * Cout * HW), y(z.size()), fused(z.size(), -7.0f), stats(2 * Cout);
      Vec rm = mean, rv = var;
      cpu::conv2d_forward(pool, math, x.data(), w.data(), bias, z.data(), N, Cin, H, W, Cout, k);
      cpu::batchnorm_relu_forward(pool, z.data(), y.data(), gamma.data(), beta.data(), nullptr, rm.data(), rv.data(),
                                  stats.data(), stats.data() + Cout, a, N, Cout, static_cast<int>(HW), false, 0.1f,
                                  1e-5f);
      cpu::conv2d_batchnorm_relu_eval(pool, math, x.data(), w.data(), bias, gamma.data(), beta.data(), mean.data(),
                                      var.data(), a, fused.data(), N, Cin, H, W, Cout, k, 1e-5f);
      CHECK_MSG(same_bits(y, fused), shape_tag("conv2d_batchnorm_relu_eval", N, Cin, H, W, Cout, k, math) +
                                         (bias ? " bias" : "") + (a ? " add" : "") + ", " + std::to_string(threads) +
                                         " threads: differs from the two ops");
    }
  }
}

TEST(conv_batchnorm_eval_fuses_bit_for_bit) {
  std::vector<ConvMath> maths = {ConvMath::kFloat32};
  maths.push_back(ConvMath::kBf16);  // emulated where the CPU lacks AVX512_BF16
  const cpu::GemmIsa best = cpu::gemm_cpu_isa();
  for (cpu::GemmIsa isa : {cpu::GemmIsa::kGeneric, cpu::GemmIsa::kAvx2, cpu::GemmIsa::kAvx512})
  for (ConvMath math : maths) {
    if (isa > best) continue;
    cpu::gemm_limit_isa(isa);
    conv_bn_eval_case(math, 3, 16, 32, 32, 16, 3, 300);  // the tiny preset's first level (bf16: by taps)
    conv_bn_eval_case(math, 2, 32, 8, 8, 64, 3, 301);    // rows of 8: the GEMM engine
    conv_bn_eval_case(math, 3, 5, 5, 7, 13, 3, 302);     // 35 pixels: tiles across samples
    conv_bn_eval_case(math, 8, 17, 2, 2, 20, 3, 303);    // 2x2 images: scattered tiles
    conv_bn_eval_case(math, 2, 16, 16, 16, 3, 1, 304);   // a narrow 1x1 (the pass after)
    conv_bn_eval_case(math, 2, 20, 4, 4, 33, 1, 305);    // a 1x1 through the GEMM engine
    conv_bn_eval_case(math, 2, 3, 8, 32, 16, 3, 307);    // the first layer (conv_small_cin.cpp)
    conv_bn_eval_case(math, 2, 1, 4, 16, 5, 3, 308);     // one input channel, 4 + 1 output channels
    cpu::gemm_set_prepack_limit(1000);                    // K in several super-blocks: finished once, at the end
    conv_bn_eval_case(math, 2, 70, 6, 6, 13, 3, 306);
    cpu::gemm_set_prepack_limit(0);
  }
  cpu::gemm_limit_isa(cpu::GemmIsa::kAvx512);
}

// The vectorised max-pool backward (eight windows at a time on AVX2, rows of
// at least 16 pixels) routes exactly as the scalar loop: the same window
// maximum (ties to the first, NaN never wins, -0 against 0), the same single
// addition into dx, so the bits agree with the portable build's; the odd
// last column and row as well.
TEST(maxpool_backward_vectorised_matches_scalar) {
  cpu::ThreadPool pool(2);
  const int N = 2, C = 3, H = 9, W = 38;  // Wo = 19: two 8-window blocks and 3 scalar windows per row
  Vec x(size_t(N) * C * H * W);
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(int((i * 7919) % 5)) - 2.0f;  // many ties
  x[3] = std::nanf(""), x[40] = -0.0f, x[41] = 0.0f, x[77] = std::nanf("");
  const Vec g = random_vector(size_t(N) * C * (H / 2) * (W / 2), 94), prior = random_vector(x.size(), 95);
  Vec dx[2] = {prior, prior}, dadd[2] = {Vec(N * C), Vec(N * C)};
  for (int k = 0; k < 2; ++k) {
    with_isa(k == 0 ? cpu::GemmIsa::kAvx512 : cpu::GemmIsa::kGeneric,
             [&] { cpu::maxpool2x2_backward(pool, x.data(), g.data(), dx[k].data(), dadd[k].data(), N, C, H, W); });
  }
  CHECK(std::memcmp(dx[0].data(), dx[1].data(), sizeof(float) * dx[0].size()) == 0);
  CHECK(std::memcmp(dadd[0].data(), dadd[1].data(), sizeof(float) * dadd[0].size()) == 0);
  // And it routes: every window's gradient landed on exactly one of its four pixels.
  size_t moved = 0;
  for (size_t i = 0; i < x.size(); ++i) moved += dx[0][i] != prior[i];
  CHECK(moved > 0 && moved <= g.size());
}

// 1x1 convolutions with at most 8 output channels run as loops over pixels
// (conv1x1_narrow.cpp): against the reference in float32 and bf16, with a
// plane of 1,600 pixels (a block of 1,024 and a partial one), one pixel, and
// 1 and 8 output channels; bit-identical on 1 and 2 threads; the same bits
// on AVX2 and AVX-512; 9 output channels go to the GEMM.
TEST(conv1x1_narrow) {
  for (ConvMath math : {ConvMath::kFloat32, ConvMath::kBf16}) {
    conv_case(3, 16, 40, 40, 3, 1, 220, 2, math);
    conv_case(2, 7, 5, 7, 8, 1, 221, 2, math);
    conv_case(1, 5, 1, 1, 1, 1, 222, 2, math);
    threads_case(2, 16, 40, 40, 3, 1, 223, math);
  }
  if (cpu::gemm_cpu_isa() >= cpu::GemmIsa::kAvx512) {
    std::vector<Vec> out[2];
    const cpu::GemmIsa isas[2] = {cpu::GemmIsa::kAvx2, cpu::GemmIsa::kAvx512};
    for (int i = 0; i < 2; ++i)
      with_isa(isas[i], [&] { out[i] = conv_outputs(2, ConvMath::kBf16, 2, 16, 40, 40, 3, 1, 224); });
    for (size_t i = 0; i < 4; ++i) CHECK_MSG(same_bits(out[0][i], out[1][i]), std::string("bf16 ") + kOutputNames[i] + ": avx2 vs avx512");
  }
  cpu::ThreadPool pool(2);
  Vec x(2 * 4 * 9, 1.0f), w(9 * 4, 1.0f), y(2 * 9 * 9, -1.0f);
  CHECK(!cpu::conv1x1_narrow_forward(pool, ConvMath::kFloat32, x.data(), w.data(), nullptr, y.data(), 2, 4, 9, 9));
  CHECK(y[0] == -1.0f);
}

// ---- bf16 ----------------------------------------------------------------------

TEST(bf16_rounding) {
  struct Case {
    float x;
    uint16_t bits;
  };
  const float one_ulp = 1.0f / 128;  // bf16 spacing at 1
  const Case cases[] = {
      {1.0f, 0x3F80},
      {1.0f + one_ulp / 2, 0x3F80},       // a tie: to even (down)
      {1.0f + 3 * one_ulp / 2, 0x3F82},   // a tie: to even (up)
      {1.0f + one_ulp / 2 + 1.0f / (1 << 20), 0x3F81},  // above the tie: up
      {-2.5f, 0xC020},
      {0.0f, 0x0000},
      {-0.0f, 0x8000},
      {1e-40f, 0x0000},                   // float32 subnormal: zero
      {-1e-40f, 0x8000},
      {3.4e38f, 0x7F80},                  // rounds past the largest bf16: infinity
      {INFINITY, 0x7F80},
      {-INFINITY, 0xFF80},
  };
  for (const Case& c : cases) {
    char msg[96];
    std::snprintf(msg, sizeof msg, "float_to_bf16(%.9g) = 0x%04X, expected 0x%04X", c.x, cpu::float_to_bf16(c.x),
                  c.bits);
    CHECK_MSG(cpu::float_to_bf16(c.x) == c.bits, msg);
  }
  const uint16_t nan = cpu::float_to_bf16(NAN);
  CHECK_MSG((nan & 0x7F80) == 0x7F80 && (nan & 0x0040), "a NaN stays a quiet NaN");
  CHECK(cpu::bf16_to_float(0x3F80) == 1.0f && cpu::bf16_to_float(0xC020) == -2.5f);
}

// The vcvtne2ps2bf16 panel rounding against float_to_bf16, on ordinary
// values, ties, subnormals, infinities and zeros, for both panel widths and
// odd and even K.
TEST(bf16_panel_rounding_native_matches_scalar) {
  if (!cpu::gemm_bf16_native()) {
    std::printf("    (skipped: this CPU has no AVX512_BF16)\n");
    return;
  }
  Vec src = random_vector(16 * 37, 90, -3.0f, 3.0f);
  const float specials[] = {0.0f, -0.0f, 1e-40f, -1e-40f, INFINITY, -INFINITY, 3.4e38f, 1.0f + 1.0f / 256, 1.0f + 3.0f / 256};
  for (size_t i = 0; i < sizeof specials / sizeof specials[0]; ++i) src[i * 7] = specials[i];
  for (int width : {cpu::kGemmMR, cpu::kGemmNR})
    for (int kc : {1, 2, 7, 36, 37}) {
      std::vector<uint16_t> native(size_t(kc + 1) * width, 0xFFFF);
      cpu::round_panel_bf16(native.data(), src.data(), width, kc);
      for (int k = 0; k < kc + kc % 2; ++k)
        for (int j = 0; j < width; ++j) {
          const uint16_t want = k < kc ? cpu::float_to_bf16(src[k * width + j]) : 0;
          const uint16_t got = native[(k / 2) * 2 * width + 2 * j + k % 2];
          if (got != want) {
            char msg[128];
            std::snprintf(msg, sizeof msg, "width %d kc %d: k %d j %d: 0x%04X, expected 0x%04X", width, kc, k, j, got,
                          want);
            CHECK_MSG(false, msg);
            return;
          }
        }
    }
}

// bf16 convolutions against the reference of the rounded inputs, on the
// kernel the CPU runs them on (vdpbf16ps, or the emulation elsewhere) and on
// the emulation; bit-identical across threads; super-blocks.
TEST(bf16_matches_rounded_reference) {
  std::printf("    (bf16 kernel: %s)\n", cpu::gemm_kernel_name(true));
  kernel_cases(ConvMath::kBf16, 100);
  conv_case(2, 64, 16, 16, 128, 3, 113, 2, ConvMath::kBf16);
  conv_case(2, 300, 3, 5, 33, 1, 114, 2, ConvMath::kBf16);  // K = 300: blocks of 512 rounded to pairs
  conv_case(2, 3, 32, 32, 16, 3, 115, 2, ConvMath::kBf16);  // K = 27: the last pair half empty
  if (cpu::gemm_bf16_native())
    with_isa(cpu::GemmIsa::kAvx2, [] {
      CHECK(std::string(cpu::gemm_kernel_name(true)) == "generic-bf16");
      kernel_cases(ConvMath::kBf16, 120);
    });
}

TEST(bf16_bit_identical_across_threads) {
  threads_case(4, 64, 16, 16, 128, 3, 130, ConvMath::kBf16);
  threads_case(32, 128, 2, 2, 96, 3, 131, ConvMath::kBf16);
  threads_case(3, 5, 7, 9, 17, 3, 132, ConvMath::kBf16);
  threads_case(2, 64, 32, 32, 3, 1, 133, ConvMath::kBf16);
}

TEST(bf16_super_blocks) { super_blocks_case(ConvMath::kBf16); }

// bf16 against float32 on the same (unrounded) inputs: each operand moves by
// at most 2^-9 of itself, so a product by at most ~2^-8; over K terms of
// random sign these errors add as a random walk. The bound: 8 standard
// deviations of that walk, 8 * 2^-8 * sqrt(sum of squared terms) / sqrt(3)
// (a uniform error in [-e, e] has deviation e/sqrt(3)), per output.
TEST(bf16_vs_float32) {
  const int N = 2, Cin = 64, H = 16, W = 16, Cout = 32, k = 3;
  cpu::ThreadPool pool(2);
  Vec x = random_vector(size_t(N) * Cin * H * W, 140), w = random_vector(size_t(Cout) * Cin * 9, 141);
  Vec y(size_t(N) * Cout * H * W);
  cpu::conv2d_forward(pool, ConvMath::kBf16, x.data(), w.data(), nullptr, y.data(), N, Cin, H, W, Cout, k);
  DVec ref(y.size()), sq(y.size());
  ref::conv2d_forward(x.data(), w.data(), nullptr, ref.data(), N, Cin, H, W, Cout, k);
  Vec x2(x.size()), w2(w.size());
  for (size_t i = 0; i < x.size(); ++i) x2[i] = x[i] * x[i];
  for (size_t i = 0; i < w.size(); ++i) w2[i] = w[i] * w[i];
  ref::conv2d_forward(x2.data(), w2.data(), nullptr, sq.data(), N, Cin, H, W, Cout, k);
  int bad = 0;
  double worst = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    const double bound = 8.0 * std::ldexp(1.0, -8) * std::sqrt(sq[i] / 3.0) + 1e-6;
    const double err = std::fabs(y[i] - ref[i]);
    worst = std::max(worst, err / bound);
    bad += !(err <= bound);
  }
  std::printf("    (worst error %.2f of the bound)\n", worst);
  CHECK_MSG(bad == 0, std::to_string(bad) + " outputs beyond 8 standard deviations of the bf16 rounding walk");
  // And the rounding is really there: bf16 differs from float32.
  CHECK(worst > 0.01);
}

TEST(bf16_backend_needs_avx512_bf16) {
  if (cpu::gemm_cpu_has_bf16()) {
    std::unique_ptr<Backend> be(cpu::create_backend(2, Precision::kBf16));
    CHECK(be->name() == "cpu");
  } else {
    CHECK_THROWS(cpu::create_backend(2, Precision::kBf16), "AVX512_BF16");
  }
  CHECK_THROWS(parse_precision("fp16"), "not one of fp32, tf32, bf16");
  CHECK(parse_precision("tf32") == Precision::kTf32);
  CHECK(cpu::conv_math(Precision::kTf32) == ConvMath::kFloat32);
  CHECK(cpu::conv_math(Precision::kBf16) == ConvMath::kBf16);
}

// The Linear layers run on the same GEMM engine: y = x w^T + b and its
// gradients, against double loops (K = in for y, N for dw and db, out for dx).
void linear_case(int N, int in, int out, uint32_t seed) {
  auto one = backend(1), two = backend(2);
  Vec x = random_vector(size_t(N) * in, seed), w = random_vector(size_t(out) * in, seed + 1);
  Vec b = random_vector(out, seed + 2), dy = random_vector(size_t(N) * out, seed + 3);
  DVec ry(size_t(N) * out), rdx(size_t(N) * in, 0.0), rdw(w.size(), 0.0), rdb(out, 0.0);
  for (int n = 0; n < N; ++n)
    for (int o = 0; o < out; ++o) {
      double s = b[o];
      for (int i = 0; i < in; ++i) s += double(x[n * in + i]) * w[o * in + i];
      ry[n * out + o] = s;
      const double g = dy[n * out + o];
      rdb[o] += g;
      for (int i = 0; i < in; ++i) {
        rdw[o * in + i] += g * x[n * in + i];
        rdx[n * in + i] += g * w[o * in + i];
      }
    }
  Vec y[2], dx[2], dw[2], db[2];
  Backend* bes[2] = {one.get(), two.get()};
  for (int t = 0; t < 2; ++t) {
    y[t].resize(ry.size());
    dx[t].resize(rdx.size());
    dw[t].resize(rdw.size());
    db[t].resize(rdb.size());
    bes[t]->linear_forward(x.data(), w.data(), b.data(), y[t].data(), N, in, out);
    bes[t]->linear_backward(x.data(), w.data(), dy.data(), dx[t].data(), dw[t].data(), db[t].data(), N, in, out);
  }
  const std::string tag = "linear N" + std::to_string(N) + " " + std::to_string(in) + "->" + std::to_string(out);
  CHECK_CLOSE(tag + " y", y[1].data(), ry.data(), ry.size(), atol_for(in + 1), kRtol);
  CHECK_CLOSE(tag + " dx", dx[1].data(), rdx.data(), rdx.size(), atol_for(out), kRtol);
  CHECK_CLOSE(tag + " dw", dw[1].data(), rdw.data(), rdw.size(), atol_for(N), kRtol);
  CHECK_CLOSE(tag + " db", db[1].data(), rdb.data(), rdb.size(), atol_for(N), kRtol);
  for (Vec* v : {y, dx, dw, db})
    CHECK_MSG(std::memcmp(v[0].data(), v[1].data(), v[0].size() * sizeof(float)) == 0, tag + ": 1 vs 2 threads differ");
}

TEST(linear_matches_reference) {
  linear_case(1, 1, 1, 70);
  linear_case(3, 17, 33, 71);
  linear_case(32, 100, 1024, 72);
  linear_case(7, 1024, 5, 73);
}

TEST(bad_arguments_throw) {
  auto be = backend(2);
  Vec x(16), w(16), y(16);
  CHECK_THROWS(be->conv2d_forward(x.data(), w.data(), nullptr, y.data(), 1, 1, 2, 2, 1, 5), "kernel size");
  CHECK_THROWS(be->conv2d_backward(x.data(), w.data(), y.data(), nullptr, w.data(), nullptr, 1, 1, 2, 2, 1, 2),
               "conv2d_backward");
  CHECK_THROWS(be->conv2d_forward(x.data(), w.data(), nullptr, y.data(), -1, 1, 2, 2, 1, 3), "negative");
}

TEST_MAIN()
