// The routes' ModelBackend over the model side: ModelRepository (repository.h)
// with its per-version batchers and the Prometheus registry.
#include "serve/config.h"
#include "serve/protocol.h"
#include "serve/repository.h"

namespace tessel::serve {

namespace {

std::vector<TensorSpec> specs(const std::vector<TensorMetadata>& ts) {
  std::vector<TensorSpec> out;
  for (auto& t : ts) out.push_back({t.name, t.datatype, t.shape, true});
  return out;
}

// TF-Serving's ModelVersionStatus states.
const char* tf_state(LoadState s) {
  switch (s) {
    case LoadState::Loading:
      return "LOADING";
    case LoadState::Ready:
      return "AVAILABLE";
    case LoadState::Unloading:
      return "UNLOADING";
    default:
      return "END";
  }
}

class RepositoryBackend final : public ModelBackend {
 public:
  explicit RepositoryBackend(std::shared_ptr<ModelRepository> repo) : repo_(std::move(repo)) {}

  bool ready() const override { return repo_->ready(); }

  ModelMetadata metadata(const std::string& name, const std::string& version) const override {
    auto v = repo_->get(name, version);
    if (v->loading()) throw HttpError(503, "model '" + name + "' version " + v->version() + " is loading", "1");
    if (!v->ready())
      throw HttpError(404, "model '" + name + "' version " + v->version() + " is not ready: " + v->error());
    VersionMetadata md = v->metadata();
    ModelMetadata m;
    m.name = md.name;
    m.version = v->version();
    m.versions = md.versions;
    m.platform = md.platform;
    m.inputs = specs(md.inputs);
    m.outputs = specs(md.outputs);
    return m;
  }

  bool model_ready(const std::string& name, const std::string& version) const override {
    return repo_->get(name, version)->ready();
  }

  std::vector<VersionState> versions(const std::string& name) const override {
    std::vector<VersionState> out;
    for (auto& s : repo_->status(name)) out.push_back({s.version, tf_state(s.state), s.reason});
    return out;
  }

  void infer(InferRequest&& req, Done done) override {
    auto v = repo_->get(req.model, req.version);
    v->infer_async(std::move(req),
                   [done = std::move(done)](std::exception_ptr e, InferResponse r) { done(std::move(r), e); });
  }

  void count_refused(const std::string& name, const std::string& version, int status) override {
    try {
      repo_->get(name, version)->count_request(status);
    } catch (const HttpError&) {
      // unloaded meanwhile: nothing to count against
    }
  }

  std::string metrics_text() const override { return repo_->metrics().render(); }

  std::string config_json(const std::string& name, const std::string& version) const override {
    return model_config_json(repo_->get(name, version)->config());
  }

  std::vector<IndexEntry> index(bool ready_only) const override {
    std::vector<IndexEntry> out;
    for (auto& s : repo_->index(ready_only)) out.push_back({s.name, s.version, state_name(s.state), s.reason});
    return out;
  }
  void load(const std::string& name) override { repo_->load(name); }
  void unload(const std::string& name) override { repo_->unload(name); }

 private:
  std::shared_ptr<ModelRepository> repo_;
};

}  // namespace

std::unique_ptr<ModelBackend> make_repository_backend(std::shared_ptr<ModelRepository> repo) {
  return std::make_unique<RepositoryBackend>(std::move(repo));
}

}  // namespace tessel::serve
