// The CUDA backend's host-side parts: the caching allocator's bookkeeping over
// a fake backing allocator, the runtime without a device, and the rule that
// arithmetic across devices is an error. Tests that need a GPU skip themselves.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <set>
#include <vector>

#include "src/cuda/caching_allocator.h"
#include "tests/cpp/host_device.h"
#include "tessel/cuda.h"
#include "tessel/nn/functional.h"
#include "tessel/optim.h"
#include "tessel/registry.h"
#include "tessel/tessel.h"

using namespace tessel;
using tessel::cuda::CachingAllocator;

namespace {

// Host memory with a byte budget; records what is live.
struct FakeBacking final : cuda::BackingAllocator {
  size_t budget, used = 0;
  int allocs = 0, releases = 0;
  std::set<void*>* live;
  FakeBacking(size_t b, std::set<void*>* l) : budget(b), live(l) {}
  void* allocate(size_t n) override {
    if (used + n > budget) return nullptr;
    void* p = std::malloc(n);
    used += n;
    ++allocs;
    live->insert(p);
    sizes[p] = n;
    return p;
  }
  void release(void* p) override {
    used -= sizes.at(p);
    sizes.erase(p);
    live->erase(p);
    ++releases;
    std::free(p);
  }
  // Events: a counter per recorded event; the test marks them done.
  void* record_event(void* stream) override {
    events.push_back({stream, false});
    return reinterpret_cast<void*>(events.size());
  }
  bool event_done(void* e) override { return events.at(reinterpret_cast<size_t>(e) - 1).second; }
  void destroy_event(void* e) override { ++destroyed; (void)events.at(reinterpret_cast<size_t>(e) - 1); }
  std::map<void*, size_t> sizes;
  std::vector<std::pair<void*, bool>> events;  // (stream, done)
  int destroyed = 0;
};

constexpr size_t MiB = size_t{1} << 20;

struct Fixture {
  std::set<void*> live;
  FakeBacking* backing;
  CachingAllocator alloc;
  explicit Fixture(size_t budget = 1024 * MiB)
      : backing(new FakeBacking(budget, &live)), alloc(std::unique_ptr<cuda::BackingAllocator>(backing), "cuda:0") {}
};

bool close(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && amax(abs(sub(a.to(DType::Float64), b.to(DType::Float64)))).item<double>() < 1e-4;
}

void* const kStreamA = reinterpret_cast<void*>(0x1);
void* const kStreamB = reinterpret_cast<void*>(0x2);

}  // namespace

TEST(CudaAllocator, RoundsSmallTo512AndLargeTo2MiB) {
  EXPECT_EQ(CachingAllocator::round_size(0), 512u);
  EXPECT_EQ(CachingAllocator::round_size(1), 512u);
  EXPECT_EQ(CachingAllocator::round_size(513), 1024u);
  EXPECT_EQ(CachingAllocator::round_size(MiB - 1), MiB);
  EXPECT_EQ(CachingAllocator::round_size(MiB), 2 * MiB);
  EXPECT_EQ(CachingAllocator::round_size(5 * MiB + 1), 6 * MiB);
}

TEST(CudaAllocator, FreedBlockIsReusedOnTheSameStreamOnly) {
  Fixture f;
  void* p = f.alloc.allocate(1000, kStreamA);
  f.alloc.free(p);
  EXPECT_EQ(f.alloc.allocate(900, kStreamA), p);  // same 1024-byte class, same stream
  void* q = f.alloc.allocate(900, kStreamB);       // the other stream gets its own block
  EXPECT_NE(q, p);
  EXPECT_EQ(f.backing->allocs, 2);
  const auto s = f.alloc.stats();
  EXPECT_EQ(s.num_allocs, 3u);
  EXPECT_EQ(s.num_backing_allocs, 2u);
}

