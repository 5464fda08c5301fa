// tessel::image from C++: transforms on std::threads give the same items as on
// one thread, codec round trips, and errors carry the op name.
#include <gtest/gtest.h>
#include <tessel/data/image.h>
#include <tessel/tessel.h>

#include <cstring>
#include <thread>
#include <vector>

using namespace tessel;
namespace img = tessel::image;

namespace {

Tensor gradient(int64_t h, int64_t w) {
  Tensor t = empty({h, w, 3}, DType::UInt8);
  uint8_t* p = t.data<uint8_t>();
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x)
      for (int64_t c = 0; c < 3; ++c) p[(y * w + x) * 3 + c] = static_cast<uint8_t>((x * 7 + y * 3 + c * 50) % 256);
  return img::as_image(t);  // an HWC image, as decode() gives; unmarked tensors are [..., C, H, W]
}

bool same(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() &&
         std::memcmp(a.contiguous().data_ptr(), b.contiguous().data_ptr(), a.nbytes()) == 0;
}

}  // namespace

TEST(Image, TransformsAreThreadSafeAndSeeded) {
  const Tensor src = gradient(60, 80);
  auto aug = std::make_shared<data::Compose>(std::vector<data::TransformPtr>{
      std::make_shared<img::RandomResizedCrop>(24, 24), std::make_shared<img::RandomHorizontalFlip>(0.5),
      std::make_shared<img::ColorJitter>(0.4, 0.4, 0.4, 0.1), std::make_shared<img::ToTensor>()});
  const int n = 32;
  std::vector<Tensor> one(n), many(n);
  for (int i = 0; i < n; ++i) {
    data::Rng rng(data::item_seed(7, 0, i));
    one[i] = aug->apply(src, rng);
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = t; i < n; i += 4) {
        data::Rng rng(data::item_seed(7, 0, i));
        many[i] = aug->apply(src, rng);
      }
    });
  for (auto& th : threads) th.join();
  for (int i = 0; i < n; ++i) EXPECT_TRUE(same(one[i], many[i])) << "item " << i;
  EXPECT_FALSE(same(one[0], one[1]));
  EXPECT_EQ(one[0].shape(), (Shape{3, 24, 24}));
}

TEST(Image, GeometryAndResize) {
  const Tensor src = gradient(9, 13);
  EXPECT_TRUE(same(img::hflip(img::hflip(src)), src));
  const auto nearest = img::Interpolation::Nearest;
  EXPECT_TRUE(same(img::rotate(img::rotate(src, 90, nearest, true), -90, nearest, true), src));
  EXPECT_EQ(img::rotate(src, 90).shape(), (Shape{9, 13, 3}));  // expand=false keeps the size (torchvision)
  EXPECT_TRUE(same(img::resize(src, 9, 13), src));
  EXPECT_EQ(img::resize(src, 4, 5, img::Interpolation::Lanczos).shape(), (Shape{4, 5, 3}));
  EXPECT_EQ(img::center_crop(src, 5, 5).shape(), (Shape{5, 5, 3}));
  EXPECT_EQ(img::crop(src, 5, 5, 10, 10).shape(), (Shape{10, 10, 3}));  // zeros outside (torchvision)
  try {
    img::crop(src, 5, 5, 0, 10);
    FAIL() << "expected a ValueError";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("[image.crop]"), std::string::npos);
  }
}

TEST(Image, LayoutRule) {
  const Tensor hwc = gradient(9, 13);
  EXPECT_TRUE(img::is_image(hwc));
  // A plain tensor is [..., C, H, W]: the CHW copy of the image resizes to the same pixels.
  const Tensor chw = hwc.permute({2, 0, 1}).contiguous();
  EXPECT_FALSE(img::is_image(chw));
  const Tensor r = img::resize(chw, 4, 6);
  EXPECT_EQ(r.shape(), (Shape{3, 4, 6}));
  EXPECT_TRUE(same(r.permute({1, 2, 0}).contiguous(), img::resize(hwc, 4, 6)));
  data::Rng rng(1);
  EXPECT_EQ(img::Resize(4, 0).apply(chw, rng).shape(), (Shape{3, 4, 5}));
  // An unmarked tensor that reads only as HWC is refused, not guessed.
  EXPECT_THROW(img::hflip(hwc.contiguous().clone()), ValueError);
  EXPECT_EQ(img::hflip(hwc.clone(), img::Layout::HWC).shape(), (Shape{9, 13, 3}));
}

TEST(Image, CodecRoundTrip) {
  if (!img::available()) GTEST_SKIP() << "built without OpenCV";
  const Tensor src = gradient(17, 23);
  const std::string png = img::encode(src, "png");
  EXPECT_TRUE(same(img::decode(png.data(), png.size()), src));
  const img::ImageInfo info = img::info(png.data(), png.size());
  EXPECT_EQ(info.width, 23);
  EXPECT_EQ(info.height, 17);
  EXPECT_EQ(info.format, "png");
  const std::string jpg = img::encode(src, "jpeg", 90);
  EXPECT_THROW(img::decode(jpg.data(), jpg.size() / 2), ValueError);
  EXPECT_THROW(img::decode("not an image", 12), ValueError);
  const std::vector<std::string_view> items{png, png};
  const auto out = img::decode_batch(items, {}, std::make_shared<img::Resize>(8, 8), 0, 2);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].shape(), (Shape{8, 8, 3}));
}
