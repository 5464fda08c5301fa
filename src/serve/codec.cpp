#include "serve/codec.h"

#include <cstring>
#include <limits>

#include "tessel/ops.h"

namespace tessel::serve {

using simdjson::dom::element;
using simdjson::dom::element_type;

namespace {

struct DataType {
  const char* name;
  size_t wire_size;  // bytes per element on the wire, 0 for BYTES
  DType dtype;       // how tessel holds it
};

constexpr DataType kTypes[] = {
    {"BOOL", 1, DType::Bool},     {"UINT8", 1, DType::UInt8},  {"UINT16", 2, DType::UInt16}, {"UINT32", 4, DType::UInt32},
    {"UINT64", 8, DType::UInt64}, {"INT8", 1, DType::Int8},    {"INT16", 2, DType::Int16},   {"INT32", 4, DType::Int32},
    {"INT64", 8, DType::Int64},  {"FP16", 2, DType::Float16}, {"BF16", 2, DType::BFloat16}, {"FP32", 4, DType::Float32},
    {"FP64", 8, DType::Float64}, {"BYTES", 0, DType::UInt8},
};

const DataType& lookup(std::string_view name) {
  for (auto& t : kTypes)
    if (name == t.name) return t;
  throw HttpError(400, "unknown datatype '" + std::string(name) +
                           "' (expected BOOL, UINT8..UINT64, INT8..INT64, FP16, BF16, FP32, FP64 or BYTES)");
}

[[noreturn]] void bad_value(const std::string& tensor, std::string_view datatype, size_t index, std::string_view why) {
  throw HttpError(400, "input '" + tensor + "': element " + std::to_string(index) + " is not a valid " +
                           std::string(datatype) + " value (" + std::string(why) + ")");
}

// One JSON leaf as an element of type T (its index `i` names it in errors).
template <class T>
T int_leaf(const std::string& tensor, std::string_view datatype, element el, size_t i, int64_t lo, uint64_t hi) {
  if (el.type() == element_type::INT64) {
    int64_t v = int64_t(el);
    if (v < lo || (v > 0 && static_cast<uint64_t>(v) > hi)) bad_value(tensor, datatype, i, "out of range");
    return static_cast<T>(v);
  }
  if (el.type() == element_type::UINT64) {
    uint64_t v = uint64_t(el);
    if (v > hi) bad_value(tensor, datatype, i, "out of range");
    return static_cast<T>(v);
  }
  bad_value(tensor, datatype, i, el.type() == element_type::DOUBLE ? "not an integer" : json::type_name(el.type()));
}

template <class T>
T float_leaf(const std::string& tensor, std::string_view datatype, element el, size_t i) {
  double v;
  if (el.get_double().get(v)) bad_value(tensor, datatype, i, json::type_name(el.type()));
  if constexpr (std::is_same_v<T, double>)
    return v;
  else
    return T(static_cast<float>(v));
}

inline bool bool_leaf(const std::string& tensor, std::string_view datatype, element el, size_t i) {
  if (el.type() != element_type::BOOL) bad_value(tensor, datatype, i, json::type_name(el.type()));
  return bool(el);
}

// More leaves than the shape holds (caught to report the exact count).
struct TooManyLeaves {};

// Writes the leaves of a (possibly nested) JSON array straight into `out`, without
// gathering them first: an OIP "data" of 12,288 floats is the hot path of a ResNet
// request, and the intermediate vector of elements cost about a fifth of its parse.
template <class T, class Leaf>
void walk_leaves(element el, T* out, size_t n, size_t& i, size_t depth, const Leaf& leaf) {
  if (el.type() != element_type::ARRAY) {
    if (i >= n) throw TooManyLeaves{};
    out[i] = leaf(el, i);
    ++i;
    return;
  }
  if (depth >= json::kMaxDepth) throw HttpError(400, "data nested too deeply");
  for (element child : simdjson::dom::array(el)) walk_leaves(child, out, n, i, depth + 1, leaf);
}

// Calls fill(out, leaf): the tensor's data and the converter of its (numeric) datatype.
template <class Fill>
void with_converter(const std::string& nm, std::string_view dn, DType dtype, Tensor& t, const Fill& fill) {
  switch (dtype) {
    case DType::Bool:
      return fill(t.data<bool>(), [&](element el, size_t i) { return bool_leaf(nm, dn, el, i); });
    case DType::UInt8:
      return fill(t.data<uint8_t>(), [&](element el, size_t i) { return int_leaf<uint8_t>(nm, dn, el, i, 0, 255); });
    case DType::Int8:
      return fill(t.data<int8_t>(), [&](element el, size_t i) { return int_leaf<int8_t>(nm, dn, el, i, -128, 127); });
    case DType::Int16:
      return fill(t.data<int16_t>(),
                  [&](element el, size_t i) { return int_leaf<int16_t>(nm, dn, el, i, -32768, 32767); });
    case DType::Int32:
      return fill(t.data<int32_t>(),
                  [&](element el, size_t i) { return int_leaf<int32_t>(nm, dn, el, i, INT32_MIN, INT32_MAX); });
    case DType::Int64:
      return fill(t.data<int64_t>(),
                  [&](element el, size_t i) { return int_leaf<int64_t>(nm, dn, el, i, INT64_MIN, INT64_MAX); });
    case DType::UInt16:
      return fill(t.data<uint16_t>(), [&](element el, size_t i) { return int_leaf<uint16_t>(nm, dn, el, i, 0, 65535); });
    case DType::UInt32:
      return fill(t.data<uint32_t>(),
                  [&](element el, size_t i) { return int_leaf<uint32_t>(nm, dn, el, i, 0, UINT32_MAX); });
    case DType::UInt64:
      return fill(t.data<uint64_t>(),
                  [&](element el, size_t i) { return int_leaf<uint64_t>(nm, dn, el, i, 0, UINT64_MAX); });
    case DType::Float16:
      return fill(t.data<Half>(), [&](element el, size_t i) { return float_leaf<Half>(nm, dn, el, i); });
    case DType::BFloat16:
      return fill(t.data<BFloat16>(), [&](element el, size_t i) { return float_leaf<BFloat16>(nm, dn, el, i); });
    case DType::Float32:
      return fill(t.data<float>(), [&](element el, size_t i) { return float_leaf<float>(nm, dn, el, i); });
    case DType::Float64:
      return fill(t.data<double>(), [&](element el, size_t i) { return float_leaf<double>(nm, dn, el, i); });
    default:
      throw HttpError(500, "unreachable datatype");
  }
}

template <class T>
T load_le(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);  // the wire and this machine are little-endian
  return v;
}

}  // namespace

