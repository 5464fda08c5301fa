// ONNX image ops: ImageDecoder (encoded bytes -> HWC uint8) through tessel's
// image codec (OpenCV; a build without it raises NotImplementedError).
#include "src/onnx/internal.h"
#include "tessel/data/image.h"

namespace tessel::onnx {
namespace {

std::vector<Tensor> image_decoder(const Node& n, const Inputs& in, const OpContext&) {
  const Tensor& x = input(n, in, 0);
  if (x.dtype() != DType::UInt8) n.error<TypeError>("encoded_stream must be uint8, got ", x.dtype());
  if (x.dim() != 1) n.error("encoded_stream must be 1-D, got shape ", x.shape());
  const std::string fmt = n.s("pixel_format", "RGB");
  if (fmt != "RGB" && fmt != "BGR" && fmt != "Grayscale") n.error("pixel_format must be RGB, BGR or Grayscale");
  Tensor bytes = x.contiguous();
  image::DecodeOptions o;
  o.bgr = fmt == "BGR";
  Tensor img = image::decode(bytes.data_ptr(), static_cast<size_t>(bytes.numel()), o).contiguous();  // HWC uint8
  if (fmt != "Grayscale") return {img};
  // Luma from RGB with ITU-R 601-2 weights in 16-bit fixed point, rounded, as Pillow's convert("L").
  Tensor rgb = img.to(DType::Int64);
  Tensor l = add(add(mul(rgb.select(2, 0), Scalar(int64_t(19595))), mul(rgb.select(2, 1), Scalar(int64_t(38470)))),
                 mul(rgb.select(2, 2), Scalar(int64_t(7471))));
  l = floor_divide(add(l, Scalar(int64_t(0x8000))), Scalar(int64_t(65536)));
  return {l.to(DType::UInt8).unsqueeze(2).contiguous()};
}

}  // namespace

void register_image_ops(std::map<std::string, OpFn>& t) { t["ImageDecoder"] = image_decoder; }

}  // namespace tessel::onnx