TEST(CudaAllocator, StatsTrackAllocatedPeakAndReserved) {
  Fixture f;
  void* a = f.alloc.allocate(3 * MiB, kStreamA);  // 4 MiB block
  void* b = f.alloc.allocate(100, kStreamA);      // 512 bytes
  auto s = f.alloc.stats();
  EXPECT_EQ(s.allocated, 4 * MiB + 512);
  EXPECT_EQ(s.reserved, 4 * MiB + 512);
  f.alloc.free(a);
  s = f.alloc.stats();
  EXPECT_EQ(s.allocated, 512u);
  EXPECT_EQ(s.max_allocated, 4 * MiB + 512);
  EXPECT_EQ(s.reserved, 4 * MiB + 512);  // cached, not released
  f.alloc.empty_cache();
  s = f.alloc.stats();
  EXPECT_EQ(s.reserved, 512u);
  EXPECT_EQ(f.backing->used, 512u);
  EXPECT_EQ(s.num_releases, 1u);
  f.alloc.reset_peak_stats();
  EXPECT_EQ(f.alloc.stats().max_allocated, 512u);
  f.alloc.free(b);
  f.alloc.empty_cache();
  EXPECT_TRUE(f.live.empty());
}

TEST(CudaAllocator, LargeCachedBlockIsNotWastedOnASmallRequest) {
  Fixture f;
  void* big = f.alloc.allocate(64 * MiB, kStreamA);
  f.alloc.free(big);
  void* small = f.alloc.allocate(2 * MiB, kStreamA);
  EXPECT_NE(small, big);
  void* tiny = f.alloc.allocate(10, kStreamA);
  EXPECT_NE(tiny, big);
  void* again = f.alloc.allocate(63 * MiB, kStreamA);  // within the bound: reuses the 64 MiB block
  EXPECT_EQ(again, big);
}

TEST(CudaAllocator, CapReleasesTheCacheThenFailsWithAClearError) {
  Fixture f;
  f.alloc.set_cap(8 * MiB);
  void* a = f.alloc.allocate(4 * MiB, kStreamA);
  f.alloc.free(a);  // cached: 4 MiB reserved
  void* b = f.alloc.allocate(6 * MiB, kStreamA);  // 4 + 6 > 8: the cached block goes first
  EXPECT_EQ(f.alloc.stats().reserved, 6 * MiB);
  try {
    f.alloc.allocate(4 * MiB, kStreamA);
    FAIL() << "no error past the cap";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("[cuda] out of memory"), std::string::npos) << m;
    EXPECT_NE(m.find("cap"), std::string::npos) << m;
    EXPECT_NE(m.find("cuda:0"), std::string::npos) << m;
  }
  f.alloc.free(b);
  f.alloc.set_cap(0);
  EXPECT_NE(f.alloc.allocate(20 * MiB, kStreamA), nullptr);
}

TEST(CudaAllocator, BackingOutOfMemoryRetriesAfterReleasingTheCache) {
  Fixture f(10 * MiB);
  void* a = f.alloc.allocate(6 * MiB, kStreamB);
  f.alloc.free(a);  // cached on stream B: useless to stream A
  void* b = f.alloc.allocate(6 * MiB, kStreamA);
  EXPECT_NE(b, nullptr);
  EXPECT_EQ(f.backing->releases, 1);
  EXPECT_THROW(f.alloc.allocate(6 * MiB, kStreamA), Error);  // truly out of memory
  EXPECT_EQ(f.alloc.stats().allocated, 6 * MiB);  // the failure left the books unchanged
}

TEST(CudaAllocator, FreeingAForeignPointerIsAnError) {
  Fixture f;
  int x = 0;
  EXPECT_THROW(f.alloc.free(&x), Error);
  f.alloc.free(nullptr);  // a no-op, as free(NULL)
}