size_t datatype_size(std::string_view datatype) { return lookup(datatype).wire_size; }

std::string datatype_of(DType dtype) {
  switch (dtype) {
    case DType::Bool:
      return "BOOL";
    case DType::UInt8:
      return "UINT8";
    case DType::Int8:
      return "INT8";
    case DType::Int16:
      return "INT16";
    case DType::Int32:
      return "INT32";
    case DType::Int64:
      return "INT64";
    case DType::UInt16:
      return "UINT16";
    case DType::UInt32:
      return "UINT32";
    case DType::UInt64:
      return "UINT64";
    case DType::Float16:
      return "FP16";
    case DType::BFloat16:
      return "BF16";
    case DType::Float32:
      return "FP32";
    case DType::Float64:
      return "FP64";
    default:
      throw HttpError(
          500, std::string("the model produced a ") + dtype_name(dtype) + " tensor, which no OIP datatype represents");
  }
}

void collect_leaves(element el, std::vector<element>& out, size_t depth) {
  if (el.type() != element_type::ARRAY) {
    out.push_back(el);
    return;
  }
  if (depth >= json::kMaxDepth) throw HttpError(400, "data nested too deeply");
  for (element child : simdjson::dom::array(el)) collect_leaves(child, out, depth + 1);
}

int64_t checked_numel(const std::vector<int64_t>& shape, std::string_view what) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) throw HttpError(400, std::string(what) + ": negative size in shape");
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d)
      throw HttpError(400, std::string(what) + ": shape has too many elements");
    n *= d;
  }
  return n;
}

