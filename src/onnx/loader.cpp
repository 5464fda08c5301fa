// Parses an ONNX ModelProto (classes generated from the onnx package's
// onnx-ml.proto) into Model::Impl: value metadata, initializers (raw_data,
// typed fields, or external data inside the model's folder) and the nodes in
// topological order. Every error names the file and the node or field.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <unordered_set>

#include "onnx-ml.pb.h"
#include "src/onnx/internal.h"

namespace tessel::onnx {
namespace fs = std::filesystem;

namespace {

// Protobuf cannot parse messages of 2 GiB or more; larger weights must be external.
constexpr size_t kMaxModelBytes = INT_MAX;

struct Ctx {
  std::string source;
  std::string base_dir;  // "" : external data refused
  template <class... Args>
  [[noreturn]] void fail(const Args&... args) const {
    throw ValueError(detail::cat("[onnx.load] ", source, ": ", args...));
  }
};

}  // namespace

namespace {

std::string type_name(int t) { return onnx_elem_name(t); }

// Reads [offset, offset + length) of a file through a memory map.
void read_mapped(const Ctx& c, const std::string& what, const fs::path& file, uint64_t offset, uint64_t length,
                 void* dst) {
  int fd = ::open(file.c_str(), O_RDONLY);
  if (fd < 0) c.fail(what, ": cannot open external data file '", file.string(), "': ", std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_size) < offset ||
      static_cast<uint64_t>(st.st_size) - offset < length) {
    ::close(fd);
    c.fail(what, ": external data file '", file.string(), "' holds ", st.st_size, " bytes, fewer than offset ",
           offset, " + length ", length);
  }
  if (length == 0) {
    ::close(fd);
    return;
  }
  void* p = ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) c.fail(what, ": cannot map '", file.string(), "': ", std::strerror(errno));
  std::memcpy(dst, static_cast<const char*>(p) + offset, length);
  ::munmap(p, static_cast<size_t>(st.st_size));
}

// The external file, which must lie inside the model's folder (no absolute
// paths, no "..", no symlink out of it).
fs::path resolve_external(const Ctx& c, const std::string& what, const std::string& location) {
  if (c.base_dir.empty())
    c.fail(what, ": uses external data ('", location, "') but the model was loaded from bytes without a base folder");
  fs::path loc(location);
  if (location.empty() || loc.is_absolute())
    c.fail(what, ": external data location '", location, "' must be a relative path inside the model's folder");
  std::error_code ec;
  fs::path base = fs::weakly_canonical(fs::path(c.base_dir), ec);
  fs::path full = fs::weakly_canonical(fs::path(c.base_dir) / loc, ec);
  auto rel = full.lexically_relative(base);
  if (ec || rel.empty() || *rel.begin() == "..")
    c.fail(what, ": external data location '", location, "' resolves outside the model's folder; refused");
  return full;
}

// Protobuf does not check that proto2 `string` fields hold UTF-8; names reach
// Python (metadata, error messages) as str, so other bytes are refused here.
bool valid_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    size_t len = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i + len > s.size()) return false;
    uint32_t cp = len == 1 ? b : b & (0x7F >> len);
    for (size_t k = 1; k < len; ++k) {
      const auto cb = static_cast<unsigned char>(s[i + k]);
      if ((cb & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cb & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    static constexpr uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) return false;
    i += len;
  }
  return true;
}

std::string printable_impl(const std::string& s) {
  if (valid_utf8(s)) return s;
  // Keep the valid sequences, write each other byte as \xNN.
  std::string out;
  for (size_t i = 0; i < s.size();) {
    size_t len = 1;
    for (; len <= 4 && i + len <= s.size(); ++len)
      if (valid_utf8(s.substr(i, len))) break;
    if (len <= 4 && i + len <= s.size()) {
      out.append(s, i, len);
      i += len;
    } else {
      static const char* hex = "0123456789abcdef";
      const auto b = static_cast<unsigned char>(s[i++]);
      out += "\\x";
      out += hex[b >> 4];
      out += hex[b & 15];
    }
  }
  return out;
}

