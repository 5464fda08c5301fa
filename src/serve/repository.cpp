// ModelRepository and ModelVersion: folder scanning, version policy, loading,
// request validation, polling and retirement of old versions.
#include "serve/repository.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "tessel/error.h"

namespace fs = std::filesystem;

namespace tessel::serve {

namespace {

using Clock = std::chrono::steady_clock;

std::string shape_str(const std::vector<int64_t>& s) { return detail::cat(s); }

[[noreturn]] void bad_request(const ModelMetrics& m, const std::string& msg) {
  m.count(400);
  throw HttpError(400, msg);
}

// Digits only, no leading zero, fits in int64: Triton's numeric version folders.
std::optional<int64_t> parse_version(const std::string& s) {
  if (s.empty() || s.size() > 18 || s[0] == '0') return std::nullopt;
  for (char ch : s)
    if (ch < '0' || ch > '9') return std::nullopt;
  return std::stoll(s);
}

// Changes when the file is rewritten or replaced.
std::string file_stamp(const fs::path& p) {
  std::error_code ec;
  const auto t = fs::last_write_time(p, ec);
  const auto n = fs::file_size(p, ec);
  if (ec) return "";
  return std::to_string(t.time_since_epoch().count()) + ":" + std::to_string(n);
}

std::optional<std::string> read_small_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) return std::nullopt;
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void warn(const std::string& msg) { std::fprintf(stderr, "tessel-serve: %s\n", msg.c_str()); }

}  // namespace

bool valid_model_name(const std::string& name) {
  if (name.empty() || name.size() > 255 || name == "." || name == "..") return false;
  for (char ch : name) {
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
                    ch == '.' || ch == '-';
    if (!ok) return false;
  }
  return true;
}

const char* state_name(LoadState s) {
  switch (s) {
    case LoadState::Loading:
      return "LOADING";
    case LoadState::Ready:
      return "READY";
    case LoadState::Unloading:
      return "UNLOADING";
    default:
      return "UNAVAILABLE";
  }
}

// ---- ModelVersion ----

std::shared_ptr<ModelVersion> ModelVersion::failed(const std::string& name, int64_t version, ModelConfig config,
                                                   std::string error, std::shared_ptr<MetricsRegistry> metrics) {
  std::shared_ptr<ModelVersion> v(new ModelVersion());
  v->name_ = name;
  v->number_ = version;
  v->version_ = std::to_string(version);
  v->config_ = std::move(config);
  v->error_ = std::move(error);
  v->registry_ = std::move(metrics);
  v->metrics_ = ModelMetrics::create(*v->registry_, name, v->version_);
  v->metrics_.ready->set(0);
  return v;
}

std::shared_ptr<ModelVersion> ModelVersion::placeholder(const std::string& name, int64_t version, ModelConfig config,
                                                        std::shared_ptr<MetricsRegistry> metrics) {
  auto v = failed(name, version, std::move(config), "loading", std::move(metrics));
  v->loading_ = true;
  return v;
}

std::shared_ptr<ModelVersion> ModelVersion::load(const std::string& name, int64_t version, const std::string& file,
                                                 ModelConfig config, std::shared_ptr<MetricsRegistry> metrics,
                                                 size_t default_max_queue_size,
                                                 std::shared_ptr<std::vector<std::string>> versions,
                                                 std::shared_ptr<std::mutex> versions_mu, bool log,
                                                 int default_intra_op_threads) {
  auto v = failed(name, version, std::move(config), "", std::move(metrics));
  v->file_ = file;
  v->versions_ = std::move(versions);
  v->versions_mu_ = std::move(versions_mu);
  const auto t0 = Clock::now();
  try {
    v->model_ = std::make_unique<onnx::Model>(onnx::Model::load(file));
    complete_model_config(v->config_, *v->model_, v->config_.has_file ? name + "/config.pbtxt" : file);
    if (v->config_.name.empty()) v->config_.name = name;
    BatcherOptions bo;
    bo.max_batch_size = v->config_.max_batch_size;
    bo.instances = v->config_.instance_count;
    bo.intra_op_threads = v->config_.intra_op_threads > 0 ? v->config_.intra_op_threads : default_intra_op_threads;
    if (v->config_.dynamic_batching) {
      bo.dynamic = true;
      bo.preferred_batch_size = v->config_.dynamic_batching->preferred_batch_size;
      bo.max_queue_delay = std::chrono::microseconds(v->config_.dynamic_batching->max_queue_delay_us);
      bo.queue_policy = v->config_.dynamic_batching->default_queue_policy;
    }
    if (bo.queue_policy.max_queue_size == 0)
      bo.queue_policy.max_queue_size = static_cast<uint32_t>(default_max_queue_size);
    const onnx::Model* m = v->model_.get();
    v->batcher_ = std::make_unique<Batcher>(
        bo, [m](const onnx::NamedValues& feed) { return m->run_values(feed); }, v->metrics_);
    v->ready_ = true;
  } catch (const std::exception& e) {
    v->error_ = e.what();
    v->model_.reset();
  }
  v->load_seconds_ = std::chrono::duration<double>(Clock::now() - t0).count();
  if (log) {
    if (v->ready_) {
      char secs[32];
      std::snprintf(secs, sizeof secs, "%.3f", v->load_seconds_);
      warn("loaded model '" + name + "' version " + v->version_ + " in " + secs + " s");
    } else {
      warn("model '" + name + "' version " + v->version_ + " failed to load: " + v->error_);
    }
  }
  v->metrics_.load_time->set(v->load_seconds_);
  v->metrics_.ready->set(v->ready_ ? 1 : 0);
  return v;
}