NamedTensor tensor_from_leaves(std::string name, std::string datatype, std::vector<int64_t> shape,
                               const std::vector<element>& leaves, bool allow_b64) {
  const DataType& dt = lookup(datatype);
  int64_t n = checked_numel(shape, "input '" + name + "'");
  if (n != static_cast<int64_t>(leaves.size()))
    throw HttpError(400, "input '" + name + "': shape has " + std::to_string(n) + " elements but data has " +
                             std::to_string(leaves.size()));
  NamedTensor t{std::move(name), dt.name, std::move(shape), {}, {}};
  if (dt.wire_size == 0) {
    t.bytes.reserve(leaves.size());
    for (size_t i = 0; i < leaves.size(); ++i) {
      auto& el = leaves[i];
      if (el.type() == element_type::STRING) {
        t.bytes.emplace_back(std::string_view(el));
      } else if (allow_b64 && el.type() == element_type::OBJECT) {
        std::string_view b64;
        if (el["b64"].get(b64) || simdjson::dom::object(el).size() != 1)
          bad_value(t.name, "BYTES", i, "expected a string or {\"b64\": \"...\"}");
        t.bytes.push_back(json::base64_decode(b64, "input '" + t.name + "'"));
      } else {
        bad_value(t.name, "BYTES", i, json::type_name(el.type()));
      }
    }
    return t;
  }
  t.tensor = empty(t.shape, TensorOptions(dt.dtype));
  with_converter(t.name, dt.name, dt.dtype, t.tensor, [&](auto* out, const auto& leaf) {
    for (size_t i = 0; i < leaves.size(); ++i) out[i] = leaf(leaves[i], i);
  });
  return t;
}

NamedTensor tensor_from_json(std::string name, std::string datatype, std::vector<int64_t> shape, element data) {
  const DataType& dt = lookup(datatype);
  if (dt.wire_size == 0) {  // BYTES: strings, gathered first
    std::vector<element> leaves;
    collect_leaves(data, leaves);
    return tensor_from_leaves(std::move(name), std::move(datatype), std::move(shape), leaves, false);
  }
  const int64_t n = checked_numel(shape, "input '" + name + "'");
  NamedTensor t{std::move(name), dt.name, std::move(shape), {}, {}};
  t.tensor = empty(t.shape, TensorOptions(dt.dtype));
  size_t count = 0;
  try {
    with_converter(t.name, dt.name, dt.dtype, t.tensor, [&](auto* out, const auto& leaf) {
      walk_leaves(data, out, static_cast<size_t>(n), count, 0, leaf);
    });
  } catch (const TooManyLeaves&) {
    count = std::numeric_limits<size_t>::max();
  }
  if (count != static_cast<size_t>(n)) {
    std::vector<element> leaves;  // the exact count, for the message
    collect_leaves(data, leaves);
    throw HttpError(400, "input '" + t.name + "': shape has " + std::to_string(n) + " elements but data has " +
                             std::to_string(leaves.size()));
  }
  return t;
}

NamedTensor tensor_from_binary(std::string name, std::string datatype, std::vector<int64_t> shape,
                               std::string_view raw) {
  const DataType& dt = lookup(datatype);
  int64_t n = checked_numel(shape, "input '" + name + "'");
  NamedTensor t{std::move(name), dt.name, std::move(shape), {}, {}};
  auto fail = [&](const std::string& why) { throw HttpError(400, "input '" + t.name + "': " + why); };
  if (dt.wire_size == 0) {
    size_t pos = 0;
    while (pos < raw.size()) {
      if (raw.size() - pos < 4) fail("BYTES element length truncated");
      uint32_t len = load_le<uint32_t>(raw.data() + pos);
      pos += 4;
      if (raw.size() - pos < len) fail("BYTES element truncated");
      if (static_cast<int64_t>(t.bytes.size()) >= n) fail("more BYTES elements than the shape holds");
      t.bytes.emplace_back(raw.substr(pos, len));
      pos += len;
    }
    if (static_cast<int64_t>(t.bytes.size()) != n)
      fail("shape has " + std::to_string(n) + " elements but the binary data has " + std::to_string(t.bytes.size()));
    return t;
  }
  if (static_cast<uint64_t>(n) != raw.size() / dt.wire_size || raw.size() % dt.wire_size != 0)
    fail("shape has " + std::to_string(n) + " " + dt.name + " elements (" + std::to_string(n * dt.wire_size) +
         " bytes) but binary_data_size is " + std::to_string(raw.size()));
  t.tensor = empty(t.shape, TensorOptions(dt.dtype));
  const char* p = raw.data();
  if (dt.dtype == DType::Bool) {
    auto* out = t.tensor.data<bool>();
    for (int64_t i = 0; i < n; ++i) out[i] = p[i] != 0;
  } else if (n > 0) {
    std::memcpy(t.tensor.data_ptr(), p, raw.size());
  }
  return t;
}

