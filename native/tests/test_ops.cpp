// Every CPU op: backward against finite differences, forward semantics
// against direct double-precision formulas, and the documented contracts
// (accumulate vs overwrite, nullable outputs, running statistics, RNG layout).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <numeric>
#include <vector>

#include "ddpm/backend.h"
#include "ddpm/rng.h"
#include "gradcheck.h"
#include "fixtures.h"
#include "testing.h"

using namespace ddpm;
using namespace ddpm::testing;
using Vec = std::vector<float>;

namespace {

void conv_grad_case(int N, int Cin, int H, int W, int Cout, int k, uint32_t seed) {
  auto be = cpu();
  Vec x = random_vector(size_t(N) * Cin * H * W, seed);
  Vec w = random_vector(size_t(Cout) * Cin * k * k, seed + 1);
  Vec b = random_vector(Cout, seed + 2);
  Vec y(size_t(N) * Cout * H * W);
  Vec R = random_vector(y.size(), seed + 3);
  auto loss = [&] {
    be->conv2d_forward(x.data(), w.data(), b.data(), y.data(), N, Cin, H, W, Cout, k);
    return dot(y, R);
  };
  Vec dx(x.size()), dw(w.size()), db(b.size());
  be->conv2d_backward(x.data(), w.data(), R.data(), dx.data(), dw.data(), db.data(), N, Cin, H, W, Cout, k);
  std::string tag = "conv" + std::to_string(k) + "x" + std::to_string(k);
  grad_check(tag + " dx", x, dx, loss);
  grad_check(tag + " dw", w, dw, loss);
  grad_check(tag + " db", b, db, loss);
  // dx and db are optional; dw must not change when they are skipped.
  Vec dw2(w.size());
  be->conv2d_backward(x.data(), w.data(), R.data(), nullptr, dw2.data(), nullptr, N, Cin, H, W, Cout, k);
  CHECK_CLOSE(tag + " dw without dx/db", dw2.data(), dw.data(), dw.size(), 0.0, 0.0);
}

}  // namespace

TEST(conv3x3_gradients) { conv_grad_case(2, 3, 5, 6, 4, 3, 10); }
TEST(conv3x3_gradients_one_pixel) { conv_grad_case(3, 2, 1, 1, 3, 3, 20); }
TEST(conv1x1_gradients) { conv_grad_case(2, 5, 3, 4, 3, 1, 30); }

TEST(conv3x3_forward_matches_direct_formula) {
  auto be = cpu();
  const int N = 2, Cin = 3, H = 4, W = 5, Cout = 2;
  Vec x = random_vector(N * Cin * H * W, 1), w = random_vector(Cout * Cin * 9, 2), b = random_vector(Cout, 3);
  Vec y(N * Cout * H * W);
  be->conv2d_forward(x.data(), w.data(), b.data(), y.data(), N, Cin, H, W, Cout, 3);
  std::vector<double> ref(y.size());
  for (int n = 0; n < N; ++n)
    for (int co = 0; co < Cout; ++co)
      for (int h = 0; h < H; ++h)
        for (int ww = 0; ww < W; ++ww) {
          double s = b[co];
          for (int ci = 0; ci < Cin; ++ci)
            for (int kh = 0; kh < 3; ++kh)
              for (int kw = 0; kw < 3; ++kw) {
                int hi = h + kh - 1, wi = ww + kw - 1;
                if (hi < 0 || hi >= H || wi < 0 || wi >= W) continue;
                s += double(w[((co * Cin + ci) * 3 + kh) * 3 + kw]) * x[((n * Cin + ci) * H + hi) * W + wi];
              }
          ref[((n * Cout + co) * H + h) * W + ww] = s;
        }
  // 27 fp32 products per output: error well under 1e-5 for |terms| <= 1.
  CHECK_CLOSE("conv3x3 forward", y.data(), ref.data(), y.size(), 1e-5, 1e-5);
}

TEST(conv_transpose2x2_gradients) {
  auto be = cpu();
  const int N = 2, Cin = 3, H = 3, W = 4, Cout = 4;
  Vec x = random_vector(N * Cin * H * W, 40), w = random_vector(Cin * Cout * 4, 41), b = random_vector(Cout, 42);
  Vec y(N * Cout * 4 * H * W);
  Vec R = random_vector(y.size(), 43);
  auto loss = [&] {
    be->conv_transpose2x2_forward(x.data(), w.data(), b.data(), y.data(), N, Cin, H, W, Cout);
    return dot(y, R);
  };
  Vec dx(x.size()), dw(w.size()), db(b.size());
  be->conv_transpose2x2_backward(x.data(), w.data(), R.data(), dx.data(), dw.data(), db.data(), N, Cin, H, W, Cout);
  grad_check("convT dx", x, dx, loss);
  grad_check("convT dw", w, dw, loss);
  grad_check("convT db", b, db, loss);
}

