// Bindings for tessel::image (tessel._C._image); the Python-facing API is
// python/tessel/image. Decoding, encoding, resizing and transforms run without
// the GIL. Arguments arrive already checked for type by the Python layer.
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include <filesystem>
#include <optional>

#include "python/src/convert.h"
#include "tessel/data/image.h"
#include "tessel/io.h"

namespace tessel::python {

namespace {

namespace img = tessel::image;

// A contiguous byte view of any buffer (bytes, bytearray, memoryview, uint8 array).
struct Bytes {
  Py_buffer view{};
  explicit Bytes(py::handle o) {
    if (PyObject_GetBuffer(o.ptr(), &view, PyBUF_SIMPLE) != 0)
      throw py::type_error("expected bytes or a contiguous buffer, got " + type_name(o));
  }
  ~Bytes() { PyBuffer_Release(&view); }
  Bytes(const Bytes&) = delete;
  Bytes& operator=(const Bytes&) = delete;
  std::string_view sv() const { return {static_cast<const char*>(view.buf), static_cast<size_t>(view.len)}; }
};

img::DecodeOptions decode_options(const std::string& mode, bool bgr, bool exif,
                                  std::optional<std::pair<int64_t, int64_t>> hint) {
  img::DecodeOptions o;
  if (mode == "rgb") {
    o.mode = img::ColorMode::Color;
  } else if (mode == "bgr") {
    o.mode = img::ColorMode::Color, bgr = true;
  } else if (mode == "gray" || mode == "grey") {
    o.mode = img::ColorMode::Gray;
  } else if (mode == "unchanged") {
    o.mode = img::ColorMode::Unchanged;
  } else {
    throw py::value_error("[image.decode] unknown mode '" + mode + "'; expected rgb, bgr, gray or unchanged");
  }
  o.bgr = bgr;
  o.apply_exif_orientation = exif;
  if (hint) o.size_hint_h = hint->first, o.size_hint_w = hint->second;
  return o;
}

img::GrayRounding gray_rounding(const std::string& s) {
  if (s == "pillow") return img::GrayRounding::Pillow;
  if (s == "torchvision") return img::GrayRounding::Torchvision;
  throw py::value_error("[image.convert_color] unknown gray rounding '" + s + "'; expected pillow or torchvision");
}

img::Layout layout_of(const std::string& s) {
  if (s == "hwc") return img::Layout::HWC;
  if (s == "chw") return img::Layout::CHW;
  throw py::value_error("[image.resize] unknown layout '" + s + "'; expected hwc or chw");
}

// A seed from tessel's global generator, so ts.manual_seed reproduces t(img).
// Stacks when every item has the same shape and dtype, else a list.
py::object stack_or_list(std::vector<Tensor> items) {
  bool same = !items.empty();
  for (const Tensor& t : items) same = same && t.shape() == items[0].shape() && t.dtype() == items[0].dtype();
  if (same) return py::cast(without_gil([&] { return stack(items, 0); }));
  py::list out;
  for (Tensor& t : items) out.append(py::cast(std::move(t)));
  return out;
}

}  // namespace

void init_image(py::module_& m) {
  auto sub = m.def_submodule("_image", "tessel::image (OpenCV)");
  sub.def("available", &img::available, "True when tessel was built with OpenCV (decode/encode work).");

  // ---- codec ----
  sub.def(
      "decode",
      [](py::handle data, const std::string& mode, bool bgr, bool exif,
         std::optional<std::pair<int64_t, int64_t>> size_hint) {
        const img::DecodeOptions o = decode_options(mode, bgr, exif, size_hint);
        Bytes b(data);
        return without_gil([&] { return img::decode(b.view.buf, static_cast<size_t>(b.view.len), o); });
      },
      py::arg("data"), py::arg("mode") = "rgb", py::arg("bgr") = false, py::arg("apply_exif_orientation") = false,
      py::arg("size_hint") = py::none());
  sub.def(
      "read",
      [](const std::filesystem::path& path, const std::string& mode, bool bgr, bool exif,
         std::optional<std::pair<int64_t, int64_t>> size_hint) {
        const img::DecodeOptions o = decode_options(mode, bgr, exif, size_hint);
        return without_gil([&] { return img::read(path.string(), o); });
      },
      py::arg("path"), py::arg("mode") = "rgb", py::arg("bgr") = false, py::arg("apply_exif_orientation") = false,
      py::arg("size_hint") = py::none());
  sub.def("set_max_pixels", &img::set_max_pixels, py::arg("n"));
  sub.def("max_pixels", &img::max_pixels);
  sub.def("info", [](py::handle data) {
    Bytes b(data);
    const img::ImageInfo i = without_gil([&] { return img::info(b.view.buf, static_cast<size_t>(b.view.len)); });
    py::dict d;
    d["width"] = i.width, d["height"] = i.height, d["channels"] = i.channels, d["bit_depth"] = i.bit_depth;
    d["format"] = i.format, d["orientation"] = i.orientation;
    return d;
  });
  sub.def(
      "encode",
      [](const Tensor& image, const std::string& format, int quality, bool bgr) {
        const std::string out = without_gil([&] { return img::encode(image, format, quality, bgr); });
        return py::bytes(out.data(), out.size());
      },
      py::arg("image"), py::arg("format") = "png", py::arg("quality") = -1, py::arg("bgr") = false);
  sub.def(
      "write",
      [](const std::filesystem::path& path, const Tensor& image, int quality, bool bgr) {
        without_gil([&] {
          img::write(path.string(), image, quality, bgr);
          return true;
        });
      },
      py::arg("path"), py::arg("image"), py::arg("quality") = -1, py::arg("bgr") = false);
  sub.def(
      "decode_batch",
      [](const py::sequence& items, const std::string& mode, bool bgr, bool exif,
         std::optional<std::pair<int64_t, int64_t>> size_hint, std::shared_ptr<data::Transform> transform,
         std::optional<uint64_t> seed, int num_threads) {
        const img::DecodeOptions o = decode_options(mode, bgr, exif, size_hint);
        std::vector<std::unique_ptr<Bytes>> held;
        std::vector<std::string_view> views;
        held.reserve(items.size()), views.reserve(items.size());
        for (py::handle it : items) {
          held.push_back(std::make_unique<Bytes>(it));
          views.push_back(held.back()->sv());
        }
        const uint64_t s = seed ? *seed : (transform ? draw_seed() : 0);
        return stack_or_list(without_gil([&] { return img::decode_batch(views, o, transform, s, num_threads); }));
      },
      py::arg("items"), py::arg("mode") = "rgb", py::arg("bgr") = false, py::arg("apply_exif_orientation") = false,
      py::arg("size_hint") = py::none(), py::arg("transform") = nullptr, py::arg("seed") = py::none(),
      py::arg("num_threads") = 0);

  sub.def(
      "read_batch",
      [](const std::vector<std::filesystem::path>& paths, const std::string& mode, bool bgr, bool exif,
         std::optional<std::pair<int64_t, int64_t>> size_hint, std::shared_ptr<data::Transform> transform,
         std::optional<uint64_t> seed, int num_threads) {
        const img::DecodeOptions o = decode_options(mode, bgr, exif, size_hint);
        std::vector<std::string> names;
        names.reserve(paths.size());
        for (const auto& p : paths) names.push_back(p.string());
        const uint64_t s = seed ? *seed : (transform ? draw_seed() : 0);
        return stack_or_list(without_gil([&] { return img::read_batch(names, o, transform, s, num_threads); }));
      },
      py::arg("paths"), py::arg("mode") = "rgb", py::arg("bgr") = false, py::arg("apply_exif_orientation") = false,
      py::arg("size_hint") = py::none(), py::arg("transform") = nullptr, py::arg("seed") = py::none(),
      py::arg("num_threads") = 0);

  // ---- resize, geometry, color ----
  sub.def(
      "resize",
      [](const Tensor& image, int64_t h, int64_t w, const std::string& interp, bool antialias,
         const std::string& layout) {
        const img::Interpolation i = img::interpolation_from_string(interp);
        const img::Layout l = layout_of(layout);
        return without_gil([&] { return img::resize(image, h, w, i, antialias, l); });
      },
      py::arg("image"), py::arg("h"), py::arg("w"), py::arg("interpolation") = "bilinear", py::arg("antialias") = true,
      py::arg("layout") = "hwc");
  sub.def("crop", &img::crop, py::arg("image"), py::arg("top"), py::arg("left"), py::arg("h"), py::arg("w"));
  sub.def("center_crop", &img::center_crop, py::arg("image"), py::arg("h"), py::arg("w"));
  sub.def(
      "pad",
      [](const Tensor& image, int64_t top, int64_t bottom, int64_t left, int64_t right, const std::string& mode,
         double value) { return img::pad(image, top, bottom, left, right, img::pad_mode_from_string(mode), value); },
      py::arg("image"), py::arg("top"), py::arg("bottom"), py::arg("left"), py::arg("right"),
      py::arg("mode") = "constant", py::arg("value") = 0.0);
  sub.def("hflip", &img::hflip, py::arg("image"));
  sub.def("vflip", &img::vflip, py::arg("image"));
  sub.def(
      "rotate",
      [](const Tensor& image, double angle, double fill) {
        return without_gil([&] { return img::rotate(image, angle, fill); });
      },
      py::arg("image"), py::arg("angle"), py::arg("fill") = 0.0);
  sub.def("apply_orientation", &img::apply_orientation, py::arg("image"), py::arg("orientation"));
  sub.def(
      "convert_color",
      [](const Tensor& image, const std::string& from, const std::string& to, const std::string& rounding) {
        return img::convert_color(image, img::color_from_string(from), img::color_from_string(to),
                                  gray_rounding(rounding));
      },
      py::arg("image"), py::arg("src"), py::arg("dst"), py::arg("gray_rounding") = "pillow");
  sub.def("to_tensor", &img::to_tensor, py::arg("image"));
  sub.def("normalize", &img::normalize, py::arg("x"), py::arg("mean"), py::arg("std"));
  sub.def("to_image", &img::to_image, py::arg("x"));
  sub.def("adjust_brightness", &img::adjust_brightness, py::arg("image"), py::arg("factor"));
  sub.def("adjust_contrast", &img::adjust_contrast, py::arg("image"), py::arg("factor"));
  sub.def("adjust_saturation", &img::adjust_saturation, py::arg("image"), py::arg("factor"));
  sub.def("adjust_hue", &img::adjust_hue, py::arg("image"), py::arg("hue_shift"));

  // ---- transforms ----
  // data::Transform and Compose (with __call__) are bound by python/src/data.cpp, which runs first.
  py::class_<img::Decode, data::Transform, std::shared_ptr<img::Decode>>(sub, "Decode")
      .def(py::init([](const std::string& mode, bool bgr, bool exif) {
             return std::make_shared<img::Decode>(decode_options(mode, bgr, exif, std::nullopt));
           }),
           py::arg("mode"), py::arg("bgr"), py::arg("apply_exif_orientation"));
  py::class_<img::Resize, data::Transform, std::shared_ptr<img::Resize>>(sub, "Resize")
      .def(py::init([](int64_t h, int64_t w, const std::string& interp, bool antialias) {
             return std::make_shared<img::Resize>(h, w, img::interpolation_from_string(interp), antialias);
           }),
           py::arg("h"), py::arg("w"), py::arg("interpolation"), py::arg("antialias"));
  py::class_<img::CenterCrop, data::Transform, std::shared_ptr<img::CenterCrop>>(sub, "CenterCrop")
      .def(py::init<int64_t, int64_t>(), py::arg("h"), py::arg("w"));
  py::class_<img::RandomResizedCrop, data::Transform, std::shared_ptr<img::RandomResizedCrop>>(sub, "RandomResizedCrop")
      .def(py::init([](int64_t h, int64_t w, std::array<double, 2> scale, std::array<double, 2> ratio,
                       const std::string& interp, bool antialias) {
             return std::make_shared<img::RandomResizedCrop>(h, w, scale, ratio, img::interpolation_from_string(interp),
                                                             antialias);
           }),
           py::arg("h"), py::arg("w"), py::arg("scale"), py::arg("ratio"), py::arg("interpolation"),
           py::arg("antialias"))
      .def(
          "params",
          [](const img::RandomResizedCrop& t, int64_t height, int64_t width, uint64_t seed) {
            data::Rng rng(seed);
            return t.params(height, width, rng);
          },
          py::arg("height"), py::arg("width"), py::arg("seed"), "(top, left, h, w) drawn with this seed.");
  py::class_<img::RandomHorizontalFlip, data::Transform, std::shared_ptr<img::RandomHorizontalFlip>>(
      sub, "RandomHorizontalFlip")
      .def(py::init<double>(), py::arg("p"));
  py::class_<img::ColorJitter, data::Transform, std::shared_ptr<img::ColorJitter>>(sub, "ColorJitter")
      .def(py::init<double, double, double, double>(), py::arg("brightness"), py::arg("contrast"),
           py::arg("saturation"), py::arg("hue"));
  py::class_<img::Normalize, data::Transform, std::shared_ptr<img::Normalize>>(sub, "Normalize")
      .def(py::init<std::vector<double>, std::vector<double>>(), py::arg("mean"), py::arg("std"));
  py::class_<img::ToTensor, data::Transform, std::shared_ptr<img::ToTensor>>(sub, "ToTensor").def(py::init<>());
  // Applies a transform to many images on C++ threads (the seed of image i is item_seed(seed, 0, i)).
  sub.def(
      "apply_batch",
      [](std::shared_ptr<data::Transform> t, const std::vector<Tensor>& images, std::optional<uint64_t> seed,
         int num_threads) {
        const uint64_t s = seed ? *seed : draw_seed();
        return without_gil([&] { return img::apply_batch(t, images, s, num_threads); });
      },
      py::arg("transform"), py::arg("images"), py::arg("seed") = py::none(), py::arg("num_threads") = 0);
}

}  // namespace tessel::python
