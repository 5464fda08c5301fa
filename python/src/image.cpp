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

img::Layout layout_of(const std::optional<std::string>& s) {
  if (!s) return img::Layout::Auto;
  if (*s == "hwc") return img::Layout::HWC;
  if (*s == "chw") return img::Layout::CHW;
  throw py::value_error("[image] unknown layout '" + *s + "'; expected 'hwc', 'chw' or None");
}

using Layout = std::optional<std::string>;

// A Python callable as a transform (Lambda). It takes the GIL for each call, so
// it serializes the loader's threads; C++ transforms do not.
class PyLambda final : public data::Transform {
 public:
  PyLambda(py::function f, std::string name) : f_(std::move(f)), name_(std::move(name)) {}
  ~PyLambda() override {
    if (!Py_IsInitialized()) {  // at interpreter exit: leak the reference rather than touch Python
      f_.release();
      return;
    }
    py::gil_scoped_acquire gil;
    f_ = py::function();
  }
  Tensor apply(const Tensor& x, data::Rng&) const override {
    py::gil_scoped_acquire gil;
    py::object out = f_(x);
    const Tensor* t = as_tensor_ptr(out);
    if (!t) throw py::type_error("[image.Lambda] the function must return a tessel Tensor, got " + type_name(out));
    return *t;
  }
  std::string repr() const override { return "Lambda(" + name_ + ")"; }

 private:
  py::function f_;
  std::string name_;
};

std::vector<data::TransformPtr> transform_list(const std::vector<std::shared_ptr<data::Transform>>& ts) {
  return {ts.begin(), ts.end()};
}