ModelVersion::~ModelVersion() {
  if (batcher_) batcher_->stop();
}

VersionMetadata ModelVersion::metadata() const {
  if (!ready_) throw HttpError(400, "model '" + name_ + "' version " + version_ + " is not ready: " + error_);
  VersionMetadata md;
  md.name = name_;
  md.platform = config_.platform.empty() ? "onnxruntime_onnx" : config_.platform;
  if (versions_) {
    std::lock_guard<std::mutex> lk(*versions_mu_);
    md.versions = *versions_;
  } else {
    md.versions = {version_};
  }
  auto tensors = [&](const std::vector<TensorConfig>& ts) {
    std::vector<TensorMetadata> out;
    for (const auto& t : ts) {
      TensorMetadata m{t.name, t.datatype, t.dims};
      if (config_.max_batch_size > 0) m.shape.insert(m.shape.begin(), -1);
      out.push_back(std::move(m));
    }
    return out;
  };
  md.inputs = tensors(config_.input);
  md.outputs = tensors(config_.output);
  return md;
}

size_t ModelVersion::queue_depth() const { return batcher_ ? batcher_->queue_depth() : 0; }
bool ModelVersion::idle() const { return !batcher_ || batcher_->idle(); }
void ModelVersion::drain() {
  if (batcher_) batcher_->stop();
}
void ModelVersion::begin_drain() {
  if (batcher_) batcher_->begin_stop();
}

