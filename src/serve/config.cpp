// config.pbtxt parsing (protobuf TextFormat over model_config.proto) and the
// checks of a config against the ONNX model it describes.
#include "serve/config.h"

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include "model_config.pb.h"
#include "tessel/error.h"
#include "tessel/onnx.h"

namespace tessel::serve {

namespace {

[[noreturn]] void config_error(const std::string& path, const std::string& msg) { throw ValueError(path + ": " + msg); }

const std::unordered_map<std::string, DType>& oip_dtypes() {
  static const std::unordered_map<std::string, DType> m = {
      {"BOOL", DType::Bool},     {"UINT8", DType::UInt8},   {"UINT16", DType::UInt16},  {"UINT32", DType::UInt32},
      {"UINT64", DType::UInt64}, {"INT8", DType::Int8},     {"INT16", DType::Int16},    {"INT32", DType::Int32},
      {"INT64", DType::Int64},   {"FP16", DType::Float16},  {"BF16", DType::BFloat16},  {"FP32", DType::Float32},
      {"FP64", DType::Float64}};
  return m;
}

std::string triton_to_oip(tessel_serve::DataType t) {
  switch (t) {
    case tessel_serve::TYPE_BOOL:
      return "BOOL";
    case tessel_serve::TYPE_UINT8:
      return "UINT8";
    case tessel_serve::TYPE_UINT16:
      return "UINT16";
    case tessel_serve::TYPE_UINT32:
      return "UINT32";
    case tessel_serve::TYPE_UINT64:
      return "UINT64";
    case tessel_serve::TYPE_INT8:
      return "INT8";
    case tessel_serve::TYPE_INT16:
      return "INT16";
    case tessel_serve::TYPE_INT32:
      return "INT32";
    case tessel_serve::TYPE_INT64:
      return "INT64";
    case tessel_serve::TYPE_FP16:
      return "FP16";
    case tessel_serve::TYPE_FP32:
      return "FP32";
    case tessel_serve::TYPE_FP64:
      return "FP64";
    case tessel_serve::TYPE_STRING:
      return "BYTES";
    case tessel_serve::TYPE_BF16:
      return "BF16";
    default:
      return "";
  }
}

std::string oip_to_triton(const std::string& oip) { return oip == "BYTES" ? "TYPE_STRING" : "TYPE_" + oip; }

// ONNX element type ("tensor(float)") -> OIP name; "" when OIP has none.
std::string onnx_to_oip(const std::string& onnx_type) {
  static const std::unordered_map<std::string, std::string> m = {
      {"tensor(float)", "FP32"},    {"tensor(double)", "FP64"},   {"tensor(float16)", "FP16"},
      {"tensor(bfloat16)", "BF16"}, {"tensor(int8)", "INT8"},     {"tensor(int16)", "INT16"},
      {"tensor(int32)", "INT32"},   {"tensor(int64)", "INT64"},   {"tensor(uint8)", "UINT8"},
      {"tensor(uint16)", "UINT16"}, {"tensor(uint32)", "UINT32"}, {"tensor(uint64)", "UINT64"},
      {"tensor(bool)", "BOOL"},     {"tensor(string)", "BYTES"}};
  auto it = m.find(onnx_type);
  return it == m.end() ? "" : it->second;
}

class Collector : public google::protobuf::io::ErrorCollector {
 public:
  explicit Collector(std::string path) : path_(std::move(path)) {}
  void AddError(int line, google::protobuf::io::ColumnNumber col, const std::string& message) override {
    if (first_.empty())
      first_ = path_ + ":" + std::to_string(line + 1) + ":" + std::to_string(col + 1) + ": " + message;
  }
  const std::string& first() const { return first_; }