// record_stream: a block used on another stream is not reused until the work
// queued there at the free has completed (an event per stream).
TEST(CudaAllocator, BlockUsedOnAnotherStreamWaitsForItsWork) {
  Fixture f;
  void* p = f.alloc.allocate(1000, kStreamA);
  f.alloc.record_stream(p, kStreamB);
  f.alloc.record_stream(p, kStreamA);  // its own stream: nothing to wait for
  f.alloc.free(p);
  ASSERT_EQ(f.backing->events.size(), 1u);
  EXPECT_EQ(f.backing->events[0].first, kStreamB);
  EXPECT_EQ(f.alloc.stats().num_pending, 1u);
  EXPECT_EQ(f.alloc.stats().allocated, 0u);  // the tensor is gone; the block is still reserved
  EXPECT_EQ(f.alloc.stats().reserved, 1024u);
  void* q = f.alloc.allocate(1000, kStreamA);  // stream B's work is not done: a new block
  EXPECT_NE(q, p);
  f.backing->events[0].second = true;
  f.alloc.free(q);
  void* r = f.alloc.allocate(1000, kStreamA);  // collected: p or q, both cached on A now
  EXPECT_TRUE(r == p || r == q);
  EXPECT_EQ(f.alloc.stats().num_pending, 0u);
  EXPECT_EQ(f.backing->destroyed, 1);
  f.alloc.free(r);
  f.alloc.empty_cache();
  EXPECT_TRUE(f.live.empty());
}

TEST(CudaAllocator, RecordStreamOnAForeignPointerIsAnError) {
  Fixture f;
  int x = 0;
  EXPECT_THROW(f.alloc.record_stream(&x, kStreamB), ValueError);
}

TEST(CudaAllocator, EmptyCacheKeepsBlocksOtherStreamsStillUse) {
  Fixture f;
  void* p = f.alloc.allocate(4 * MiB, kStreamA);
  f.alloc.record_stream(p, kStreamB);
  f.alloc.free(p);
  f.alloc.empty_cache();  // stream B may still read it: not released
  EXPECT_EQ(f.live.count(p), 1u);
  f.backing->events[0].second = true;
  f.alloc.empty_cache();
  EXPECT_TRUE(f.live.empty());
  EXPECT_EQ(f.alloc.stats().reserved, 0u);
}

TEST(CudaRuntime, StreamsEventsAndPinnedMemoryWithoutADevice) {
  if (cuda::is_available()) GTEST_SKIP() << "a CUDA GPU is present: CudaDevice tests cover it";
  EXPECT_THROW(cuda::stream_create(), Error);
  EXPECT_THROW(cuda::current_stream_handle(), Error);
  EXPECT_THROW(cuda::set_current_stream(0), Error);
  EXPECT_THROW(cuda::event_create(-1, true, false), Error);
  EXPECT_THROW(cuda::host_alloc_pinned(64), Error);
  int x = 0;
  EXPECT_FALSE(cuda::is_pinned(&x));
  cuda::stream_destroy(0, 0);  // destroying nothing is fine (objects outliving the driver)
  cuda::event_destroy(0, 0);
}

TEST(CudaDevice, StreamsAndEvents) {
  if (!cuda::is_available()) GTEST_SKIP() << "needs a CUDA GPU (" << cuda::unavailable_reason() << ")";
  const cuda::StreamHandle s = cuda::stream_create();
  EXPECT_EQ(cuda::current_stream_handle(), 0u);
  cuda::set_current_stream(s);
  EXPECT_EQ(cuda::current_stream_handle(), s);
  const Tensor x = arange(Scalar(0), Scalar(1 << 20), Scalar(1), DType::Float32);
  const cuda::EventHandle a = cuda::event_create(-1, true, false), b = cuda::event_create(-1, true, false);
  cuda::event_record(a, s, 0);
  const Tensor g = add(x.to(Device("cuda")), Scalar(1));
  cuda::event_record(b, s, 0);
  cuda::event_synchronize(b, 0);
  EXPECT_TRUE(cuda::event_query(b, 0));
  EXPECT_GE(cuda::event_elapsed_ms(a, b, 0), 0.0f);
  EXPECT_TRUE(close(g.cpu(), add(x, Scalar(1))));
  cuda::set_current_stream(0);
  cuda::stream_synchronize(s, 0);
  EXPECT_TRUE(cuda::stream_query(s, 0));
  cuda::event_destroy(a, 0);
  cuda::event_destroy(b, 0);
  cuda::stream_destroy(s, 0);
}

