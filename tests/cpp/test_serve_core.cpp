// tessel-serve's model side without the network: config.pbtxt parsing, the model
// repository (layout, names, version policy, polling, explicit control), the
// dynamic batcher (merging, delays, full queue, timeouts) and the Prometheus text.
#include <gtest/gtest.h>
#include <tessel/onnx.h>
#include <tessel/tessel.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include "serve/config.h"
#include "serve/metrics.h"
#include "serve/protocol.h"
#include "serve/repository.h"

using namespace tessel;
using namespace tessel::serve;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

// A fresh folder per test, removed at the end.
struct TempDir {
  fs::path path;
  TempDir() {
    static int n = 0;
    path = fs::temp_directory_path() / ("tessel_serve_core_" + std::to_string(::getpid()) + "_" + std::to_string(n++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

// y = x * scale + shift with a dynamic batch dim (and a dynamic dim 1 when `ragged`).
void write_model(const fs::path& file, double scale, double shift = 0, bool ragged = false) {
  fs::create_directories(file.parent_path());
  onnx::ExportOptions o;
  o.input_names = {"x"};
  o.output_names = {"y"};
  if (ragged)
    o.dynamic_axes = {{"x", {{0, "batch"}, {1, "n"}}}, {"y", {{0, "batch"}, {1, "n"}}}};
  else
    o.dynamic_axes = {{"x", {{0, "batch"}}}, {"y", {{0, "batch"}}}};
  auto fn = [=](const std::vector<Tensor>& a) {
    return std::vector<Tensor>{add(mul(a[0], Scalar(scale)), Scalar(shift))};
  };
  onnx::export_function(fn, {ones({2, 4})}, {}, file.string(), o);
}

void write_file(const fs::path& file, const std::string& text) {
  fs::create_directories(file.parent_path());
  std::ofstream(file) << text;
}

InferRequest request_of(const Tensor& x, const std::string& id = "") {
  InferRequest r;
  r.id = id;
  r.inputs.push_back(NamedTensor{"x", "FP32", x.shape(), x, {}});
  return r;
}

double metric(const std::string& text, const std::string& line_prefix) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(line_prefix + " ", 0) == 0) return std::stod(line.substr(line_prefix.size() + 1));
  return -1;
}

template <class F>
int status_of(F&& f) {
  try {
    f();
  } catch (const HttpError& e) {
    return e.status;
  }
  return 200;
}

const char* kBatchConfig = R"(
name: "m"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [ { name: "x" data_type: TYPE_FP32 dims: [ 4 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ 4 ] } ]
dynamic_batching { preferred_batch_size: [ 4 ] max_queue_delay_microseconds: 1000000 }
)";

}  // namespace

// ---- config.pbtxt ----

TEST(ServeConfig, ParsesTritonVocabulary) {
  const auto c = parse_model_config(R"(
    # a Triton-style config
    name: "resnet"
    platform: "onnxruntime_onnx"
    max_batch_size: 16
    input [ { name: "x" data_type: TYPE_FP32 dims: [ 3, -1, 224 ] } ]
    output [ { name: "y" data_type: TYPE_INT64 dims: [ 1000 ] } ]
    dynamic_batching {
      preferred_batch_size: [ 8, 4 ]
      max_queue_delay_microseconds: 500
      default_queue_policy { timeout_action: REJECT default_timeout_microseconds: 2000 max_queue_size: 32 }
    }
    instance_group [ { count: 2 kind: KIND_CPU }, { kind: KIND_CPU } ]
    version_policy: { latest: { num_versions: 2 } }
  )",
                                    "resnet/config.pbtxt");
  EXPECT_EQ(c.name, "resnet");
  EXPECT_EQ(c.max_batch_size, 16);
  ASSERT_EQ(c.input.size(), 1u);
  EXPECT_EQ(c.input[0].datatype, "FP32");
  EXPECT_EQ(c.input[0].dims, (std::vector<int64_t>{3, -1, 224}));
  EXPECT_EQ(c.output[0].datatype, "INT64");
  ASSERT_TRUE(c.dynamic_batching.has_value());
  EXPECT_EQ(c.dynamic_batching->preferred_batch_size, (std::vector<int64_t>{4, 8}));
  EXPECT_EQ(c.dynamic_batching->max_queue_delay_us, 500u);
  EXPECT_EQ(c.dynamic_batching->default_queue_policy.default_timeout_us, 2000u);
  EXPECT_EQ(c.dynamic_batching->default_queue_policy.max_queue_size, 32u);
  EXPECT_EQ(c.instance_count, 3);
  EXPECT_EQ(c.version_policy.kind, VersionPolicy::Kind::Latest);
  EXPECT_EQ(c.version_policy.num_versions, 2u);

  const auto all = parse_model_config("version_policy: { all {} }", "a/config.pbtxt");
  EXPECT_EQ(all.version_policy.kind, VersionPolicy::Kind::All);
  const auto sp = parse_model_config("version_policy { specific { versions: [1, 3] } }", "a/config.pbtxt");
  EXPECT_EQ(sp.version_policy.kind, VersionPolicy::Kind::Specific);
  EXPECT_EQ(sp.version_policy.versions, (std::vector<int64_t>{1, 3}));
  const auto par = parse_model_config(R"(parameters { key: "intra_op_thread_count" value: { string_value: "2" } })",
                                      "a/config.pbtxt");
  EXPECT_EQ(par.intra_op_threads, 2);
  EXPECT_NE(model_config_json(par).find("\"intra_op_thread_count\":{\"string_value\":\"2\"}"), std::string::npos);
  const auto json = model_config_json(c);
  EXPECT_NE(json.find("\"max_batch_size\":16"), std::string::npos) << json;
  EXPECT_NE(json.find("\"data_type\":\"TYPE_INT64\""), std::string::npos) << json;
}