// The field is named, not echoed: its bytes could not be printed.
void check_text(const Ctx& c, const std::string& s, const std::string& field) {
  if (!valid_utf8(s)) c.fail(field, " is not valid UTF-8");
}

void check_value_info(const Ctx& c, const ::onnx::ValueInfoProto& v, const std::string& field) {
  check_text(c, v.name(), field + ".name");
  if (v.type().has_tensor_type() && v.type().tensor_type().has_shape())
    for (const auto& d : v.type().tensor_type().shape().dim())
      if (!d.has_dim_value()) check_text(c, d.dim_param(), "'" + v.name() + "' dim_param");
}

Tensor to_tensor(const Ctx& c, const ::onnx::TensorProto& tp, const std::string& what) {
  auto dt = dtype_from_onnx(tp.data_type());
  if (!dt) c.fail(what, ": element type ", type_name(tp.data_type()), " is not supported");
  Shape shape(tp.dims().begin(), tp.dims().end());
  for (auto d : shape)
    if (d < 0) c.fail(what, ": negative dimension in dims ", shape);
  int64_t n = 1;
  for (auto d : shape) {
    if (d != 0 && n > (int64_t{1} << 40) / d) c.fail(what, ": dims ", shape, " are too large");
    n *= d;
  }
  // Every size is checked against the data actually present before allocating,
  // so absurd declared dims fail cleanly instead of exhausting memory.
  // Sub-byte types are packed in the file and unpacked to a byte per value.
  const size_t nbytes = packed_nbytes(*dt, n);
  const bool packed = packed_bits(*dt) < 8;
  auto expect = [&](size_t got, const char* field) {
    if (got != static_cast<size_t>(n))
      c.fail(what, ": ", field, " holds ", got, " values but dims ", shape, " need ", n);
  };
  auto alloc = [&] { return empty(shape, TensorOptions(*dt)); };
  auto from_packed = [&](const void* bytes) {
    Tensor u = alloc();
    if (packed) unpack_elements(*dt, static_cast<const uint8_t*>(bytes), n, static_cast<uint8_t*>(u.data_ptr()));
    else std::memcpy(u.data_ptr(), bytes, nbytes);  // little-endian, as on the hosts tessel runs on
    return u;
  };
  Tensor t;
  if (tp.data_location() == ::onnx::TensorProto::EXTERNAL) {
    std::string location;
    uint64_t offset = 0, length = nbytes;
    bool has_length = false;
    for (const auto& kv : tp.external_data()) {
      try {
        if (kv.key() == "location") location = kv.value();
        else if (kv.key() == "offset") offset = std::stoull(kv.value());
        else if (kv.key() == "length") { length = std::stoull(kv.value()); has_length = true; }
      } catch (const std::exception&) {
        c.fail(what, ": external_data '", kv.key(), "' = '", kv.value(), "' is not a number");
      }
    }
    if (has_length && length != nbytes)
      c.fail(what, ": external data length ", length, " differs from the ", nbytes, " bytes of dims ", shape);
    fs::path file = resolve_external(c, what, location);
    std::error_code ec;
    auto fsize = fs::file_size(file, ec);
    if (ec) c.fail(what, ": cannot open external data file '", file.string(), "': ", ec.message());
    if (fsize < offset || fsize - offset < nbytes)
      c.fail(what, ": external data file '", file.string(), "' holds ", fsize, " bytes, fewer than offset ", offset,
             " + length ", nbytes);
    if (packed) {
      std::string bytes(nbytes, '\0');
      read_mapped(c, what, file, offset, nbytes, bytes.data());
      t = from_packed(bytes.data());
    } else {
      t = alloc();
      read_mapped(c, what, file, offset, nbytes, t.data_ptr());
    }
  } else if (tp.has_raw_data()) {
    if (tp.raw_data().size() != nbytes)
      c.fail(what, ": raw_data holds ", tp.raw_data().size(), " bytes but dims ", shape, " of ",
             type_name(tp.data_type()), " need ", nbytes);
    t = from_packed(tp.raw_data().data());
  } else if (packed) {  // int32_data holds the packed bytes, one per entry
    if (static_cast<size_t>(tp.int32_data_size()) != nbytes)
      c.fail(what, ": int32_data holds ", tp.int32_data_size(), " packed bytes but dims ", shape, " of ",
             type_name(tp.data_type()), " need ", nbytes);
    std::string bytes(nbytes, '\0');
    for (size_t k = 0; k < nbytes; ++k) bytes[k] = static_cast<char>(tp.int32_data(static_cast<int>(k)));
    t = from_packed(bytes.data());
  } else {
    switch (*dt) {
      case DType::Float32:
      case DType::Complex64:
        expect(tp.float_data_size() / (*dt == DType::Complex64 ? 2 : 1), "float_data");
        t = alloc();
        std::memcpy(t.data_ptr(), tp.float_data().data(), nbytes);
        break;
      case DType::Float64:
      case DType::Complex128:
        expect(tp.double_data_size() / (*dt == DType::Complex128 ? 2 : 1), "double_data");
        t = alloc();
        std::memcpy(t.data_ptr(), tp.double_data().data(), nbytes);
        break;
      case DType::Int64:
        expect(tp.int64_data_size(), "int64_data");
        t = alloc();
        std::memcpy(t.data_ptr(), tp.int64_data().data(), nbytes);
        break;
      case DType::UInt64:
      case DType::UInt32: {  // uint64_data carries both
        expect(tp.uint64_data_size(), "uint64_data");
        t = alloc();
        if (*dt == DType::UInt64) {
          std::memcpy(t.data_ptr(), tp.uint64_data().data(), nbytes);
        } else {
          auto* dst = t.data<uint32_t>();
          for (int64_t k = 0; k < n; ++k) dst[k] = static_cast<uint32_t>(tp.uint64_data(static_cast<int>(k)));
        }
        break;
      }
      default: {  // int32_data carries the narrower types (and 16-bit floats as bits), one per value
        expect(tp.int32_data_size(), "int32_data");
        t = alloc();
        char* dst = static_cast<char*>(t.data_ptr());
        const size_t w = t.itemsize();
        for (int64_t k = 0; k < n; ++k) {
          int32_t v = tp.int32_data(static_cast<int>(k));
          if (*dt == DType::Bool) v = v != 0;
          std::memcpy(dst + k * w, &v, w);  // low bytes on little-endian hosts
        }
      }
    }
  }
  return t;
}

