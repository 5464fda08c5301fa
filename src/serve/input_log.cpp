// --input-log: each answered request's inputs as one JSON line in
// DIR/MODEL/VERSION/inputs.jsonl, rotated by size to inputs-<UTC time>-<seq>.jsonl.
#include "serve/input_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <mutex>
#include <vector>

#include "serve/codec.h"
#include "serve/json.h"
#include "tessel/error.h"

namespace tessel::serve {
namespace fs = std::filesystem;

void check_input_log_options(const InputLogOptions& o) {
  if (o.dir.empty()) throw ValueError("--input-log needs a folder");
  if (o.max_bytes < 1024) throw ValueError("--input-log-max-mb must allow at least 1 KB per file");
  if (o.keep < 1) throw ValueError("--input-log-keep must be at least 1");
  if (!(o.sample > 0 && o.sample <= 1)) throw ValueError("--input-log-sample must be in (0, 1]");
  std::error_code ec;
  fs::create_directories(o.dir, ec);
  if (ec || ::access(o.dir.c_str(), W_OK) != 0)
    throw ValueError("--input-log folder '" + o.dir + "' cannot be created or written" +
                     (ec ? ": " + ec.message() : std::string()));
}

namespace {

// One open log file of a model version.
struct LogFile {
  int fd = -1;
  size_t size = 0;
  ~LogFile() {
    if (fd >= 0) ::close(fd);
  }
};

class InputLog {
 public:
  explicit InputLog(InputLogOptions o) : opts_(std::move(o)) {}

  // Whether this request is logged: exactly a `sample` share of the requests, spread evenly.
  bool sampled() {
    if (opts_.sample >= 1) return true;
    uint64_t n = count_.fetch_add(1, std::memory_order_relaxed);
    return std::floor((n + 1) * opts_.sample) > std::floor(n * opts_.sample);
  }

  void write(const std::string& model, const std::string& version, const std::string& id, const std::string& inputs) {
    json::Writer w;
    w.begin_object().key("time").value(utc_timestamp()).key("model").value(model).key("version").value(version);
    w.key("id");
    if (id.empty())
      w.null();
    else
      w.value(id);
    w.key("inputs").raw(inputs).end_object();
    w.out.push_back('\n');
    std::lock_guard lock(mu_);
    try {
      append(model, version, w.out);
    } catch (const std::exception& e) {
      // The log serves monitoring: a full disk must not fail the requests. Say it once per cause.
      if (last_error_ != e.what()) std::fprintf(stderr, "tessel-serve: input log: %s\n", e.what());
      last_error_ = e.what();
    }
  }