TEST(conv_transpose2x2_forward_matches_torch_layout) {
  // y[n, co, 2h+a, 2w+b] = b[co] + sum_ci x[n, ci, h, w] * w[ci, co, a, b]
  auto be = cpu();
  const int N = 1, Cin = 2, H = 2, W = 3, Cout = 3;
  Vec x = random_vector(N * Cin * H * W, 5), w = random_vector(Cin * Cout * 4, 6), b = random_vector(Cout, 7);
  Vec y(N * Cout * 4 * H * W);
  be->conv_transpose2x2_forward(x.data(), w.data(), b.data(), y.data(), N, Cin, H, W, Cout);
  std::vector<double> ref(y.size());
  for (int co = 0; co < Cout; ++co)
    for (int oh = 0; oh < 2 * H; ++oh)
      for (int ow = 0; ow < 2 * W; ++ow) {
        double s = b[co];
        for (int ci = 0; ci < Cin; ++ci)
          s += double(x[(ci * H + oh / 2) * W + ow / 2]) * w[((ci * Cout + co) * 2 + oh % 2) * 2 + ow % 2];
        ref[(co * 2 * H + oh) * 2 * W + ow] = s;
      }
  CHECK_CLOSE("convT forward", y.data(), ref.data(), y.size(), 1e-6, 1e-6);
}

namespace {
void bn_relu_grad_case(bool with_add, bool with_conv_bias, uint32_t seed) {
  auto be = cpu();
  const int N = 3, C = 4, HW = 6;
  Vec x = random_vector(N * C * HW, seed, -2.0f, 2.0f);
  Vec gamma = random_vector(C, seed + 1, 0.5f, 1.5f), beta = random_vector(C, seed + 2, -0.5f, 0.5f);
  Vec add = random_vector(N * C, seed + 3), conv_bias = random_vector(C, seed + 5, -1.0f, 1.0f);
  Vec rm(C, 0.0f), rv(C, 1.0f), sm(C), si(C), y(x.size());
  Vec R = random_vector(y.size(), seed + 4);
  auto loss = [&] {
    be->batchnorm_relu_forward(x.data(), y.data(), gamma.data(), beta.data(),
                               with_conv_bias ? conv_bias.data() : nullptr, rm.data(), rv.data(), sm.data(), si.data(),
                               with_add ? add.data() : nullptr, N, C, HW, true, 0.1f, 1e-5f);
    return dot(y, R);
  };
  loss();
  Vec dx(x.size()), dg(C), db(C), dadd(N * C), dconv_bias(C, 7.0f);
  be->batchnorm_relu_backward(x.data(), R.data(), gamma.data(), beta.data(), sm.data(), si.data(), dx.data(),
                              dg.data(), db.data(), with_conv_bias ? dconv_bias.data() : nullptr,
                              with_add ? dadd.data() : nullptr, N, C, HW);
  GradCheckOptions o;
  o.h = 1e-3;  // BN is smooth but not linear in x: keep the O(h^2) term small
  std::string tag = std::string("bn_relu") + (with_add ? "+add" : "") + (with_conv_bias ? "+conv_bias" : "");
  grad_check(tag + " dx", x, dx, loss, o);
  grad_check(tag + " dgamma", gamma, dg, loss, o);
  grad_check(tag + " dbeta", beta, db, loss, o);
  if (with_add) grad_check(tag + " dadd", add, dadd, loss, o);
  if (with_conv_bias) {
    // Exactly 0, and the finite differences agree (they see only rounding).
    for (float v : dconv_bias) CHECK_MSG(v == 0.0f, tag + ": dconv_bias not overwritten with 0");
    grad_check(tag + " dconv_bias", conv_bias, dconv_bias, loss, o);
  }
}
}  // namespace

TEST(batchnorm_relu_gradients) { bn_relu_grad_case(false, false, 50); }
TEST(batchnorm_relu_add_gradients) { bn_relu_grad_case(true, false, 60); }
TEST(batchnorm_relu_conv_bias_gradients) { bn_relu_grad_case(true, true, 65); }

// conv_bias is the bias x lacks: the op gives what it gives on x + conv_bias,
// but for save_mean (x's own mean, for the backward) and the rounding.
TEST(batchnorm_conv_bias_is_the_bias_x_lacks) {
  auto be = cpu();
  const int N = 3, C = 5, HW = 7;
  Vec x = random_vector(N * C * HW, 66, -2.0f, 3.0f), bias = random_vector(C, 67, -4.0f, 4.0f);
  Vec gamma = random_vector(C, 68, 0.5f, 1.5f), beta = random_vector(C, 69, -0.5f, 0.5f);
  Vec add = random_vector(N * C, 70), xb(x.size());
  for (size_t i = 0; i < x.size(); ++i) xb[i] = x[i] + bias[(i / HW) % C];
  for (bool training : {true, false}) {
    const std::string tag = training ? "conv_bias, training: " : "conv_bias, eval: ";
    Vec rm = random_vector(C, 71), rv = random_vector(C, 72, 0.5f, 2.0f), rm_b = rm, rv_b = rv;
    Vec y(x.size()), y_b(x.size()), sm(C), si(C), sm_b(C), si_b(C);
    be->batchnorm_relu_forward(x.data(), y.data(), gamma.data(), beta.data(), bias.data(), rm.data(), rv.data(),
                               sm.data(), si.data(), add.data(), N, C, HW, training, 0.1f, 1e-5f);
    be->batchnorm_relu_forward(xb.data(), y_b.data(), gamma.data(), beta.data(), nullptr, rm_b.data(), rv_b.data(),
                               sm_b.data(), si_b.data(), add.data(), N, C, HW, training, 0.1f, 1e-5f);
    CHECK_CLOSE(tag + "y", y.data(), y_b.data(), y.size(), 1e-5, 1e-5);
    CHECK_CLOSE(tag + "running_mean", rm.data(), rm_b.data(), C, 1e-6, 1e-6);
    CHECK_CLOSE(tag + "running_var", rv.data(), rv_b.data(), C, 1e-5, 1e-5);
    if (training) {
      CHECK_CLOSE(tag + "save_invstd", si.data(), si_b.data(), C, 1e-5, 1e-5);
      Vec shifted(C);
      for (int c = 0; c < C; ++c) shifted[c] = sm[c] + bias[c];
      CHECK_CLOSE(tag + "save_mean + conv_bias", shifted.data(), sm_b.data(), C, 1e-6, 1e-6);
    }
  }
}