// A tensor(string) initializer or attribute: string_data only (ONNX stores no
// strings as raw or external data).
StringTensor to_string_tensor(const Ctx& c, const ::onnx::TensorProto& tp, const std::string& what) {
  StringTensor st;
  st.shape.assign(tp.dims().begin(), tp.dims().end());
  int64_t n = 1;
  for (auto d : st.shape) {
    if (d < 0) c.fail(what, ": negative dimension in dims ", st.shape);
    if (d != 0 && n > (int64_t{1} << 40) / d) c.fail(what, ": dims ", st.shape, " are too large");
    n *= d;
  }
  if (tp.data_location() == ::onnx::TensorProto::EXTERNAL || tp.has_raw_data())
    c.fail(what, ": a string tensor must hold its values in string_data (not raw or external data)");
  if (tp.string_data_size() != n)
    c.fail(what, ": string_data holds ", tp.string_data_size(), " values but dims ", st.shape, " need ", n);
  st.data.assign(tp.string_data().begin(), tp.string_data().end());
  return st;
}

// ONNX's name of a type as onnxruntime prints it: "tensor(float)",
// "seq(tensor(int64))", "optional(seq(tensor(float)))", "map(string,tensor(float))";
// "unsupported" for none (or nesting deeper than any real model's).
std::string type_string(const ::onnx::TypeProto& t, int depth = 0) {
  if (depth > 8) return "unsupported";
  if (t.has_tensor_type()) return "tensor(" + type_name(t.tensor_type().elem_type()) + ")";
  if (t.has_sequence_type()) return "seq(" + type_string(t.sequence_type().elem_type(), depth + 1) + ")";
  if (t.has_optional_type()) return "optional(" + type_string(t.optional_type().elem_type(), depth + 1) + ")";
  if (t.has_map_type())
    return "map(" + type_name(t.map_type().key_type()) + "," + type_string(t.map_type().value_type(), depth + 1) + ")";
  return "unsupported";
}

