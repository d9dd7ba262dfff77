// The CPU backend's GEMM convolutions against the direct loops of
// reference_conv.h (double accumulation), on many shapes: 1x1 and 3x3, odd
// images, 1x1 images, batch 1, channel counts that are not multiples of the
// 6x16 microtile, a large-ish layer, many K blocks; plus the transposed conv,
// the GEMM engine on plain matrices (super-blocks included), the portable
// microkernel, and bit-identical results for 1 and 2 threads.
//
// Tolerance. An output is an fp32 sum of K products with |term| <= 1 (all
// inputs are U(-1, 1)), where K = Cin*k*k (forward), Cout*k*k (data
// gradient) or N*H*W (filter gradient). Rounding each of the K partial sums
// (the i-th of typical size sqrt(i)/3) by at most u/2 (u = 2^-24) adds up, in
// quadrature, to an error of standard deviation about u*K/8. We allow
// atol = 2*u*K, 16 of those (the largest of ~1e5 outputs lands near 4-5; the
// worst case u*K^1.5/9, every rounding going the same way, is far above),
// plus rtol = 1e-6 (a few ulps of the output) for the last rounding.
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "ddpm/backend.h"
#include "gemm.h"
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

std::unique_ptr<Backend> backend(int threads) { return std::unique_ptr<Backend>(create_cpu_backend(threads)); }

std::string shape_tag(const char* op, int N, int Cin, int H, int W, int Cout, int k) {
  return std::string(op) + " N" + std::to_string(N) + " " + std::to_string(Cin) + "->" +
         std::to_string(Cout) + " " + std::to_string(H) + "x" + std::to_string(W) +
         (k ? " k" + std::to_string(k) : std::string());
}

void conv_case(int N, int Cin, int H, int W, int Cout, int k, uint32_t seed, int threads = 2) {
  auto be = backend(threads);
  const size_t nx = size_t(N) * Cin * H * W, ny = size_t(N) * Cout * H * W;
  Vec x = random_vector(nx, seed), w = random_vector(size_t(Cout) * Cin * k * k, seed + 1);
  Vec b = random_vector(Cout, seed + 2), dy = random_vector(ny, seed + 3);
  Vec y(ny), dx(nx), dw(w.size()), db(Cout);
  be->conv2d_forward(x.data(), w.data(), b.data(), y.data(), N, Cin, H, W, Cout, k);
  be->conv2d_backward(x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data(), N, Cin, H, W,
                      Cout, k);
  DVec ry(ny), rdx(nx), rdw(w.size()), rdb(Cout);
  ref::conv2d_forward(x.data(), w.data(), b.data(), ry.data(), N, Cin, H, W, Cout, k);
  ref::conv2d_backward(x.data(), w.data(), dy.data(), rdx.data(), rdw.data(), rdb.data(), N, Cin, H,
                       W, Cout, k);
  const std::string tag = shape_tag("conv", N, Cin, H, W, Cout, k);
  const int64_t pixels = int64_t(N) * H * W;
  // The bias adds one more term to the forward sum.
  CHECK_CLOSE(tag + " y", y.data(), ry.data(), ny, atol_for(int64_t(Cin) * k * k + 1), kRtol);
  CHECK_CLOSE(tag + " dx", dx.data(), rdx.data(), nx, atol_for(int64_t(Cout) * k * k), kRtol);
  CHECK_CLOSE(tag + " dw", dw.data(), rdw.data(), dw.size(), atol_for(pixels), kRtol);
  CHECK_CLOSE(tag + " db", db.data(), rdb.data(), db.size(), atol_for(pixels), kRtol);
  // No bias; dx and db skipped: dw is bit-identical, y is the biased y minus b.
  Vec y0(ny), dw2(w.size());
  be->conv2d_forward(x.data(), w.data(), nullptr, y0.data(), N, Cin, H, W, Cout, k);
  DVec ry0(ny);
  ref::conv2d_forward(x.data(), w.data(), nullptr, ry0.data(), N, Cin, H, W, Cout, k);
  CHECK_CLOSE(tag + " y without bias", y0.data(), ry0.data(), ny, atol_for(int64_t(Cin) * k * k), kRtol);
  be->conv2d_backward(x.data(), w.data(), dy.data(), nullptr, dw2.data(), nullptr, N, Cin, H, W,
                      Cout, k);
  CHECK(std::memcmp(dw.data(), dw2.data(), dw.size() * sizeof(float)) == 0);
}