TEST(batchnorm_train_statistics_and_running_update) {
  auto be = cpu();
  const int N = 4, C = 3, HW = 5, M = N * HW;
  Vec x = random_vector(N * C * HW, 70, -3.0f, 5.0f);
  Vec gamma = random_vector(C, 71, 0.5f, 2.0f), beta = random_vector(C, 72);
  Vec rm = random_vector(C, 73), rv = random_vector(C, 74, 0.5f, 2.0f);
  Vec rm0 = rm, rv0 = rv, sm(C), si(C), y(x.size());
  be->batchnorm_relu_forward(x.data(), y.data(), gamma.data(), beta.data(), nullptr, rm.data(), rv.data(), sm.data(),
                             si.data(), nullptr, N, C, HW, true, 0.1f, 1e-5f);
  for (int c = 0; c < C; ++c) {
    double mean = 0, var = 0;
    for (int n = 0; n < N; ++n)
      for (int i = 0; i < HW; ++i) mean += x[(n * C + c) * HW + i];
    mean /= M;
    for (int n = 0; n < N; ++n)
      for (int i = 0; i < HW; ++i) var += std::pow(x[(n * C + c) * HW + i] - mean, 2);
    var /= M;  // biased: used to normalise
    double invstd = 1.0 / std::sqrt(var + 1e-5);
    double exp_rm = 0.9 * rm0[c] + 0.1 * mean;
    double exp_rv = 0.9 * rv0[c] + 0.1 * var * M / (M - 1);  // unbiased: running
    CHECK_CLOSE("save_mean", &sm[c], &mean, 1, 1e-6, 1e-6);
    CHECK_CLOSE("save_invstd", &si[c], &invstd, 1, 1e-6, 1e-5);
    CHECK_CLOSE("running_mean", &rm[c], &exp_rm, 1, 1e-6, 1e-6);
    CHECK_CLOSE("running_var", &rv[c], &exp_rv, 1, 1e-6, 1e-5);
    for (int n = 0; n < N; ++n)
      for (int i = 0; i < HW; ++i) {
        const int k = (n * C + c) * HW + i;
        double ref = std::max(0.0, gamma[c] * (x[k] - mean) * invstd + beta[c]);
        CHECK_CLOSE("train output", &y[k], &ref, 1, 1e-5, 1e-5);
      }
  }
}

TEST(batchnorm_eval_uses_running_statistics_and_leaves_them) {
  auto be = cpu();
  const int N = 2, C = 3, HW = 4;
  Vec x = random_vector(N * C * HW, 80, -2.0f, 2.0f);
  Vec gamma = random_vector(C, 81, 0.5f, 2.0f), beta = random_vector(C, 82);
  Vec rm = random_vector(C, 83), rv = random_vector(C, 84, 0.5f, 2.0f);
  Vec rm0 = rm, rv0 = rv, add = random_vector(N * C, 85), y(x.size());
  Vec sm(C, 123.0f), si(C, 456.0f);
  be->batchnorm_relu_forward(x.data(), y.data(), gamma.data(), beta.data(), nullptr, rm.data(), rv.data(), sm.data(),
                             si.data(), add.data(), N, C, HW, false, 0.1f, 1e-5f);
  CHECK_CLOSE("eval keeps running_mean", rm.data(), rm0.data(), C, 0.0, 0.0);
  CHECK_CLOSE("eval keeps running_var", rv.data(), rv0.data(), C, 0.0, 0.0);
  CHECK(sm[0] == 123.0f && si[0] == 456.0f);  // save_* untouched in eval
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < C; ++c)
      for (int i = 0; i < HW; ++i) {
        const int k = (n * C + c) * HW + i;
        double ref = std::max(0.0, gamma[c] * (x[k] - rm[c]) / std::sqrt(double(rv[c]) + 1e-5) + beta[c]) + add[n * C + c];
        CHECK_CLOSE("eval output", &y[k], &ref, 1, 1e-5, 1e-5);
      }
}

TEST(batchnorm_train_rejects_single_value_channels) {
  auto be = cpu();
  Vec x(2), y(2), g(2, 1), b(2, 0), rm(2, 0), rv(2, 1), sm(2), si(2);
  CHECK_THROWS(be->batchnorm_relu_forward(x.data(), y.data(), g.data(), b.data(), nullptr, rm.data(), rv.data(),
                                          sm.data(), si.data(), nullptr, 1, 2, 1, true, 0.1f, 1e-5f),
               "more than one value");
}