ValueInfo to_info(const ::onnx::ValueInfoProto& v) {
  ValueInfo info;
  info.name = v.name();
  if (!v.type().has_tensor_type()) {
    info.onnx_type = type_string(v.type());
    // The element type of seq(tensor(T)) and optional(tensor(T)) / optional(seq(tensor(T))),
    // the value type of map(K, tensor(T)).
    const ::onnx::TypeProto* t = &v.type();
    for (int k = 0; k < 2 && !t->has_tensor_type(); ++k)
      t = t->has_sequence_type() ? &t->sequence_type().elem_type()
          : t->has_optional_type() ? &t->optional_type().elem_type()
          : t->has_map_type()      ? &t->map_type().value_type()
                                   : t;
    if (t->has_tensor_type())
      if (auto dt = dtype_from_onnx(t->tensor_type().elem_type())) info.dtype = *dt;
    return info;
  }
  const auto& tt = v.type().tensor_type();
  info.onnx_type = "tensor(" + type_name(tt.elem_type()) + ")";
  if (auto dt = dtype_from_onnx(tt.elem_type())) info.dtype = *dt;
  if (tt.has_shape()) {
    info.has_shape = true;
    for (const auto& d : tt.shape().dim()) {
      if (d.has_dim_value()) info.shape.emplace_back(static_cast<int64_t>(d.dim_value()));
      else info.shape.emplace_back(d.dim_param());
    }
  }
  return info;
}

// Subgraphs nest through node attributes; the limit keeps hostile files from
// exhausting the stack while loading and running.
constexpr int kMaxGraphDepth = 16;

using Names = std::unordered_set<std::string>;

void convert_graph(const Ctx& c, const ::onnx::GraphProto& g, Graph& out, const std::vector<const Names*>& outer,
                   int depth, const std::string& where);

// `where` names the node ("node 'x' (Op)", inside its subgraph's own `where`).
Attr to_attr(const Ctx& c, const ::onnx::AttributeProto& a, const std::string& where,
             const std::vector<const Names*>& scopes, int depth) {
  using A = ::onnx::AttributeProto;
  const std::string attr = where + " attribute '" + a.name() + "'";
  auto graph = [&](const ::onnx::GraphProto& gp, const std::string& at) {
    auto sub = std::make_shared<Graph>();
    convert_graph(c, gp, *sub, scopes, depth + 1, at);
    return GraphPtr(std::move(sub));
  };
  switch (a.type()) {
    case A::INT: return static_cast<int64_t>(a.i());
    case A::FLOAT: return static_cast<double>(a.f());
    case A::STRING: return a.s();
    case A::INTS: return std::vector<int64_t>(a.ints().begin(), a.ints().end());
    case A::FLOATS: return std::vector<double>(a.floats().begin(), a.floats().end());
    case A::STRINGS: return std::vector<std::string>(a.strings().begin(), a.strings().end());
    case A::TENSOR:
      if (a.t().data_type() == ::onnx::TensorProto::STRING) return to_string_tensor(c, a.t(), attr);
      return to_tensor(c, a.t(), attr);
    case A::GRAPH:
      if (!a.has_g()) c.fail(attr, ": the graph is missing");
      return graph(a.g(), attr);
    case A::GRAPHS: {
      std::vector<GraphPtr> gs;
      for (int k = 0; k < a.graphs_size(); ++k) gs.push_back(graph(a.graphs(k), attr + "[" + std::to_string(k) + "]"));
      return gs;
    }
    case A::TYPE_PROTO: return type_string(a.tp());  // Optional's `type`: its name, e.g. "seq(tensor(float))"
    default:
      c.fail(where, ": attribute '", a.name(), "' has a type (", static_cast<int>(a.type()),
             ") that tessel does not support yet (sparse tensors, lists of type protos)");
  }
}

