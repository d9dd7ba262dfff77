// cuDNN backend-graph convolutions (conv_graph.h): the descriptors, the
// candidate plans and their execution.
#include "conv_graph.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "conv.h"

namespace ddpm {
namespace cuda {

namespace {

// A failed backend call as a ddpm::Error: what was being done, cuDNN's status
// and its last error message.
void check_graph(cudnnStatus_t st, const std::string& what) {
  if (st == CUDNN_STATUS_SUCCESS) return;
  char detail[512];
  detail[0] = '\0';
  cudnnGetLastErrorString(detail, sizeof(detail));
  throw Error("cuDNN graph API: " + what + ": " + cudnnGetErrorString(st) + (detail[0] ? ": " + std::string(detail) : ""));
}

// A backend descriptor, destroyed with its owner.
class Desc {
 public:
  Desc(cudnnBackendDescriptorType_t type, const char* name) : name_(name) {
    check_graph(cudnnBackendCreateDescriptor(type, &d_), std::string("creating ") + name_);
  }
  ~Desc() {
    if (d_) cudnnBackendDestroyDescriptor(d_);
  }
  Desc(const Desc&) = delete;
  Desc& operator=(const Desc&) = delete;
  cudnnBackendDescriptor_t get() const { return d_; }

  Desc& set(cudnnBackendAttributeName_t attr, cudnnBackendAttributeType_t type, int64_t count, const void* values) {
    check_graph(cudnnBackendSetAttribute(d_, attr, type, count, values),
                "setting attribute " + std::to_string(static_cast<int>(attr)) + " of " + name_);
    return *this;
  }
  Desc& i64(cudnnBackendAttributeName_t attr, int64_t v) { return set(attr, CUDNN_TYPE_INT64, 1, &v); }
  Desc& i64s(cudnnBackendAttributeName_t attr, const std::vector<int64_t>& v) {
    return set(attr, CUDNN_TYPE_INT64, static_cast<int64_t>(v.size()), v.data());
  }
  Desc& type(cudnnBackendAttributeName_t attr, cudnnDataType_t t) { return set(attr, CUDNN_TYPE_DATA_TYPE, 1, &t); }
  Desc& desc(cudnnBackendAttributeName_t attr, const Desc& d) {
    cudnnBackendDescriptor_t raw = d.get();
    return set(attr, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &raw);
  }
  Desc& finalize() {
    check_graph(cudnnBackendFinalize(d_), "finalizing " + name_);
    return *this;
  }
  int64_t get_attr(cudnnBackendAttributeName_t attr, cudnnBackendAttributeType_t type, int64_t count, void* values) const {
    int64_t got = 0;
    check_graph(cudnnBackendGetAttribute(d_, attr, type, count, &got, values),
                "reading attribute " + std::to_string(static_cast<int>(attr)) + " of " + name_);
    return got;
  }