TEST(maxpool_gradients_accumulate_and_add) {
  auto be = cpu();
  const int N = 2, C = 3, H = 5, W = 4;  // odd H: the last row is dropped (floor)
  Vec x = random_vector(N * C * H * W, 90), add = random_vector(N * C, 91);
  Vec y(N * C * (H / 2) * (W / 2));
  Vec R = random_vector(y.size(), 92);
  auto loss = [&] {
    be->maxpool2x2_forward(x.data(), y.data(), add.data(), N, C, H, W);
    return dot(y, R);
  };
  Vec prior = random_vector(x.size(), 93);
  Vec dx = prior, dadd(N * C);
  be->maxpool2x2_backward(x.data(), R.data(), dx.data(), dadd.data(), N, C, H, W);
  Vec routed(x.size());
  for (size_t i = 0; i < x.size(); ++i) routed[i] = dx[i] - prior[i];  // dx ACCUMULATES
  grad_check("maxpool dx", x, routed, loss);
  grad_check("maxpool dadd", add, dadd, loss);
  for (int c = 0; c < C; ++c) {  // the dropped last row receives nothing
    for (int j = 0; j < W; ++j) CHECK(routed[(c * H + H - 1) * W + j] == 0.0f);
  }
}

TEST(maxpool_ties_go_to_first_in_window) {
  auto be = cpu();
  Vec x = {1, 1, 1, 1}, y(1), g = {2}, dx(4, 0.0f);
  be->maxpool2x2_forward(x.data(), y.data(), nullptr, 1, 1, 2, 2);
  be->maxpool2x2_backward(x.data(), g.data(), dx.data(), nullptr, 1, 1, 2, 2);
  CHECK(y[0] == 1 && dx[0] == 2 && dx[1] == 0 && dx[2] == 0 && dx[3] == 0);
}

// up_bias is added to up inside the window only: the padding stays zero.
TEST(pad_concat_up_bias) {
  auto be = cpu();
  const int N = 2, Cu = 3, Hu = 2, Wu = 3, Cs = 2, Hs = 5, Ws = 4;
  Vec up = random_vector(N * Cu * Hu * Wu, 103), skip = random_vector(N * Cs * Hs * Ws, 104);
  Vec bias = random_vector(Cu, 105, -2.0f, 2.0f), biased = up;
  for (size_t i = 0; i < up.size(); ++i) biased[i] += bias[(i / (Hu * Wu)) % Cu];
  Vec out(N * (Cu + Cs) * Hs * Ws, 9.0f), ref(out.size(), 7.0f);
  be->pad_concat_forward(up.data(), skip.data(), bias.data(), out.data(), N, Cu, Hu, Wu, Cs, Hs, Ws);
  be->pad_concat_forward(biased.data(), skip.data(), nullptr, ref.data(), N, Cu, Hu, Wu, Cs, Hs, Ws);
  CHECK_CLOSE("pad_concat with up_bias", out.data(), ref.data(), out.size(), 0.0, 0.0);
}

TEST(pad_concat_gradients_and_placement) {
  auto be = cpu();
  const int N = 2, Cu = 3, Hu = 2, Wu = 3, Cs = 2, Hs = 5, Ws = 4;  // pads 3 rows (1 top, 2 bottom), 1 col (0 left)
  Vec up = random_vector(N * Cu * Hu * Wu, 100), skip = random_vector(N * Cs * Hs * Ws, 101);
  Vec out(N * (Cu + Cs) * Hs * Ws);
  Vec R = random_vector(out.size(), 102);
  auto loss = [&] {
    be->pad_concat_forward(up.data(), skip.data(), nullptr, out.data(), N, Cu, Hu, Wu, Cs, Hs, Ws);
    return dot(out, R);
  };
  loss();
  // F.pad(up, [diffX//2, diffX - diffX//2, diffY//2, diffY - diffY//2]) then cat([up, skip])
  const int top = (Hs - Hu) / 2, left = (Ws - Wu) / 2;
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < Cu + Cs; ++c)
      for (int i = 0; i < Hs; ++i)
        for (int j = 0; j < Ws; ++j) {
          float expect;
          if (c < Cu) {
            int ui = i - top, uj = j - left;
            expect = (ui >= 0 && ui < Hu && uj >= 0 && uj < Wu) ? up[((n * Cu + c) * Hu + ui) * Wu + uj] : 0.0f;
          } else {
            expect = skip[((n * Cs + c - Cu) * Hs + i) * Ws + j];
          }
          CHECK(out[((n * (Cu + Cs) + c) * Hs + i) * Ws + j] == expect);
        }
  Vec dup(up.size()), dskip(skip.size());
  be->pad_concat_backward(R.data(), dup.data(), dskip.data(), N, Cu, Hu, Wu, Cs, Hs, Ws);
  grad_check("pad_concat dup", up, dup, loss);
  grad_check("pad_concat dskip", skip, dskip, loss);
}

TEST(add_channel_gradients) {
  auto be = cpu();
  const int N = 2, C = 3, HW = 7;
  Vec x = random_vector(N * C * HW, 110), add = random_vector(N * C, 111), y(x.size());
  Vec R = random_vector(y.size(), 112);
  auto loss = [&] {
    be->add_channel_forward(x.data(), add.data(), y.data(), N, C, HW);
    return dot(y, R);
  };
  Vec dadd(N * C);
  be->add_channel_backward(R.data(), dadd.data(), N, C, HW);
  grad_check("add_channel dadd", add, dadd, loss);
  grad_check("add_channel dx", x, R, loss);  // the gradient for x is dy itself
}