void add_unique(std::vector<std::string>& v, const std::string& s) {
  if (std::find(v.begin(), v.end(), s) == v.end()) v.push_back(s);
}

// One graph: the main graph (`where` empty) or a subgraph named by `where`
// (its node and attribute). A name not defined here must be defined by an
// enclosing graph (`outer`, innermost last) and becomes one of its captures.
void convert_graph(const Ctx& c, const ::onnx::GraphProto& g, Graph& out, const std::vector<const Names*>& outer,
                   int depth, const std::string& where) {
  const bool main = where.empty();
  const std::string pre = main ? "" : where + ": ";
  if (depth > kMaxGraphDepth)
    c.fail(where, ": subgraphs nest deeper than ", kMaxGraphDepth, " levels; refused");
  check_text(c, g.name(), pre + "graph.name");
  out.name = g.name();

  Names defined;  // initializers, inputs and node outputs of this graph
  for (int k = 0; k < g.initializer_size(); ++k) {
    const auto& tp = g.initializer(k);
    if (tp.name().empty()) c.fail(pre, "graph.initializer[", k, "] has no name");
    check_text(c, tp.name(), pre + "graph.initializer[" + std::to_string(k) + "].name");
    if (tp.data_type() == ::onnx::TensorProto::STRING)
      out.string_initializers.emplace(tp.name(), to_string_tensor(c, tp, pre + "initializer '" + tp.name() + "'"));
    else
      out.initializers.emplace(tp.name(), to_tensor(c, tp, pre + "initializer '" + tp.name() + "'"));
    defined.insert(tp.name());
  }
  if (g.sparse_initializer_size() > 0) c.fail(pre, "sparse initializers are not supported yet");
  for (int k = 0; k < g.input_size(); ++k)
    check_value_info(c, g.input(k), pre + "graph.input[" + std::to_string(k) + "]");
  for (int k = 0; k < g.output_size(); ++k)
    check_value_info(c, g.output(k), pre + "graph.output[" + std::to_string(k) + "]");
  for (const auto& v : g.input()) {
    // The main graph's initializers may be overridden but are not required inputs;
    // a subgraph's inputs are positional and all bound by its node.
    if (main && (out.initializers.count(v.name()) || out.string_initializers.count(v.name()))) continue;
    out.inputs.push_back(to_info(v));
    std::optional<DType> dt;
    if (v.type().has_tensor_type()) dt = dtype_from_onnx(v.type().tensor_type().elem_type());
    out.input_dtypes.push_back(dt);
    defined.insert(v.name());
  }
  for (const auto& v : g.output()) out.outputs.push_back(to_info(v));
  for (int k = 0; k < g.value_info_size(); ++k) {
    check_value_info(c, g.value_info(k), pre + "graph.value_info[" + std::to_string(k) + "]");
    out.value_info.push_back(to_info(g.value_info(k)));
  }
  // Declared element types that tessel knows; inference checks its own against them.
  auto declare = [&](const ::onnx::ValueInfoProto& v) {
    if (!v.type().has_tensor_type()) return;
    if (auto dt = dtype_from_onnx(v.type().tensor_type().elem_type())) out.declared_dtype.emplace(v.name(), *dt);
  };
  for (const auto& v : g.input()) declare(v);
  for (const auto& v : g.output()) declare(v);
  for (const auto& v : g.value_info()) declare(v);

  // Nodes and the values they define, then their attributes (subgraphs see
  // every value of this graph), then Kahn's topological order.
  std::vector<Node> nodes;
  std::map<std::string, size_t> producer_of;
  for (int k = 0; k < g.node_size(); ++k) {
    const auto& np = g.node(k);
    const std::string field = pre + "graph.node[" + std::to_string(k) + "]";
    check_text(c, np.op_type(), field + ".op_type");
    check_text(c, np.domain(), field + ".domain");
    check_text(c, np.name(), field + ".name");
    for (const auto& v : np.input()) check_text(c, v, field + ".input");
    for (const auto& v : np.output()) check_text(c, v, field + ".output");
    for (const auto& a : np.attribute()) check_text(c, a.name(), field + ".attribute.name");
    Node n;
    n.op_type = np.op_type();
    n.domain = np.domain();
    n.name = np.name().empty() ? n.op_type + "#" + std::to_string(k) : np.name();
    // ai.tessel holds the runtime's own fused nodes, which trust their inputs: never from a file.
    if (n.domain == kFusedDomain)
      c.fail(field, " (node '", n.name, "'): domain ", kFusedDomain, " is reserved for tessel's internal fused ops");
    if (n.op_type.empty()) c.fail(pre, "graph.node[", k, "] has no op_type");
    n.inputs.assign(np.input().begin(), np.input().end());
    n.outputs.assign(np.output().begin(), np.output().end());
    for (const auto& o : n.outputs) {
      if (o.empty()) continue;
      if (defined.count(o) || producer_of.count(o))
        c.fail(pre, "node '", n.name, "' (", n.op_type, ") output '", o,
               "' is already defined by a graph input, initializer or another node");
      producer_of[o] = nodes.size();
    }
    nodes.push_back(std::move(n));
  }
  for (const auto& [name, k] : producer_of) defined.insert(name);
  std::vector<const Names*> scopes(outer);
  scopes.push_back(&defined);
  for (int k = 0; k < g.node_size(); ++k) {
    Node& n = nodes[static_cast<size_t>(k)];
    const std::string node_where = pre + "node '" + n.name + "' (" + n.op_type + ")";
    for (const auto& a : g.node(k).attribute()) {
      if (!a.ref_attr_name().empty()) c.fail(node_where, ": attribute references (functions) are not supported");
      if (n.attrs.count(a.name())) c.fail(node_where, ": attribute '", a.name(), "' is given twice");
      n.attrs[a.name()] = to_attr(c, a, node_where, scopes, depth);
    }
    for (const auto& [name, a] : n.attrs) {
      if (auto* sg = std::get_if<GraphPtr>(&a))
        for (const auto& cap : (*sg)->captures) add_unique(n.captures, cap);
      if (auto* sgs = std::get_if<std::vector<GraphPtr>>(&a))
        for (const auto& sg2 : *sgs)
          for (const auto& cap : sg2->captures) add_unique(n.captures, cap);
    }
  }
  auto in_outer = [&](const std::string& name) {
    for (const Names* s : outer)
      if (s->count(name)) return true;
    return false;
  };
  std::vector<int> pending(nodes.size(), 0);
  std::map<std::string, std::vector<size_t>> consumers;
  for (size_t k = 0; k < nodes.size(); ++k) {
    auto depend = [&](const std::string& i) {
      if (i.empty()) return;
      if (producer_of.count(i)) {
        ++pending[k];
        consumers[i].push_back(k);
      } else if (!defined.count(i)) {
        if (!in_outer(i))
          c.fail(pre, "node '", nodes[k].name, "' (", nodes[k].op_type, ") input '", i,
                 main ? "' is not a graph input, an initializer or the output of any node"
                      : "' is not defined in this graph or an enclosing one");
        add_unique(out.captures, i);
      }
    };
    for (const auto& i : nodes[k].inputs) depend(i);
    for (const auto& i : nodes[k].captures) depend(i);
  }
  std::vector<size_t> ready;
  for (size_t k = nodes.size(); k-- > 0;)
    if (pending[k] == 0) ready.push_back(k);
  std::vector<size_t> order;
  while (!ready.empty()) {
    // Keep the file's order among ready nodes: pop the smallest index.
    auto it = std::min_element(ready.begin(), ready.end());
    size_t k = *it;
    ready.erase(it);
    order.push_back(k);
    for (const auto& o : nodes[k].outputs)
      for (size_t u : consumers[o])
        if (--pending[u] == 0) ready.push_back(u);
  }
  if (order.size() != nodes.size()) {
    // Name one node on the cycle (one that never became ready) to help the user.
    size_t stuck = 0;
    while (pending[stuck] == 0) ++stuck;
    c.fail(pre, "the graph has a cycle (through node '", nodes[stuck].name, "' (", nodes[stuck].op_type, "))");
  }
  for (size_t k : order) out.nodes.push_back(std::move(nodes[k]));
  for (const auto& o : out.outputs) {
    if (defined.count(o.name)) continue;
    if (main || !in_outer(o.name)) c.fail(pre, "graph output '", o.name, "' is not produced by any node");
    add_unique(out.captures, o.name);
  }
}