TEST(CudaRuntime, WithoutADeviceEverythingSaysWhy) {
  if (cuda::is_available()) GTEST_SKIP() << "a CUDA GPU is present: CudaDevice tests cover it";
  EXPECT_EQ(cuda::device_count(), 0);
  EXPECT_FALSE(cuda::unavailable_reason().empty());
  EXPECT_THROW(cuda::current_device(), Error);
  EXPECT_THROW(cuda::synchronize(), Error);
  EXPECT_THROW(cuda::memory_allocated(), Error);
  cuda::empty_cache();  // nothing cached: a no-op, as in PyTorch
  try {
    (void)ones({2}).to(Device("cuda"));
    FAIL() << "a tensor reached cuda without a device";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_TRUE(m.find("no CUDA device is available") != std::string::npos ||
                m.find("built without CUDA") != std::string::npos)
        << m;
  }
}

TEST(CudaDevice, RoundTripAndKernels) {
  if (!cuda::is_available()) GTEST_SKIP() << "needs a CUDA GPU (" << cuda::unavailable_reason() << ")";
  const Tensor x = arange(Scalar(0), Scalar(12), Scalar(1), DType::Float32).view({3, 4});
  const Tensor g = x.to(Device("cuda"));
  EXPECT_EQ(g.device().str(), "cuda:0");
  EXPECT_TRUE(close(g.cpu(), x));
  EXPECT_TRUE(close(add(g, g).cpu(), add(x, x)));
  EXPECT_TRUE(close(sum(g).cpu(), sum(x)));
  EXPECT_TRUE(close(matmul(g, g.t()).cpu(), matmul(x, x.t())));
  EXPECT_GE(cuda::memory_allocated(), 3u * 4 * sizeof(float));
  EXPECT_THROW(add(g, x), ValueError);  // cross-device arithmetic is an error
}

// Cross-device arithmetic raises; nothing is copied behind the caller's back.
// A host-memory plugin device stands in for a GPU.
TEST(CrossDevice, OpsRefuseOperandsOnTwoDevices) {
  const DeviceType dev = register_host_test_device("crossdev");
  const Tensor c = ones({2, 2});
  const Tensor d = c.to(Device("crossdev"));
  auto expect_device_error = [](auto&& f, const char* op) {
    try {
      f();
      ADD_FAILURE() << op << " accepted tensors on two devices";
    } catch (const ValueError& e) {
      EXPECT_NE(std::string(e.what()).find("device"), std::string::npos) << e.what();
    }
  };
  expect_device_error([&] { return add(c, d); }, "add");
  expect_device_error([&] { return mul(d, c); }, "mul");
  expect_device_error([&] { return maximum(c, d); }, "maximum");
  expect_device_error([&] { return matmul(c, d); }, "matmul");
  expect_device_error([&] { return where(gt(c, Scalar(0)), c, d); }, "where");
  expect_device_error([&] { return cat({c, d}, 0); }, "cat");
}

// Without a GPU: which kernels does an MLP's training step dispatch, and do all
// of them have a CUDA kernel? A host-memory device gets, for each (op, dtype)
// registered for cuda, the CPU kernel of that pair; an op the step needs that
// cuda lacks has no kernel there and fails, naming it. The step runs on it and
// on the CPU and must give the same results (randperm off the CPU is the CPU's
// permutation copied, so the permutations are equal too).
// A host-memory device with only the (op, dtype) pairs registered for cuda,
// each running the CPU kernel (once per process); 0 kernels without CUDA.
int cuda_probe(DeviceType& probe) {
  static DeviceType type;
  static const int n = [] {
    type = register_host_test_device("cudaprobe");
    Registry& r = Registry::get();
    int count = 0;
    for (const KernelInfo& k : r.list()) {
      if (k.device != "cuda") continue;
      const OpId op = r.find_op(k.op);
      const DType dt = k.dtype;
      r.add(op, type, dt, [op, dt](const KernelCall& c) { Registry::get().lookup(op, DeviceType::CPU, dt)(c); },
            "test");
      ++count;
    }
    return count;
  }();
  probe = type;
  return n;
}

