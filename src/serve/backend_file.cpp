// --model NAME=PATH: single ONNX files, one version ("1") each, run by a small
// pool of compute threads behind a bounded queue (no batching).
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "serve/protocol.h"
#include "tessel/onnx.h"

namespace tessel::serve {

std::string oip_datatype_of_onnx(const std::string& onnx_type) {
  static const std::map<std::string, std::string> table = {
      {"tensor(bool)", "BOOL"},     {"tensor(uint8)", "UINT8"},   {"tensor(uint16)", "UINT16"},
      {"tensor(uint32)", "UINT32"}, {"tensor(uint64)", "UINT64"}, {"tensor(int8)", "INT8"},
      {"tensor(int16)", "INT16"},   {"tensor(int32)", "INT32"},   {"tensor(int64)", "INT64"},
      {"tensor(float16)", "FP16"},  {"tensor(bfloat16)", "BF16"}, {"tensor(float)", "FP32"},
      {"tensor(double)", "FP64"},   {"tensor(string)", "BYTES"}};
  auto it = table.find(onnx_type);
  return it == table.end() ? "UNSUPPORTED" : it->second;
}

std::vector<TensorSpec> specs_of(const std::vector<onnx::ValueInfo>& infos) {
  std::vector<TensorSpec> out;
  for (auto& v : infos) {
    TensorSpec s{v.name, oip_datatype_of_onnx(v.onnx_type), {}, v.has_shape};
    for (auto& d : v.shape) s.shape.push_back(std::holds_alternative<int64_t>(d) ? std::get<int64_t>(d) : -1);
    out.push_back(std::move(s));
  }
  return out;
}

namespace {

class FileBackend final : public ModelBackend {
 public:
  FileBackend(const std::vector<std::pair<std::string, std::string>>& models, int threads, size_t max_queue)
      : max_queue_(max_queue) {
    for (auto& [name, path] : models) {
      if (!valid_name(name)) throw std::runtime_error("invalid model name '" + name + "'");
      if (models_.count(name)) throw std::runtime_error("model '" + name + "' given twice");
      Entry e{onnx::Model::load(path), {}};
      e.meta.name = name;
      e.meta.version = "1";
      e.meta.versions = {"1"};
      e.meta.inputs = specs_of(e.model.inputs());
      e.meta.outputs = specs_of(e.model.outputs());
      models_.emplace(name, std::move(e));
    }
    for (int i = 0; i < std::max(threads, 1); ++i) workers_.emplace_back([this] { work(); });
  }

  ~FileBackend() override {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }

  bool ready() const override { return true; }

  ModelMetadata metadata(const std::string& name, const std::string& version) const override {
    return find(name, version).meta;
  }
  bool model_ready(const std::string& name, const std::string& version) const override {
    find(name, version);
    return true;
  }
  std::vector<VersionState> versions(const std::string& name) const override {
    find(name, "");
    return {{"1", "AVAILABLE", ""}};
  }

  void infer(InferRequest&& req, Done done) override {
    const Entry& e = find(req.model, req.version);
    {
      std::lock_guard lock(mu_);
      if (queue_.size() >= max_queue_) throw HttpError(503, "the request queue is full", "1");
      queue_.push_back([this, &e, req = std::move(req), done = std::move(done)]() mutable { run(e, req, done); });
    }
    cv_.notify_one();
  }

 private:
  struct Entry {
    onnx::Model model;
    ModelMetadata meta;
  };

  const Entry& find(const std::string& name, const std::string& version) const {
    auto it = models_.find(name);
    if (it == models_.end()) throw HttpError(404, "unknown model '" + name + "'");
    if (!version.empty() && version != "1")
      throw HttpError(404, "model '" + name + "' has no version '" + version + "'");
    return it->second;
  }

  static void run(const Entry& e, InferRequest& req, Done& done) {
    InferResponse resp;
    try {
      onnx::NamedTensors feed;
      for (auto& in : req.inputs) {
        if (in.datatype == "BYTES") throw HttpError(400, "input '" + in.name + "': BYTES inputs are not supported");
        feed.emplace_back(in.name, in.tensor);
      }
      onnx::NamedTensors outs = e.model.run(feed);
      resp.model = req.model;
      resp.version = "1";
      resp.id = req.id;
      for (auto& [name, t] : outs) {
        bool wanted = req.outputs.empty();
        for (auto& o : req.outputs) wanted = wanted || o == name;
        if (wanted) resp.outputs.push_back(named_output(name, t));
      }
    } catch (...) {
      done({}, std::current_exception());
      return;
    }
    done(std::move(resp), nullptr);
  }

  void work() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping, and drained
        job = std::move(queue_.front());
        queue_.pop_front();
      }
      job();
    }
  }

  std::map<std::string, Entry> models_;
  size_t max_queue_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace

std::unique_ptr<ModelBackend> make_file_backend(const std::vector<std::pair<std::string, std::string>>& models,
                                                int threads, size_t max_queue) {
  return std::make_unique<FileBackend>(models, threads, max_queue);
}

}  // namespace tessel::serve