TEST(linear_gradients) {
  auto be = cpu();
  const int N = 3, in = 5, out = 4;
  Vec x = random_vector(N * in, 120), w = random_vector(out * in, 121), b = random_vector(out, 122), y(N * out);
  Vec R = random_vector(y.size(), 123);
  auto loss = [&] {
    be->linear_forward(x.data(), w.data(), b.data(), y.data(), N, in, out);
    return dot(y, R);
  };
  loss();
  for (int n = 0; n < N; ++n)
    for (int o = 0; o < out; ++o) {
      double s = b[o];
      for (int i = 0; i < in; ++i) s += double(x[n * in + i]) * w[o * in + i];
      CHECK_CLOSE("linear forward", &y[n * out + o], &s, 1, 1e-6, 1e-6);
    }
  Vec dx(x.size()), dw(w.size()), db(b.size());
  be->linear_backward(x.data(), w.data(), R.data(), dx.data(), dw.data(), db.data(), N, in, out);
  grad_check("linear dx", x, dx, loss);
  grad_check("linear dw", w, dw, loss);
  grad_check("linear db", b, db, loss);
}

TEST(silu_gradients) {
  auto be = cpu();
  Vec x = random_vector(50, 130, -4.0f, 4.0f), y(50);
  Vec R = random_vector(50, 131);
  auto loss = [&] {
    be->silu_forward(x.data(), y.data(), x.size());
    return dot(y, R);
  };
  loss();
  for (size_t i = 0; i < x.size(); ++i) {
    double ref = x[i] / (1.0 + std::exp(-double(x[i])));
    CHECK_CLOSE("silu forward", &y[i], &ref, 1, 1e-6, 1e-6);
  }
  Vec dx(x.size());
  be->silu_backward(x.data(), R.data(), dx.data(), x.size());
  GradCheckOptions o;
  o.h = 1e-3;
  grad_check("silu dx", x, dx, loss, o);
}

TEST(embedding_gather_rows_and_bounds) {
  auto be = cpu();
  const int T = 5, D = 3;
  Vec table = random_vector(T * D, 140), out(2 * D);
  int32_t t[2] = {4, 1};
  be->embedding_gather(table.data(), t, out.data(), 2, D, T);
  for (int d = 0; d < D; ++d) CHECK(out[d] == table[4 * D + d] && out[D + d] == table[1 * D + d]);
  int32_t bad[1] = {5};
  CHECK_THROWS(be->embedding_gather(table.data(), bad, out.data(), 1, D, T), "outside [0, 5)");
}

TEST(mse_loss_and_gradient) {
  auto be = cpu();
  Vec p = random_vector(40000, 150), t = random_vector(40000, 151), g(p.size());
  float loss = 0;
  be->mse_forward_backward(p.data(), t.data(), &loss, g.data(), p.size());
  double ref = 0;
  for (size_t i = 0; i < p.size(); ++i) ref += std::pow(double(p[i]) - t[i], 2);
  ref /= p.size();
  CHECK_CLOSE("mse value", &loss, &ref, 1, 0.0, 1e-6);
  // Gradient against finite differences on a small case (quadratic: exact central differences).
  Vec ps = random_vector(30, 152), ts = random_vector(30, 153), gs(30);
  float l = 0;
  be->mse_forward_backward(ps.data(), ts.data(), &l, gs.data(), ps.size());
  grad_check("mse grad", ps, gs, [&] {
    float v = 0;
    be->mse_forward_backward(ps.data(), ts.data(), &v, nullptr, ps.size());
    return double(v);
  });
}

TEST(gaussian_is_standard_normal_and_counter_based) {
  auto be = cpu();
  const size_t n = 1 << 20;
  Vec z(n);
  be->gaussian(z.data(), n, 42, 7, 0);
  double mean = 0, m2 = 0, m4 = 0;
  for (float v : z) mean += v;
  mean /= n;
  for (float v : z) {
    m2 += (v - mean) * (v - mean);
    m4 += std::pow(v - mean, 4);
  }
  m2 /= n;
  m4 /= n;
  // Standard errors for n = 2^20: mean 1e-3, variance 1.4e-3, kurtosis ~5e-3; allow ~5 sigma.
  CHECK_MSG(std::fabs(mean) < 5e-3, "gaussian mean " + std::to_string(mean));
  CHECK_MSG(std::fabs(m2 - 1) < 7e-3, "gaussian variance " + std::to_string(m2));
  CHECK_MSG(std::fabs(m4 / (m2 * m2) - 3) < 0.05, "gaussian kurtosis " + std::to_string(m4 / (m2 * m2)));
  // Drawn a Philox block at a time, element i is exactly rng::gaussian_at(offset + i), whatever the alignment.
  for (uint64_t offset : {0ull, 1ull, 3ull, 12345ull, (1ull << 40) + 2}) {
    for (size_t len : {size_t{1}, size_t{3}, size_t{4}, size_t{7}, size_t{20001}}) {
      Vec g(len);
      be->gaussian(g.data(), len, 42, 7, offset);
      bool same = true;
      for (size_t i = 0; i < len; ++i) same = same && g[i] == rng::gaussian_at(42, 7, offset + i);
      CHECK_MSG(same, "gaussian block draw at offset " + std::to_string(offset) + ", length " + std::to_string(len));
    }
  }
  // Element i depends only on (seed, stream, offset + i): a slice equals the offset draw.
  Vec part(1000);
  be->gaussian(part.data(), part.size(), 42, 7, 12345);
  CHECK_CLOSE("offset slice", part.data(), z.data() + 12345, part.size(), 0.0, 0.0);
  // Different streams and seeds differ.
  Vec other(1000);
  be->gaussian(other.data(), other.size(), 42, 8, 0);
  CHECK(std::memcmp(other.data(), z.data(), 4000) != 0);
  // Single-threaded gives the same bits.
  auto one = cpu(1);
  Vec z1(n);
  one->gaussian(z1.data(), n, 42, 7, 0);
  CHECK(std::memcmp(z1.data(), z.data(), n * sizeof(float)) == 0);
}