namespace {
std::string config_error(const std::string& text) {
  try {
    parse_model_config(text, "models/m/config.pbtxt");
  } catch (const ValueError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(ServeConfig, ErrorsNameTheFieldAndTheFile) {
  // Unknown field: named, with the file and the line.
  auto e = config_error("name: \"m\"\nmax_batch_size: 4\nsequence_batching {}\n");
  EXPECT_NE(e.find("models/m/config.pbtxt:3:"), std::string::npos) << e;
  EXPECT_NE(e.find("sequence_batching"), std::string::npos) << e;
  // Wrong value types.
  e = config_error("max_batch_size: \"eight\"");
  EXPECT_NE(e.find("models/m/config.pbtxt:1:"), std::string::npos) << e;
  EXPECT_NE(e.find("integer"), std::string::npos) << e;
  e = config_error("input [ { name: \"x\" data_type: TYPE_FLOAT32 } ]");
  EXPECT_NE(e.find("TYPE_FLOAT32"), std::string::npos) << e;
  // Bad version policies.
  EXPECT_NE(config_error("version_policy { latest { num_versions: 0 } }").find("num_versions"), std::string::npos);
  EXPECT_NE(config_error("version_policy { specific { } }").find("at least one version"), std::string::npos);
  EXPECT_NE(config_error("version_policy { specific { versions: [0] } }").find("version 0"), std::string::npos);
  EXPECT_NE(config_error("version_policy { latest { num_versions: 1 } all { } }").find("all"), std::string::npos);
  EXPECT_NE(config_error("version_policy { }").find("latest, all or specific"), std::string::npos);
  // Settings that cannot be served.
  EXPECT_NE(config_error("dynamic_batching { }").find("max_batch_size > 0"), std::string::npos);
  EXPECT_NE(
      config_error("max_batch_size: 4 dynamic_batching { preferred_batch_size: [ 8 ] }").find("preferred_batch_size 8"),
      std::string::npos);
  EXPECT_NE(config_error("instance_group [ { kind: KIND_GPU } ]").find("KIND_GPU"), std::string::npos);
  EXPECT_NE(config_error("platform: \"tensorflow_savedmodel\"").find("tensorflow_savedmodel"), std::string::npos);
  EXPECT_NE(config_error("max_batch_size: -1").find("max_batch_size"), std::string::npos);
  EXPECT_NE(config_error("default_model_filename: \"../x.onnx\"").find("file name"), std::string::npos);
  EXPECT_NE(config_error(R"(parameters { key: "execution_mode" value: { string_value: "1" } })").find("execution_mode"),
            std::string::npos);
  EXPECT_NE(config_error(R"(parameters { key: "intra_op_thread_count" value: { string_value: "0" } })")
                .find("intra_op_thread_count"),
            std::string::npos);
}

TEST(ServeConfig, CheckedAgainstTheModel) {
  TempDir d;
  const auto file = d.path / "m.onnx";
  write_model(file, 2);
  const auto model = onnx::Model::load(file.string());
  auto complete = [&](const std::string& text) {
    auto c = parse_model_config(text, "m/config.pbtxt");
    complete_model_config(c, model, "m/config.pbtxt");
    return c;
  };
  // Inputs and outputs left out come from the model.
  auto c = complete("max_batch_size: 8");
  ASSERT_EQ(c.input.size(), 1u);
  EXPECT_EQ(c.input[0].name, "x");
  EXPECT_EQ(c.input[0].dims, (std::vector<int64_t>{4}));
  EXPECT_EQ(c.output[0].datatype, "FP32");
  c = complete("");
  EXPECT_EQ(c.input[0].dims, (std::vector<int64_t>{-1, 4}));

  auto error = [&](const std::string& text) {
    try {
      complete(text);
    } catch (const ValueError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(error("max_batch_size: 8 input [ { name: \"z\" data_type: TYPE_FP32 dims: [4] } ]").find("'z'"),
            std::string::npos);
  EXPECT_NE(error("max_batch_size: 8 input [ { name: \"x\" data_type: TYPE_INT64 dims: [4] } ]").find("TYPE_INT64"),
            std::string::npos);
  EXPECT_NE(error("max_batch_size: 8 input [ { name: \"x\" data_type: TYPE_FP32 dims: [5] } ]").find("dims [5]"),
            std::string::npos);
  EXPECT_NE(error("max_batch_size: 8 output [ { name: \"nope\" data_type: TYPE_FP32 dims: [4] } ]").find("'nope'"),
            std::string::npos);
}

// ---- metrics ----

TEST(ServeMetrics, PrometheusTextFormat) {
  MetricsRegistry r;
  auto& c = r.counter("tessel_test_total", "A test counter.", {"model"});
  c.with({"a\"b\\c"})->inc(3);
  r.gauge("tessel_test_gauge", "A gauge.", {}).with({})->set(2.5);
  auto& h = r.histogram("tessel_test_seconds", "A histogram.", {"model"}, {0.1, 1, 10});
  for (double v : {0.05, 0.1, 0.5, 5.0, 50.0}) h.with({"m"})->observe(v);
  EXPECT_THROW(r.gauge("tessel_test_total", "", {"model"}), std::invalid_argument);
  EXPECT_THROW(r.counter("bad name", "", {}), std::invalid_argument);
  EXPECT_THROW(c.with({}), std::invalid_argument);

  const std::string text = r.render();
  EXPECT_NE(text.find("# HELP tessel_test_total A test counter.\n# TYPE tessel_test_total counter\n"),
            std::string::npos);
  EXPECT_NE(text.find("tessel_test_total{model=\"a\\\"b\\\\c\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("tessel_test_gauge 2.5\n"), std::string::npos) << text;
  // Buckets are cumulative, "le" inclusive, +Inf equals _count.
  EXPECT_EQ(metric(text, "tessel_test_seconds_bucket{model=\"m\",le=\"0.1\"}"), 2);
  EXPECT_EQ(metric(text, "tessel_test_seconds_bucket{model=\"m\",le=\"1\"}"), 3);
  EXPECT_EQ(metric(text, "tessel_test_seconds_bucket{model=\"m\",le=\"10\"}"), 4);
  EXPECT_EQ(metric(text, "tessel_test_seconds_bucket{model=\"m\",le=\"+Inf\"}"), 5);
  EXPECT_EQ(metric(text, "tessel_test_seconds_count{model=\"m\"}"), 5);
  EXPECT_DOUBLE_EQ(metric(text, "tessel_test_seconds_sum{model=\"m\"}"), 55.65);

  // Every sample line parses as: name{labels} value.
  std::istringstream in(text);
  std::string line;
  int samples = 0;
  while (std::getline(in, line)) {
    if (line.rfind("# ", 0) == 0) continue;
    const auto sp = line.rfind(' ');
    ASSERT_NE(sp, std::string::npos) << line;
    EXPECT_NO_THROW(std::stod(line.substr(sp + 1))) << line;
    ++samples;
  }
  EXPECT_EQ(samples, 1 + 1 + 4 + 2);
  c.remove({"a\"b\\c"});
  EXPECT_EQ(r.render().find("tessel_test_total{"), std::string::npos);
}

// ---- repository ----

TEST(ServeRepository, ModelNames) {
  for (const char* ok : {"m", "resnet-18", "a.b_c", "A1"}) EXPECT_TRUE(valid_model_name(ok)) << ok;
  for (const char* bad : {"", ".", "..", "../etc", "a/b", "a b", "a\\b", "m%2f"})
    EXPECT_FALSE(valid_model_name(bad)) << bad;
  TempDir d;
  write_model(d.path / "m.onnx", 2);
  RepositoryOptions o;
  o.models = {{"../m", (d.path / "m.onnx").string()}};
  EXPECT_THROW(ModelRepository(o, nullptr), ValueError);
  o.models = {{"m", (d.path / "missing.onnx").string()}};
  EXPECT_THROW(ModelRepository(o, nullptr), ValueError);
  o.models = {};
  o.repository = (d.path / "nope").string();
  EXPECT_THROW(ModelRepository(o, nullptr), ValueError);
}

TEST(ServeRepository, LayoutVersionPolicyAndFailures) {
  TempDir d;
  const auto repo = d.path / "models";
  write_model(repo / "double" / "1" / "model.onnx", 2);
  write_model(repo / "double" / "2" / "model.onnx", 20);
  write_model(repo / "double" / "03" / "model.onnx", 30);  // not a version folder: leading zero
  write_model(repo / "all" / "1" / "model.onnx", 1);
  write_model(repo / "all" / "2" / "model.onnx", 2);
  write_file(repo / "all" / "config.pbtxt", "version_policy { all {} }");
  write_model(repo / "bad name" / "1" / "model.onnx", 1);  // skipped: not a valid name
  write_file(repo / "broken" / "1" / "model.onnx", "not a protobuf");
  write_model(repo / "badcfg" / "1" / "model.onnx", 1);
  write_file(repo / "badcfg" / "config.pbtxt", "max_batch_size: 4\nbogus_field: 1\n");
  write_model(d.path / "single.onnx", 5);

  RepositoryOptions o;
  o.repository = repo.string();
  o.models = {{"single", (d.path / "single.onnx").string()}};
  ModelRepository r(o, nullptr);

  // Latest 1 by default; "" is the newest ready version.
  auto v = r.get("double");
  EXPECT_EQ(v->version(), "2");
  EXPECT_TRUE(v->ready());
  EXPECT_EQ(status_of([&] { r.get("double", "1"); }), 404);
  EXPECT_EQ(status_of([&] { r.get("double", "3"); }), 404);
  EXPECT_EQ(status_of([&] { r.get("nope"); }), 404);
  EXPECT_EQ(status_of([&] { r.get("bad name"); }), 404);
  EXPECT_EQ(r.get("all", "1")->version(), "1");
  EXPECT_EQ(r.get("all")->metadata().versions, (std::vector<std::string>{"1", "2"}));
  EXPECT_EQ(r.get("single")->version(), "1");
  const Tensor x = from_vector<float>({1, 2, 3, 4}, {1, 4});
  auto out = r.get("single")->infer(request_of(x)).get();
  EXPECT_FLOAT_EQ(out.outputs.at(0).tensor.data<float>()[3], 20.f);

  // A model that fails is reported, the others are served.
  auto broken = r.get("broken");
  EXPECT_FALSE(broken->ready());
  EXPECT_FALSE(broken->error().empty());
  EXPECT_EQ(status_of([&] { broken->infer(request_of(x)); }), 400);
  EXPECT_EQ(status_of([&] { broken->metadata(); }), 400);
  EXPECT_EQ(status_of([&] { r.get("badcfg"); }), 400);
  EXPECT_FALSE(r.ready());
  std::map<std::string, std::string> states;
  for (const auto& s : r.index()) states[s.name + "/" + s.version] = std::string(state_name(s.state)) + " " + s.reason;
  EXPECT_EQ(states.count("bad name/1"), 0u);
  EXPECT_EQ(states["double/2"], "READY ");
  EXPECT_EQ(states.count("double/1"), 0u);
  EXPECT_EQ(states["broken/1"].rfind("UNAVAILABLE", 0), 0u);
  EXPECT_NE(states["badcfg/"].find("bogus_field"), std::string::npos) << states["badcfg/"];
  EXPECT_NE(states["badcfg/"].find("config.pbtxt"), std::string::npos);
  EXPECT_EQ(r.index(true).size(), 4u);  // double/2, all/1, all/2, single/1
  EXPECT_EQ(status_of([&] { r.load("double"); }), 403);
  EXPECT_EQ(status_of([&] { r.unload("double"); }), 403);

  // Metadata: OIP shapes with -1 for the dynamic batch dim.
  const auto md = v->metadata();
  EXPECT_EQ(md.platform, "onnxruntime_onnx");
  ASSERT_EQ(md.inputs.size(), 1u);
  EXPECT_EQ(md.inputs[0].datatype, "FP32");
  EXPECT_EQ(md.inputs[0].shape, (std::vector<int64_t>{-1, 4}));
  EXPECT_NE(r.metrics().render().find("tessel_model_load_duration_seconds{model=\"double\",version=\"2\"}"),
            std::string::npos);
  EXPECT_EQ(metric(r.metrics().render(), "tessel_model_ready{model=\"broken\",version=\"1\"}"), 0);
  EXPECT_EQ(metric(r.metrics().render(), "tessel_model_ready{model=\"double\",version=\"2\"}"), 1);

  // Without strict readiness the broken models do not hold the server back.
  o.strict_readiness = false;
  o.log_loads = false;
  EXPECT_TRUE(ModelRepository(o, nullptr).ready());
}

TEST(ServeRepository, RequestValidation) {
  TempDir d;
  write_model(d.path / "m" / "1" / "model.onnx", 2);
  write_file(d.path / "m" / "config.pbtxt", "max_batch_size: 4");
  RepositoryOptions o;
  o.repository = d.path.string();
  ModelRepository r(o, nullptr);
  auto v = r.get("m");
  auto err = [&](InferRequest req) {
    try {
      v->infer(std::move(req)).get();
    } catch (const HttpError& e) {
      return std::to_string(e.status) + " " + e.what();
    }
    return std::string("200");
  };
  const Tensor x = ones({2, 4});
  EXPECT_EQ(err(request_of(x)), "200");
  auto r1 = request_of(x.to(DType::Float64));
  r1.inputs[0].datatype = "FP64";
  EXPECT_EQ(err(r1).rfind("400 input 'x': datatype FP64", 0), 0u) << err(r1);
  EXPECT_EQ(err(request_of(ones({2, 5}))).rfind("400 input 'x': shape [2, 5]", 0), 0u);
  EXPECT_NE(err(request_of(ones({5, 4}))).find("batch size 5"), std::string::npos);
  auto r2 = request_of(x);
  r2.inputs[0].name = "z";
  EXPECT_NE(err(r2).find("unknown input 'z'"), std::string::npos);
  EXPECT_NE(err(InferRequest{}).find("missing input 'x'"), std::string::npos);
  auto r3 = request_of(x);
  r3.outputs = {"w"};
  EXPECT_NE(err(r3).find("unknown output 'w'"), std::string::npos);
  auto r4 = request_of(x);
  r4.inputs.push_back(r4.inputs[0]);
  EXPECT_NE(err(r4).find("given twice"), std::string::npos);
  auto r5 = request_of(x);
  r5.inputs[0].shape = {4, 2};
  EXPECT_NE(err(r5).find("does not match the declared shape"), std::string::npos);

  v->count_request(413);  // refused by the HTTP side before infer
  auto ok = request_of(x, "abc");
  auto resp = v->infer(std::move(ok)).get();
  EXPECT_EQ(resp.id, "abc");
  EXPECT_EQ(resp.model, "m");
  EXPECT_EQ(resp.version, "1");
  ASSERT_EQ(resp.outputs.size(), 1u);
  EXPECT_EQ(resp.outputs[0].name, "y");
  EXPECT_EQ(resp.outputs[0].datatype, "FP32");
  EXPECT_EQ(resp.outputs[0].shape, (std::vector<int64_t>{2, 4}));
  const auto text = r.metrics().render();
  EXPECT_EQ(metric(text, "tessel_inference_requests_total{model=\"m\",status=\"200\",version=\"1\"}"), -1)
      << "labels keep their declared order";
  EXPECT_EQ(metric(text, "tessel_inference_requests_total{model=\"m\",version=\"1\",status=\"200\"}"), 2);
  EXPECT_EQ(metric(text, "tessel_inference_requests_total{model=\"m\",version=\"1\",status=\"400\"}"), 8);
  EXPECT_EQ(metric(text, "tessel_inference_requests_total{model=\"m\",version=\"1\",status=\"413\"}"), 1);
}

TEST(ServeBatcher, MergesConcurrentRequests) {
  TempDir d;
  write_model(d.path / "m" / "1" / "model.onnx", 2, 1);
  write_file(d.path / "m" / "config.pbtxt", kBatchConfig);
  RepositoryOptions o;
  o.repository = d.path.string();
  ModelRepository r(o, nullptr);
  auto v = r.get("m");
  // Four requests of one row reach the preferred size 4 and run as one batch,
  // well before the 1 s delay; each gets its own rows back.
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::future<InferResponse>> fs;
  for (int i = 0; i < 4; ++i)
    fs.push_back(
        v->infer(request_of(full({1, 4}, Scalar(double(i)), TensorOptions(DType::Float32)), std::to_string(i))));
  for (int i = 0; i < 4; ++i) {
    auto resp = fs[i].get();
    EXPECT_EQ(resp.id, std::to_string(i));
    EXPECT_EQ(resp.outputs[0].shape, (std::vector<int64_t>{1, 4}));
    EXPECT_FLOAT_EQ(resp.outputs[0].tensor.data<float>()[0], 2.f * i + 1);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 900ms);
  auto text = r.metrics().render();
  EXPECT_EQ(metric(text, "tessel_inference_executions_total{model=\"m\",version=\"1\"}"), 1);
  EXPECT_EQ(metric(text, "tessel_inference_batch_size_sum{model=\"m\",version=\"1\"}"), 4);
  EXPECT_EQ(metric(text, "tessel_inference_batch_size_bucket{model=\"m\",version=\"1\",le=\"4\"}"), 1);
  EXPECT_EQ(metric(text, "tessel_inference_count_total{model=\"m\",version=\"1\"}"), 4);

  // A lone request waits out max_queue_delay for company, then runs alone.
  const auto t1 = std::chrono::steady_clock::now();
  auto lone = v->infer(request_of(ones({2, 4}))).get();
  const auto waited = std::chrono::steady_clock::now() - t1;
  EXPECT_GE(waited, 990ms);
  EXPECT_LT(waited, 3s);
  EXPECT_EQ(lone.outputs[0].shape, (std::vector<int64_t>{2, 4}));
  text = r.metrics().render();
  EXPECT_EQ(metric(text, "tessel_inference_executions_total{model=\"m\",version=\"1\"}"), 2);
  EXPECT_GE(metric(text, "tessel_inference_queue_duration_seconds_sum{model=\"m\",version=\"1\"}"), 0.99);
  EXPECT_EQ(metric(text, "tessel_inference_request_duration_seconds_count{model=\"m\",version=\"1\"}"), 5);
  EXPECT_EQ(metric(text, "tessel_inference_in_flight_requests{model=\"m\",version=\"1\"}"), 0);
}

TEST(ServeBatcher, DifferentShapesAreNotMerged) {
  TempDir d;
  write_model(d.path / "m" / "1" / "model.onnx", 2, 0, /*ragged=*/true);
  write_file(d.path / "m" / "config.pbtxt",
             "max_batch_size: 8 dynamic_batching { preferred_batch_size: [2] max_queue_delay_microseconds: 100000 }");
  RepositoryOptions o;
  o.repository = d.path.string();
  ModelRepository r(o, nullptr);
  auto v = r.get("m");
  auto a = v->infer(request_of(ones({1, 3})));
  auto b = v->infer(request_of(ones({1, 5})));
  auto c = v->infer(request_of(ones({1, 3})));
  EXPECT_EQ(a.get().outputs[0].shape, (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(b.get().outputs[0].shape, (std::vector<int64_t>{1, 5}));
  EXPECT_EQ(c.get().outputs[0].shape, (std::vector<int64_t>{1, 3}));
  const auto text = r.metrics().render();
  // a and c form the preferred batch of 2; b runs alone after the delay.
  EXPECT_EQ(metric(text, "tessel_inference_executions_total{model=\"m\",version=\"1\"}"), 2);
  EXPECT_EQ(metric(text, "tessel_inference_batch_size_bucket{model=\"m\",version=\"1\",le=\"1\"}"), 1);
  EXPECT_EQ(metric(text, "tessel_inference_batch_size_bucket{model=\"m\",version=\"1\",le=\"2\"}"), 2);
}

TEST(ServeBatcher, FullQueueIs503AndTimeoutIs504) {
  TempDir d;
  write_model(d.path / "full" / "1" / "model.onnx", 2);
  // The first request waits for company (preferred 4, 300 ms): the queue of one is full meanwhile.
  write_file(d.path / "full" / "config.pbtxt",
             "max_batch_size: 8 dynamic_batching { preferred_batch_size: [4] max_queue_delay_microseconds: 300000 "
             "default_queue_policy { max_queue_size: 1 } }");
  write_model(d.path / "slow" / "1" / "model.onnx", 2);
  // Requests time out after 20 ms in a queue that holds them for up to 2 s.
  write_file(d.path / "slow" / "config.pbtxt",
             "max_batch_size: 8 dynamic_batching { preferred_batch_size: [4] max_queue_delay_microseconds: 2000000 "
             "default_queue_policy { default_timeout_microseconds: 20000 allow_timeout_override: true } }");
  // DELAY: a request past its timeout is not rejected; it runs with the next batch.
  write_model(d.path / "delay" / "1" / "model.onnx", 2);
  write_file(d.path / "delay" / "config.pbtxt",
             "max_batch_size: 8 dynamic_batching { preferred_batch_size: [4] max_queue_delay_microseconds: 100000 "
             "default_queue_policy { timeout_action: DELAY default_timeout_microseconds: 1000 } }");
  RepositoryOptions o;
  o.repository = d.path.string();
  ModelRepository r(o, nullptr);
  EXPECT_EQ(r.get("delay")->infer(request_of(ones({1, 4}))).get().outputs[0].shape, (std::vector<int64_t>{1, 4}));

  auto full_v = r.get("full");
  auto first = full_v->infer(request_of(ones({1, 4})));
  try {
    full_v->infer(request_of(ones({1, 4})));
    FAIL() << "expected a 503";
  } catch (const HttpError& e) {
    EXPECT_EQ(e.status, 503);
    EXPECT_EQ(e.retry_after, "1");
    EXPECT_NE(std::string(e.what()).find("full"), std::string::npos);
  }
  EXPECT_EQ(first.get().outputs[0].shape, (std::vector<int64_t>{1, 4}));  // the queued one still completes

  auto slow = r.get("slow");
  const auto t0 = std::chrono::steady_clock::now();
  auto late = slow->infer(request_of(ones({1, 4})));
  try {
    late.get();
    FAIL() << "expected a 504";
  } catch (const HttpError& e) {
    EXPECT_EQ(e.status, 504);
    EXPECT_NE(std::string(e.what()).find("timed out"), std::string::npos);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);  // answered at its deadline, not after the delay
  // The request's own "timeout" (microseconds) overrides the default when allowed.
  auto req = request_of(ones({1, 4}));
  req.parameters["timeout"] = "abc";
  EXPECT_EQ(status_of([&] { slow->infer(req); }), 400);
  req.parameters["timeout"] = "1000";
  EXPECT_EQ(status_of([&] { slow->infer(req).get(); }), 504);

  const auto text = r.metrics().render();
  EXPECT_EQ(metric(text, "tessel_inference_rejected_total{model=\"full\",version=\"1\",reason=\"queue_full\"}"), 1);
  EXPECT_EQ(metric(text, "tessel_inference_rejected_total{model=\"delay\",version=\"1\",reason=\"timeout\"}"), 0);
  EXPECT_EQ(metric(text, "tessel_inference_requests_total{model=\"full\",version=\"1\",status=\"503\"}"), 1);
  EXPECT_EQ(metric(text, "tessel_inference_rejected_total{model=\"slow\",version=\"1\",reason=\"timeout\"}"), 2);
  EXPECT_EQ(metric(text, "tessel_inference_requests_total{model=\"slow\",version=\"1\",status=\"504\"}"), 2);
}

TEST(ServeRepository, PollingSwapsVersionsWithoutDroppingRequests) {
  TempDir d;
  write_model(d.path / "m" / "1" / "model.onnx", 2);
  // Requests wait up to 1 s in the queue: one is in flight on version 1 while version 2 arrives.
  write_file(d.path / "m" / "config.pbtxt", kBatchConfig);
  RepositoryOptions o;
  o.repository = d.path.string();
  o.control = RepositoryOptions::Control::Poll;
  o.poll_interval = 3600s;  // the test polls by hand
  ModelRepository r(o, nullptr);

  auto in_flight = r.get("m")->infer(request_of(ones({1, 4})));  // the handle is dropped at once
  write_model(d.path / "m" / "2" / "model.onnx", 10);
  r.poll();
  auto v2 = r.get("m");
  EXPECT_EQ(v2->version(), "2");
  EXPECT_EQ(status_of([&] { r.get("m", "1"); }), 404);
  // The old version finishes its request with its own weights.
  EXPECT_FLOAT_EQ(in_flight.get().outputs[0].tensor.data<float>()[0], 2.f);
  auto out = v2->infer(request_of(ones({4, 4}))).get();
  EXPECT_FLOAT_EQ(out.outputs[0].tensor.data<float>()[0], 10.f);

  // Removing version 2 brings version 1 back (latest 1 of what is left).
  fs::remove_all(d.path / "m" / "2");
  r.poll();
  EXPECT_EQ(r.get("m")->version(), "1");
  EXPECT_EQ(status_of([&] { r.get("m", "2"); }), 404);
  // v2's handle still works while held.
  EXPECT_FLOAT_EQ(v2->infer(request_of(ones({4, 4}))).get().outputs[0].tensor.data<float>()[0], 10.f);
  v2.reset();
  // Retired and idle (its worker may still be finishing the last callback): gone, with its metric series.
  for (int i = 0; i < 50 && r.metrics().render().find("version=\"2\"") != std::string::npos; ++i) {
    std::this_thread::sleep_for(10ms);
    r.poll();
  }
  EXPECT_EQ(r.metrics().render().find("version=\"2\""), std::string::npos);

  // A new model folder appears; a removed one disappears.
  write_model(d.path / "n" / "1" / "model.onnx", 3);
  r.poll();
  EXPECT_EQ(r.get("n")->version(), "1");
  fs::remove_all(d.path / "n");
  r.poll();
  EXPECT_EQ(status_of([&] { r.get("n"); }), 404);
}

TEST(ServeRepository, PollingThreadPicksUpNewVersions) {
  TempDir d;
  write_model(d.path / "m" / "1" / "model.onnx", 2);
  RepositoryOptions o;
  o.repository = d.path.string();
  o.control = RepositoryOptions::Control::Poll;
  o.poll_interval = 100ms;
  ModelRepository r(o, nullptr);
  write_model(d.path / "m" / "2" / "model.onnx", 3);
  std::string version;
  for (int i = 0; i < 100 && version != "2"; ++i) {
    std::this_thread::sleep_for(50ms);
    version = r.get("m")->version();
  }
  EXPECT_EQ(version, "2");
}

TEST(ServeRepository, ExplicitModelControl) {
  TempDir d;
  write_model(d.path / "a" / "1" / "model.onnx", 2);
  write_model(d.path / "b" / "1" / "model.onnx", 3);
  write_file(d.path / "bad" / "1" / "model.onnx", "garbage");
  RepositoryOptions o;
  o.repository = d.path.string();
  o.control = RepositoryOptions::Control::Explicit;
  o.startup_models = {"a"};
  ModelRepository r(o, nullptr);
  EXPECT_TRUE(r.get("a")->ready());
  EXPECT_EQ(status_of([&] { r.get("b"); }), 404);
  std::map<std::string, std::string> states;
  for (const auto& s : r.index()) states[s.name] = std::string(state_name(s.state)) + " " + s.reason;
  EXPECT_EQ(states["b"], "UNAVAILABLE unloaded");
  EXPECT_EQ(states["a"], "READY ");

  r.load("b");
  EXPECT_TRUE(r.get("b")->ready());
  EXPECT_EQ(status_of([&] { r.load("../a"); }), 400);
  EXPECT_EQ(status_of([&] { r.load("missing"); }), 404);
  EXPECT_EQ(status_of([&] { r.load("bad"); }), 400);
  EXPECT_FALSE(r.get("bad")->ready());

  auto a = r.get("a");
  r.unload("a");
  EXPECT_EQ(status_of([&] { r.get("a"); }), 404);
  EXPECT_EQ(status_of([&] { r.unload("a"); }), 404);
  // A handle taken before the unload still serves its request.
  EXPECT_EQ(a->infer(request_of(ones({1, 4}))).get().outputs[0].shape, (std::vector<int64_t>{1, 4}));
}

TEST(ServeRepository, StopDrainsQueuedRequests) {
  TempDir d;
  write_model(d.path / "m" / "1" / "model.onnx", 2);
  write_file(d.path / "m" / "config.pbtxt", kBatchConfig);
  RepositoryOptions o;
  o.repository = d.path.string();
  auto r = std::make_unique<ModelRepository>(o, nullptr);
  auto v = r->get("m");
  auto queued = v->infer(request_of(ones({1, 4})));
  r->stop();  // runs the queued request at once instead of waiting out the delay
  EXPECT_FALSE(r->ready());
  EXPECT_EQ(queued.get().outputs[0].shape, (std::vector<int64_t>{1, 4}));
  EXPECT_EQ(status_of([&] { v->infer(request_of(ones({1, 4}))); }), 503);
  r.reset();
}

TEST(ServeRepository, BeginStopRunsQueuedRequestsWithoutWaiting) {
  // What SIGTERM does first (HttpOptions::on_stop): the queued request runs now,
  // not at the end of a 60 s batching delay, and the call itself does not block.
  TempDir d;
  write_model(d.path / "m" / "1" / "model.onnx", 2);
  write_file(d.path / "m" / "config.pbtxt",
             "max_batch_size: 8 dynamic_batching { preferred_batch_size: [8] max_queue_delay_microseconds: 60000000 }");
  RepositoryOptions o;
  o.repository = d.path.string();
  ModelRepository r(o, nullptr);
  auto v = r.get("m");
  auto queued = v->infer(request_of(ones({1, 4})));
  EXPECT_EQ(queued.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout);  // held for a batch
  r.begin_stop();
  ASSERT_EQ(queued.wait_for(std::chrono::seconds(30)), std::future_status::ready);  // half the delay
  EXPECT_EQ(queued.get().outputs[0].shape, (std::vector<int64_t>{1, 4}));
  EXPECT_EQ(status_of([&] { v->infer(request_of(ones({1, 4}))); }), 503);
  r.stop();
}

TEST(ServeBatcher, OneBadRequestDoesNotFailItsBatch) {
  TempDir d;
  // y = table[idx]: an index out of range fails the model run.
  const Tensor table = from_vector<float>({0, 1, 2, 3, 4}, {5, 1});
  onnx::ExportOptions eo;
  eo.input_names = {"idx"};
  eo.output_names = {"y"};
  eo.dynamic_axes = {{"idx", {{0, "batch"}}}, {"y", {{0, "batch"}}}};
  auto fn = [&](const std::vector<Tensor>& a) { return std::vector<Tensor>{index_select(table, 0, a[0])}; };
  fs::create_directories(d.path / "lookup" / "1");
  onnx::export_function(fn, {from_vector<int64_t>({0, 1}, {2})}, {{"table", table}},
                        (d.path / "lookup" / "1" / "model.onnx").string(), eo);
  write_file(d.path / "lookup" / "config.pbtxt",
             "max_batch_size: 8 dynamic_batching { preferred_batch_size: [2] max_queue_delay_microseconds: 1000000 }");
  RepositoryOptions o;
  o.repository = d.path.string();
  ModelRepository r(o, nullptr);
  auto v = r.get("lookup");
  auto req = [](int64_t i) {
    InferRequest q;
    const Tensor t = from_vector<int64_t>({i}, {1});
    q.inputs.push_back(NamedTensor{"idx", "INT64", {1}, t, {}});
    return q;
  };
  const auto t0 = std::chrono::steady_clock::now();
  auto good = v->infer(req(3));
  auto bad = v->infer(req(99));
  EXPECT_FLOAT_EQ(good.get().outputs[0].tensor.data<float>()[0], 3.f);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 500ms);  // merged at the preferred size, not after the 1 s delay
  try {
    bad.get();
    FAIL() << "expected a 400";
  } catch (const HttpError& e) {
    EXPECT_EQ(e.status, 400) << e.what();
    EXPECT_NE(std::string(e.what()).find("lookup"), std::string::npos) << e.what();
  }
  const auto text = r.metrics().render();
  // The merged run failed, then each request ran alone.
  EXPECT_EQ(metric(text, "tessel_inference_executions_total{model=\"lookup\",version=\"1\"}"), 2);
  EXPECT_EQ(metric(text, "tessel_inference_requests_total{model=\"lookup\",version=\"1\",status=\"400\"}"), 1);
}

TEST(ServeRepository, PollingReloadsRewrittenFilesAndKeepsServingOnABadConfig) {
  TempDir d;
  write_model(d.path / "m" / "1" / "model.onnx", 2);
  write_file(d.path / "m" / "config.pbtxt", "max_batch_size: 4");
  RepositoryOptions o;
  o.repository = d.path.string();
  o.control = RepositoryOptions::Control::Poll;
  o.poll_interval = 3600s;
  o.log_loads = false;
  ModelRepository r(o, nullptr);
  auto first = r.get("m");
  EXPECT_EQ(first->config().max_batch_size, 4);

  // A new config reloads the version with it.
  write_file(d.path / "m" / "config.pbtxt", "max_batch_size: 16");
  r.poll();
  auto second = r.get("m");
  EXPECT_NE(first.get(), second.get());
  EXPECT_EQ(second->config().max_batch_size, 16);

  // A rewritten model file (same version) is reloaded too.
  std::this_thread::sleep_for(20ms);  // a distinct modification time
  write_model(d.path / "m" / "1" / "model.onnx", 7);
  r.poll();
  EXPECT_FLOAT_EQ(r.get("m")->infer(request_of(ones({1, 4}))).get().outputs[0].tensor.data<float>()[0], 7.f);

  // Nothing changed: the same version object is kept.
  auto third = r.get("m");
  r.poll();
  EXPECT_EQ(r.get("m").get(), third.get());

  // A model file rewritten with garbage: the loaded version keeps serving.
  std::this_thread::sleep_for(20ms);
  write_file(d.path / "m" / "1" / "model.onnx", "garbage");
  r.poll();
  EXPECT_EQ(r.get("m").get(), third.get());
  EXPECT_TRUE(r.get("m")->ready());
  EXPECT_EQ(metric(r.metrics().render(), "tessel_model_ready{model=\"m\",version=\"1\"}"), 1);

  // A broken config keeps the loaded version serving.
  write_file(d.path / "m" / "config.pbtxt", "max_batch_size: oops");
  r.poll();
  EXPECT_EQ(r.get("m").get(), third.get());
  EXPECT_TRUE(r.get("m")->ready());
}

namespace {
BatchItem item_of(int64_t rows, std::function<void(std::exception_ptr, InferResponse)> done) {
  BatchItem b;
  const Tensor x = full({rows, 2}, Scalar(double(rows)), TensorOptions(DType::Float32));
  b.request.inputs.push_back(NamedTensor{"x", "FP32", x.shape(), x, {}});
  b.outputs = {"y"};
  b.batch = rows;
  b.key = "FP32,2;";
  b.enqueued = std::chrono::steady_clock::now();
  b.deadline = std::chrono::steady_clock::time_point::max();
  b.done = std::move(done);
  return b;
}
}  // namespace

TEST(ServeBatcher, PreferredPrefixAndWorkerThreads) {
  MetricsRegistry reg;
  BatcherOptions bo;
  bo.max_batch_size = 8;
  bo.dynamic = true;
  bo.preferred_batch_size = {4};
  bo.max_queue_delay = std::chrono::microseconds(200000);
  bo.queue_policy.max_queue_size = 16;
  bo.intra_op_threads = 1;
  std::mutex mu;
  std::vector<int64_t> runs;
  std::vector<int> threads;
  auto run = [&](const onnx::NamedTensors& feed) {
    std::lock_guard<std::mutex> lk(mu);
    runs.push_back(feed.at(0).second.size(0));
    threads.push_back(get_num_threads());
    return onnx::NamedTensors{{"y", feed.at(0).second}};
  };
  std::vector<std::promise<InferResponse>> ps(3);
  {
    Batcher b(bo, run, ModelMetrics::create(reg, "m", "1"));
    // Rows 3, 1, 2 (a batch of 3 alone is below the preferred size, so it waits).
    int i = 0;
    for (int64_t rows : {3, 1, 2}) {
      b.submit(item_of(rows, [&ps, i](std::exception_ptr e, InferResponse r) {
        if (e)
          ps[i].set_exception(e);
        else
          ps[i].set_value(std::move(r));
      }));
      ++i;
    }
    // Rows 3 + 1 make the preferred 4 and leave at once; the 2 waits out the delay.
    auto r0 = ps[0].get_future().get();
    auto r1 = ps[1].get_future().get();
    EXPECT_EQ(r0.outputs[0].shape, (std::vector<int64_t>{3, 2}));
    EXPECT_FLOAT_EQ(r0.outputs[0].tensor.data<float>()[0], 3.f);
    EXPECT_EQ(r1.outputs[0].shape, (std::vector<int64_t>{1, 2}));
    EXPECT_FLOAT_EQ(r1.outputs[0].tensor.data<float>()[0], 1.f);
    EXPECT_EQ(ps[2].get_future().get().outputs[0].shape, (std::vector<int64_t>{2, 2}));
  }
  EXPECT_EQ(runs, (std::vector<int64_t>{4, 2}));
  for (int t : threads) EXPECT_EQ(t, 1);
}

// A batcher created on a SCHED_BATCH thread (an event loop serving the load API,
// HttpOptions::io_sched_batch) runs its model under the process's SCHED_OTHER all
// the same: runs must start as soon as a request wakes the worker.
TEST(ServeBatcher, WorkersLeaveTheLoopsSchedBatch) {
#ifndef SCHED_BATCH
  GTEST_SKIP() << "no SCHED_BATCH on this platform";
#else
  if (::sched_getscheduler(::getpid()) != SCHED_OTHER) GTEST_SKIP() << "the test process is not SCHED_OTHER";
  MetricsRegistry reg;
  BatcherOptions bo;
  bo.queue_policy.max_queue_size = 4;
  std::atomic<int> seen{-1};
  auto run = [&](const onnx::NamedTensors& feed) {
    int policy = -1;
    sched_param p{};
    ::pthread_getschedparam(::pthread_self(), &policy, &p);
    seen = policy;
    return onnx::NamedTensors{{"y", feed.at(0).second}};
  };
  std::unique_ptr<Batcher> b;
  int creator = -1;
  std::thread loader([&] {
    sched_param p{};
    ::pthread_setschedparam(::pthread_self(), SCHED_BATCH, &p);
    ::pthread_getschedparam(::pthread_self(), &creator, &p);
    b = std::make_unique<Batcher>(bo, run, ModelMetrics::create(reg, "m", "1"));
  });
  loader.join();
  ASSERT_EQ(creator, SCHED_BATCH);
  std::promise<void> done;
  b->submit(item_of(1, [&done](std::exception_ptr, InferResponse) { done.set_value(); }));
  done.get_future().get();
  b.reset();
  EXPECT_EQ(seen.load(), SCHED_OTHER);
#endif
}

TEST(ServeBatcher, InstancesRunConcurrently) {
  MetricsRegistry reg;
  BatcherOptions bo;
  bo.instances = 2;
  bo.queue_policy.max_queue_size = 4;
  std::mutex mu;
  std::condition_variable cv;
  int active = 0, most = 0;
  // Each run waits (up to 2 s) until another run is active too: only two workers get there.
  auto run = [&](const onnx::NamedTensors& feed) {
    std::unique_lock<std::mutex> lk(mu);
    most = std::max(most, ++active);
    cv.notify_all();
    cv.wait_for(lk, 2s, [&] { return most >= 2; });
    --active;
    return onnx::NamedTensors{{"y", feed.at(0).second}};
  };
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::future<void>> done;
  {
    Batcher b(bo, run, ModelMetrics::create(reg, "m", "1"));
    for (int i = 0; i < 2; ++i) {
      auto p = std::make_shared<std::promise<void>>();
      done.push_back(p->get_future());
      b.submit(item_of(1, [p](std::exception_ptr, InferResponse) { p->set_value(); }));
    }
    for (auto& f : done) f.get();
  }
  EXPECT_EQ(most, 2);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
}

TEST(ServeBatcher, TimeoutWhileTheWorkerIsBusy) {
  MetricsRegistry reg;
  BatcherOptions bo;  // one instance, no dynamic batching
  bo.queue_policy.max_queue_size = 4;
  bo.queue_policy.default_timeout_us = 1;  // timeouts on: items carry their own deadlines below
  auto run = [&](const onnx::NamedTensors& feed) {
    std::this_thread::sleep_for(600ms);
    return onnx::NamedTensors{{"y", feed.at(0).second}};
  };
  auto p0 = std::make_shared<std::promise<InferResponse>>();
  auto p1 = std::make_shared<std::promise<InferResponse>>();
  auto to = [](std::shared_ptr<std::promise<InferResponse>> p) {
    return [p](std::exception_ptr e, InferResponse r) {
      if (e)
        p->set_exception(e);
      else
        p->set_value(std::move(r));
    };
  };
  Batcher b(bo, run, ModelMetrics::create(reg, "m", "1"));
  b.submit(item_of(1, to(p0)));  // no deadline: occupies the only worker for 600 ms
  std::this_thread::sleep_for(50ms);
  const auto t0 = std::chrono::steady_clock::now();
  auto late = item_of(1, to(p1));
  late.deadline = t0 + 50ms;
  b.submit(std::move(late));
  try {
    p1->get_future().get();
    FAIL() << "expected a 504";
  } catch (const HttpError& e) {
    EXPECT_EQ(e.status, 504);
  }
  // Answered at its deadline by the reaper, not when the worker came free.
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 400ms);
  EXPECT_EQ(p0->get_future().get().outputs[0].shape, (std::vector<int64_t>{1, 2}));
}

// Queueing wakes the waiting worker only when it matters (a batch could now be
// full, or an earlier deadline): a request with its own short timeout behind one
// that waits out a long delay is still answered 504 at its deadline, and four
// rows still leave at once at the preferred size.
TEST(ServeBatcher, WakesOnlyForFullBatchesAndEarlierDeadlines) {
  MetricsRegistry reg;
  BatcherOptions bo;
  bo.max_batch_size = 8;
  bo.dynamic = true;
  bo.preferred_batch_size = {4};
  bo.max_queue_delay = std::chrono::microseconds(800000);
  bo.queue_policy.max_queue_size = 16;
  bo.queue_policy.allow_timeout_override = true;  // the reaper runs; items carry their own deadlines
  std::atomic<int> runs{0};
  auto run = [&](const onnx::NamedTensors& feed) {
    ++runs;
    return onnx::NamedTensors{{"y", feed.at(0).second}};
  };
  auto promise_of = [](std::shared_ptr<std::promise<int64_t>> p) {
    return [p](std::exception_ptr e, InferResponse r) {
      if (e)
        p->set_exception(e);
      else
        p->set_value(r.outputs.at(0).shape.at(0));
    };
  };
  Batcher b(bo, run, ModelMetrics::create(reg, "m", "1"));
  auto p0 = std::make_shared<std::promise<int64_t>>();
  b.submit(item_of(1, promise_of(p0)));  // no deadline: waits for company
  std::this_thread::sleep_for(20ms);
  const auto t0 = std::chrono::steady_clock::now();
  auto p1 = std::make_shared<std::promise<int64_t>>();
  auto late = item_of(1, promise_of(p1));
  late.deadline = t0 + 50ms;
  b.submit(std::move(late));
  try {
    p1->get_future().get();
    FAIL() << "expected a 504";
  } catch (const HttpError& e) {
    EXPECT_EQ(e.status, 504);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 500ms);  // at its deadline, not after the 800 ms delay
  EXPECT_EQ(runs.load(), 0);
  // Three more rows make the preferred 4 with the waiting one: they leave at once.
  std::vector<std::shared_ptr<std::promise<int64_t>>> ps;
  const auto t1 = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i) {
    ps.push_back(std::make_shared<std::promise<int64_t>>());
    b.submit(item_of(1, promise_of(ps.back())));
  }
  EXPECT_EQ(p0->get_future().get(), 1);
  for (auto& p : ps) EXPECT_EQ(p->get_future().get(), 1);
  EXPECT_LT(std::chrono::steady_clock::now() - t1, 500ms);
  EXPECT_EQ(runs.load(), 1);
}

// A version is LOADING while it loads: listed so in the index and TF-Serving's
// status, not ready (so a model with no other version keeps the server unready),
// and its requests get 503 with Retry-After; a model's loaded version keeps
// serving while a new version of it loads.
TEST(ServeRepository, LoadingStateWhileAVersionLoads) {
  TempDir d;
  write_model(d.path / "a" / "1" / "model.onnx", 2);
  write_model(d.path / "b" / "1" / "model.onnx", 3);
  std::mutex mu;
  std::condition_variable cv;
  std::string holding;  // "name/version" held in before_load until released
  bool release = false;
  RepositoryOptions o;
  o.repository = d.path.string();
  o.control = RepositoryOptions::Control::Explicit;
  o.startup_models = {"a"};
  o.log_loads = false;
  o.before_load = [&](const std::string& name, int64_t v) {
    std::unique_lock<std::mutex> lk(mu);
    if (name == "a" && v == 1) return;  // the startup load
    holding = name + "/" + std::to_string(v);
    cv.notify_all();
    cv.wait_for(lk, 10s, [&] { return release; });
    holding.clear();
    release = false;
  };
  auto repo = std::make_shared<ModelRepository>(o, nullptr);
  auto backend = make_repository_backend(repo);
  auto wait_holding = [&](const std::string& what) {
    std::unique_lock<std::mutex> lk(mu);
    return cv.wait_for(lk, 10s, [&] { return holding == what; });
  };
  auto let_go = [&] {
    std::lock_guard<std::mutex> lk(mu);
    release = true;
    cv.notify_all();
  };

  std::thread loader([&] { repo->load("b"); });
  ASSERT_TRUE(wait_holding("b/1"));
  std::map<std::string, std::string> states;
  for (const auto& s : repo->index()) states[s.name] = state_name(s.state);
  EXPECT_EQ(states["b"], "LOADING");
  EXPECT_EQ(states["a"], "READY");
  EXPECT_FALSE(repo->ready());  // b has no ready version yet
  EXPECT_TRUE(repo->get("b")->loading());
  EXPECT_FALSE(backend->model_ready("b", ""));
  EXPECT_EQ(backend->versions("b").at(0).state, "LOADING");
  try {
    backend->metadata("b", "");
    FAIL() << "expected a 503";
  } catch (const HttpError& e) {
    EXPECT_EQ(e.status, 503);
    EXPECT_EQ(e.retry_after, "1");
    EXPECT_NE(std::string(e.what()).find("loading"), std::string::npos);
  }
  try {
    repo->get("b")->infer(request_of(ones({1, 4})));
    FAIL() << "expected a 503";
  } catch (const HttpError& e) {
    EXPECT_EQ(e.status, 503);
  }
  EXPECT_EQ(repo->get("a")->infer(request_of(ones({1, 4}))).get().outputs[0].shape, (std::vector<int64_t>{1, 4}));
  let_go();
  loader.join();
  EXPECT_TRUE(repo->get("b")->ready());
  EXPECT_TRUE(repo->ready());
  EXPECT_EQ(backend->versions("b").at(0).state, "AVAILABLE");

  // A new version of a served model: the loaded one answers while it loads.
  write_model(d.path / "a" / "2" / "model.onnx", 5);
  std::thread reloader([&] { repo->load("a"); });
  ASSERT_TRUE(wait_holding("a/2"));
  EXPECT_TRUE(repo->ready());
  EXPECT_EQ(repo->get("a")->version(), "1");
  EXPECT_TRUE(repo->get("a", "2")->loading());
  EXPECT_EQ(sum(repo->get("a")->infer(request_of(ones({1, 4}))).get().outputs[0].tensor).item<float>(), 8.f);  // 4 x 2
  let_go();
  reloader.join();
  EXPECT_EQ(repo->get("a")->version(), "2");
  EXPECT_EQ(sum(repo->get("a")->infer(request_of(ones({1, 4}))).get().outputs[0].tensor).item<float>(), 20.f);  // 4 x 5
}

// Background start-up: the constructor returns at once; until every start-up
// model has loaded the repository is not ready, the model being loaded is
// LOADING and a model not reached yet answers 503 (not 404).
TEST(ServeRepository, BackgroundStartup) {
  TempDir d;
  write_model(d.path / "a" / "1" / "model.onnx", 2);
  write_model(d.path / "b" / "1" / "model.onnx", 3);
  std::mutex mu;
  std::condition_variable cv;
  bool holding = false, release = false;
  RepositoryOptions o;
  o.repository = d.path.string();
  o.log_loads = false;
  o.background_startup = true;
  o.before_load = [&](const std::string& name, int64_t) {
    if (name != "a") return;  // directory order is unspecified: hold "a", whichever comes first
    std::unique_lock<std::mutex> lk(mu);
    holding = true;
    cv.notify_all();
    cv.wait_for(lk, 10s, [&] { return release; });
  };
  ModelRepository r(o, nullptr);
  {
    std::unique_lock<std::mutex> lk(mu);
    ASSERT_TRUE(cv.wait_for(lk, 10s, [&] { return holding; }));
  }
  EXPECT_FALSE(r.ready());
  EXPECT_TRUE(r.get("a")->loading());
  EXPECT_EQ(r.status("a").at(0).state, LoadState::Loading);
  // "b" is either done (listed before "a") or not reached yet (503, never 404).
  try {
    EXPECT_TRUE(r.get("b")->ready());
  } catch (const HttpError& e) {
    EXPECT_EQ(e.status, 503);
    EXPECT_EQ(e.retry_after, "1");
  }
  EXPECT_EQ(status_of([&] { r.get("nope"); }), 503);  // unknown only once start-up is over
  {
    std::lock_guard<std::mutex> lk(mu);
    release = true;
    cv.notify_all();
  }
  const auto t0 = std::chrono::steady_clock::now();
  while (!r.ready() && std::chrono::steady_clock::now() - t0 < 10s) std::this_thread::sleep_for(5ms);
  EXPECT_TRUE(r.ready());
  EXPECT_EQ(status_of([&] { r.get("nope"); }), 404);
  EXPECT_EQ(r.get("b")->infer(request_of(ones({1, 4}))).get().outputs[0].shape, (std::vector<int64_t>{1, 4}));
}