std::shared_ptr<Model::Impl> convert(const Ctx& c, const ::onnx::ModelProto& m) {
  auto impl = std::make_shared<Model::Impl>();
  impl->source = c.source;
  impl->ir_version = m.ir_version();
  check_text(c, m.producer_name(), "producer_name");
  impl->producer = m.producer_name();
  bool has_default = false;
  for (const auto& op : m.opset_import())
    if (op.domain().empty() || op.domain() == "ai.onnx") {
      impl->opset = op.version();
      has_default = true;
    }
  if (!m.has_graph()) c.fail("the model has no graph (not an ONNX model, or a truncated one)");
  if (!has_default) impl->opset = m.ir_version() < 3 ? 1 : 0;
  convert_graph(c, m.graph(), *impl, {}, 0, "");
  // After convert_graph: the node names it echoes have been checked to be UTF-8.
  if (!has_default)
    for (const auto& n : impl->nodes)
      if (n.domain.empty() || n.domain == "ai.onnx")
        c.fail("opset_import has no entry for the default domain, which node '", n.name, "' (", n.op_type, ") uses");
  return impl;
}

std::shared_ptr<Model::Impl> parse(const Ctx& c, const std::string& bytes) {
  if (bytes.size() >= kMaxModelBytes)
    c.fail("the model is ", bytes.size(), " bytes; protobuf limits one message to 2 GiB (store weights as external data)");
  ::onnx::ModelProto m;
  if (!m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    c.fail("not a valid ONNX model (protobuf parsing failed: truncated or corrupt file)");
  auto impl = convert(c, m);
  infer_shapes(*impl);  // on the graph as written, so that errors and value_info use the file's names
  optimize(*impl);
  return impl;
}

}  // namespace

