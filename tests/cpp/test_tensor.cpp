#include <gtest/gtest.h>
#include <sys/wait.h>
#include <tessel/tessel.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <string>
#include <thread>

#include "src/core/buffer_pool.h"

using namespace tessel;

namespace {
Tensor iota(const Shape& s) { return arange(Scalar(0), Scalar(shape_numel(s)), Scalar(1), DType::Float32).reshape(s); }
}  // namespace

TEST(Tensor, StorageIs64ByteAligned) {
  for (int64_t n : {1, 3, 17, 1000}) {
    Tensor t = empty({n}, DType::Int8);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data_ptr()) % 64, 0u);
  }
}

TEST(Tensor, ViewsShareStorageAndWritesAreVisible) {
  Tensor x = iota({3, 4});
  Tensor v = x.transpose(0, 1).select(0, 2);  // column 2
  EXPECT_EQ(v.shape(), (Shape{3}));
  EXPECT_FALSE(x.transpose(0, 1).is_contiguous());
  v.fill_(Scalar(-1));
  EXPECT_EQ(x.data<float>()[2], -1.0f);
  EXPECT_EQ(x.data<float>()[6], -1.0f);
  EXPECT_EQ(x.data<float>()[10], -1.0f);
  EXPECT_EQ(x.data<float>()[3], 3.0f);
}

TEST(Tensor, ReshapeViewsWhenPossibleAndCopiesOtherwise) {
  Tensor x = iota({2, 3, 4});
  EXPECT_EQ(x.reshape({6, 4}).storage(), x.storage());
  Tensor t = x.transpose(1, 2);
  EXPECT_THROW(t.view({2, 12}), ValueError);
  Tensor r = t.reshape({2, 12});
  EXPECT_NE(r.storage(), x.storage());
  EXPECT_EQ(r.select(0, 0).select(0, 1).item<float>(), 4.0f);  // t[0, 0, 1] = x[0, 1, 0]
}

TEST(Tensor, SlicingFollowsPythonRules) {
  Tensor x = iota({10});
  Tensor s = x.slice(0, 1, 100, 3);  // 1, 4, 7
  EXPECT_EQ(s.shape(), (Shape{3}));
  EXPECT_EQ(s.select(0, 2).item<float>(), 7.0f);
  EXPECT_EQ(x.slice(0, -3, 10).numel(), 3);
  EXPECT_EQ(x.slice(0, 8, 2).numel(), 0);
  EXPECT_THROW(x.select(0, 10), IndexError);
}

TEST(Tensor, DiagonalUnfoldExpand) {
  Tensor x = iota({3, 3});
  EXPECT_EQ(sum(x.diagonal()).item<double>(), 0 + 4 + 8);
  EXPECT_EQ(sum(x.diagonal(1)).item<double>(), 1 + 5);
  Tensor u = iota({5}).unfold(0, 2, 2);  // [[0,1],[2,3]]
  EXPECT_EQ(u.shape(), (Shape{2, 2}));
  EXPECT_EQ(u.select(0, 1).select(0, 0).item<float>(), 2.0f);
  Tensor e = iota({3, 1}).expand({3, 4});
  EXPECT_EQ(e.strides()[1], 0);
  EXPECT_THROW(iota({3, 2}).expand({3, 4}), ValueError);
}

TEST(Tensor, ItemAndErrors) {
  EXPECT_THROW(zeros({2}).item(), ValueError);
  EXPECT_THROW(zeros({2, 3}).permute({0, 0}), ValueError);
  EXPECT_THROW(zeros({2, 3}).transpose(0, 2), IndexError);
  EXPECT_THROW(zeros({-1}), ValueError);
}

TEST(Tensor, LargeBuffersComeBackFromTheCache) {
  // src/core/storage.cpp: a freed buffer of 256 KiB or more is reused for the next
  // allocation of the same size (unless TESSEL_CPU_CACHE_MB=0 turns the cache off).
  const char* off = std::getenv("TESSEL_CPU_CACHE_MB");
  if (off && std::string(off) == "0") GTEST_SKIP() << "the cache is off (TESSEL_CPU_CACHE_MB=0)";
  const void* p = nullptr;
  {
    Tensor t = full({1 << 18}, Scalar(5.0f), DType::Float32);
    p = t.data_ptr();
  }
  Tensor z = zeros({1 << 18}, DType::Float32);
  EXPECT_EQ(z.data_ptr(), p);
  EXPECT_EQ(max(abs(z)).item<float>(), 0.0f);
}

TEST(BufferPool, AFullPoolFreesTheBuffersGivenLongestAgo) {
  // src/core/buffer_pool.h: at its cap the pool frees its oldest free buffers to keep a new
  // one, so a process whose sizes drift keeps caching the sizes it uses now. (It refused new
  // buffers once full: stale sizes held the cap for good.)
  constexpr size_t kB = 16384;
  auto pool = std::make_shared<detail::BufferPool>(4096, 3 * kB);
  void* a = std::malloc(kB);
  void* b = std::malloc(kB);
  void* c = std::malloc(kB / 2);
  void* d = std::malloc(kB);
  void* e = std::malloc(4 * kB);
  ASSERT_TRUE(pool->give(a, kB));
  ASSERT_TRUE(pool->give(b, kB));
  ASSERT_TRUE(pool->give(c, kB / 2));
  EXPECT_TRUE(pool->give(d, kB));  // 3.5 x kB: a, the oldest, is freed
  EXPECT_EQ(pool->stats().free_bytes, static_cast<int64_t>(kB + kB / 2 + kB));
  EXPECT_EQ(pool->take(kB), d);  // the newest of the size first
  EXPECT_EQ(pool->take(kB), b);
  EXPECT_EQ(pool->take(kB), nullptr);
  EXPECT_EQ(pool->take(kB / 2), c);
  EXPECT_FALSE(pool->give(e, 4 * kB));  // over the cap alone: the caller keeps it
  std::free(b);
  std::free(c);
  std::free(d);
  std::free(e);
}

TEST(Tensor, ForkWhileAnotherThreadAllocatesLargeBuffers) {
  // The cache's lock is held across fork() (pthread_atfork): a child forked while
  // another thread is inside the cache must not inherit the lock taken. The child
  // allocates at once; an alarm turns a deadlock into a failed exit status.
  std::atomic<bool> stop{false};
  std::thread churn([&] {
    while (!stop.load()) {
      Tensor a = empty({1 << 17}, DType::Float32);
      Tensor b = empty({(1 << 17) + 1024}, DType::Float32);
    }
  });
  int failures = 0;
  for (int i = 0; i < 100 && failures == 0; ++i) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      // Allocation only: an OpenMP region in a forked child is libgomp's own hazard.
      ::alarm(5);
      Tensor x = empty({1 << 17}, DType::Float32);
      float* d = x.data<float>();
      for (int64_t k = 0; k < (1 << 17); ++k) d[k] = 1.0f;
      ::_exit(d[(1 << 17) - 1] == 1.0f ? 0 : 3);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    failures += !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  stop = true;
  churn.join();
  EXPECT_EQ(failures, 0);
}