void conv_transpose_case(int N, int Cin, int H, int W, int Cout, uint32_t seed, int threads = 2) {
  auto be = backend(threads);
  const size_t nx = size_t(N) * Cin * H * W, ny = size_t(N) * Cout * 4 * H * W;
  Vec x = random_vector(nx, seed), w = random_vector(size_t(Cin) * Cout * 4, seed + 1);
  Vec b = random_vector(Cout, seed + 2), dy = random_vector(ny, seed + 3);
  Vec y(ny), dx(nx), dw(w.size()), db(Cout);
  be->conv_transpose2x2_forward(x.data(), w.data(), b.data(), y.data(), N, Cin, H, W, Cout);
  be->conv_transpose2x2_backward(x.data(), w.data(), dy.data(), dx.data(), dw.data(), db.data(), N,
                                 Cin, H, W, Cout);
  DVec ry(ny), rdx(nx), rdw(w.size()), rdb(Cout);
  ref::conv_transpose2x2_forward(x.data(), w.data(), b.data(), ry.data(), N, Cin, H, W, Cout);
  ref::conv_transpose2x2_backward(x.data(), w.data(), dy.data(), rdx.data(), rdw.data(), rdb.data(),
                                  N, Cin, H, W, Cout);
  const std::string tag = shape_tag("convT", N, Cin, H, W, Cout, 0);
  const int64_t pixels = int64_t(N) * H * W;
  CHECK_CLOSE(tag + " y", y.data(), ry.data(), ny, atol_for(Cin + 1), kRtol);
  CHECK_CLOSE(tag + " dx", dx.data(), rdx.data(), nx, atol_for(4 * int64_t(Cout)), kRtol);
  CHECK_CLOSE(tag + " dw", dw.data(), rdw.data(), dw.size(), atol_for(pixels), kRtol);
  CHECK_CLOSE(tag + " db", db.data(), rdb.data(), db.size(), atol_for(4 * pixels), kRtol);
  Vec dw2(w.size());
  be->conv_transpose2x2_backward(x.data(), w.data(), dy.data(), nullptr, dw2.data(), nullptr, N, Cin,
                                 H, W, Cout);
  CHECK(std::memcmp(dw.data(), dw2.data(), dw.size() * sizeof(float)) == 0);
}