 private:
  cudnnBackendDescriptor_t d_ = nullptr;
  std::string name_;
};

enum : int64_t { kUidXLike = 1, kUidWLike = 2, kUidYLike = 3, kUidScale = 4, kUidShift = 5, kUidAdd = 6,
                 kUidVirtual = 100 };

// An engine config's engine: its global index, whether its notes rule it out
// (inputs down-converted, reduced-precision reduction, nondeterministic), and
// its notes as words for the log.
struct EngineInfo {
  int64_t index = -1;
  bool excluded = false;
  std::string notes;
};

EngineInfo engine_info(const Desc& cfg) {
  EngineInfo info;
  Desc engine(CUDNN_BACKEND_ENGINE_DESCRIPTOR, "engine");
  cudnnBackendDescriptor_t raw = engine.get();
  cfg.get_attr(CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &raw);
  engine.get_attr(CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &info.index);
  std::vector<std::string> words;
  cudnnBackendBehaviorNote_t behaviour[CUDNN_BEHAVIOR_NOTE_TYPE_COUNT];
  const int64_t nb = engine.get_attr(CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE, CUDNN_TYPE_BEHAVIOR_NOTE,
                                     CUDNN_BEHAVIOR_NOTE_TYPE_COUNT, behaviour);
  for (int64_t i = 0; i < nb; ++i)
    if (behaviour[i] == CUDNN_BEHAVIOR_NOTE_RUNTIME_COMPILATION) words.push_back("runtime-compiled");
  cudnnBackendNumericalNote_t numerical[CUDNN_NUMERICAL_NOTE_TYPE_COUNT];
  const int64_t nn = engine.get_attr(CUDNN_ATTR_ENGINE_NUMERICAL_NOTE, CUDNN_TYPE_NUMERICAL_NOTE,
                                     CUDNN_NUMERICAL_NOTE_TYPE_COUNT, numerical);
  for (int64_t i = 0; i < nn; ++i) {
    switch (numerical[i]) {
      case CUDNN_NUMERICAL_NOTE_TENSOR_CORE: words.push_back("tensor-core"); break;
      case CUDNN_NUMERICAL_NOTE_WINOGRAD: words.push_back("winograd"); break;
      case CUDNN_NUMERICAL_NOTE_FFT: words.push_back("fft"); break;
      case CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS:
        words.push_back("down-converts-inputs");
        info.excluded = true;
        break;
      case CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION:
        words.push_back("reduced-precision-reduction");
        info.excluded = true;
        break;
      case CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC:
        words.push_back("nondeterministic");
        info.excluded = true;
        break;
      default: break;
    }
  }
  for (const std::string& w : words) info.notes += (info.notes.empty() ? "" : ",") + w;
  return info;
}

}  // namespace

struct GraphConv::Impl {
  cudnnHandle_t handle = nullptr;
  std::vector<std::unique_ptr<Desc>> keep;  // every descriptor the graph refers to
  std::unique_ptr<Desc> graph;
  Desc& add(cudnnBackendDescriptorType_t type, const char* name) {
    keep.push_back(std::make_unique<Desc>(type, name));
    return *keep.back();
  }
  // A tensor of dims [d0, C, d2, d3] in channels-last memory: bf16 (16-byte
  // aligned), or a float32 one, virtual (never in memory) or an epilogue's
  // vector (4-byte aligned: the parameters are views into one buffer).
  const Desc& tensor(const char* name, int64_t uid, int64_t d0, int64_t C, int64_t d2, int64_t d3,
                     cudnnDataType_t type = CUDNN_DATA_BFLOAT16, bool is_virtual = false) {
    Desc& t = add(CUDNN_BACKEND_TENSOR_DESCRIPTOR, name);
    t.type(CUDNN_ATTR_TENSOR_DATA_TYPE, type)
        .i64s(CUDNN_ATTR_TENSOR_DIMENSIONS, {d0, C, d2, d3})
        .i64s(CUDNN_ATTR_TENSOR_STRIDES, {d2 * d3 * C, 1, d3 * C, C})
        .i64(CUDNN_ATTR_TENSOR_UNIQUE_ID, uid)
        .i64(CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, type == CUDNN_DATA_BFLOAT16 ? 16 : 4);
    if (is_virtual) {
      const bool v = true;
      t.set(CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &v);
    }
    return t.finalize();
  }
  // One pointwise operation in float32 math: y = mode(x[, b]); its
  // finalized descriptor.
  cudnnBackendDescriptor_t pointwise(const char* name, cudnnPointwiseMode_t mode, const Desc& x, const Desc* b,
                                     const Desc& y) {
    Desc& pw = add(CUDNN_BACKEND_POINTWISE_DESCRIPTOR, "pointwise mode");
    pw.set(CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &mode)
        .type(CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_DATA_FLOAT)
        .finalize();
    Desc& op = add(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR, name);
    op.desc(CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, pw)
        .desc(CUDNN_ATTR_OPERATION_POINTWISE_XDESC, x)
        .desc(CUDNN_ATTR_OPERATION_POINTWISE_YDESC, y);
    if (b) op.desc(CUDNN_ATTR_OPERATION_POINTWISE_BDESC, *b);
    return op.finalize().get();
  }
};

struct GraphConv::Candidate {
  std::unique_ptr<Desc> plan;
  EngineInfo engine;
  int64_t workspace = 0;
  std::unique_ptr<Desc> pack;   // the variant pack of run(), for `pointers`
  const void* pointers[7] = {};  // the tensors by uid (1..6), then the workspace
};

GraphConv::GraphConv(cudnnHandle_t handle, const ConvShape& s, int dir, const ConvEpilogue& epilogue)
    : impl_(std::make_unique<Impl>()), epilogue_(epilogue) {
  Impl& g = *impl_;
  g.handle = handle;
  if (dir != 0 && !epilogue.empty()) throw Error("cuDNN graph API: an epilogue needs the forward convolution");
  const int64_t P = (s.H + 2 * s.pad - s.R) / s.stride + 1, Q = (s.W + 2 * s.pad - s.R) / s.stride + 1;
  const Desc& x = g.tensor("tensor x", kUidXLike, s.N, s.C, s.H, s.W);
  const Desc& w = g.tensor("tensor w", kUidWLike, s.K, s.C, s.R, s.R);
  const Desc& y_mem = g.tensor("tensor y", kUidYLike, s.N, s.K, P, Q);
  // With an epilogue the convolution writes a float32 virtual tensor that
  // the pointwise chain reads; its last operation writes y.
  int64_t next_virtual = kUidVirtual;
  auto virtual_y = [&]() -> const Desc& {
    return g.tensor("virtual tensor", next_virtual++, s.N, s.K, P, Q, CUDNN_DATA_FLOAT, true);
  };
  const Desc& y = epilogue.empty() ? y_mem : virtual_y();
  Desc& conv = g.add(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR, "convolution");
  const cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
  conv.type(CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_DATA_FLOAT)
      .set(CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, 1, &mode)
      .i64(CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, 2)
      .i64s(CUDNN_ATTR_CONVOLUTION_DILATIONS, {1, 1})
      .i64s(CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, {s.stride, s.stride})
      .i64s(CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, {s.pad, s.pad})
      .i64s(CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, {s.pad, s.pad})
      .finalize();
  // Per direction: the operation and its attributes, alpha, beta, the
  // convolution, then its three tensors in the order the table names them.
  struct Direction {
    cudnnBackendDescriptorType_t type;
    const char* name;
    cudnnBackendAttributeName_t attrs[6];
    const Desc* tensors[3];
  };
  const Direction dirs[3] = {
      {CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR, "convolution forward",
       {CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA,
        CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X,
        CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y},
       {&x, &w, &y}},
      {CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_DATA_DESCRIPTOR, "convolution backward data",
       {CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_ALPHA, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_BETA,
        CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_CONV_DESC, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DY,
        CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_W, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DX},
       {&y, &w, &x}},
      {CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_FILTER_DESCRIPTOR, "convolution backward filter",
       {CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_ALPHA, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_BETA,
        CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_CONV_DESC, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_X,
        CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DY, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DW},
       {&x, &y, &w}}};
  if (dir < 0 || dir > 2) throw Error("cuDNN graph API: convolution direction " + std::to_string(dir) + " is not 0, 1 or 2");
  const Direction& d = dirs[dir];
  const float alpha = 1.0f, beta = 0.0f;
  Desc* op = &g.add(d.type, d.name);
  op->set(d.attrs[0], CUDNN_TYPE_FLOAT, 1, &alpha)
      .set(d.attrs[1], CUDNN_TYPE_FLOAT, 1, &beta)
      .desc(d.attrs[2], conv)
      .desc(d.attrs[3], *d.tensors[0])
      .desc(d.attrs[4], *d.tensors[1])
      .desc(d.attrs[5], *d.tensors[2]);
  op->finalize();
  std::vector<cudnnBackendDescriptor_t> ops = {op->get()};
  // The epilogue's steps in order, each into a new virtual tensor but the last, into y.
  struct Step {
    bool on;
    cudnnPointwiseMode_t mode;
    const char* name;
    int64_t uid;  // the second operand's, or 0
    bool per_sample;
  };
  const Step steps[4] = {{epilogue.scale, CUDNN_POINTWISE_MUL, "epilogue scale", kUidScale, false},
                         {epilogue.shift, CUDNN_POINTWISE_ADD, "epilogue shift", kUidShift, false},
                         {epilogue.relu, CUDNN_POINTWISE_RELU_FWD, "epilogue relu", 0, false},
                         {epilogue.add, CUDNN_POINTWISE_ADD, "epilogue add", kUidAdd, true}};
  int last = -1;
  for (int k = 0; k < 4; ++k)
    if (steps[k].on) last = k;
  const Desc* cur = &y;
  for (int k = 0; k <= last; ++k) {
    const Step& st = steps[k];
    if (!st.on) continue;
    const Desc* b = st.uid ? &g.tensor(st.name, st.uid, st.per_sample ? s.N : 1, s.K, 1, 1, CUDNN_DATA_FLOAT) : nullptr;
    const Desc& out = k == last ? y_mem : virtual_y();
    ops.push_back(g.pointwise(st.name, st.mode, *cur, b, out));
    cur = &out;
  }
  g.graph = std::make_unique<Desc>(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, "operation graph");
  g.graph->set(CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, static_cast<int64_t>(ops.size()),
               ops.data())
      .set(CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle)
      .finalize();
}

GraphConv::~GraphConv() = default;

int GraphConv::plan_candidates(int limit) {
  plans_.clear();
  notes_.clear();
  auto note = [&](const std::string& n) {
    if (notes_.size() < 2000) notes_ += (notes_.empty() ? "" : "; ") + n;
  };
  std::vector<int64_t> seen;  // engines already taken from heuristics mode A
  const std::pair<cudnnBackendHeurMode_t, const char*> modes[] = {{CUDNN_HEUR_MODE_A, "heuristics A"},
                                                                   {CUDNN_HEUR_MODE_FALLBACK, "fallback"}};
  for (const auto& [mode, mode_name] : modes) {
    if (static_cast<int>(plans_.size()) >= limit) break;
    try {
      Desc heur(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, mode_name);
      heur.desc(CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, *impl_->graph)
          .set(CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode)
          .finalize();
      const int64_t count = heur.get_attr(CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, nullptr);
      if (count <= 0) {
        note(std::string(mode_name) + ": no engine config");
        continue;
      }
      std::vector<std::unique_ptr<Desc>> cfgs;
      std::vector<cudnnBackendDescriptor_t> raw;
      for (int64_t i = 0; i < count; ++i) {
        cfgs.push_back(std::make_unique<Desc>(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, "engine config"));
        raw.push_back(cfgs.back()->get());
      }
      const int64_t got = heur.get_attr(CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, count, raw.data());
      const bool fallback = mode == CUDNN_HEUR_MODE_FALLBACK;
      const size_t seen_in_a = seen.size();
      for (int64_t i = 0; i < got && static_cast<int>(plans_.size()) < limit; ++i) {
        auto c = std::make_unique<Candidate>();
        try {
          c->engine = engine_info(*cfgs[i]);
        } catch (const Error& e) {
          note(std::string(mode_name) + ": unreadable engine notes (" + e.what() + ")");
          continue;
        }
        if (c->engine.excluded) {
          note("engine " + std::to_string(c->engine.index) + " left out [" + c->engine.notes + "]");
          continue;
        }
        if (fallback && std::find(seen.begin(), seen.begin() + seen_in_a, c->engine.index) != seen.begin() + seen_in_a)
          continue;
        try {
          c->plan = std::make_unique<Desc>(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, "execution plan");
          c->plan->desc(CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, *cfgs[i])
              .set(CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &impl_->handle)
              .finalize();
          c->plan->get_attr(CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1, &c->workspace);
        } catch (const Error& e) {
          note("engine " + std::to_string(c->engine.index) + " did not finalize (" + e.what() + ")");
          continue;
        }
        seen.push_back(c->engine.index);
        plans_.push_back(std::move(c));
      }
    } catch (const Error& e) {
      note(std::string(mode_name) + ": " + e.what());
    }
  }
  return candidates();
}

size_t GraphConv::workspace(int i) const { return static_cast<size_t>(plans_.at(i)->workspace); }

std::string GraphConv::describe(int i) const {
  const Candidate& c = *plans_.at(i);
  return "engine " + std::to_string(c.engine.index) + (c.engine.notes.empty() ? "" : " [" + c.engine.notes + "]");
}

namespace {
// The pointers the graph reads, by uid (1..6), then the workspace.
void pointer_list(const ConvPointers& t, const ConvEpilogue& e, void* workspace, const void* (&out)[7]) {
  out[0] = t.x;
  out[1] = t.w;
  out[2] = t.y;
  out[3] = e.scale ? t.scale : nullptr;
  out[4] = e.shift ? t.shift : nullptr;
  out[5] = e.add ? t.add : nullptr;
  out[6] = workspace;
}

std::unique_ptr<Desc> variant_pack(const void* (&p)[7]) {
  auto pack = std::make_unique<Desc>(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, "variant pack");
  std::vector<int64_t> uids;
  std::vector<void*> ptrs;
  for (int k = 0; k < 6; ++k)
    if (k < 3 || p[k]) {
      uids.push_back(k + 1);
      ptrs.push_back(const_cast<void*>(p[k]));
    }
  void* workspace = const_cast<void*>(p[6]);
  pack->set(CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, static_cast<int64_t>(uids.size()), uids.data())
      .set(CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, static_cast<int64_t>(ptrs.size()), ptrs.data())
      .set(CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &workspace)
      .finalize();
  return pack;
}

bool complete(const ConvPointers& t, const ConvEpilogue& e) {
  return t.x && t.w && t.y && (!e.scale || t.scale) && (!e.shift || t.shift) && (!e.add || t.add);
}
}  // namespace

cudnnStatus_t GraphConv::execute(int i, const ConvPointers& t, void* workspace) {
  if (!complete(t, epilogue_)) return CUDNN_STATUS_BAD_PARAM;
  const void* p[7];
  pointer_list(t, epilogue_, workspace, p);
  std::unique_ptr<Desc> pack;
  try {
    pack = variant_pack(p);
  } catch (const Error&) {
    return CUDNN_STATUS_BAD_PARAM;
  }
  return cudnnBackendExecute(impl_->handle, plans_.at(i)->plan->get(), pack->get());
}

void GraphConv::run(const char* op, int i, const ConvPointers& t, void* workspace) {
  if (!complete(t, epilogue_)) throw Error(std::string("cuda ") + op + ": a graph convolution is missing a tensor");
  Candidate& c = *plans_.at(i);
  const void* now[7];
  pointer_list(t, epilogue_, workspace, now);
  if (!c.pack || !std::equal(now, now + 7, c.pointers)) {
    c.pack = variant_pack(now);
    std::copy(now, now + 7, c.pointers);
  }
  const cudnnStatus_t st = cudnnBackendExecute(impl_->handle, c.plan->get(), c.pack->get());
  if (st != CUDNN_STATUS_SUCCESS) throw_cudnn(op, "cudnnBackendExecute(graph convolution)", st);
}

}  // namespace cuda
}  // namespace ddpm