 private:
  std::string path_, first_;
};

std::string dims_str(const std::vector<int64_t>& d) {
  std::ostringstream os;
  os << d;
  return os.str();
}

}  // namespace

std::optional<DType> oip_to_dtype(const std::string& datatype) {
  auto it = oip_dtypes().find(datatype);
  if (it == oip_dtypes().end()) return std::nullopt;
  return it->second;
}

std::string dtype_to_oip(DType dtype) {
  for (const auto& [name, dt] : oip_dtypes())
    if (dt == dtype) return name;
  return "";  // complex: no OIP name
}

bool is_oip_datatype(const std::string& datatype) {
  return oip_dtypes().count(datatype) || datatype == "BYTES";
}

ModelConfig parse_model_config(const std::string& text, const std::string& path) {
  tessel_serve::ModelConfig pb;
  google::protobuf::TextFormat::Parser parser;
  Collector errors(path);
  parser.RecordErrorsTo(&errors);
  parser.SetRecursionLimit(32);
  if (!parser.ParseFromString(text, &pb)) {
    if (errors.first().empty()) config_error(path, "could not parse the config");
    throw ValueError(errors.first());
  }

  ModelConfig c;
  c.has_file = true;
  c.name = pb.name();
  c.platform = pb.platform();
  c.backend = pb.backend();
  if (!c.platform.empty() && c.platform != "onnxruntime_onnx" && c.platform != "tessel_onnx")
    config_error(path, "platform '" + c.platform + "' is not served (onnxruntime_onnx or tessel_onnx)");
  if (!c.backend.empty() && c.backend != "onnxruntime" && c.backend != "tessel")
    config_error(path, "backend '" + c.backend + "' is not served (onnxruntime or tessel)");
  c.max_batch_size = pb.max_batch_size();
  if (c.max_batch_size < 0) config_error(path, "max_batch_size must be >= 0, got " + std::to_string(c.max_batch_size));
  c.default_model_filename = pb.default_model_filename().empty() ? "model.onnx" : pb.default_model_filename();
  if (c.default_model_filename.find('/') != std::string::npos || c.default_model_filename == ".." ||
      c.default_model_filename == ".")
    config_error(path, "default_model_filename must be a file name, got '" + c.default_model_filename + "'");

  auto tensors = [&](const auto& list, const char* what) {
    std::vector<TensorConfig> out;
    for (const auto& t : list) {
      if (t.name().empty()) config_error(path, std::string(what) + " without a name");
      for (const auto& o : out)
        if (o.name == t.name()) config_error(path, std::string(what) + " '" + t.name() + "' is listed twice");
      TensorConfig tc{t.name(), triton_to_oip(t.data_type()), {t.dims().begin(), t.dims().end()}};
      if (tc.datatype.empty()) config_error(path, std::string(what) + " '" + t.name() + "' needs a data_type");
      for (int64_t d : tc.dims)
        if (d < -1) config_error(path, std::string(what) + " '" + t.name() + "' has a bad dim " + std::to_string(d));
      out.push_back(std::move(tc));
    }
    return out;
  };
  c.input = tensors(pb.input(), "input");
  c.output = tensors(pb.output(), "output");

  if (pb.has_dynamic_batching()) {
    if (c.max_batch_size == 0) config_error(path, "dynamic_batching needs max_batch_size > 0");
    const auto& db = pb.dynamic_batching();
    DynamicBatching d;
    for (int32_t p : db.preferred_batch_size()) {
      if (p < 1 || p > c.max_batch_size)
        config_error(path, "preferred_batch_size " + std::to_string(p) + " is outside 1.." +
                               std::to_string(c.max_batch_size) + " (max_batch_size)");
      d.preferred_batch_size.push_back(p);
    }
    std::sort(d.preferred_batch_size.begin(), d.preferred_batch_size.end());
    d.max_queue_delay_us = db.max_queue_delay_microseconds();
    const auto& q = db.default_queue_policy();
    d.default_queue_policy.timeout_action = q.timeout_action() == tessel_serve::ModelQueuePolicy::DELAY
                                                ? QueuePolicy::TimeoutAction::Delay
                                                : QueuePolicy::TimeoutAction::Reject;
    d.default_queue_policy.default_timeout_us = q.default_timeout_microseconds();
    d.default_queue_policy.allow_timeout_override = q.allow_timeout_override();
    d.default_queue_policy.max_queue_size = q.max_queue_size();
    c.dynamic_batching = d;
  }

  int count = 0;
  for (const auto& g : pb.instance_group()) {
    if (g.kind() == tessel_serve::ModelInstanceGroup::KIND_GPU)
      config_error(path, "instance_group kind KIND_GPU is not served: tessel-serve runs models on the CPU (KIND_CPU)");
    if (g.count() < 0) config_error(path, "instance_group count must be >= 1, got " + std::to_string(g.count()));
    count += g.count() == 0 ? 1 : g.count();  // Triton's default count is 1
  }
  if (count > 256) config_error(path, "instance_group count " + std::to_string(count) + " is over 256");
  c.instance_count = count == 0 ? 1 : count;

  for (const auto& [key, value] : pb.parameters()) {
    if (key != "intra_op_thread_count")
      config_error(path, "parameters: unknown key '" + key + "' (tessel-serve reads intra_op_thread_count)");
    const std::string& v = value.string_value();
    if (v.empty() || v.size() > 3 || !std::all_of(v.begin(), v.end(), [](char ch) { return ch >= '0' && ch <= '9'; }) ||
        std::stoi(v) < 1)
      config_error(path, "parameters: intra_op_thread_count must be a whole number >= 1, got '" + v + "'");
    c.intra_op_threads = std::stoi(v);
  }

  if (pb.has_version_policy()) {
    const auto& vp = pb.version_policy();
    if (vp.has_latest()) {
      c.version_policy.kind = VersionPolicy::Kind::Latest;
      c.version_policy.num_versions = vp.latest().num_versions();
      if (c.version_policy.num_versions == 0) config_error(path, "version_policy latest needs num_versions >= 1");
    } else if (vp.has_all()) {
      c.version_policy.kind = VersionPolicy::Kind::All;
    } else if (vp.has_specific()) {
      c.version_policy.kind = VersionPolicy::Kind::Specific;
      if (vp.specific().versions().empty()) config_error(path, "version_policy specific needs at least one version");
      for (int64_t v : vp.specific().versions()) {
        if (v < 1) config_error(path, "version_policy specific: version " + std::to_string(v) + " is not >= 1");
        c.version_policy.versions.push_back(v);
      }
    } else {
      config_error(path, "version_policy needs one of latest, all or specific");
    }
  }
  return c;
}

ModelConfig load_model_config(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) config_error(path, "cannot be read");
  std::ostringstream ss;
  ss << f.rdbuf();
  if (ss.str().size() > (1u << 20)) config_error(path, "is over 1 MiB");
  return parse_model_config(ss.str(), path);
}

