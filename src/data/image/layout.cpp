// Which tensors are decoded (HWC) images. torchvision tells a PIL image from a
// tensor by its type; a tessel image is a Tensor, so the mark lives in a side
// table keyed by the tensor handle. Entries hold weak references: a freed handle
// whose address is reused is never mistaken for a marked one.
#include <mutex>
#include <unordered_map>

#include "src/data/image/image_util.h"

namespace tessel::image {
namespace {

struct Marks {
  std::mutex mu;
  std::unordered_map<const TensorImpl*, std::weak_ptr<TensorImpl>> map;
  size_t purge_at = 1024;
};

Marks& marks() {
  static Marks* m = new Marks;  // never destroyed: worker threads may outlive static destruction
  return *m;
}

bool channel_count(int64_t c) { return c == 1 || c == 3 || c == 4; }

std::string shape_str(const Tensor& x) {
  std::string s = "[";
  for (int64_t d = 0; d < x.dim(); ++d) s += (d ? ", " : "") + std::to_string(x.size(d));
  return s + "]";
}

}  // namespace

namespace detail {

Tensor mark(Tensor t) {
  if (!t.defined()) return t;
  Marks& m = marks();
  std::lock_guard<std::mutex> lock(m.mu);
  if (m.map.size() >= m.purge_at) {
    for (auto it = m.map.begin(); it != m.map.end();) it = it->second.expired() ? m.map.erase(it) : std::next(it);
    m.purge_at = std::max<size_t>(1024, 2 * m.map.size());
  }
  m.map[t.impl().get()] = t.impl();
  return t;
}

Tensor map_images(const Tensor& x, Layout l, const std::function<Tensor(const Tensor&)>& f, const char* op) {
  TS_CHECK(x.defined() && x.device().is_cpu(), ValueError, op, "expected a CPU image tensor");
  if (x.dim() == 2) {
    if (l == Layout::HWC) return mark(f(x));
    const Tensor out = f(x);  // HW -> HW, or HWC when the op makes channels (gray -> rgb)
    return out.dim() == 3 ? out.permute({2, 0, 1}).contiguous() : out;
  }
  const Shape& s = x.shape();
  const Shape batch(s.begin(), s.end() - 3);
  const int64_t n = shape_numel(batch);
  if (l == Layout::HWC && x.dim() == 3) return mark(f(x));
  TS_CHECK(n > 0, ValueError, op, "empty batch of shape ", x.shape());
  const Tensor flat = x.reshape({n, s[s.size() - 3], s[s.size() - 2], s[s.size() - 1]});
  std::vector<Tensor> outs;
  outs.reserve(static_cast<size_t>(n));
  for (int64_t b = 0; b < n; ++b) {
    const Tensor one = flat.select(0, b);
    if (l == Layout::HWC) {
      outs.push_back(f(one));
    } else {
      const Tensor hwc = f(one.permute({1, 2, 0}));
      TS_CHECK(hwc.dim() == 3, ValueError, op, "internal: expected a 3-D result");
      outs.push_back(hwc.permute({2, 0, 1}));
    }
  }
  Tensor out = outs.size() == 1 ? outs[0].contiguous() : stack(outs, 0);
  Shape os = batch;
  for (int64_t d = out.dim() - 3; d < out.dim(); ++d) os.push_back(out.size(d));
  out = out.reshape(os);
  return l == Layout::HWC ? mark(out) : out;
}

}  // namespace detail

Tensor as_image(const Tensor& x) {
  TS_CHECK(x.defined(), ValueError, "image.as_image", "expected a tensor, got an undefined tensor");
  TS_CHECK(x.dim() >= 2, ValueError, "image.as_image", "an image has at least 2 dims ([H, W] or [H, W, C]), got shape ",
           x.shape());
  return detail::mark(x.alias());
}

bool is_image(const Tensor& x) {
  if (!x.defined()) return false;
  Marks& m = marks();
  std::lock_guard<std::mutex> lock(m.mu);
  const auto it = m.map.find(x.impl().get());
  if (it == m.map.end()) return false;
  if (it->second.lock() == x.impl()) return true;
  m.map.erase(it);  // a dead handle at a reused address
  return false;
}

Layout resolve_layout(const Tensor& x, Layout requested, const char* op) {
  TS_CHECK(x.defined(), ValueError, op, "expected an image tensor, got an undefined tensor");
  TS_CHECK(x.dim() >= 2, ValueError, op, "expected an image ([..., C, H, W], [H, W, C] or [H, W]), got shape ",
           x.shape());
  if (requested != Layout::Auto) return requested;
  if (is_image(x)) return Layout::HWC;
  // Unmarked: [..., C, H, W]. A shape that only reads as channels-last is a
  // decoded image that lost its mark (a slice, a NumPy round trip): refuse it.
  TS_CHECK(x.dim() < 3 || !channel_count(x.size(-1)) || channel_count(x.size(-3)), ValueError, op,
           "ambiguous layout: a tensor is read as [..., C, H, W] (torchvision), but shape ", shape_str(x),
           " looks like a channels-last [H, W, C] image. Mark it with ts.image.as_image(x) (or pass layout='hwc'), "
           "or pass layout='chw' if it really is [C, H, W]");
  return Layout::CHW;
}

}  // namespace tessel::image
