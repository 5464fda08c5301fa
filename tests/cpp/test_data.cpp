// tessel::data from C++: a custom Dataset through the threaded DataLoader.
#include <gtest/gtest.h>

#include <atomic>
#include <set>

#include "tessel/data/loader.h"
#include "tessel/tessel.h"

using namespace tessel;

namespace {

// Item i is {[i, i + noise], label i % 3}; item `bad` throws.
class Numbers final : public data::Dataset {
 public:
  Numbers(int64_t n, int64_t bad = -1) : n_(n), bad_(bad) {}
  int64_t size() const override { return n_; }
  data::Example get(int64_t i, data::Rng& rng) const override {
    if (i == bad_) fail<ValueError>("Numbers", "record ", i, " is corrupt");
    calls++;
    Tensor x = full({2}, Scalar(double(i)), DType::Float64);
    x.narrow(0, 1, 1).fill_(Scalar(double(i) + rng.uniform()));  // per-item randomness
    return {x, scalar_tensor(Scalar(i % 3), DType::Int64)};
  }
  mutable std::atomic<int> calls{0};

 private:
  int64_t n_, bad_;
};

std::vector<std::vector<double>> run(const data::DatasetPtr& ds, data::LoaderOptions o, uint64_t epoch = 0) {
  data::DataLoader loader(ds, o);
  loader.begin_epoch(epoch);
  std::vector<std::vector<double>> rows;
  while (auto b = loader.next()) {
    EXPECT_EQ(b->size(), 2u);
    const Tensor x = (*b)[0].contiguous();
    for (int64_t r = 0; r < x.size(0); ++r) rows.push_back({x.data<double>()[2 * r], x.data<double>()[2 * r + 1]});
  }
  return rows;
}

}  // namespace

TEST(DataLoader, BatchesInOrderWithDropLast) {
  auto ds = std::make_shared<Numbers>(10);
  data::LoaderOptions o;
  o.batch_size = 4;
  o.num_workers = 2;
  auto rows = run(ds, o);
  ASSERT_EQ(rows.size(), 10u);
  for (size_t i = 0; i < rows.size(); ++i) EXPECT_EQ(rows[i][0], double(i));
  o.drop_last = true;
  EXPECT_EQ(run(ds, o).size(), 8u);
  EXPECT_EQ(data::DataLoader(ds, o).num_batches(), 2);
}

TEST(DataLoader, ShuffleAndRandomnessDoNotDependOnThreads) {
  auto ds = std::make_shared<Numbers>(37);
  data::LoaderOptions o;
  o.batch_size = 5;
  o.shuffle = true;
  o.seed = 11;
  o.num_workers = 0;
  const auto ref = run(ds, o, 3);
  std::set<double> seen;
  for (const auto& r : ref) seen.insert(r[0]);
  EXPECT_EQ(seen.size(), 37u);
  for (int workers : {1, 2, 4}) {
    o.num_workers = workers;
    o.prefetch = 1;
    EXPECT_EQ(run(ds, o, 3), ref) << workers << " workers";
  }
  EXPECT_NE(run(ds, o, 4), ref);  // another epoch, another order
}

TEST(DataLoader, AFailingItemIsNamedAndStopsTheEpoch) {
  auto ds = std::make_shared<Numbers>(20, 13);
  data::LoaderOptions o;
  o.batch_size = 4;
  o.num_workers = 3;
  data::DataLoader loader(ds, o);
  loader.begin_epoch(0);
  int batches = 0;
  try {
    while (loader.next()) ++batches;
    FAIL() << "expected an error";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("[data.DataLoader] item 13 failed: [Numbers] record 13 is corrupt"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(batches, 3);  // the batches before the failing one arrive
}

TEST(DataLoader, PrefetchIsBounded) {
  auto ds = std::make_shared<Numbers>(400);
  data::LoaderOptions o;
  o.batch_size = 2;
  o.num_workers = 2;
  o.prefetch = 2;
  data::DataLoader loader(ds, o);
  loader.begin_epoch(0);
  ASSERT_TRUE(loader.next().has_value());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  // At most num_workers * prefetch batches in flight beyond the one returned.
  EXPECT_LE(ds->calls.load(), 2 * (1 + 2 * 2));
}

TEST(DataLoader, CollateChecksShapes) {
  EXPECT_THROW(data::collate({{ones({2})}, {ones({3})}}), ValueError);
  EXPECT_THROW(data::collate({}), ValueError);
  auto b = data::collate({{ones({2}), zeros({})}, {ones({2}), zeros({})}});
  EXPECT_EQ(b[0].shape(), (Shape{2, 2}));
  EXPECT_EQ(b[1].shape(), (Shape{2}));
}

TEST(DataLoader, UnknownDecoderListsTheRegisteredOnes) {
  try {
    data::FileDataset({"x"}, "video");
    FAIL();
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("bytes"), std::string::npos) << e.what();
  }
}