// A seed from tessel's global generator, so ts.manual_seed reproduces t(img).
// Stacks when every item has the same shape and dtype, else a list.
py::object stack_or_list(std::vector<Tensor> items) {
  bool same = !items.empty();
  for (const Tensor& t : items) same = same && t.shape() == items[0].shape() && t.dtype() == items[0].dtype();
  if (same) {
    bool images = true;
    for (const Tensor& t : items) images = images && img::is_image(t);
    Tensor out = without_gil([&] { return stack(items, 0); });
    return py::cast(images ? img::as_image(out) : out);
  }
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

  // ---- layout, resize, geometry, color ----
  sub.def("as_image", &img::as_image, py::arg("x"));
  sub.def("is_image", &img::is_image, py::arg("x"));
  sub.def(
      "resolve_layout",
      [](const Tensor& x, const Layout& layout, const std::string& op) {
        return img::resolve_layout(x, layout_of(layout), op.c_str()) == img::Layout::HWC ? "hwc" : "chw";
      },
      py::arg("x"), py::arg("layout"), py::arg("op"));
  sub.def(
      "resize",
      [](const Tensor& image, int64_t h, int64_t w, const std::string& interp, bool antialias, const Layout& layout) {
        const img::Interpolation i = img::interpolation_from_string(interp);
        const img::Layout l = layout_of(layout);
        return without_gil([&] { return img::resize(image, h, w, i, antialias, l); });
      },
      py::arg("image"), py::arg("h"), py::arg("w"), py::arg("interpolation") = "bilinear", py::arg("antialias") = true,
      py::arg("layout") = py::none());
  sub.def(
      "crop",
      [](const Tensor& image, int64_t top, int64_t left, int64_t h, int64_t w, const Layout& layout) {
        return img::crop(image, top, left, h, w, layout_of(layout));
      },
      py::arg("image"), py::arg("top"), py::arg("left"), py::arg("h"), py::arg("w"), py::arg("layout") = py::none());
  sub.def(
      "center_crop",
      [](const Tensor& image, int64_t h, int64_t w, const Layout& layout) {
        return img::center_crop(image, h, w, layout_of(layout));
      },
      py::arg("image"), py::arg("h"), py::arg("w"), py::arg("layout") = py::none());
  sub.def(
      "pad",
      [](const Tensor& image, int64_t top, int64_t bottom, int64_t left, int64_t right, const std::string& mode,
         std::vector<double> value, const Layout& layout) {
        return img::pad(image, top, bottom, left, right, img::pad_mode_from_string(mode), std::move(value),
                        layout_of(layout));
      },
      py::arg("image"), py::arg("top"), py::arg("bottom"), py::arg("left"), py::arg("right"),
      py::arg("mode") = "constant", py::arg("value") = std::vector<double>{0.0}, py::arg("layout") = py::none());
  sub.def(
      "hflip", [](const Tensor& image, const Layout& layout) { return img::hflip(image, layout_of(layout)); },
      py::arg("image"), py::arg("layout") = py::none());
  sub.def(
      "vflip", [](const Tensor& image, const Layout& layout) { return img::vflip(image, layout_of(layout)); },
      py::arg("image"), py::arg("layout") = py::none());
  sub.def(
      "rotate",
      [](const Tensor& image, double angle, const std::string& interp, bool expand, std::vector<double> center,
         std::vector<double> fill, const Layout& layout) {
        const img::Interpolation i = img::interpolation_from_string(interp);
        const img::Layout l = layout_of(layout);
        return without_gil([&] { return img::rotate(image, angle, i, expand, center, fill, l); });
      },
      py::arg("image"), py::arg("angle"), py::arg("interpolation"), py::arg("expand"), py::arg("center"),
      py::arg("fill"), py::arg("layout") = py::none());
  sub.def(
      "affine",
      [](const Tensor& image, double angle, std::array<double, 2> translate, double scale, std::array<double, 2> shear,
         const std::string& interp, std::vector<double> fill, std::vector<double> center, const Layout& layout) {
        const img::Interpolation i = img::interpolation_from_string(interp);
        const img::Layout l = layout_of(layout);
        return without_gil([&] { return img::affine(image, angle, translate, scale, shear, i, fill, center, l); });
      },
      py::arg("image"), py::arg("angle"), py::arg("translate"), py::arg("scale"), py::arg("shear"),
      py::arg("interpolation"), py::arg("fill"), py::arg("center"), py::arg("layout") = py::none());
  sub.def("apply_orientation", &img::apply_orientation, py::arg("image"), py::arg("orientation"));
  sub.def(
      "convert_color",
      [](const Tensor& image, const std::string& from, const std::string& to, const std::string& rounding,
         const Layout& layout) {
        return img::convert_color(image, img::color_from_string(from), img::color_from_string(to),
                                  gray_rounding(rounding), layout_of(layout));
      },
      py::arg("image"), py::arg("src"), py::arg("dst"), py::arg("gray_rounding") = "pillow",
      py::arg("layout") = py::none());
  sub.def("to_tensor", &img::to_tensor, py::arg("image"));
  sub.def("normalize", &img::normalize, py::arg("x"), py::arg("mean"), py::arg("std"));
  sub.def("to_image", &img::to_image, py::arg("x"));
  sub.def(
      "adjust_brightness",
      [](const Tensor& x, double f, const Layout& l) { return img::adjust_brightness(x, f, layout_of(l)); },
      py::arg("image"), py::arg("factor"), py::arg("layout") = py::none());
  sub.def(
      "adjust_contrast",
      [](const Tensor& x, double f, const Layout& l) { return img::adjust_contrast(x, f, layout_of(l)); },
      py::arg("image"), py::arg("factor"), py::arg("layout") = py::none());
  sub.def(
      "adjust_saturation",
      [](const Tensor& x, double f, const Layout& l) { return img::adjust_saturation(x, f, layout_of(l)); },
      py::arg("image"), py::arg("factor"), py::arg("layout") = py::none());
  sub.def(
      "adjust_hue", [](const Tensor& x, double f, const Layout& l) { return img::adjust_hue(x, f, layout_of(l)); },
      py::arg("image"), py::arg("hue_shift"), py::arg("layout") = py::none());
  sub.def(
      "gaussian_blur",
      [](const Tensor& x, std::array<int64_t, 2> k, std::array<double, 2> sigma, const Layout& l) {
        const img::Layout lay = layout_of(l);
        return without_gil([&] { return img::gaussian_blur(x, k, sigma, lay); });
      },
      py::arg("image"), py::arg("kernel_size"), py::arg("sigma"), py::arg("layout") = py::none());
  sub.def(
      "posterize", [](const Tensor& x, int64_t bits, const Layout& l) { return img::posterize(x, bits, layout_of(l)); },
      py::arg("image"), py::arg("bits"), py::arg("layout") = py::none());
  sub.def(
      "solarize", [](const Tensor& x, double t, const Layout& l) { return img::solarize(x, t, layout_of(l)); },
      py::arg("image"), py::arg("threshold"), py::arg("layout") = py::none());
  sub.def(
      "invert", [](const Tensor& x, const Layout& l) { return img::invert(x, layout_of(l)); }, py::arg("image"),
      py::arg("layout") = py::none());
  sub.def(
      "autocontrast", [](const Tensor& x, const Layout& l) { return img::autocontrast(x, layout_of(l)); },
      py::arg("image"), py::arg("layout") = py::none());
  sub.def(
      "equalize", [](const Tensor& x, const Layout& l) { return img::equalize(x, layout_of(l)); }, py::arg("image"),
      py::arg("layout") = py::none());
  sub.def(
      "adjust_sharpness",
      [](const Tensor& x, double f, const Layout& l) { return img::adjust_sharpness(x, f, layout_of(l)); },
      py::arg("image"), py::arg("factor"), py::arg("layout") = py::none());
  sub.def("erase", &img::erase, py::arg("image"), py::arg("top"), py::arg("left"), py::arg("h"), py::arg("w"),
          py::arg("value"), py::arg("inplace") = false);

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
  py::class_<img::Pad, data::Transform, std::shared_ptr<img::Pad>>(sub, "Pad")
      .def(py::init([](std::array<int64_t, 4> padding, std::vector<double> fill, const std::string& mode) {
             return std::make_shared<img::Pad>(padding, std::move(fill), img::pad_mode_from_string(mode));
           }),
           py::arg("padding"), py::arg("fill"), py::arg("padding_mode"));
  py::class_<img::RandomCrop, data::Transform, std::shared_ptr<img::RandomCrop>>(sub, "RandomCrop")
      .def(py::init([](int64_t h, int64_t w, std::array<int64_t, 4> padding, bool pad_if_needed,
                       std::vector<double> fill, const std::string& mode) {
             return std::make_shared<img::RandomCrop>(h, w, padding, pad_if_needed, std::move(fill),
                                                      img::pad_mode_from_string(mode));
           }),
           py::arg("h"), py::arg("w"), py::arg("padding"), py::arg("pad_if_needed"), py::arg("fill"),
           py::arg("padding_mode"));
  py::class_<img::RandomVerticalFlip, data::Transform, std::shared_ptr<img::RandomVerticalFlip>>(sub,
                                                                                                 "RandomVerticalFlip")
      .def(py::init<double>(), py::arg("p"));
  py::class_<img::RandomRotation, data::Transform, std::shared_ptr<img::RandomRotation>>(sub, "RandomRotation")
      .def(py::init([](double lo, double hi, const std::string& interp, bool expand, std::vector<double> center,
                       std::vector<double> fill) {
             return std::make_shared<img::RandomRotation>(lo, hi, img::interpolation_from_string(interp), expand,
                                                          std::move(center), std::move(fill));
           }),
           py::arg("lo"), py::arg("hi"), py::arg("interpolation"), py::arg("expand"), py::arg("center"),
           py::arg("fill"));
  py::class_<img::RandomErasing, data::Transform, std::shared_ptr<img::RandomErasing>>(sub, "RandomErasing")
      .def(py::init<double, std::array<double, 2>, std::array<double, 2>, std::vector<double>, bool, bool>(),
           py::arg("p"), py::arg("scale"), py::arg("ratio"), py::arg("value"), py::arg("random_value"),
           py::arg("inplace"));
  py::class_<img::GaussianBlur, data::Transform, std::shared_ptr<img::GaussianBlur>>(sub, "GaussianBlur")
      .def(py::init<std::array<int64_t, 2>, std::array<double, 2>>(), py::arg("kernel_size"), py::arg("sigma"));
  py::class_<img::Grayscale, data::Transform, std::shared_ptr<img::Grayscale>>(sub, "Grayscale")
      .def(py::init<int64_t>(), py::arg("num_output_channels"));
  py::class_<img::RandomGrayscale, data::Transform, std::shared_ptr<img::RandomGrayscale>>(sub, "RandomGrayscale")
      .def(py::init<double>(), py::arg("p"));
  py::class_<img::RandomApply, data::Transform, std::shared_ptr<img::RandomApply>>(sub, "RandomApply")
      .def(py::init([](const std::vector<std::shared_ptr<data::Transform>>& ts, double p) {
             return std::make_shared<img::RandomApply>(transform_list(ts), p);
           }),
           py::arg("transforms"), py::arg("p"));
  py::class_<img::RandomChoice, data::Transform, std::shared_ptr<img::RandomChoice>>(sub, "RandomChoice")
      .def(py::init([](const std::vector<std::shared_ptr<data::Transform>>& ts, std::vector<double> p) {
             return std::make_shared<img::RandomChoice>(transform_list(ts), std::move(p));
           }),
           py::arg("transforms"), py::arg("p"));
  py::class_<img::AutoAugment, data::Transform, std::shared_ptr<img::AutoAugment>>(sub, "AutoAugment")
      .def(py::init([](const std::string& policy, const std::string& interp, std::vector<double> fill) {
             return std::make_shared<img::AutoAugment>(img::autoaugment_policy_from_string(policy),
                                                       img::interpolation_from_string(interp), std::move(fill));
           }),
           py::arg("policy"), py::arg("interpolation"), py::arg("fill"));
  // A policy's table as torchvision's AutoAugment.policies: ((op, p, bin or None), (op, p, bin or None)) per row.
  sub.def(
      "autoaugment_policies",
      [](const std::string& policy) {
        py::list rows;
        for (const auto& row : img::autoaugment_policies(img::autoaugment_policy_from_string(policy))) {
          auto step = [](const img::AutoAugmentStep& s) {
            return py::make_tuple(s.op, s.p, s.bin < 0 ? py::object(py::none()) : py::object(py::int_(s.bin)));
          };
          rows.append(py::make_tuple(step(row[0]), step(row[1])));
        }
        return rows;
      },
      py::arg("policy"));
  py::class_<img::RandAugment, data::Transform, std::shared_ptr<img::RandAugment>>(sub, "RandAugment")
      .def(py::init([](int64_t num_ops, int64_t magnitude, int64_t bins, const std::string& interp,
                       std::vector<double> fill) {
             return std::make_shared<img::RandAugment>(num_ops, magnitude, bins, img::interpolation_from_string(interp),
                                                       std::move(fill));
           }),
           py::arg("num_ops"), py::arg("magnitude"), py::arg("num_magnitude_bins"), py::arg("interpolation"),
           py::arg("fill"));
  py::class_<PyLambda, data::Transform, std::shared_ptr<PyLambda>>(sub, "Lambda")
      .def(py::init<py::function, std::string>(), py::arg("lambd"), py::arg("name"));
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
