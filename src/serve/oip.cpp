// Open Inference Protocol v2 (KServe v2) REST, with the binary tensor data
// extension: a JSON header of Inference-Header-Content-Length bytes followed by
// the raw tensors named in it by "binary_data_size".
#include <charconv>
#include <optional>
#include <unordered_set>

#include "serve/codec.h"
#include "serve/json.h"
#include "serve/protocol.h"

namespace tessel::serve {

using simdjson::dom::element;
using simdjson::dom::element_type;

namespace {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    parts.push_back(path.substr(i, j - i));
    i = j;
  }
  return parts;
}

Response method_not_allowed(const char* allow) {
  Response r = error_response(405, std::string("method not allowed; use ") + allow);
  r.headers.emplace_back("Allow", allow);
  return r;
}

void write_specs(json::Writer& w, const std::vector<TensorSpec>& specs) {
  w.begin_array();
  for (auto& s : specs) {
    w.begin_object().key("name").value(s.name).key("datatype").value(s.datatype).key("shape").begin_array();
    if (s.has_shape)
      for (int64_t d : s.shape) w.value(d);
    else
      w.value(-1);
    w.end_array().end_object();
  }
  w.end_array();
}

std::string model_metadata_json(const ModelMetadata& m) {
  json::Writer w;
  w.begin_object().key("name").value(m.name).key("versions").begin_array();
  for (auto& v : m.versions) w.value(v);
  w.end_array().key("platform").value(m.platform).key("inputs");
  write_specs(w, m.inputs);
  w.key("outputs");
  write_specs(w, m.outputs);
  w.end_object();
  return std::move(w.out);
}

std::string get_string(element obj, const char* key, const std::string& what, bool required) {
  element v;
  if (obj[key].get(v)) {
    if (required) throw HttpError(400, what + ": missing \"" + key + "\"");
    return {};
  }
  if (v.type() != element_type::STRING)
    throw HttpError(400, what + ": \"" + key + "\" must be a string, not " + std::string(json::type_name(v.type())));
  return std::string(std::string_view(v));
}

// A boolean parameter (absent: `dflt`).
bool bool_param(const std::optional<element>& params, const char* key, const std::string& what, bool dflt) {
  if (!params) return dflt;
  element v;
  if ((*params)[key].get(v)) return dflt;
  if (v.type() != element_type::BOOL) throw HttpError(400, what + ": parameter \"" + key + "\" must be a boolean");
  return bool(v);
}

// (A default-constructed element has no document: absent fields are nullopt.)
std::optional<element> object_field(element obj, const char* key, const std::string& what) {
  element v;
  if (obj[key].get(v)) return std::nullopt;
  if (v.type() != element_type::OBJECT) throw HttpError(400, what + ": \"" + key + "\" must be an object");
  return v;
}

struct ParsedInfer {
  InferRequest req;
  std::vector<bool> binary_out;  // per requested output
  bool all_binary = false;       // binary_data_output
};