std::string tensor_to_binary(const NamedTensor& t) {
  if (t.datatype == "BYTES") {
    std::string out;
    for (auto& s : t.bytes) {
      uint32_t len = static_cast<uint32_t>(s.size());
      out.append(reinterpret_cast<const char*>(&len), 4);
      out.append(s);
    }
    return out;
  }
  Tensor c = t.tensor.cpu().contiguous();
  return std::string(static_cast<const char*>(c.data_ptr()), c.nbytes());
}

namespace {
template <class T>
void write_one(json::Writer& w, const T* p, int64_t i) {
  if constexpr (std::is_same_v<T, bool>) {
    w.out.append(p[i] ? "true" : "false");
  } else if constexpr (std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>) {
    w.number(static_cast<float>(p[i]));
  } else if constexpr (std::is_same_v<T, int8_t> || std::is_same_v<T, uint8_t>) {
    w.number(static_cast<int>(p[i]));
  } else {
    w.number(p[i]);
  }
}

template <class F>
void write_nested(json::Writer& w, const std::vector<int64_t>& dims, size_t d, int64_t& i, F&& one) {
  if (d == dims.size()) {
    one(i++);
    return;
  }
  w.out.push_back('[');
  for (int64_t k = 0; k < dims[d]; ++k) {
    if (k) w.out.push_back(',');
    write_nested(w, dims, d + 1, i, one);
  }
  w.out.push_back(']');
}
}  // namespace

void write_values(json::Writer& w, const NamedTensor& t, int64_t begin, const std::vector<int64_t>& dims, bool nested,
                  bool b64) {
  int64_t count = 1;
  for (int64_t d : dims) count *= d;
  auto emit = [&](auto&& one) {
    if (nested) {
      int64_t i = begin;
      write_nested(w, dims, 0, i, one);
    } else {
      w.out.push_back('[');
      for (int64_t k = 0; k < count; ++k) {
        if (k) w.out.push_back(',');
        one(begin + k);
      }
      w.out.push_back(']');
    }
  };
  w.sep();
  if (t.datatype == "BYTES") {
    emit([&](int64_t i) {
      const std::string& s = t.bytes[static_cast<size_t>(i)];
      if (b64) {
        w.out.append("{\"b64\":\"").append(json::base64_encode(s)).append("\"}");
      } else {
        w.str(s);
      }
    });
    return;
  }
  Tensor c = t.tensor.cpu().contiguous();
  switch (c.dtype()) {
#define TESSEL_SERVE_CASE(D, T)                       \
  case DType::D: {                                    \
    const T* p = static_cast<const T*>(c.data_ptr()); \
    emit([&](int64_t i) { write_one(w, p, i); });     \
    break;                                            \
  }
    TESSEL_SERVE_CASE(Bool, bool)
    TESSEL_SERVE_CASE(UInt8, uint8_t)
    TESSEL_SERVE_CASE(Int8, int8_t)
    TESSEL_SERVE_CASE(Int16, int16_t)
    TESSEL_SERVE_CASE(Int32, int32_t)
    TESSEL_SERVE_CASE(Int64, int64_t)
    TESSEL_SERVE_CASE(UInt16, uint16_t)
    TESSEL_SERVE_CASE(UInt32, uint32_t)
    TESSEL_SERVE_CASE(UInt64, uint64_t)
    TESSEL_SERVE_CASE(Float16, Half)
    TESSEL_SERVE_CASE(BFloat16, BFloat16)
    TESSEL_SERVE_CASE(Float32, float)
    TESSEL_SERVE_CASE(Float64, double)
#undef TESSEL_SERVE_CASE
    default:
      throw HttpError(500, std::string("cannot write a ") + dtype_name(c.dtype()) + " tensor");
  }
}

NamedTensor named_output(std::string name, const Tensor& t) {
  return NamedTensor{std::move(name), datatype_of(t.dtype()), t.shape(), t, {}};
}

}  // namespace tessel::serve