TEST(uniform_int_range_and_balance) {
  auto be = cpu();
  const int T = 1000;
  std::vector<int32_t> t(200000);
  be->uniform_int(t.data(), t.size(), T, 3, 9);
  std::vector<int> hist(10, 0);
  for (int v : t) {
    CHECK(v >= 0 && v < T);
    hist[v / 100]++;
  }
  for (int h : hist) CHECK_MSG(std::abs(h - 20000) < 700, "bucket count " + std::to_string(h));  // ~5 sigma
}

TEST(images_to_float_scales_and_flips) {
  auto be = cpu();
  const int N = 2, C = 3, H = 2, W = 3;
  std::vector<uint8_t> px(N * C * H * W);
  for (size_t i = 0; i < px.size(); ++i) px[i] = uint8_t((i * 37) % 256);
  px[0] = 0;
  px[1] = 255;
  uint8_t flip[2] = {0, 1};
  Vec out(px.size());
  be->images_to_float(px.data(), flip, out.data(), N, C, H, W);
  CHECK(out[0] == -1.0f && out[1] == 1.0f);
  for (int n = 0; n < N; ++n)
    for (int c = 0; c < C; ++c)
      for (int i = 0; i < H; ++i)
        for (int j = 0; j < W; ++j) {
          int src = flip[n] ? W - 1 - j : j;
          float expect = px[((n * C + c) * H + i) * W + src] / 127.5f - 1.0f;
          CHECK(out[((n * C + c) * H + i) * W + j] == expect);
        }
}

TEST(noise_add_matches_q_sample) {
  auto be = cpu();
  const int N = 3;
  const size_t per = 10;
  Vec x0 = random_vector(N * per, 160), eps = random_vector(N * per, 161), xt(N * per);
  Vec sa = {0.9f, 0.5f, 0.1f, 0.05f}, s1 = {0.43f, 0.86f, 0.99f, 0.998f};
  int32_t t[3] = {2, 0, 3};
  be->noise_add(x0.data(), eps.data(), t, sa.data(), s1.data(), xt.data(), N, per);
  for (int n = 0; n < N; ++n)
    for (size_t i = 0; i < per; ++i) {
      double ref = double(sa[t[n]]) * x0[n * per + i] + double(s1[t[n]]) * eps[n * per + i];
      CHECK_CLOSE("noise_add", &xt[n * per + i], &ref, 1, 1e-6, 1e-6);
    }
}

TEST(reverse_step_formula_and_noise_indexing) {
  auto be = cpu();
  const int N = 3;
  const size_t per = 8;
  Vec x = random_vector(N * per, 170), e = random_vector(N * per, 171), out(N * per);
  const float cx = 1.01f, ce = 0.3f, sigma = 0.1f;
  be->reverse_step(x.data(), e.data(), out.data(), N, per, cx, ce, sigma, 5, 77, 4);
  for (int n = 0; n < N; ++n)
    for (size_t i = 0; i < per; ++i) {
      const size_t k = n * per + i;
      double z = rng::gaussian_at(5, 77, (4 + n) * per + i);
      double ref = cx * (double(x[k]) - ce * double(e[k])) + sigma * z;
      CHECK_CLOSE("reverse_step", &out[k], &ref, 1, 1e-6, 1e-6);
    }
  // sigma = 0 (t = 0): no noise; in place works.
  Vec y = x;
  be->reverse_step(y.data(), e.data(), y.data(), N, per, cx, ce, 0.0f, 5, 77, 0);
  for (size_t k = 0; k < y.size(); ++k) {
    double ref = cx * (double(x[k]) - ce * double(e[k]));
    CHECK_CLOSE("reverse_step t=0", &y[k], &ref, 1, 1e-6, 1e-6);
  }
  // A sample's noise does not depend on the batch split: sample 2 of a batch
  // starting at 4 equals sample 0 of a batch starting at 6.
  Vec a(per);
  Vec zx(per, 0.0f), ze(per, 0.0f);
  be->reverse_step(zx.data(), ze.data(), a.data(), 1, per, 1.0f, 0.0f, 1.0f, 5, 77, 6);
  Vec full(3 * per);
  Vec zx3(3 * per, 0.0f), ze3(3 * per, 0.0f);
  be->reverse_step(zx3.data(), ze3.data(), full.data(), 3, per, 1.0f, 0.0f, 1.0f, 5, 77, 4);
  CHECK_CLOSE("batch-split invariance", a.data(), full.data() + 2 * per, per, 0.0, 0.0);
}

TEST(clamp_bounds) {
  auto be = cpu();
  Vec x = {-3.0f, -1.0f, 0.25f, 1.0f, 7.0f}, y(5);
  be->clamp(x.data(), y.data(), 5, -1.0f, 1.0f);
  Vec ref = {-1.0f, -1.0f, 0.25f, 1.0f, 1.0f};
  CHECK_CLOSE("clamp", y.data(), ref.data(), 5, 0.0, 0.0);
}