ParsedInfer parse_infer(const Request& http, std::string name, std::string version) {
  std::string_view body = http.body;
  size_t header_len = body.size();
  if (auto* h = http.header("inference-header-content-length")) {
    auto [p, ec] = std::from_chars(h->data(), h->data() + h->size(), header_len);
    if (ec != std::errc() || p != h->data() + h->size() || header_len > body.size())
      throw HttpError(400, "Inference-Header-Content-Length must be a byte count within the body (body has " +
                               std::to_string(body.size()) + " bytes)");
  }
  element root = json::parse(body.substr(0, header_len));
  if (root.type() != element_type::OBJECT) throw HttpError(400, "the inference request must be a JSON object");
  ParsedInfer out;
  InferRequest& r = out.req;
  r.model = std::move(name);
  r.version = std::move(version);
  r.id = get_string(root, "id", "request", false);
  std::optional<element> params = object_field(root, "parameters", "request");
  if (params) {
    for (auto [k, v] : simdjson::dom::object(*params)) r.parameters[std::string(k)] = simdjson::to_string(v);
    out.all_binary = bool_param(params, "binary_data_output", "request", false);
  }

  element inputs;
  if (root["inputs"].get(inputs) || inputs.type() != element_type::ARRAY)
    throw HttpError(400, "the inference request needs an \"inputs\" array");
  size_t offset = header_len;  // binary tensors follow the JSON header in input order
  std::unordered_set<std::string> seen;
  for (element in : simdjson::dom::array(inputs)) {
    if (in.type() != element_type::OBJECT) throw HttpError(400, "each input must be an object");
    std::string iname = get_string(in, "name", "input", true);
    std::string what = "input '" + iname + "'";
    if (!seen.insert(iname).second) throw HttpError(400, what + " given twice");
    std::string datatype = get_string(in, "datatype", what, true);
    element shape_el;
    if (in["shape"].get(shape_el) || shape_el.type() != element_type::ARRAY)
      throw HttpError(400, what + ": \"shape\" must be an array of sizes");
    std::vector<int64_t> shape;
    for (element d : simdjson::dom::array(shape_el)) {
      int64_t v;
      if (d.get_int64().get(v) || v < 0) throw HttpError(400, what + ": sizes in \"shape\" must be integers >= 0");
      shape.push_back(v);
    }
    if (shape.size() > 32) throw HttpError(400, what + ": more than 32 dimensions");
    std::optional<element> iparams = object_field(in, "parameters", what);
    element bsize;
    if (iparams && !(*iparams)["binary_data_size"].get(bsize)) {
      uint64_t n;
      if (bsize.get_uint64().get(n)) throw HttpError(400, what + ": binary_data_size must be an integer >= 0");
      if (n > body.size() - offset)
        throw HttpError(400, what + ": binary_data_size " + std::to_string(n) + " runs past the end of the body");
      r.inputs.push_back(tensor_from_binary(iname, datatype, std::move(shape), body.substr(offset, n)));
      offset += n;
      continue;
    }
    element data;
    if (in["data"].get(data)) throw HttpError(400, what + ": missing \"data\" (or a binary_data_size parameter)");
    r.inputs.push_back(tensor_from_json(iname, datatype, std::move(shape), data));
  }
  if (offset != body.size())
    throw HttpError(
        400, "the body has " + std::to_string(body.size() - offset) + " bytes after the JSON header and binary inputs");

  element outputs;
  if (!root["outputs"].get(outputs)) {
    if (outputs.type() != element_type::ARRAY) throw HttpError(400, "\"outputs\" must be an array");
    for (element o : simdjson::dom::array(outputs)) {
      if (o.type() != element_type::OBJECT) throw HttpError(400, "each requested output must be an object");
      std::string oname = get_string(o, "name", "output", true);
      std::optional<element> oparams = object_field(o, "parameters", "output '" + oname + "'");
      if (oparams) {
        element cls;
        if (!(*oparams)["classification"].get(cls))
          throw HttpError(400, "output '" + oname + "': the classification extension is not supported");
      }
      out.binary_out.push_back(bool_param(oparams, "binary_data", "output '" + oname + "'", out.all_binary));
      r.outputs.push_back(std::move(oname));
    }
  }
  return out;
}

Response infer_response(const InferResponse& resp, const std::vector<std::string>& requested,
                        const std::vector<bool>& binary_out, bool all_binary) {
  json::Writer w;
  w.begin_object().key("model_name").value(resp.model).key("model_version").value(resp.version);
  if (!resp.id.empty()) w.key("id").value(resp.id);
  w.key("outputs").begin_array();
  std::string binary;
  for (auto& t : resp.outputs) {
    bool bin = all_binary;
    for (size_t i = 0; i < requested.size(); ++i)
      if (requested[i] == t.name) bin = binary_out[i];
    w.begin_object().key("name").value(t.name).key("datatype").value(t.datatype).key("shape").begin_array();
    for (int64_t d : t.shape) w.value(d);
    w.end_array();
    if (bin) {
      std::string raw = tensor_to_binary(t);
      w.key("parameters").begin_object().key("binary_data_size").value(raw.size()).end_object();
      binary += raw;
    } else {
      w.key("data");
      write_values(w, t, 0, t.shape, false, false);
    }
    w.end_object();
  }
  w.end_array().end_object();
  Response r;
  if (binary.empty() && !all_binary) {
    r.body = std::move(w.out);
    return r;
  }
  r.content_type = "application/octet-stream";
  r.headers.emplace_back("Inference-Header-Content-Length", std::to_string(w.out.size()));
  r.body = std::move(w.out);
  r.body += binary;
  return r;
}

