// ONNX element types: the one table between TensorProto's numbers, ONNX's
// names and tessel's dtypes, and the packing of the sub-byte types (two 4-bit
// or four 2-bit values per byte in files, one per byte in tessel's tensors).
#include <iterator>
#include <string>

#include "src/onnx/internal.h"

namespace tessel::onnx {
namespace {

struct ElemType {
  int code;
  const char* name;  // as in "tensor(float)"
  std::optional<DType> dtype;
};

// TensorProto.DataType (onnx.proto): numbers fixed by the format.
const ElemType kTypes[] = {
    {1, "float", DType::Float32},
    {2, "uint8", DType::UInt8},
    {3, "int8", DType::Int8},
    {4, "uint16", DType::UInt16},
    {5, "int16", DType::Int16},
    {6, "int32", DType::Int32},
    {7, "int64", DType::Int64},
    {8, "string", std::nullopt},  // strings are StringTensors, not a dtype
    {9, "bool", DType::Bool},
    {10, "float16", DType::Float16},
    {11, "double", DType::Float64},
    {12, "uint32", DType::UInt32},
    {13, "uint64", DType::UInt64},
    {14, "complex64", DType::Complex64},
    {15, "complex128", DType::Complex128},
    {16, "bfloat16", DType::BFloat16},
    {17, "float8e4m3fn", DType::Float8E4M3FN},
    {18, "float8e4m3fnuz", DType::Float8E4M3FNUZ},
    {19, "float8e5m2", DType::Float8E5M2},
    {20, "float8e5m2fnuz", DType::Float8E5M2FNUZ},
    {21, "uint4", DType::UInt4},
    {22, "int4", DType::Int4},
    {23, "float4e2m1", DType::Float4E2M1FN},
    {24, "float8e8m0", DType::Float8E8M0FNU},
    {25, "uint2", DType::UInt2},
    {26, "int2", DType::Int2},
};

const ElemType* find(int64_t code) {
  for (const auto& t : kTypes)
    if (t.code == code) return &t;
  return nullptr;
}

}  // namespace

std::optional<DType> dtype_from_onnx(int64_t elem_type) {
  const ElemType* t = find(elem_type);
  return t ? t->dtype : std::nullopt;
}

int onnx_elem_type(DType d) {
  for (const auto& t : kTypes)
    if (t.dtype == d) return t.code;
  return 0;
}

std::string onnx_elem_name(int64_t elem_type) {
  const ElemType* t = find(elem_type);
  return t ? t->name : "type " + std::to_string(elem_type);
}

int packed_bits(DType d) {
  switch (d) {
    case DType::Int4:
    case DType::UInt4:
    case DType::Float4E2M1FN: return 4;
    case DType::Int2:
    case DType::UInt2: return 2;
    default: return 8 * static_cast<int>(itemsize(d));
  }
}

size_t packed_nbytes(DType d, int64_t n) {
  const int bits = packed_bits(d);
  if (bits >= 8) return static_cast<size_t>(n) * itemsize(d);
  const int64_t per = 8 / bits;
  return static_cast<size_t>((n + per - 1) / per);
}

void unpack_elements(DType d, const uint8_t* src, int64_t n, uint8_t* dst) {
  const int bits = packed_bits(d);
  const int per = 8 / bits;
  const uint8_t mask = static_cast<uint8_t>((1u << bits) - 1);
  for (int64_t k = 0; k < n; ++k) dst[k] = static_cast<uint8_t>((src[k / per] >> (bits * (k % per))) & mask);
}

std::string pack_elements(DType d, const uint8_t* src, int64_t n) {
  const int bits = packed_bits(d);
  const int per = 8 / bits;
  const uint8_t mask = static_cast<uint8_t>((1u << bits) - 1);
  std::string out(packed_nbytes(d, n), '\0');
  for (int64_t k = 0; k < n; ++k)
    out[static_cast<size_t>(k / per)] = static_cast<char>(static_cast<uint8_t>(out[static_cast<size_t>(k / per)]) |
                                                          ((src[k] & mask) << (bits * (k % per))));
  return out;
}

}  // namespace tessel::onnx