void complete_model_config(ModelConfig& c, const onnx::Model& model, const std::string& path) {
  const bool batched = c.max_batch_size > 0;
  // The model's view of a tensor: OIP datatype and dims as the config writes them.
  auto model_dims = [&](const onnx::ValueInfo& v, const char* what) {
    std::vector<int64_t> dims;
    if (!v.has_shape) {
      if (batched)
        config_error(path, std::string(what) + " '" + v.name + "' has no known rank; max_batch_size > 0 needs one");
      return dims;  // rank unknown: left unchecked
    }
    for (const auto& d : v.shape) dims.push_back(std::holds_alternative<int64_t>(d) ? std::get<int64_t>(d) : -1);
    if (batched) {
      if (dims.empty() || dims[0] != -1)
        config_error(path, std::string(what) + " '" + v.name + "' has shape " + dims_str(dims) +
                               ": max_batch_size > 0 needs a variable first (batch) dim");
      dims.erase(dims.begin());
    }
    return dims;
  };
  auto check = [&](std::vector<TensorConfig>& cfg, const std::vector<onnx::ValueInfo>& infos, const char* what,
                   bool all_required) {
    std::vector<TensorConfig> from_model;
    std::vector<bool> rank_known;
    for (const auto& v : infos) {
      rank_known.push_back(v.has_shape);
      const std::string dt = onnx_to_oip(v.onnx_type);
      if (dt.empty() || (dt != "BYTES" && !oip_to_dtype(dt)))
        config_error(path, std::string("model ") + what + " '" + v.name + "' has type " + v.onnx_type +
                               ", which tessel-serve cannot serve");
      from_model.push_back({v.name, dt, model_dims(v, what)});
    }
    if (cfg.empty()) {
      cfg = from_model;
      return;
    }
    for (auto& t : cfg) {
      auto it = std::find_if(from_model.begin(), from_model.end(), [&](const auto& m) { return m.name == t.name; });
      if (it == from_model.end()) config_error(path, std::string(what) + " '" + t.name + "' is not in the model");
      if (t.datatype != it->datatype)
        config_error(path, std::string(what) + " '" + t.name + "': data_type " + oip_to_triton(t.datatype) +
                               " does not match the model's " + oip_to_triton(it->datatype));
      const auto& md = it->dims;
      bool ok = !rank_known[static_cast<size_t>(it - from_model.begin())] || md.size() == t.dims.size();
      for (size_t i = 0; ok && i < md.size(); ++i) ok = md[i] == -1 || t.dims[i] == -1 || md[i] == t.dims[i];
      // A config dim of -1 where the model fixes the size takes the model's size.
      for (size_t i = 0; ok && i < md.size(); ++i)
        if (t.dims[i] == -1) t.dims[i] = md[i];
      if (!ok)
        config_error(path, std::string(what) + " '" + t.name + "': dims " + dims_str(t.dims) +
                               " do not match the model's " + dims_str(md) +
                               (batched ? " (without the batch dim, max_batch_size > 0)" : ""));
    }
    if (all_required)
      for (const auto& m : from_model)
        if (std::none_of(cfg.begin(), cfg.end(), [&](const auto& t) { return t.name == m.name; }))
          config_error(path, std::string("model ") + what + " '" + m.name + "' is missing from the config");
  };
  check(c.input, model.inputs(), "input", true);
  check(c.output, model.outputs(), "output", false);
  for (const auto& t : c.input) {
    // BYTES inputs (ONNX tensor(string)) are fed to the model as string tensors.
    if (t.datatype != "BYTES" && !oip_to_dtype(t.datatype))
      config_error(path, "input '" + t.name + "' has datatype " + t.datatype + ", which tessel's tensors cannot hold");
  }
}