// Triton's model repository extension: POST /v2/repository/index and
// /v2/repository/models/NAME/load|unload (the last two only with explicit control).
void repository_route(Context& ctx, Request& req, Reply& reply, const std::vector<std::string_view>& parts) {
  bool index = parts.size() == 3 && parts[2] == "index";
  bool control = parts.size() == 5 && parts[2] == "models" && (parts[4] == "load" || parts[4] == "unload");
  if (!index && !control) return reply(error_response(404, "no route for " + req.method + " " + req.path));
  if (req.method != "POST") return reply(method_not_allowed("POST"));
  bool ready_only = false;
  if (index && !req.body.empty()) {  // load/unload take no parameters: their body is ignored
    element root = json::parse(req.body);
    if (root.type() != element_type::OBJECT) throw HttpError(400, "the request body must be a JSON object");
    for (auto [k, v] : simdjson::dom::object(root))
      if (k != "ready") throw HttpError(400, "unknown field \"" + std::string(k) + "\" (only \"ready\")");
    element r;
    if (!root["ready"].get(r)) {
      if (r.type() != element_type::BOOL) throw HttpError(400, "\"ready\" must be a boolean");
      ready_only = bool(r);
    }
  }
  if (index) {
    json::Writer w;
    w.begin_array();
    for (auto& e : ctx.models.index(ready_only)) {
      w.begin_object().key("name").value(e.name);
      if (!e.version.empty()) w.key("version").value(e.version);
      w.key("state").value(e.state);
      if (!e.reason.empty()) w.key("reason").value(e.reason);
      w.end_object();
    }
    w.end_array();
    return reply(json_response(200, std::move(w.out)));
  }
  std::string name(parts[3]);
  if (!valid_name(name)) throw HttpError(400, "invalid model name");
  if (parts[4] == "load")
    ctx.models.load(name);
  else
    ctx.models.unload(name);
  reply(json_response(200, "{}"));
}

}  // namespace

void check_request(const InferRequest& req, const ModelMetadata& meta) {
  auto names = [](const std::vector<TensorSpec>& specs) {
    std::string s;
    for (auto& t : specs) s += (s.empty() ? "" : ", ") + t.name;
    return s;
  };
  std::unordered_set<std::string> given;
  for (auto& in : req.inputs) {
    const TensorSpec* spec = nullptr;
    for (auto& s : meta.inputs)
      if (s.name == in.name) spec = &s;
    std::string what = "input '" + in.name + "'";
    if (!spec)
      throw HttpError(400,
                      "model '" + meta.name + "' has no input '" + in.name + "' (inputs: " + names(meta.inputs) + ")");
    if (!given.insert(in.name).second) throw HttpError(400, what + " given twice");
    if (in.datatype != spec->datatype)
      throw HttpError(400, what + ": datatype " + in.datatype + " but the model expects " + spec->datatype);
    if (!spec->has_shape) continue;
    bool ok = in.shape.size() == spec->shape.size();
    for (size_t d = 0; ok && d < in.shape.size(); ++d) ok = spec->shape[d] < 0 || spec->shape[d] == in.shape[d];
    if (!ok) {
      auto str = [](const std::vector<int64_t>& s) {
        std::string o = "[";
        for (size_t i = 0; i < s.size(); ++i) o += (i ? ", " : "") + std::to_string(s[i]);
        return o + "]";
      };
      throw HttpError(400, what + ": shape " + str(in.shape) + " does not match the model's " + str(spec->shape) +
                               " (-1: any size)");
    }
  }
  for (auto& s : meta.inputs)
    if (!given.count(s.name)) throw HttpError(400, "missing input '" + s.name + "' of model '" + meta.name + "'");
  std::unordered_set<std::string> outs;
  for (auto& o : req.outputs) {
    bool found = false;
    for (auto& s : meta.outputs) found = found || s.name == o;
    if (!found)
      throw HttpError(400,
                      "model '" + meta.name + "' has no output '" + o + "' (outputs: " + names(meta.outputs) + ")");
    if (!outs.insert(o).second) throw HttpError(400, "output '" + o + "' requested twice");
  }
}

