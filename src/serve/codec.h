#pragma once
// Tensors to and from JSON values and raw bytes, shared by the OIP and
// TF-Serving protocols.
#include <string>
#include <string_view>
#include <vector>

#include "serve/json.h"
#include "serve/types.h"

namespace tessel::serve {

// Appends the leaves of a (possibly nested) JSON array in row-major order; a
// non-array is one leaf. Throws HttpError(400) past json::kMaxDepth.
void collect_leaves(simdjson::dom::element el, std::vector<simdjson::dom::element>& out, size_t depth = 0);

// Number of elements of `shape`; throws HttpError(400) for negative sizes or overflow.
int64_t checked_numel(const std::vector<int64_t>& shape, std::string_view what);

// A tensor of OIP `datatype` and `shape` from JSON leaves (numbers, booleans,
// strings; for BYTES also {"b64": "..."} when `allow_b64`). Throws HttpError(400).
NamedTensor tensor_from_leaves(std::string name, std::string datatype, std::vector<int64_t> shape,
                               const std::vector<simdjson::dom::element>& leaves, bool allow_b64);

// The same from an OIP "data" value (flat or nested), written straight into the
// tensor for numeric datatypes. Same errors as tensor_from_leaves (no b64).
NamedTensor tensor_from_json(std::string name, std::string datatype, std::vector<int64_t> shape,
                             simdjson::dom::element data);

// A tensor from the binary tensor data extension's raw little-endian bytes
// (BYTES: each element a 4-byte little-endian length then its bytes).
NamedTensor tensor_from_binary(std::string name, std::string datatype, std::vector<int64_t> shape,
                               std::string_view raw);
std::string tensor_to_binary(const NamedTensor& t);

// Writes elements [begin, begin + prod(dims)) of the tensor, nested by `dims`
// when `nested` (else flat); BYTES as strings, or as {"b64": ...} when `b64`.
void write_values(json::Writer& w, const NamedTensor& t, int64_t begin, const std::vector<int64_t>& dims, bool nested,
                  bool b64);

// Fills datatype/shape of a tensor returned by a model (numeric tensors only).
NamedTensor named_output(std::string name, const Tensor& t);

}  // namespace tessel::serve