namespace {

void json_string(std::ostringstream& os, const std::string& s) {
  os << '"';
  for (unsigned char ch : s) {
    if (ch == '"' || ch == '\\') {
      os << '\\' << ch;
    } else if (ch < 0x20) {
      const char* hex = "0123456789abcdef";
      os << "\\u00" << hex[ch >> 4] << hex[ch & 15];
    } else {
      os << ch;
    }
  }
  os << '"';
}

void json_tensors(std::ostringstream& os, const std::vector<TensorConfig>& ts) {
  os << '[';
  for (size_t i = 0; i < ts.size(); ++i) {
    if (i) os << ',';
    os << "{\"name\":";
    json_string(os, ts[i].name);
    os << ",\"data_type\":\"" << oip_to_triton(ts[i].datatype) << "\",\"dims\":[";
    for (size_t j = 0; j < ts[i].dims.size(); ++j) os << (j ? "," : "") << ts[i].dims[j];
    os << "]}";
  }
  os << ']';
}

}  // namespace

std::string model_config_json(const ModelConfig& c) {
  std::ostringstream os;
  os << "{\"name\":";
  json_string(os, c.name);
  os << ",\"platform\":";
  json_string(os, c.platform.empty() ? "onnxruntime_onnx" : c.platform);
  os << ",\"backend\":";
  json_string(os, c.backend.empty() ? "onnxruntime" : c.backend);
  os << ",\"version_policy\":";
  switch (c.version_policy.kind) {
    case VersionPolicy::Kind::Latest:
      os << "{\"latest\":{\"num_versions\":" << c.version_policy.num_versions << "}}";
      break;
    case VersionPolicy::Kind::All:
      os << "{\"all\":{}}";
      break;
    case VersionPolicy::Kind::Specific:
      os << "{\"specific\":{\"versions\":[";
      for (size_t i = 0; i < c.version_policy.versions.size(); ++i)
        os << (i ? "," : "") << c.version_policy.versions[i];
      os << "]}}";
      break;
  }
  os << ",\"max_batch_size\":" << c.max_batch_size << ",\"input\":";
  json_tensors(os, c.input);
  os << ",\"output\":";
  json_tensors(os, c.output);
  if (c.dynamic_batching) {
    const auto& d = *c.dynamic_batching;
    os << ",\"dynamic_batching\":{\"preferred_batch_size\":[";
    for (size_t i = 0; i < d.preferred_batch_size.size(); ++i) os << (i ? "," : "") << d.preferred_batch_size[i];
    const auto& q = d.default_queue_policy;
    os << "],\"max_queue_delay_microseconds\":" << d.max_queue_delay_us
       << ",\"default_queue_policy\":{\"timeout_action\":\""
       << (q.timeout_action == QueuePolicy::TimeoutAction::Delay ? "DELAY" : "REJECT")
       << "\",\"default_timeout_microseconds\":" << q.default_timeout_us
       << ",\"allow_timeout_override\":" << (q.allow_timeout_override ? "true" : "false")
       << ",\"max_queue_size\":" << q.max_queue_size << "}}";
  }
  if (c.intra_op_threads > 0)
    os << ",\"parameters\":{\"intra_op_thread_count\":{\"string_value\":\"" << c.intra_op_threads << "\"}}";
  os << ",\"instance_group\":[{\"count\":" << c.instance_count
     << ",\"kind\":\"KIND_CPU\"}],\"default_model_filename\":";
  json_string(os, c.default_model_filename);
  os << '}';
  return os.str();
}

}  // namespace tessel::serve