TEST(adam_matches_torch_formula) {
  auto be = cpu();
  const size_t n = 1000;
  Vec p = random_vector(n, 180), m(n, 0.0f), v(n, 0.0f);
  std::vector<double> pd(p.begin(), p.end()), md(n, 0.0), vd(n, 0.0);
  AdamParams hp;
  hp.lr = 1e-3;
  hp.weight_decay = 0.01;
  for (int step = 1; step <= 5; ++step) {
    Vec g = random_vector(n, 190 + step);
    hp.step = step;
    be->adam_update(p.data(), g.data(), m.data(), v.data(), n, hp);
    double bc1 = 1 - std::pow(0.9, step), bc2 = 1 - std::pow(0.999, step);
    for (size_t i = 0; i < n; ++i) {
      double gi = g[i] + 0.01 * pd[i];
      md[i] = 0.9 * md[i] + 0.1 * gi;
      vd[i] = 0.999 * vd[i] + 0.001 * gi * gi;
      pd[i] -= 1e-3 / bc1 * md[i] / (std::sqrt(vd[i]) / std::sqrt(bc2) + 1e-8);
    }
  }
  // fp32 state vs double: each update is ~1e-3; relative rounding ~1e-6 of p.
  CHECK_CLOSE("adam params", p.data(), pd.data(), n, 1e-6, 1e-5);
  CHECK_CLOSE("adam m", m.data(), md.data(), n, 1e-7, 1e-5);
  CHECK_CLOSE("adam v", v.data(), vd.data(), n, 1e-9, 1e-5);
  CHECK_THROWS([&] { hp.step = 0; be->adam_update(p.data(), p.data(), m.data(), v.data(), n, hp); }(), "step");
}

// torch.optim.AdamW: the weights shrink by the factor 1 - lr * weight_decay
// (formed in double, rounded to float) before the Adam step, whose gradient
// gets no L2 term; with weight_decay 0 it is Adam bit for bit.
TEST(adamw_matches_torch_formula) {
  auto be = cpu();
  const size_t n = 1003;  // an AVX2 body and a scalar tail
  Vec p = random_vector(n, 181), m(n, 0.0f), v(n, 0.0f);
  std::vector<double> pd(p.begin(), p.end()), md(n, 0.0), vd(n, 0.0);
  AdamParams hp;
  hp.lr = 1e-2;
  hp.beta1 = 0.95;
  hp.weight_decay = 0.5;
  hp.decoupled_weight_decay = true;
  for (int step = 1; step <= 5; ++step) {
    Vec g = random_vector(n, 290 + step);
    hp.step = step;
    be->adam_update(p.data(), g.data(), m.data(), v.data(), n, hp);
    const double bc1 = 1 - std::pow(0.95, step), bc2 = 1 - std::pow(0.999, step);
    for (size_t i = 0; i < n; ++i) {
      pd[i] *= 1 - 1e-2 * 0.5;
      md[i] = 0.95 * md[i] + 0.05 * g[i];
      vd[i] = 0.999 * vd[i] + 0.001 * double(g[i]) * g[i];
      pd[i] -= 1e-2 / bc1 * md[i] / (std::sqrt(vd[i]) / std::sqrt(bc2) + 1e-8);
    }
  }
  CHECK_CLOSE("adamw params", p.data(), pd.data(), n, 1e-6, 1e-5);
  CHECK_CLOSE("adamw m", m.data(), md.data(), n, 1e-7, 1e-5);
  CHECK_CLOSE("adamw v", v.data(), vd.data(), n, 1e-9, 1e-5);
  // The decay is what changes: the same run without it differs, and AdamW at weight decay 0 is Adam.
  const AdamConstants k = adam_constants(hp);
  CHECK(k.wd == 0.0f && k.decay == float(1.0 - 1e-2 * 0.5));
  Vec a = random_vector(n, 182), b = a, ma(n, 0.0f), va(n, 0.0f), mb(n, 0.0f), vb(n, 0.0f);
  const Vec g = random_vector(n, 300);
  AdamParams plain = hp, zero = hp;
  plain.weight_decay = 0.0;
  plain.decoupled_weight_decay = false;
  zero.weight_decay = 0.0;
  be->adam_update(a.data(), g.data(), ma.data(), va.data(), n, plain);
  be->adam_update(b.data(), g.data(), mb.data(), vb.data(), n, zero);
  CHECK_CLOSE("AdamW at weight decay 0 is Adam", b.data(), a.data(), n, 0.0, 0.0);
}