std::string printable_utf8(const std::string& s) { return printable_impl(s); }

bool available() { return true; }

Model Model::load(const std::string& path) {
  Ctx c{path, ""};
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw ValueError("[onnx.load] " + path + ": no such file");
  std::ifstream f(path, std::ios::binary);
  if (!f) c.fail("cannot open the file");
  auto size = fs::file_size(path, ec);
  if (ec) c.fail("cannot read the file size");
  if (size >= kMaxModelBytes) c.fail("the model is ", size, " bytes; protobuf limits one message to 2 GiB");
  std::string bytes(size, '\0');
  f.read(bytes.data(), static_cast<std::streamsize>(size));
  if (!f) c.fail("cannot read the file");
  fs::path parent = fs::path(path).parent_path();
  c.base_dir = parent.empty() ? "." : parent.string();
  return Model(parse(c, bytes));
}

Model Model::load_bytes(const std::string& bytes, const std::string& base_dir) {
  return Model(parse(Ctx{"<bytes>", base_dir}, bytes));
}

const std::vector<ValueInfo>& Model::inputs() const { return impl_->inputs; }
const std::vector<ValueInfo>& Model::outputs() const { return impl_->outputs; }
int64_t Model::opset() const { return impl_->opset; }
int64_t Model::ir_version() const { return impl_->ir_version; }
const std::string& Model::producer_name() const { return impl_->producer; }

}  // namespace tessel::onnx