// Runs every conv op on two backends and requires identical bits.
void threads_case(int N, int Cin, int H, int W, int Cout, int k, uint32_t seed) {
  auto one = backend(1), two = backend(2);
  const size_t nx = size_t(N) * Cin * H * W, ny = size_t(N) * Cout * H * W;
  Vec x = random_vector(nx, seed), w = random_vector(size_t(Cout) * Cin * k * k, seed + 1);
  Vec b = random_vector(Cout, seed + 2), dy = random_vector(ny, seed + 3);
  auto same = [](const Vec& a, const Vec& b) { return std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0; };
  const std::string tag = shape_tag("threads", N, Cin, H, W, Cout, k);
  {
    Vec y1(ny), y2(ny), dx1(nx), dx2(nx), dw1(w.size()), dw2(w.size()), db1(Cout), db2(Cout);
    one->conv2d_forward(x.data(), w.data(), b.data(), y1.data(), N, Cin, H, W, Cout, k);
    two->conv2d_forward(x.data(), w.data(), b.data(), y2.data(), N, Cin, H, W, Cout, k);
    one->conv2d_backward(x.data(), w.data(), dy.data(), dx1.data(), dw1.data(), db1.data(), N, Cin, H, W, Cout, k);
    two->conv2d_backward(x.data(), w.data(), dy.data(), dx2.data(), dw2.data(), db2.data(), N, Cin, H, W, Cout, k);
    CHECK_MSG(same(y1, y2), tag + ": conv y differs");
    CHECK_MSG(same(dx1, dx2), tag + ": conv dx differs");
    CHECK_MSG(same(dw1, dw2), tag + ": conv dw differs");
    CHECK_MSG(same(db1, db2), tag + ": conv db differs");
    // Run to run on the same backend.
    Vec y3(ny);
    two->conv2d_forward(x.data(), w.data(), b.data(), y3.data(), N, Cin, H, W, Cout, k);
    CHECK_MSG(same(y2, y3), tag + ": conv y differs run to run");
  }
  {
    const size_t nu = size_t(N) * Cout * 4 * H * W;
    Vec wt = random_vector(size_t(Cin) * Cout * 4, seed + 4), du = random_vector(nu, seed + 5);
    Vec y1(nu), y2(nu), dx1(nx), dx2(nx), dw1(wt.size()), dw2(wt.size()), db1(Cout), db2(Cout);
    one->conv_transpose2x2_forward(x.data(), wt.data(), b.data(), y1.data(), N, Cin, H, W, Cout);
    two->conv_transpose2x2_forward(x.data(), wt.data(), b.data(), y2.data(), N, Cin, H, W, Cout);
    one->conv_transpose2x2_backward(x.data(), wt.data(), du.data(), dx1.data(), dw1.data(), db1.data(), N, Cin, H, W, Cout);
    two->conv_transpose2x2_backward(x.data(), wt.data(), du.data(), dx2.data(), dw2.data(), db2.data(), N, Cin, H, W, Cout);
    CHECK_MSG(same(y1, y2), tag + ": convT y differs");
    CHECK_MSG(same(dx1, dx2), tag + ": convT dx differs");
    CHECK_MSG(same(dw1, dw2), tag + ": convT dw differs");
    CHECK_MSG(same(db1, db2), tag + ": convT db differs");
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

void matrix_case(int64_t M, int64_t N, int64_t K, bool bias, uint32_t seed) {
  Vec a = random_vector(M * K, seed), b = random_vector(K * N, seed + 1), bv = random_vector(M, seed + 2);
  DVec ref(M * N);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double s = bias ? bv[m] : 0.0;
      for (int64_t k = 0; k < K; ++k) s += double(a[m * K + k]) * b[k * N + n];
      ref[m * N + n] = s;
    }
  std::unique_ptr<cpu::ThreadPool> pools[2] = {std::make_unique<cpu::ThreadPool>(1), std::make_unique<cpu::ThreadPool>(2)};
  Vec c[2];
  for (int t = 0; t < 2; ++t) {
    c[t].assign(M * N, NAN);
    MatrixProblem p(a.data(), b.data(), c[t].data(), M, N, K);
    if (bias) p.row_bias = bv.data();
    cpu::gemm_run(*pools[t], p);
  }
  const std::string tag = "gemm " + std::to_string(M) + "x" + std::to_string(N) + "x" + std::to_string(K);
  CHECK_CLOSE(tag, c[1].data(), ref.data(), c[1].size(), atol_for(K + 1), kRtol);
  CHECK_MSG(std::memcmp(c[0].data(), c[1].data(), c[0].size() * sizeof(float)) == 0, tag + ": 1 vs 2 threads differ");
}

// Runs fn with the portable microkernel forced, restoring the default after.
template <typename Fn>
void with_generic_kernel(Fn fn) {
  cpu::gemm_force_generic(true);
  try {
    fn();
  } catch (...) {
    cpu::gemm_force_generic(false);
    throw;
  }
  cpu::gemm_force_generic(false);
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

// Runs conv forward and backward with the given pre-pack limit (0 = default).
void conv_with_prepack_limit(int64_t limit, int N, int Cin, int H, int W, int Cout, uint32_t seed,
                             Vec& y, Vec& dx, Vec& dw) {
  auto be = backend(2);
  Vec x = random_vector(size_t(N) * Cin * H * W, seed), w = random_vector(size_t(Cout) * Cin * 9, seed + 1);
  Vec b = random_vector(Cout, seed + 2), dy = random_vector(size_t(N) * Cout * H * W, seed + 3);
  y.resize(dy.size());
  dx.resize(x.size());
  dw.resize(w.size());
  cpu::gemm_set_prepack_limit(limit);
  be->conv2d_forward(x.data(), w.data(), b.data(), y.data(), N, Cin, H, W, Cout, 3);
  be->conv2d_backward(x.data(), w.data(), dy.data(), dx.data(), dw.data(), nullptr, N, Cin, H, W, Cout, 3);
  cpu::gemm_set_prepack_limit(0);
}

TEST(gemm_super_blocks) {
  // A limit below one K block's panels: every K block is its own super-block,
  // and staged tiles (2x2 images: scattered; 32x32: 4 KiB row strides) are
  // reloaded from C between them. Same bits as one super-block.
  const int shapes[][5] = {{2, 40, 6, 6, 13}, {8, 300, 2, 2, 20}, {2, 70, 32, 32, 7}};
  for (const auto& sh : shapes) {
    Vec y[2], dx[2], dw[2];
    for (int limited = 0; limited < 2; ++limited)
      conv_with_prepack_limit(limited ? 1000 : 0, sh[0], sh[1], sh[2], sh[3], sh[4], 42, y[limited], dx[limited], dw[limited]);
    const std::string tag = shape_tag("super-blocks", sh[0], sh[1], sh[2], sh[3], sh[4], 3);
    CHECK_MSG(std::memcmp(y[0].data(), y[1].data(), y[0].size() * sizeof(float)) == 0, tag + ": y differs");
    CHECK_MSG(std::memcmp(dx[0].data(), dx[1].data(), dx[0].size() * sizeof(float)) == 0, tag + ": dx differs");
    CHECK_MSG(std::memcmp(dw[0].data(), dw[1].data(), dw[0].size() * sizeof(float)) == 0, tag + ": dw differs");
  }
  cpu::gemm_set_prepack_limit(1000);
  try {
    matrix_case(200, 40, 700, true, 40);
    conv_case(2, 40, 6, 6, 13, 3, 41);
    conv_transpose_case(8, 64, 2, 2, 32, 46);
  } catch (...) {
    cpu::gemm_set_prepack_limit(0);
    throw;
  }
  cpu::gemm_set_prepack_limit(0);
}

TEST(generic_microkernel) {
  with_generic_kernel([] {
    CHECK(std::string(cpu::gemm_kernel_name()) == "generic");
    conv_case(2, 3, 5, 7, 5, 3, 50);
    conv_case(2, 33, 8, 8, 17, 3, 51);
    conv_case(2, 5, 5, 7, 17, 1, 52);
    conv_transpose_case(3, 17, 5, 7, 33, 53);
    matrix_case(200, 48, 513, true, 54);
    threads_case(4, 16, 8, 8, 24, 3, 55);
  });
  std::printf("    (default microkernel: %s)\n", cpu::gemm_kernel_name());
}

TEST(bit_identical_across_threads) {
  threads_case(4, 64, 16, 16, 128, 3, 60);
  threads_case(32, 128, 2, 2, 96, 3, 61);
  threads_case(3, 5, 7, 9, 17, 3, 62);
  threads_case(2, 64, 32, 32, 3, 1, 63);
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