// Min-SNR-gamma (diffusers' --snr_gamma for epsilon prediction): weights
// min(snr, gamma) / snr, snr = abar / (1 - abar); the weighted loss's gradient
// is the plain one times each sample's weight, the reported loss the plain MSE.
TEST(mse_weighted_matches_min_snr_formula) {
  auto be = cpu();
  const Schedule s = Schedule::linear(1000, 1e-4f, 0.02f);
  const std::vector<float> w = s.min_snr_weights(5.0);
  // snr falls with t: 1 (snr >= 5) up to t ~ 150, then ~ 5 / snr; at t = 999 snr = 4e-5.
  const double snr0 = s.alpha_bar64[0] / (1 - s.alpha_bar64[0]);
  CHECK(w[0] == float(5.0 / snr0));  // ~5e-4: the least noisy steps weigh least
  CHECK(w[500] == 1.0f);
  const double snr999 = s.alpha_bar64[999] / (1 - s.alpha_bar64[999]);
  CHECK(w[999] == 1.0f && snr999 < 5);  // min(snr, 5) / snr = 1 where snr < 5
  const double snr10 = s.alpha_bar64[10] / (1 - s.alpha_bar64[10]);
  CHECK(std::fabs(w[10] - 5.0 / snr10) < 1e-6 * (5.0 / snr10));
  // For v prediction diffusers divides by snr + 1.
  const std::vector<float> wv = s.min_snr_weights(5.0, true);
  CHECK(wv[10] == float(5.0 / (snr10 + 1)) && wv[999] == float(snr999 / (snr999 + 1)));
  const int N = 3;
  const size_t per = 50;
  Vec p = random_vector(N * per, 220), q = random_vector(N * per, 221), g(N * per), g0(N * per);
  std::vector<int32_t> t = {10, 999, 0};
  float loss = 0, loss0 = 0;
  be->mse_weighted_forward_backward(p.data(), q.data(), t.data(), w.data(), &loss, g.data(), N, per);
  be->mse_forward_backward(p.data(), q.data(), &loss0, g0.data(), N * per);
  CHECK(loss == loss0);
  for (int n = 0; n < N; ++n)
    for (size_t i = 0; i < per; ++i) CHECK(g[n * per + i] == w[t[n]] * g0[n * per + i]);
  CHECK_THROWS(s.min_snr_weights(0.0), "gamma");
  t[1] = -3;
  CHECK_THROWS(be->mse_weighted_forward_backward(p.data(), q.data(), t.data(), w.data(), &loss, g.data(), N, per),
               "timestep -3 of sample 1");
}

// torch.nn.utils.clip_grad_norm_(params, max_norm): total = sqrt(sum g^2), every
// gradient times min(1, max_norm / (total + 1e-6)); here over one flat buffer of
// 100,003 values (several reduction chunks), against double, and the norm the
// same bit for bit with 1 and 2 threads.
TEST(clip_grad_norm_matches_torch_formula) {
  auto one = cpu(1), two = cpu(2);
  const size_t n = 100003;
  const Vec g = random_vector(n, 210);
  double ss = 0;
  for (float v : g) ss += double(v) * v;
  const double norm = std::sqrt(ss);  // ~182
  for (float max_norm : {1.0f, 100.0f, 1e4f}) {
    Vec a = g, b = g;
    float na = -1, nb = -1;
    one->clip_grad_norm(a.data(), &na, n, max_norm);
    two->clip_grad_norm(b.data(), &nb, n, max_norm);
    CHECK(std::fabs(na - norm) <= 1e-6 * norm);
    CHECK(na == nb);
    CHECK(std::memcmp(a.data(), b.data(), n * 4) == 0);
    std::vector<double> ref(n);
    const double coef = std::min(1.0, max_norm / (norm + 1e-6));
    for (size_t i = 0; i < n; ++i) ref[i] = g[i] * coef;
    CHECK_CLOSE("clip_grad_norm max_norm=" + std::to_string(max_norm), a.data(), ref.data(), n, 0.0, 1e-6);
    if (coef == 1.0) CHECK(std::memcmp(a.data(), g.data(), n * 4) == 0);
  }
  float nrm;
  CHECK_THROWS(one->clip_grad_norm(Vec(g).data(), &nrm, n, 0.0f), "max_norm");
}

TEST(ops_are_bit_identical_across_thread_counts) {
  auto one = cpu(1), two = cpu(2);
  const int N = 3, C = 8, H = 6, W = 6;
  Vec x = random_vector(N * C * H * W, 200), w = random_vector(C * C * 9, 201), b = random_vector(C, 202);
  Vec y1(x.size()), y2(x.size()), dw1(w.size()), dw2(w.size()), dx1(x.size()), dx2(x.size()), db1(C), db2(C);
  one->conv2d_forward(x.data(), w.data(), b.data(), y1.data(), N, C, H, W, C, 3);
  two->conv2d_forward(x.data(), w.data(), b.data(), y2.data(), N, C, H, W, C, 3);
  CHECK(std::memcmp(y1.data(), y2.data(), y1.size() * 4) == 0);
  one->conv2d_backward(x.data(), w.data(), y1.data(), dx1.data(), dw1.data(), db1.data(), N, C, H, W, C, 3);
  two->conv2d_backward(x.data(), w.data(), y1.data(), dx2.data(), dw2.data(), db2.data(), N, C, H, W, C, 3);
  CHECK(std::memcmp(dx1.data(), dx2.data(), dx1.size() * 4) == 0);
  CHECK(std::memcmp(dw1.data(), dw2.data(), dw1.size() * 4) == 0);
  CHECK(std::memcmp(db1.data(), db2.data(), db1.size() * 4) == 0);
  Vec g(C, 1.0f), be_(C, 0.0f), rm(C, 0), rv(C, 1), sm(C), si(C), z1(x.size()), z2(x.size());
  one->batchnorm_relu_forward(x.data(), z1.data(), g.data(), be_.data(), nullptr, rm.data(), rv.data(), sm.data(),
                              si.data(), nullptr, N, C, H * W, true, 0.1f, 1e-5f);
  two->batchnorm_relu_forward(x.data(), z2.data(), g.data(), be_.data(), nullptr, rm.data(), rv.data(), sm.data(),
                              si.data(), nullptr, N, C, H * W, true, 0.1f, 1e-5f);
  CHECK(std::memcmp(z1.data(), z2.data(), z1.size() * 4) == 0);
}

TEST_MAIN()