// Runs a training step's figures on the CPU and on the probe device: every op must have a cuda kernel and
// the figures must agree. `cpu_run` receives the CPU's.
void expect_probe_matches_cpu(const std::function<std::vector<double>(Device)>& run, DeviceType probe,
                              const char* step, std::vector<double>& cpu_run) {
  std::vector<double> probe_run;
  ASSERT_NO_THROW(cpu_run = run(Device(DeviceType::CPU)));
  try {
    probe_run = run(Device(probe));
  } catch (const std::exception& e) {
    FAIL() << "an op of " << step << " has no cuda kernel: " << e.what();
  }
  ASSERT_EQ(probe_run.size(), cpu_run.size());
  for (size_t i = 0; i < cpu_run.size(); ++i) EXPECT_NEAR(probe_run[i], cpu_run[i], 1e-6 * (1 + std::abs(cpu_run[i])));
}

TEST(CudaCoverage, AnMlpTrainingStepNeedsOnlyKernelsCudaHas) {
  DeviceType probe;
  if (cuda_probe(probe) == 0) GTEST_SKIP() << "built without CUDA: no cuda kernels to check";

  auto run = [](Device dev) {
    manual_seed(7);
    const Tensor x = randn({32, 12}).to(dev), y = randint(0, 4, {32}).to(dev);
    Tensor w1 = mul(randn({12, 16}), Scalar(0.3)).to(dev), b1 = zeros({16}).to(dev);
    Tensor w2 = mul(randn({16, 4}), Scalar(0.3)).to(dev), b2 = zeros({4}).to(dev);
    const Tensors params{w1, b1, w2, b2};
    Tensors m, v;
    for (const Tensor& p : params) {
      p.set_requires_grad();
      m.push_back(zeros_like(p));
      v.push_back(zeros_like(p));
    }
    std::vector<double> out;
    for (int64_t step = 1; step <= 3; ++step) {
      // fit(shuffle=True): a randperm on the data's device (the CPU's, copied there), then a batch
      const Tensor perm = randperm(32, TensorOptions(DType::Int64, dev));
      out.push_back(sum(mul(perm, arange(Scalar(0), Scalar(32), Scalar(1), DType::Int64).to(dev))).item<double>());
      const Tensor xb = index_select(x, 0, perm), yb = index_select(y, 0, perm);
      const Tensor h1 = relu(add(matmul(xb, w1), b1));
      const Tensor logits = add(matmul(h1, w2), b2);
      const Tensor loss = nn::functional::cross_entropy(logits, yb);
      loss.backward();
      Tensors grads;
      for (const Tensor& p : params) grads.push_back(p.grad());
      OptimParams o;
      o.lr = 0.05;
      o.step = step;
      {
        autograd::NoGradGuard ng;
        optim::adam_step(params, grads, m, v, {}, o);
        optim::sgd_step({b2}, {grads[3]}, {}, o);  // both fused optimizers
      }
      for (const Tensor& p : params) p.set_grad(Tensor());
      out.push_back(loss.item<double>());
      out.push_back(sum(eq(argmax(logits, 1), yb)).item<double>());  // fit's accuracy
    }
    return out;
  };
  std::vector<double> cpu_run;
  ASSERT_NO_FATAL_FAILURE(expect_probe_matches_cpu(run, probe, "the step", cpu_run));
  EXPECT_LT(cpu_run[7], cpu_run[1]);  // it learns (the same samples, reordered)
}