bool oip_route(Context& ctx, Request& req, Reply& reply) {
  auto parts = split_path(req.path);
  if (parts.empty() || parts[0] != "v2") return false;
  bool get = req.method == "GET" || req.method == "HEAD";
  if (parts.size() == 1) {
    if (!get) return reply(method_not_allowed("GET")), true;
    json::Writer w;
    w.begin_object().key("name").value("tessel").key("version").value(ctx.server_version);
    w.key("extensions").begin_array().value("binary_tensor_data").end_array().end_object();
    reply(json_response(200, std::move(w.out)));
    return true;
  }
  if (parts[1] == "health" && parts.size() == 3 && (parts[2] == "live" || parts[2] == "ready")) {
    if (!get) return reply(method_not_allowed("GET")), true;
    bool live = parts[2] == "live";
    bool ok = live || ctx.models.ready();
    std::string body = std::string("{\"") + (live ? "live" : "ready") + "\":" + (ok ? "true" : "false") + "}";
    Response r = json_response(ok ? 200 : 503, std::move(body));
    if (!ok) r.headers.emplace_back("Retry-After", "1");
    reply(std::move(r));
    return true;
  }
  if (parts[1] == "repository") return repository_route(ctx, req, reply, parts), true;
  if (parts[1] != "models" || parts.size() < 3) return false;
  // /v2/models/NAME[/versions/V][/ready|/infer]
  std::string name(parts[2]);
  std::string version;
  size_t i = 3;
  if (parts.size() >= 5 && parts[3] == "versions") {
    version = std::string(parts[4]);
    i = 5;
  }
  std::string_view action = i < parts.size() ? parts[i] : std::string_view();
  if (i + (action.empty() ? 0 : 1) != parts.size() ||
      !(action.empty() || action == "ready" || action == "infer" || action == "config"))
    return false;
  if (!valid_name(name)) throw HttpError(400, "invalid model name");
  if (!version.empty() && !valid_name(version)) throw HttpError(400, "invalid model version");

  if (action.empty()) {
    if (!get) return reply(method_not_allowed("GET")), true;
    reply(json_response(200, model_metadata_json(ctx.models.metadata(name, version))));
    return true;
  }
  if (action == "config") {
    if (!get) return reply(method_not_allowed("GET")), true;
    reply(json_response(200, ctx.models.config_json(name, version)));
    return true;
  }
  if (action == "ready") {
    if (!get) return reply(method_not_allowed("GET")), true;
    bool ok = ctx.models.model_ready(name, version);
    json::Writer w;
    w.begin_object().key("name").value(name).key("ready").value(ok).end_object();
    reply(json_response(ok ? 200 : 503, std::move(w.out)));
    return true;
  }
  if (req.method != "POST") return reply(method_not_allowed("POST")), true;
  ModelMetadata meta = ctx.models.metadata(name, version);
  ParsedInfer parsed;
  try {
    parsed = parse_infer(req, name, version);
    check_request(parsed.req, meta);
  } catch (...) {
    ctx.models.count_refused(name, version, exception_response(std::current_exception()).status);
    throw;
  }
  std::vector<std::string> requested = parsed.req.outputs;
  // The callback runs on a batcher worker: it hands the outputs over, and the
  // JSON is written on the connection's loop (Response::deferred).
  ctx.models.infer(
      std::move(parsed.req), [reply, requested, binary_out = std::move(parsed.binary_out),
                              all_binary = parsed.all_binary](InferResponse&& resp, std::exception_ptr e) mutable {
        if (e) return reply(exception_response(e));
        Response r;
        r.deferred = [resp = std::move(resp), requested = std::move(requested), binary_out = std::move(binary_out),
                      all_binary] { return infer_response(resp, requested, binary_out, all_binary); };
        reply(std::move(r));
      });
  return true;
}

}  // namespace tessel::serve
