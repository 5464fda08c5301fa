// TF-Serving's REST API: model status, metadata and :predict with the row
// ("instances") and columnar ("inputs") formats, {"b64": ...} binary values.
#include "serve/codec.h"
#include "serve/json.h"
#include "serve/protocol.h"

namespace tessel::serve {

using simdjson::dom::element;
using simdjson::dom::element_type;

namespace {

const char* tf_dtype(std::string_view dt) {
  static const std::pair<const char*, const char*> table[] = {
      {"BOOL", "DT_BOOL"},     {"UINT8", "DT_UINT8"}, {"UINT16", "DT_UINT16"}, {"UINT32", "DT_UINT32"},
      {"UINT64", "DT_UINT64"}, {"INT8", "DT_INT8"},   {"INT16", "DT_INT16"},   {"INT32", "DT_INT32"},
      {"INT64", "DT_INT64"},   {"FP16", "DT_HALF"},   {"BF16", "DT_BFLOAT16"}, {"FP32", "DT_FLOAT"},
      {"FP64", "DT_DOUBLE"},   {"BYTES", "DT_STRING"}};
  for (auto& [k, v] : table)
    if (dt == k) return v;
  return "DT_INVALID";
}

bool is_b64(element el) {
  if (el.type() != element_type::OBJECT) return false;
  simdjson::dom::object o(el);
  element v;
  return o.size() == 1 && !o["b64"].get(v);
}

// The shape of a nested list, read along its first elements.
std::vector<int64_t> probe_shape(element el) {
  std::vector<int64_t> shape;
  while (el.type() == element_type::ARRAY) {
    simdjson::dom::array a(el);
    shape.push_back(static_cast<int64_t>(a.size()));
    if (shape.size() > json::kMaxDepth) throw HttpError(400, "values nested too deeply");
    if (a.size() == 0) break;
    el = a.at(0).value_unsafe();
  }
  return shape;
}

// Leaves of `el` in row-major order; every sub-list must have the probed shape.
void gather(element el, const std::vector<int64_t>& shape, size_t d, std::vector<element>& leaves,
            const std::string& what) {
  if (d == shape.size()) {
    if (el.type() == element_type::ARRAY) throw HttpError(400, what + ": ragged nested lists");
    leaves.push_back(el);
    return;
  }
  if (el.type() != element_type::ARRAY || static_cast<int64_t>(simdjson::dom::array(el).size()) != shape[d])
    throw HttpError(400, what + ": nested lists must all have the same length at each level");
  for (element c : simdjson::dom::array(el)) gather(c, shape, d + 1, leaves, what);
}

const TensorSpec& input_spec(const ModelMetadata& meta, const std::string& name) {
  for (auto& s : meta.inputs)
    if (s.name == name) return s;
  std::string names;
  for (auto& s : meta.inputs) names += (names.empty() ? "" : ", ") + s.name;
  throw HttpError(400, "model '" + meta.name + "' has no input '" + name + "' (inputs: " + names + ")");
}

NamedTensor column_tensor(element value, const TensorSpec& spec) {
  std::string what = "input '" + spec.name + "'";
  std::vector<int64_t> shape = probe_shape(value);
  std::vector<element> leaves;
  gather(value, shape, 0, leaves, what);
  return tensor_from_leaves(spec.name, spec.datatype, std::move(shape), leaves, true);
}

// Row format: one named value per instance, stacked along a new first dimension.
NamedTensor row_tensor(simdjson::dom::array instances, const TensorSpec& spec) {
  std::string what = "input '" + spec.name + "'";
  std::vector<int64_t> inner;
  std::vector<element> leaves;
  bool first = true;
  for (element inst : instances) {
    element v;
    if (inst[spec.name].get(v)) throw HttpError(400, "an instance lacks input '" + spec.name + "'");
    std::vector<int64_t> s = probe_shape(v);
    if (first)
      inner = s;
    else if (s != inner)
      throw HttpError(400, what + ": instances have different shapes");
    first = false;
    gather(v, inner, 0, leaves, what);
  }
  std::vector<int64_t> shape{static_cast<int64_t>(instances.size())};
  shape.insert(shape.end(), inner.begin(), inner.end());
  return tensor_from_leaves(spec.name, spec.datatype, std::move(shape), leaves, true);
}

// Outputs whose name ends in "_bytes" come back as {"b64": ...}, as in TF-Serving.
bool b64_output(const std::string& name) { return name.size() >= 6 && name.compare(name.size() - 6, 6, "_bytes") == 0; }

std::string predict_response(const InferResponse& resp, bool row) {
  json::Writer w;
  w.begin_object();
  if (row) {
    w.key("predictions");
    if (resp.outputs.size() == 1) {
      auto& t = resp.outputs[0];
      write_values(w, t, 0, t.shape, true, b64_output(t.name));
    } else {
      int64_t n = -1;
      for (auto& t : resp.outputs) {
        int64_t b = t.shape.empty() ? -2 : t.shape[0];
        if (n == -1) n = b;
        if (b != n || b < 0)
          throw HttpError(400, "the outputs have different batch sizes; use the columnar (\"inputs\") format");
      }
      w.begin_array();
      for (int64_t i = 0; i < n; ++i) {
        w.begin_object();
        for (auto& t : resp.outputs) {
          std::vector<int64_t> inner(t.shape.begin() + 1, t.shape.end());
          int64_t step = 1;
          for (int64_t d : inner) step *= d;
          w.key(t.name);
          write_values(w, t, i * step, inner, true, b64_output(t.name));
        }
        w.end_object();
      }
      w.end_array();
    }
  } else {
    w.key("outputs");
    if (resp.outputs.size() == 1) {
      auto& t = resp.outputs[0];
      write_values(w, t, 0, t.shape, true, b64_output(t.name));
    } else {
      w.begin_object();
      for (auto& t : resp.outputs) {
        w.key(t.name);
        write_values(w, t, 0, t.shape, true, b64_output(t.name));
      }
      w.end_object();
    }
  }
  w.end_object();
  return std::move(w.out);
}

void status_json(json::Writer& w, const std::vector<VersionState>& states) {
  w.begin_object().key("model_version_status").begin_array();
  for (auto& s : states) {
    w.begin_object().key("version").value(s.version).key("state").value(s.state).key("status").begin_object();
    w.key("error_code").value(s.error.empty() ? "OK" : "UNKNOWN").key("error_message").value(s.error);
    w.end_object().end_object();
  }
  w.end_array().end_object();
}

void signature_json(json::Writer& w, const std::vector<TensorSpec>& specs) {
  w.begin_object();
  for (auto& s : specs) {
    w.key(s.name).begin_object().key("dtype").value(tf_dtype(s.datatype)).key("tensor_shape").begin_object();
    w.key("dim").begin_array();
    if (s.has_shape)
      for (int64_t d : s.shape)
        w.begin_object().key("size").value(std::to_string(d)).key("name").value("").end_object();
    w.end_array().key("unknown_rank").value(!s.has_shape).end_object();
    w.key("name").value(s.name).end_object();
  }
  w.end_object();
}

}  // namespace

// The InferRequest of a :predict body (row or columnar format); throws HttpError(400).
InferRequest predict_request(const Request& req, const ModelMetadata& meta, const std::string& model,
                             const std::string& version, bool& has_rows);

bool tfserving_route(Context& ctx, Request& req, Reply& reply) {
  std::string_view path = req.path;
  if (path.substr(0, 11) != "/v1/models/") return false;
  path.remove_prefix(11);
  // NAME[/versions/N][/metadata] or NAME[/versions/N]:predict
  std::string_view verb;
  if (auto c = path.rfind(':'); c != std::string_view::npos) {
    verb = path.substr(c + 1);
    path = path.substr(0, c);
  }
  std::string_view name = path.substr(0, path.find('/'));
  path.remove_prefix(name.size());
  std::string version;
  if (path.substr(0, 10) == "/versions/") {
    path.remove_prefix(10);
    std::string_view v = path.substr(0, path.find('/'));
    version = std::string(v);
    path.remove_prefix(v.size());
    if (version.empty()) return false;
  }
  bool metadata = path == "/metadata";
  if (!path.empty() && !metadata) return false;
  if (!valid_name(name)) throw HttpError(400, "invalid model name");
  if (!version.empty() && !valid_name(version)) throw HttpError(400, "invalid model version");
  std::string model(name);
  bool get = req.method == "GET" || req.method == "HEAD";

  if (verb.empty()) {
    if (!get) {
      Response r = error_response(405, "method not allowed; use GET");
      r.headers.emplace_back("Allow", "GET");
      return reply(std::move(r)), true;
    }
    json::Writer w;
    if (metadata) {
      ModelMetadata meta = ctx.models.metadata(model, version);
      w.begin_object().key("model_spec").begin_object().key("name").value(model).key("signature_name").value("");
      w.key("version").value(meta.version).end_object();
      w.key("metadata").begin_object().key("signature_def").begin_object().key("signature_def").begin_object();
      w.key("serving_default").begin_object().key("inputs");
      signature_json(w, meta.inputs);
      w.key("outputs");
      signature_json(w, meta.outputs);
      w.key("method_name").value("tensorflow/serving/predict").end_object();
      w.end_object().end_object().end_object().end_object();
    } else {
      std::vector<VersionState> states = ctx.models.versions(model);
      if (!version.empty()) {
        std::vector<VersionState> one;
        for (auto& s : states)
          if (s.version == version) one.push_back(s);
        if (one.empty()) throw HttpError(404, "model '" + model + "' has no version '" + version + "'");
        states = std::move(one);
      }
      status_json(w, states);
    }
    reply(json_response(200, std::move(w.out)));
    return true;
  }
  if (metadata) return false;
  if (verb != "predict") throw HttpError(400, "only :predict is supported (not :" + std::string(verb) + ")");
  if (req.method != "POST") {
    Response r = error_response(405, "method not allowed; use POST");
    r.headers.emplace_back("Allow", "POST");
    return reply(std::move(r)), true;
  }

  ModelMetadata meta = ctx.models.metadata(model, version);
  InferRequest ir;
  bool has_rows = false;
  try {
    ir = predict_request(req, meta, model, version, has_rows);
  } catch (...) {
    ctx.models.count_refused(model, version, exception_response(std::current_exception()).status);
    throw;
  }
  ctx.models.infer(std::move(ir), [reply, row = has_rows](InferResponse&& resp, std::exception_ptr e) {
    if (e) return reply(exception_response(e));
    Response r;  // encoded on the connection's loop, off the batcher worker
    r.deferred = [resp = std::move(resp), row] { return json_response(200, predict_response(resp, row)); };
    reply(std::move(r));
  });
  return true;
}

InferRequest predict_request(const Request& req, const ModelMetadata& meta, const std::string& model,
                             const std::string& version, bool& has_rows) {
  element root = json::parse(req.body);
  if (root.type() != element_type::OBJECT) throw HttpError(400, "the request must be a JSON object");
  element sig;
  if (!root["signature_name"].get(sig)) {
    std::string_view s;
    if (sig.get(s) || !(s.empty() || s == "serving_default"))
      throw HttpError(400, "unknown signature_name; this model has only \"serving_default\"");
  }
  element instances, inputs;
  has_rows = !root["instances"].get(instances);
  bool has_cols = !root["inputs"].get(inputs);
  if (has_rows == has_cols) throw HttpError(400, "the request needs exactly one of \"instances\" and \"inputs\"");

  InferRequest ir;
  ir.model = model;
  ir.version = version;
  if (has_rows) {
    if (instances.type() != element_type::ARRAY || simdjson::dom::array(instances).size() == 0)
      throw HttpError(400, "\"instances\" must be a non-empty list");
    simdjson::dom::array list(instances);
    element first = list.at(0).value_unsafe();
    bool named = first.type() == element_type::OBJECT && !is_b64(first);
    if (named) {
      for (element inst : list)
        if (inst.type() != element_type::OBJECT || is_b64(inst))
          throw HttpError(400, "either every instance is an object of named inputs or none is");
      for (auto& spec : meta.inputs) ir.inputs.push_back(row_tensor(list, spec));
      for (auto [k, v] : simdjson::dom::object(first)) input_spec(meta, std::string(k));  // unknown names
    } else {
      if (meta.inputs.size() != 1)
        throw HttpError(400, "the model has " + std::to_string(meta.inputs.size()) +
                                 " inputs: give each instance as an object of named inputs");
      ir.inputs.push_back(column_tensor(instances, meta.inputs[0]));
    }
  } else {
    if (inputs.type() == element_type::OBJECT && !is_b64(inputs)) {
      for (auto [k, v] : simdjson::dom::object(inputs))
        ir.inputs.push_back(column_tensor(v, input_spec(meta, std::string(k))));
    } else {
      if (meta.inputs.size() != 1)
        throw HttpError(400, "the model has " + std::to_string(meta.inputs.size()) +
                                 " inputs: give \"inputs\" as an object of named inputs");
      ir.inputs.push_back(column_tensor(inputs, meta.inputs[0]));
    }
  }
  check_request(ir, meta);
  return ir;
}

}  // namespace tessel::serve