// conv (cuDNN), batch_norm (cuDNN), relu, max_pool, linear, cross-entropy, SGD.
TEST(CudaCoverage, ACnnTrainingStepNeedsOnlyKernelsCudaHas) {
  DeviceType probe;
  if (cuda_probe(probe) == 0) GTEST_SKIP() << "built without CUDA: no cuda kernels to check";
  Registry& r = Registry::get();
  for (const char* op : {"conv2d", "conv2d_backward_input", "conv2d_backward_weight", "batch_norm", "batch_norm_backward"})
    EXPECT_TRUE(r.has(r.find_op(op), DeviceType::CUDA, DType::Float32)) << op << " has no cuda kernel";
  auto run = [](Device dev) {
    manual_seed(11);
    const Tensor x = randn({8, 3, 10, 10}).to(dev), y = randint(0, 5, {8}).to(dev);
    Tensor wc = mul(randn({6, 3, 3, 3}), Scalar(0.3)).to(dev), bc = zeros({6}).to(dev);
    Tensor gamma = ones({6}).to(dev), beta = zeros({6}).to(dev);
    Tensor wl = mul(randn({5, 6 * 5 * 5}), Scalar(0.1)).to(dev), bl = zeros({5}).to(dev);
    const Tensor rmean = zeros({6}).to(dev), rvar = ones({6}).to(dev);
    const Tensors params{wc, bc, gamma, beta, wl, bl};
    for (const Tensor& p : params) p.set_requires_grad();
    std::vector<double> out;
    nn::functional::ConvOptions co;
    co.padding = {1};
    for (int step = 0; step < 3; ++step) {
      Tensor h = nn::functional::conv2d(x, wc, bc, co);
      h = nn::functional::batch_norm(h, rmean, rvar, gamma, beta, /*training=*/true);
      h = nn::functional::max_pool2d(relu(h), {2});
      const Tensor logits = linear(h.reshape({8, -1}), wl, bl);
      const Tensor loss = nn::functional::cross_entropy(logits, y);
      loss.backward();
      Tensors grads;
      for (const Tensor& p : params) grads.push_back(p.grad());
      OptimParams o;
      o.lr = 0.1;
      {
        autograd::NoGradGuard ng;
        optim::sgd_step(params, grads, {}, o);
      }
      for (const Tensor& p : params) p.set_grad(Tensor());
      out.push_back(loss.item<double>());
      out.push_back(sum(rmean).item<double>());
    }
    return out;
  };
  std::vector<double> cpu_run;
  ASSERT_NO_FATAL_FAILURE(expect_probe_matches_cpu(run, probe, "the CNN step", cpu_run));
  EXPECT_LT(cpu_run[4], cpu_run[0]);  // it learns
}