void ModelVersion::infer_async(InferRequest req, InferCallback done) {
  const ModelMetrics& m = metrics_;
  // Built only for error messages (the success path allocates no strings for them).
  auto who = [this] { return "model '" + name_ + "' version " + version_; };
  if (loading_) {
    m.count(503);
    throw HttpError(503, who() + " is loading", "1");
  }
  if (!ready_) bad_request(m, who() + " is not ready: " + error_);
  const auto& cfg = config_;
  const bool batched = cfg.max_batch_size > 0;

  std::vector<NamedTensor> ordered(cfg.input.size());
  std::vector<bool> seen(cfg.input.size(), false);
  int64_t batch = batched ? -1 : 1;
  std::string key;
  for (auto& in : req.inputs) {
    auto it = std::find_if(cfg.input.begin(), cfg.input.end(), [&](const auto& t) { return t.name == in.name; });
    if (it == cfg.input.end()) {
      std::string names;
      for (const auto& t : cfg.input) names += (names.empty() ? "" : ", ") + t.name;
      bad_request(m, "unknown input '" + in.name + "' for " + who() + " (its inputs: " + names + ")");
    }
    const size_t i = static_cast<size_t>(it - cfg.input.begin());
    if (seen[i]) bad_request(m, "input '" + in.name + "' is given twice");
    seen[i] = true;
    if (in.datatype != it->datatype)
      bad_request(m,
                  "input '" + in.name + "': datatype " + in.datatype + " does not match the model's " + it->datatype);
    if (in.datatype == "BYTES") {
      // The codecs check this too; a request built another way must not reach the model with a mismatch.
      int64_t n = 1;
      for (auto d : in.shape) n = d < 0 ? -1 : n * d;
      if (n < 0 || static_cast<int64_t>(in.bytes.size()) != n)
        bad_request(m, "input '" + in.name + "': shape " + shape_str(in.shape) + " needs " + std::to_string(n) +
                           " BYTES elements, got " + std::to_string(in.bytes.size()));
    } else if (!in.tensor.defined() || in.tensor.dtype() != *oip_to_dtype(it->datatype)) {
      bad_request(m, "input '" + in.name + "' carries no " + it->datatype + " data");
    }
    if (in.datatype != "BYTES" && in.tensor.shape() != in.shape)
      bad_request(m, "input '" + in.name + "': data of shape " + shape_str(in.tensor.shape()) +
                         " does not match the declared shape " + shape_str(in.shape));
    std::vector<int64_t> want = it->dims;
    if (batched) want.insert(want.begin(), -1);
    bool ok = in.shape.size() == want.size();
    for (size_t d = 0; ok && d < want.size(); ++d) ok = in.shape[d] >= 0 && (want[d] == -1 || want[d] == in.shape[d]);
    if (!ok)
      bad_request(m, "input '" + in.name + "': shape " + shape_str(in.shape) + " does not match the model's " +
                         shape_str(want) + " (-1: any size)");
    if (batched) {
      const int64_t n = in.shape[0];
      if (n < 1 || n > cfg.max_batch_size)
        bad_request(m, "input '" + in.name + "': batch size " + std::to_string(n) + " is outside 1.." +
                           std::to_string(cfg.max_batch_size) + " (max_batch_size of " + who() + ")");
      if (batch != -1 && n != batch)
        bad_request(m, "input '" + in.name + "': batch size " + std::to_string(n) + " differs from the other inputs' " +
                           std::to_string(batch));
      batch = n;
    }
    ordered[i] = std::move(in);
  }
  for (size_t i = 0; i < seen.size(); ++i)
    if (!seen[i]) bad_request(m, "missing input '" + cfg.input[i].name + "' for " + who());
  for (const auto& in : ordered) {
    key += in.datatype;
    for (size_t d = batched ? 1 : 0; d < in.shape.size(); ++d) key += "," + std::to_string(in.shape[d]);
    key += ";";
  }

  std::vector<std::string> outputs;
  for (const auto& name : req.outputs) {
    if (std::none_of(cfg.output.begin(), cfg.output.end(), [&](const auto& t) { return t.name == name; }))
      bad_request(m, "unknown output '" + name + "' requested from " + who());
    if (std::find(outputs.begin(), outputs.end(), name) != outputs.end())
      bad_request(m, "output '" + name + "' is requested twice");
    outputs.push_back(name);
  }
  if (outputs.empty())
    for (const auto& t : cfg.output) outputs.push_back(t.name);

  // Queue timeout: the config's default, or the request's "timeout" (microseconds) when allowed.
  uint64_t timeout_us = 0;
  if (cfg.dynamic_batching) {
    const auto& q = cfg.dynamic_batching->default_queue_policy;
    timeout_us = q.default_timeout_us;
    auto p = req.parameters.find("timeout");
    if (q.allow_timeout_override && p != req.parameters.end()) {
      const std::string& s = p->second;
      if (s.empty() || s.size() > 15 || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
        bad_request(m, "parameter 'timeout' must be a whole number of microseconds, got " + s);
      timeout_us = std::stoull(s);
    }
  }

  BatchItem item;
  item.request = std::move(req);
  item.request.model = name_;
  item.request.version = version_;
  item.request.inputs = std::move(ordered);
  item.outputs = std::move(outputs);
  item.batch = batched ? batch : 1;
  item.key = std::move(key);
  item.enqueued = Clock::now();
  item.deadline = timeout_us ? item.enqueued + std::chrono::microseconds(timeout_us) : Clock::time_point::max();
  item.done = std::move(done);
  batcher_->submit(std::move(item));
}

std::future<InferResponse> ModelVersion::infer(InferRequest request) {
  auto promise = std::make_shared<std::promise<InferResponse>>();
  auto future = promise->get_future();
  infer_async(std::move(request), [promise](std::exception_ptr err, InferResponse resp) {
    if (err)
      promise->set_exception(err);
    else
      promise->set_value(std::move(resp));
  });
  return future;
}

// ---- ModelRepository ----

struct ModelRepository::Entry {
  std::string name;
  std::string file;  // --model PATH ("" for a repository folder)
  std::map<int64_t, std::shared_ptr<ModelVersion>> versions;
  std::map<int64_t, std::string> stamps;   // model file stamp at load
  std::optional<std::string> config_text;  // config.pbtxt as last read
  std::string error;                       // model-level: a bad config, no version folder
  std::shared_ptr<std::vector<std::string>> ready_versions = std::make_shared<std::vector<std::string>>();
  std::shared_ptr<std::mutex> ready_mu = std::make_shared<std::mutex>();
};

ModelRepository::ModelRepository(RepositoryOptions options, std::shared_ptr<MetricsRegistry> metrics)
    : opt_(std::move(options)), metrics_(metrics ? std::move(metrics) : std::make_shared<MetricsRegistry>()) {
  if (!opt_.repository.empty() && !fs::is_directory(opt_.repository))
    throw ValueError("--model-repository '" + opt_.repository + "' is not a folder");
  for (const auto& [name, path] : opt_.models) {
    if (!valid_model_name(name))
      throw ValueError("--model: invalid model name '" + name + "' (letters, digits, '_', '.', '-')");
    if (!fs::is_regular_file(path)) throw ValueError("--model " + name + "=" + path + ": no such file");
    if (models_.count(name)) throw ValueError("--model: model '" + name + "' is given twice");
    auto e = std::make_shared<Entry>();
    e->name = name;
    e->file = path;
    models_[name] = e;
  }
  // The models to load at start, checked here so that bad options fail at once.
  std::vector<std::string> startup;
  for (const auto& [name, e] : models_) startup.push_back(name);
  if (opt_.control == RepositoryOptions::Control::Explicit) {
    for (const auto& name : opt_.startup_models) {
      if (!valid_model_name(name)) throw ValueError("--load-model: invalid model name '" + name + "'");
      if (opt_.repository.empty() || !fs::is_directory(fs::path(opt_.repository) / name))
        throw ValueError("--load-model: no model '" + name + "' in the repository");
      startup.push_back(name);
    }
  } else if (!opt_.repository.empty()) {
    for (const auto& d : fs::directory_iterator(opt_.repository)) {
      const std::string n = d.path().filename().string();
      if (!d.is_directory() || n.empty() || n[0] == '.') continue;
      if (!valid_model_name(n)) {
        warn("skipping '" + n + "' in the model repository: not a valid model name");
        continue;
      }
      if (models_.count(n) && !models_[n]->file.empty()) {
        warn("model '" + n + "' is both in the repository and given with --model; --model wins");
        continue;
      }
      startup.push_back(n);
    }
  }
  auto load_startup = [this, startup] {
    std::lock_guard<std::mutex> lk(sync_mu_);
    for (const auto& name : startup) {
      if (stopping_) break;
      sync(name);
    }
  };
  if (!opt_.background_startup) {
    load_startup();
    thread_ = std::thread([this] { housekeeping(); });
    return;
  }
  starting_ = true;
  thread_ = std::thread([this, load_startup] {
    load_startup();
    starting_ = false;
    housekeeping();
  });
}

ModelRepository::~ModelRepository() {
  stop();
  std::lock_guard<std::mutex> lk(mu_);
  models_.clear();
  retired_.clear();
}

void ModelRepository::sync(const std::string& name) {
  std::shared_ptr<Entry> e;
  {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = models_.find(name);
    if (it != models_.end()) e = it->second;
  }
  const bool is_file = e && !e->file.empty();
  ModelConfig config;
  std::optional<std::string> config_text;
  std::map<int64_t, std::string> candidates;  // version -> model file
  std::string error;
  if (is_file) {
    candidates[1] = e->file;
  } else {
    const fs::path dir = fs::path(opt_.repository) / name;
    if (!fs::is_directory(dir)) {
      // Folder gone: take the model out of service (its requests finish).
      if (e) {
        std::lock_guard<std::mutex> lk(mu_);
        for (auto& [v, mv] : e->versions) retire(mv);
        models_.erase(name);
      }
      return;
    }
    if (!e) {
      e = std::make_shared<Entry>();
      e->name = name;
    }
    const fs::path cfg_path = dir / "config.pbtxt";
    if (fs::exists(cfg_path)) {
      config_text = read_small_file(cfg_path);
      try {
        if (!config_text) throw ValueError(cfg_path.string() + ": cannot be read");
        config = parse_model_config(*config_text, cfg_path.string());
        if (!config.name.empty() && config.name != name)
          throw ValueError(cfg_path.string() + ": name '" + config.name + "' does not match the folder '" + name + "'");
      } catch (const std::exception& ex) {
        error = ex.what();
      }
    }
    if (error.empty()) {
      std::error_code ec;
      for (const auto& d : fs::directory_iterator(dir, ec)) {
        auto v = parse_version(d.path().filename().string());
        const fs::path f = d.path() / config.default_model_filename;
        if (v && d.is_directory() && fs::is_regular_file(f)) candidates[*v] = f.string();
      }
      // The version policy picks the versions to serve.
      std::map<int64_t, std::string> chosen;
      const auto& vp = config.version_policy;
      if (vp.kind == VersionPolicy::Kind::All) {
        chosen = candidates;
      } else if (vp.kind == VersionPolicy::Kind::Specific) {
        for (int64_t v : vp.versions)
          if (candidates.count(v)) chosen[v] = candidates[v];
      } else {
        uint32_t n = 0;
        for (auto it = candidates.rbegin(); it != candidates.rend() && n < vp.num_versions; ++it, ++n)
          chosen[it->first] = it->second;
      }
      if (chosen.empty())
        error = candidates.empty()
                    ? "no version folder (" + (dir / "<N>" / config.default_model_filename).string() + ") holds a model"
                    : "the version policy selects none of the versions found";
      candidates = std::move(chosen);
    }
  }
  if (!error.empty()) {
    // Keep serving what is loaded; report the problem.
    std::lock_guard<std::mutex> lk(mu_);
    if (e->error != error && opt_.log_loads) warn("model '" + name + "': " + error);
    e->error = error;
    models_[name] = e;
    return;
  }

  const bool config_changed = e->config_text != config_text;
  std::map<int64_t, std::shared_ptr<ModelVersion>> loaded;
  std::map<int64_t, std::string> stamps, to_load;
  for (const auto& [v, file] : candidates) {
    const std::string stamp = file_stamp(file);
    stamps[v] = stamp;
    auto old = e->versions.find(v);
    const auto st = e->stamps.find(v);
    if (old != e->versions.end() && !config_changed && st != e->stamps.end() && st->second == stamp) continue;
    to_load[v] = file;
  }
  // New versions are LOADING while they load (Triton's state): listed in the
  // index, not ready (a model with no other version keeps the server unready),
  // and requests to them get 503 with Retry-After. A reload keeps the loaded
  // version serving meanwhile.
  {
    std::lock_guard<std::mutex> lk(mu_);
    bool placed = false;
    for (const auto& [v, file] : to_load)
      if (!e->versions.count(v)) {
        e->versions[v] = ModelVersion::placeholder(name, v, config, metrics_);
        placed = true;
      }
    if (placed) models_[name] = e;
  }
  for (const auto& [v, file] : to_load) {
    if (opt_.before_load) opt_.before_load(name, v);
    loaded[v] = ModelVersion::load(name, v, file, config, metrics_, opt_.default_max_queue_size, e->ready_versions,
                                   e->ready_mu, opt_.log_loads, opt_.intra_op_threads);
  }

  std::lock_guard<std::mutex> lk(mu_);
  for (auto& [v, mv] : loaded) {
    auto old = e->versions.find(v);
    if (old != e->versions.end()) {
      // A failed reload keeps the version that serves (retried when the files change again).
      if (!mv->ready() && old->second->ready()) {
        if (opt_.log_loads) warn("keeping the loaded model '" + name + "' version " + mv->version());
        // The failed attempt wrote the shared series of this version: put the serving one's back.
        auto series = ModelMetrics::create(*metrics_, name, mv->version());
        series.ready->set(1);
        series.load_time->set(old->second->load_seconds());
        retire(mv);
        continue;
      }
      retire(old->second);
    }
    e->versions[v] = mv;
  }
  for (auto it = e->versions.begin(); it != e->versions.end();) {
    if (!candidates.count(it->first)) {
      retire(it->second);
      it = e->versions.erase(it);
    } else {
      ++it;
    }
  }
  e->stamps = std::move(stamps);
  e->config_text = config_text;
  e->error.clear();
  {
    std::lock_guard<std::mutex> rl(*e->ready_mu);
    e->ready_versions->clear();
    for (const auto& [v, mv] : e->versions)
      if (mv->ready()) e->ready_versions->push_back(mv->version());
  }
  models_[name] = e;
}

void ModelRepository::retire(std::shared_ptr<ModelVersion> v) { retired_.push_back(std::move(v)); }

void ModelRepository::purge_retired() {
  std::vector<std::shared_ptr<ModelVersion>> done;
  {
    std::lock_guard<std::mutex> lk(mu_);
    for (auto it = retired_.begin(); it != retired_.end();) {
      // Only this list holds it and nothing runs: no request can reach it any more.
      if (it->use_count() == 1 && (*it)->idle()) {
        auto m = models_.find((*it)->name());
        const bool replaced = m != models_.end() && m->second->versions.count((*it)->version_number());
        if (!replaced) ModelMetrics::create(*metrics_, (*it)->name(), (*it)->version()).remove(*metrics_);
        done.push_back(std::move(*it));
        it = retired_.erase(it);
      } else {
        ++it;
      }
    }
  }
  done.clear();  // joins their (idle) workers outside the lock
}

void ModelRepository::housekeeping() {
  std::unique_lock<std::mutex> lk(thread_mu_);
  for (;;) {
    const auto tick = opt_.control == RepositoryOptions::Control::Poll
                          ? std::min<std::chrono::milliseconds>(opt_.poll_interval, std::chrono::milliseconds(1000))
                          : std::chrono::milliseconds(1000);
    auto next_poll = Clock::now() + opt_.poll_interval;
    while (!stopping_ && Clock::now() < next_poll) {
      thread_cv_.wait_for(lk, tick);
      if (stopping_) return;
      lk.unlock();
      purge_retired();
      lk.lock();
    }
    if (stopping_) return;
    if (opt_.control == RepositoryOptions::Control::Poll) {
      lk.unlock();
      try {
        poll();
      } catch (const std::exception& ex) {
        warn(std::string("polling the repository failed: ") + ex.what());
      }
      lk.lock();
    }
  }
}

void ModelRepository::poll() {
  std::lock_guard<std::mutex> sl(sync_mu_);
  std::set<std::string> names;
  {
    std::lock_guard<std::mutex> lk(mu_);
    for (const auto& [n, e] : models_) names.insert(n);
  }
  if (opt_.control != RepositoryOptions::Control::Explicit && !opt_.repository.empty()) {
    std::error_code ec;
    for (const auto& d : fs::directory_iterator(opt_.repository, ec)) {
      const std::string n = d.path().filename().string();
      if (d.is_directory() && !n.empty() && n[0] != '.' && valid_model_name(n)) names.insert(n);
    }
  }
  for (const auto& n : names) sync(n);
  purge_retired();
}

std::shared_ptr<ModelVersion> ModelRepository::get(const std::string& name, const std::string& version) const {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = models_.find(name);
  if (it == models_.end()) {
    if (starting_)
      throw HttpError(503, "model '" + name + "' is not loaded yet: the server is still loading its models", "1");
    throw HttpError(404, "unknown model '" + name + "'");
  }
  const Entry& e = *it->second;
  if (version.empty()) {
    for (auto v = e.versions.rbegin(); v != e.versions.rend(); ++v)
      if (v->second->ready()) return v->second;
    if (!e.versions.empty()) return e.versions.rbegin()->second;
    throw HttpError(400, "model '" + name + "' is not ready: " + (e.error.empty() ? "no version loaded" : e.error));
  }
  auto n = parse_version(version);
  auto v = n ? e.versions.find(*n) : e.versions.end();
  if (v == e.versions.end()) throw HttpError(404, "model '" + name + "' has no version '" + version + "'");
  return v->second;
}

namespace {

VersionStatus status_of(const ModelVersion& v) {
  const LoadState s = v.ready() ? LoadState::Ready : v.loading() ? LoadState::Loading : LoadState::Unavailable;
  return {v.name(), v.version(), s, v.loading() ? "" : v.error(), v.load_seconds()};
}

}  // namespace

std::vector<VersionStatus> ModelRepository::index(bool ready_only) const {
  std::vector<VersionStatus> out;
  std::set<std::string> known;
  {
    std::lock_guard<std::mutex> lk(mu_);
    for (const auto& [name, e] : models_) {
      known.insert(name);
      if (e->versions.empty() && !ready_only)
        out.push_back({name, "", LoadState::Unavailable, e->error.empty() ? "no version loaded" : e->error, 0});
      for (const auto& [v, mv] : e->versions)
        if (!ready_only || mv->ready()) out.push_back(status_of(*mv));
    }
  }
  if (opt_.control == RepositoryOptions::Control::Explicit && !ready_only && !opt_.repository.empty()) {
    std::error_code ec;
    for (const auto& d : fs::directory_iterator(opt_.repository, ec)) {
      const std::string n = d.path().filename().string();
      if (d.is_directory() && valid_model_name(n) && n[0] != '.' && !known.count(n))
        out.push_back({n, "", LoadState::Unavailable, "unloaded", 0});
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  }
  return out;
}

std::vector<VersionStatus> ModelRepository::status(const std::string& name) const {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = models_.find(name);
  if (it == models_.end()) {
    if (starting_)
      throw HttpError(503, "model '" + name + "' is not loaded yet: the server is still loading its models", "1");
    throw HttpError(404, "unknown model '" + name + "'");
  }
  std::vector<VersionStatus> out;
  for (const auto& [v, mv] : it->second->versions) out.push_back(status_of(*mv));
  if (out.empty())
    out.push_back(
        {name, "", LoadState::Unavailable, it->second->error.empty() ? "no version loaded" : it->second->error, 0});
  return out;
}

bool ModelRepository::ready() const {
  std::lock_guard<std::mutex> lk(mu_);
  if (stopping_ || starting_) return false;
  if (!opt_.strict_readiness) return true;
  for (const auto& [name, e] : models_) {
    const bool any =
        std::any_of(e->versions.begin(), e->versions.end(), [](const auto& p) { return p.second->ready(); });
    if (!any) return false;
  }
  return true;
}

void ModelRepository::load(const std::string& name) {
  if (opt_.control != RepositoryOptions::Control::Explicit)
    throw HttpError(403, "model load is off: start the server with --model-control explicit");
  if (!valid_model_name(name)) throw HttpError(400, "invalid model name '" + name + "'");
  if (opt_.repository.empty() || !fs::is_directory(fs::path(opt_.repository) / name))
    throw HttpError(404, "no model '" + name + "' in the repository");
  {
    std::lock_guard<std::mutex> sl(sync_mu_);
    sync(name);
  }
  purge_retired();
  std::lock_guard<std::mutex> lk(mu_);
  auto it = models_.find(name);
  if (it == models_.end()) throw HttpError(404, "no model '" + name + "' in the repository");
  const Entry& e = *it->second;
  if (!e.error.empty()) throw HttpError(400, "failed to load '" + name + "': " + e.error);
  for (const auto& [v, mv] : e.versions)
    if (!mv->ready())
      throw HttpError(400, "failed to load '" + name + "' version " + mv->version() + ": " + mv->error());
}

void ModelRepository::unload(const std::string& name) {
  if (opt_.control != RepositoryOptions::Control::Explicit)
    throw HttpError(403, "model unload is off: start the server with --model-control explicit");
  {
    std::lock_guard<std::mutex> sl(sync_mu_);
    std::lock_guard<std::mutex> lk(mu_);
    auto it = models_.find(name);
    if (it == models_.end()) throw HttpError(404, "unknown model '" + name + "'");
    for (auto& [v, mv] : it->second->versions) retire(mv);
    models_.erase(it);
  }
  purge_retired();
}

void ModelRepository::begin_stop() {
  std::lock_guard<std::mutex> lk(mu_);
  for (const auto& [n, e] : models_)
    for (const auto& [v, mv] : e->versions) mv->begin_drain();
  for (const auto& v : retired_) v->begin_drain();
}

void ModelRepository::stop() {
  {
    std::lock_guard<std::mutex> lk(thread_mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  thread_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::vector<std::shared_ptr<ModelVersion>> all;
  {
    std::lock_guard<std::mutex> lk(mu_);
    for (const auto& [n, e] : models_)
      for (const auto& [v, mv] : e->versions) all.push_back(mv);
    all.insert(all.end(), retired_.begin(), retired_.end());
  }
  for (auto& v : all) v->drain();
}

}  // namespace tessel::serve