 private:
  void append(const std::string& model, const std::string& version, const std::string& line) {
    fs::path dir = fs::path(opts_.dir) / model / version;
    auto& f = files_[dir.string()];
    if (f.fd >= 0 && f.size > 0 && f.size + line.size() > opts_.max_bytes) rotate(dir, f);
    if (f.fd < 0) {
      fs::create_directories(dir);
      std::string path = (dir / "inputs.jsonl").string();
      f.fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      if (f.fd < 0) throw ValueError("cannot open " + path + ": " + std::strerror(errno));
      struct stat st {};
      f.size = ::fstat(f.fd, &st) == 0 ? static_cast<size_t>(st.st_size) : 0;
      if (f.size > 0 && f.size + line.size() > opts_.max_bytes) rotate(dir, f);
      if (f.fd < 0) return append(model, version, line);
    }
    // One write per record (O_APPEND), so a reader sees whole lines plus at most one partial last line.
    size_t done = 0;
    while (done < line.size()) {
      ssize_t n = ::write(f.fd, line.data() + done, line.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw ValueError(std::string("cannot write ") + (dir / "inputs.jsonl").string() + ": " +
                                   std::strerror(errno));
      done += static_cast<size_t>(n);
    }
    f.size += line.size();
  }

  // inputs.jsonl -> inputs-YYYYMMDDTHHMMSSZ-NNNNNN.jsonl: names of one length that sort by age.
  void rotate(const fs::path& dir, LogFile& f) {
    ::close(f.fd);
    f.fd = -1;
    f.size = 0;
    std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char name[64];
    std::snprintf(name, sizeof name, "inputs-%04d%02d%02dT%02d%02d%02dZ-%06u.jsonl", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<unsigned>(++rotations_ % 1000000));
    fs::rename(dir / "inputs.jsonl", dir / name);
    std::vector<fs::path> rotated;
    for (const auto& e : fs::directory_iterator(dir)) {
      std::string n = e.path().filename().string();
      if (n.rfind("inputs-", 0) == 0 && n.size() > 6 && n.substr(n.size() - 6) == ".jsonl") rotated.push_back(e.path());
    }
    std::sort(rotated.begin(), rotated.end());
    for (size_t i = 0; i + static_cast<size_t>(opts_.keep) < rotated.size(); ++i) fs::remove(rotated[i]);
  }

  InputLogOptions opts_;
  std::atomic<uint64_t> count_{0};
  std::mutex mu_;
  std::map<std::string, LogFile> files_;
  unsigned rotations_ = 0;
  std::string last_error_;
};

// The record's "inputs" array: the request's own tensors, binary ones decoded.
std::string inputs_json(const InferRequest& req) {
  json::Writer w;
  w.begin_array();
  for (const NamedTensor& t : req.inputs) {
    w.begin_object().key("name").value(t.name).key("datatype").value(t.datatype).key("shape").begin_array();
    for (int64_t d : t.shape) w.value(d);
    w.end_array().key("data");
    write_values(w, t, 0, t.shape, false, false);
    w.end_object();
  }
  w.end_array();
  return std::move(w.out);
}

class InputLogBackend : public ModelBackend {
 public:
  InputLogBackend(std::unique_ptr<ModelBackend> inner, InputLogOptions opts)
      : inner_(std::move(inner)), log_(std::make_shared<InputLog>(std::move(opts))) {}

  void infer(InferRequest&& req, Done done) override {
    if (!log_->sampled()) return inner_->infer(std::move(req), std::move(done));
    // Written before the request moves into the batcher; logged only once the model has answered.
    auto record = std::make_shared<std::string>(inputs_json(req));
    std::string id = req.id;
    inner_->infer(std::move(req), [log = log_, record, id, done = std::move(done)](InferResponse&& res,
                                                                                     std::exception_ptr e) {
      if (!e) log->write(res.model, res.version, id, *record);
      done(std::move(res), e);
    });
  }

  bool ready() const override { return inner_->ready(); }
  ModelMetadata metadata(const std::string& n, const std::string& v) const override { return inner_->metadata(n, v); }
  bool model_ready(const std::string& n, const std::string& v) const override { return inner_->model_ready(n, v); }
  std::vector<VersionState> versions(const std::string& n) const override { return inner_->versions(n); }
  std::string metrics_text() const override { return inner_->metrics_text(); }
  std::string config_json(const std::string& n, const std::string& v) const override {
    return inner_->config_json(n, v);
  }
  std::vector<IndexEntry> index(bool ready_only) const override { return inner_->index(ready_only); }
  void load(const std::string& n) override { inner_->load(n); }
  void unload(const std::string& n) override { inner_->unload(n); }
  void count_refused(const std::string& n, const std::string& v, int status) override {
    inner_->count_refused(n, v, status);
  }
  void observe_request(std::string_view m, std::string_view v, int status, double seconds) override {
    inner_->observe_request(m, v, status, seconds);
  }

 private:
  std::unique_ptr<ModelBackend> inner_;
  std::shared_ptr<InputLog> log_;
};

}  // namespace

std::unique_ptr<ModelBackend> make_input_log_backend(std::unique_ptr<ModelBackend> inner, InputLogOptions opts) {
  check_input_log_options(opts);
  return std::make_unique<InputLogBackend>(std::move(inner), std::move(opts));
}

}  // namespace tessel::serve