// A GPT block's step: embedding, layer_norm, causal scaled_dot_product_attention,
// gelu MLP, dropout, an untied head, cross-entropy, AdamW.
TEST(CudaCoverage, AGptTrainingStepNeedsOnlyKernelsCudaHas) {
  DeviceType probe;
  if (cuda_probe(probe) == 0) GTEST_SKIP() << "built without CUDA: no cuda kernels to check";
  auto run = [](Device dev) {
    manual_seed(13);
    const int64_t B = 4, T = 8, V = 11, D = 16, H = 2;
    const Tensor idx = randint(0, V, {B, T}).to(dev), tgt = randint(0, V, {B, T}).to(dev);
    auto param = [&](Shape s, double scale) { return mul(randn(s), Scalar(scale)).to(dev); };
    Tensor emb = param({V, D}, 0.3), pos = param({T, D}, 0.1);
    Tensor ln1_w = ones({D}).to(dev), ln1_b = zeros({D}).to(dev), ln2_w = ones({D}).to(dev), ln2_b = zeros({D}).to(dev);
    Tensor wqkv = param({3 * D, D}, 0.2), bqkv = zeros({3 * D}).to(dev), wo = param({D, D}, 0.2);
    Tensor w1 = param({4 * D, D}, 0.2), b1 = zeros({4 * D}).to(dev), w2 = param({D, 4 * D}, 0.2);
    Tensor head = param({V, D}, 0.2);
    const Tensors params{emb, pos, ln1_w, ln1_b, ln2_w, ln2_b, wqkv, bqkv, wo, w1, b1, w2, head};
    Tensors m, v;
    for (const Tensor& p : params) {
      p.set_requires_grad();
      m.push_back(zeros_like(p));
      v.push_back(zeros_like(p));
    }
    auto heads = [&](const Tensor& t) { return t.reshape({B, T, H, D / H}).transpose(1, 2); };
    std::vector<double> out;
    for (int64_t step = 1; step <= 3; ++step) {
      Tensor x = add(nn::functional::embedding(idx, emb), pos);
      const Tensor qkv = linear(nn::functional::layer_norm(x, {D}, ln1_w, ln1_b), wqkv, bqkv);
      const Tensor a = nn::functional::scaled_dot_product_attention(
          heads(qkv.narrow(2, 0, D)), heads(qkv.narrow(2, D, D)), heads(qkv.narrow(2, 2 * D, D)), {}, 0.0, true);
      x = add(x, linear(a.transpose(1, 2).reshape({B, T, D}), wo));
      const Tensor mlp = linear(gelu(linear(nn::functional::layer_norm(x, {D}, ln2_w, ln2_b), w1, b1)), w2);
      x = add(x, dropout(mlp, 0.1, true));
      const Tensor logits = linear(x, head);
      const Tensor loss = nn::functional::cross_entropy(logits.reshape({B * T, V}), tgt.reshape({B * T}));
      loss.backward();
      Tensors grads;
      for (const Tensor& p : params) grads.push_back(p.grad());
      OptimParams o;
      o.lr = 0.01;
      o.step = step;
      o.weight_decay = 0.01;
      o.decoupled_weight_decay = true;  // AdamW
      {
        autograd::NoGradGuard ng;
        optim::adam_step(params, grads, m, v, {}, o);
      }
      for (const Tensor& p : params) p.set_grad(Tensor());
      out.push_back(loss.item<double>());
    }
    return out;
  };
  std::vector<double> cpu_run;
  ASSERT_NO_FATAL_FAILURE(expect_probe_matches_cpu(run, probe, "the GPT step", cpu_run));
  EXPECT_LT(cpu_run[2], cpu_run[0]);  // it learns
}

// Indices may live on the CPU for a device tensor (moved over, as PyTorch allows); a boolean
// mask on a device without a nonzero kernel goes through the host; indices on a third
// device are refused. The probe device stands in for cuda (it has cuda's kernels alone).
TEST(CudaCoverage, CpuIndicesAndMasksIndexADeviceTensor) {
  DeviceType probe;
  if (cuda_probe(probe) == 0) GTEST_SKIP() << "built without CUDA: no cuda kernels to check";
  const Tensor a = arange(Scalar(0), Scalar(12), Scalar(1), DType::Float32).reshape({3, 4});
  const Tensor d = a.to(Device(probe));
  const Tensor rows = arange(Scalar(2), Scalar(-1), Scalar(-2), DType::Int64);  // [2, 0], on the cpu
  const Tensor got = index(d, {TensorIndex::with(rows)});
  EXPECT_EQ(got.device().type, probe);
  const Tensor want = index(a, {TensorIndex::with(rows)});
  EXPECT_TRUE(close(got.cpu(), want)) << "cpu indices on a device tensor";
  const Tensor mask = gt(a, Scalar(6.5));  // a cpu mask, then the same mask on the device
  EXPECT_TRUE(close(index(d, {TensorIndex::with(mask)}).cpu(), index(a, {TensorIndex::with(mask)})));
  EXPECT_TRUE(close(index(d, {TensorIndex::with(mask.to(Device(probe)))}).cpu(), index(a, {TensorIndex::with(mask)})));
  Tensor e = d.clone();
  index_put_(e, {TensorIndex::with(rows)}, zeros({4}).to(Device(probe)));
  EXPECT_EQ(sum(e.cpu()).item<double>(), sum(a).item<double>() - (8 + 9 + 10 + 11) - (0 + 1 + 2 + 3));
  try {
    index(a, {TensorIndex::with(rows.to(Device(probe)))});
    ADD_FAILURE() << "device indices for a cpu tensor were accepted";
  } catch (const ValueError& err) {
    EXPECT_NE(std::string(err.what()).find("indices must be on its device or on the cpu"), std::string::npos)
        << err.what();
  }
}
