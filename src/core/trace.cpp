// The op-level tracer (tessel/trace.h): a thread-local recording and an op depth.
#include "tessel/trace.h"

#include "tessel/ops.h"
#include "tessel/registry.h"

namespace tessel::trace {

namespace detail {
std::atomic<int> recordings{0};
}  // namespace detail

namespace {
std::string detail_cat(const std::string& op, const std::string& name, const char* kind, bool missing) {
  return tessel::detail::cat("[trace] op '", op, "': attribute '", name, missing ? "' is missing" : "' is not ",
                             missing ? "" : kind);
}

struct State {
  Trace trace;
  int depth = 0;  // traced ops running on this thread
  // The storages of trace.untraced, kept until finish(): freed, their addresses
  // could come back as another tensor's and be mistaken for an untraced output.
  std::vector<Storage> held;
};
thread_local State* g_state = nullptr;

template <class T>
const T& get(const Call& c, const std::string& name, const char* kind) {
  const Attr* a = c.find(name);
  if (!a) throw ValueError(detail_cat(c.op, name, kind, true));
  if (auto* v = std::get_if<T>(a)) return *v;
  throw TypeError(detail_cat(c.op, name, kind, false));
}
}  // namespace

namespace detail {
void kernel_ran(OpId op, std::span<Tensor> out) {
  State* s = g_state;
  if (!s || s->depth > 0) return;
  for (const Tensor& t : out)
    if (t.defined()) {
      s->trace.untraced.push_back({t.storage().get(), Registry::get().op_name(op), s->trace.calls.size()});
      if (s->held.empty() || s->held.back() != t.storage()) s->held.push_back(t.storage());
    }
}
}  // namespace detail

const Attr* Call::find(const std::string& name) const {
  for (const auto& [k, v] : attrs)
    if (k == name) return &v;
  return nullptr;
}
int64_t Call::i(const std::string& name) const { return get<int64_t>(*this, name, "an int"); }
double Call::f(const std::string& name) const { return get<double>(*this, name, "a float"); }
const std::string& Call::s(const std::string& name) const { return get<std::string>(*this, name, "a string"); }
const std::vector<int64_t>& Call::ints(const std::string& name) const {
  return get<std::vector<int64_t>>(*this, name, "a list of ints");
}

Recording::Recording() {
  if (g_state) throw ValueError("[trace] this thread is already recording a trace");
  g_state = new State();
  detail::recordings.fetch_add(1);
}

Recording::~Recording() {
  if (!done_) finish();
}

Trace Recording::finish() {
  if (done_) throw ValueError("[trace] the recording was already finished");
  done_ = true;
  Trace t = std::move(g_state->trace);
  delete g_state;
  g_state = nullptr;
  detail::recordings.fetch_sub(1);
  return t;
}

bool active() noexcept { return g_state != nullptr; }

Op::Op(const char* name) noexcept : name_(name) {
  if (!g_state) return;
  counted_ = true;
  record_ = ++g_state->depth == 1;
  if (record_) call_.op = name;
}

Op::~Op() {
  if (counted_ && g_state) --g_state->depth;
}

Op& Op::in(const Tensor& t) {
  if (record_) call_.inputs.emplace_back(t);
  return *this;
}
Op& Op::in(const std::optional<Tensor>& t) {
  if (record_) call_.inputs.emplace_back(t && t->defined() ? t : std::nullopt);
  return *this;
}
Op& Op::in(const std::vector<Tensor>& ts) {
  if (record_)
    for (const Tensor& t : ts) call_.inputs.emplace_back(t);
  return *this;
}
Op& Op::scalar(const Scalar& s, DType dtype) {
  if (record_) call_.inputs.emplace_back(scalar_tensor(s, TensorOptions(dtype)));
  return *this;
}
Op& Op::attr(const char* name, Attr value) {
  if (record_) call_.attrs.emplace_back(name, std::move(value));
  return *this;
}
Op& Op::inplace() {
  if (record_) call_.inplace = true;
  return *this;
}

void Op::record(std::vector<Tensor> outs) {
  if (!record_ || !g_state) return;
  call_.outputs = std::move(outs);
  g_state->trace.calls.push_back(std::move(call_));
  record_ = false;
}

Tensor Op::out(Tensor t) {
  record({t});
  return t;
}
std::vector<Tensor> Op::out(std::vector<Tensor> ts) {
  record(ts);
  return ts;
}

}  // namespace tessel::trace
