// The gradient buckets of DistributedDataParallel (C++ and Python share this engine).
// Every hook runs on the thread that runs backward; the buckets' all-reduces run on the
// communicator's thread, in bucket order on every rank.
#include <chrono>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "src/distributed/internal.h"
#include "tessel/autograd.h"
#include "tessel/error.h"
#include "tessel/ops.h"

namespace tessel::distributed {
namespace {

double monotonic_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

struct Reducer::State {
  struct Bucket {
    DType dtype;
    Device device;
    std::vector<int64_t> members, offsets;  // parameter indices and their offsets in `buffer`
    int64_t numel = 0, nbytes = 0;
    Tensor buffer;
    int64_t pending = 0;
    WorkPtr work;
  };

  std::vector<Tensor> params;
  std::vector<std::string> names;
  std::vector<std::shared_ptr<autograd::Node>> accumulators;  // kept alive: the graph walk meets these
  std::unordered_map<const autograd::Node*, int64_t> acc_index;
  std::vector<Bucket> buckets;
  std::vector<std::pair<int64_t, int64_t>> where;  // parameter -> (bucket, member)
  bool find_unused = false;
  int world = 1;

  bool armed = false;
  std::vector<char> seen, used;
  int64_t remaining = 0;
  size_t next_launch = 0;
  ReducerStats stats;

  Tensor slot(int64_t i) const {
    const auto [b, k] = where[i];
    const int64_t off = buckets[b].offsets[k];
    return buckets[b].buffer.slice(0, off, off + params[i].numel());
  }

  // Parameter i's total gradient (`grad` plus what .grad holds; .grad alone when `grad` is
  // undefined) goes into its bucket; buckets whose turn has come are issued.
  void mark_ready(int64_t i, const Tensor& grad) {
    autograd::NoGradGuard no_grad;
    Tensor part = slot(i);
    const Tensor held = params[i].grad();
    if (grad.defined()) {
      part.copy_(grad.reshape({-1}));
      if (held.defined()) part.add_(held.detach().reshape({-1}));
    } else if (held.defined()) {
      part.copy_(held.detach().reshape({-1}));
    } else {
      part.zero_();
    }
    seen[i] = 1;
    --remaining;
    Bucket& b = buckets[where[i].first];
    --b.pending;
    Communicator& g = default_group();
    while (next_launch < buckets.size() && buckets[next_launch].pending == 0) {
      Bucket& nb = buckets[next_launch++];
      auto w = std::make_shared<Work>();
      w->keep = {nb.buffer};
      nb.work = g.all_reduce(nb.buffer.data_ptr(), nb.numel, nb.dtype, ReduceOp::Avg, w);
    }
  }

  Tensor on_grad(int64_t i, const Tensor& grad) {
    if (!armed) return {};
    TS_CHECK(!seen[i], Error, "DistributedDataParallel", "parameter ", names[i],
             " got a gradient twice in one iteration (a second backward through the same forward?)");
    mark_ready(i, grad);
    return remaining == 0 ? finalize(i) : Tensor();
  }

  // Waits for every bucket and writes the averages into .grad. The last parameter's
  // average is returned instead: the engine stores it right after this hook.
  Tensor finalize(int64_t last) {
    armed = false;
    const double backward_done = monotonic_seconds();
    for (Bucket& b : buckets) b.work->wait();
    ++stats.steps;
    for (const Bucket& b : buckets) {
      const double started = b.work->started_at(), finished = b.work->finished_at();
      stats.comm_s += finished - started;
      stats.hidden_s += std::max(0.0, std::min(finished, backward_done) - started);
    }
    if (find_unused) {  // a parameter some rank used gets the average (with the others' zeros)
      Tensor flags = empty({static_cast<int64_t>(used.size())}, DType::UInt8);
      std::copy(used.begin(), used.end(), flags.data<uint8_t>());
      auto w = std::make_shared<Work>();
      w->keep = {flags};
      default_group().all_reduce(flags.data_ptr(), flags.numel(), DType::UInt8, ReduceOp::Max, w)->wait();
      std::copy(flags.data<uint8_t>(), flags.data<uint8_t>() + flags.numel(), used.begin());
    }
    autograd::NoGradGuard no_grad;
    Tensor result;
    for (int64_t i = 0; i < static_cast<int64_t>(params.size()); ++i) {
      const Tensor& p = params[i];
      const Tensor avg = slot(i).view(p.shape());
      const Tensor held = p.grad();
      if (i == last) {
        p.set_grad(Tensor());
        result = avg.clone();
      } else if (held.defined()) {
        Tensor h = held;
        h.copy_(avg);
      } else if (!find_unused || used[i]) {
        p.set_grad(avg.clone());
      }
    }
    return result;
  }
};

Reducer::Reducer(std::vector<Tensor> params, std::vector<std::string> names, ReducerOptions options)
    : state_(std::make_shared<State>()) {
  const char* op = "DistributedDataParallel";
  TS_CHECK(!params.empty(), Error, op,
           "DistributedDataParallel is not needed when a module doesn't have any parameter that requires a gradient");
  TS_CHECK(names.empty() || names.size() == params.size(), ValueError, op, names.size(), " names for ",
           params.size(), " parameters");
  TS_CHECK(options.bucket_cap_bytes > 0, ValueError, op, "the bucket size must be positive, got ",
           options.bucket_cap_bytes, " bytes");
  State& s = *state_;
  for (size_t i = 0; i < params.size(); ++i) {
    const Tensor& p = params[i];
    const std::string name = names.empty() ? "parameter " + std::to_string(i) : names[i];
    TS_CHECK(p.defined() && p.requires_grad() && p.is_leaf(), ValueError, op, name,
             " must be a leaf tensor that requires grad");
    for (size_t j = 0; j < i; ++j) {
      TS_CHECK(!params[j].is_same(p), ValueError, op, name, " is listed twice");
    }
    s.names.push_back(name);
  }
  s.params = std::move(params);
  s.find_unused = options.find_unused_parameters;
  Communicator& g = default_group();
  s.world = g.world_size();
  const int64_t n = static_cast<int64_t>(s.params.size());

  if (s.world > 1) {  // every rank must hold the same parameters in the same order, or buckets would not match
    int64_t numel = 0, checksum = 0;
    for (int64_t i = 0; i < n; ++i) {
      numel += s.params[i].numel();
      checksum += (i + 1) * s.params[i].numel();
    }
    std::vector<int64_t> sig = {n, numel, checksum}, every(3 * static_cast<size_t>(s.world));
    g.all_gather(sig.data(), every.data(), 3, DType::Int64)->wait();
    for (int r = 1; r < s.world; ++r) {
      if (std::equal(sig.begin(), sig.end(), every.begin() + 3 * r) &&
          std::equal(every.begin(), every.begin() + 3, every.begin() + 3 * r))
        continue;
      std::ostringstream rows;
      for (int q = 0; q < s.world; ++q)
        rows << (q ? ", " : "") << "[" << every[3 * q] << ", " << every[3 * q + 1] << ", " << every[3 * q + 2] << "]";
      fail<Error>(op, "the ranks' models differ: (parameter count, elements, checksum) per rank = [", rows.str(), "]");
    }
  }

  // Buckets in reverse registration order (roughly the order backward produces gradients).
  s.where.resize(n);
  std::vector<size_t> open;  // the bucket being filled, per (dtype, device)
  for (int64_t i = n - 1; i >= 0; --i) {
    const Tensor& p = s.params[i];
    const int64_t bytes = p.numel() * static_cast<int64_t>(p.itemsize());
    size_t* cur = nullptr;
    for (size_t& b : open)
      if (s.buckets[b].dtype == p.dtype() && s.buckets[b].device == p.device()) cur = &b;
    if (cur == nullptr || (!s.buckets[*cur].members.empty() && s.buckets[*cur].nbytes + bytes > options.bucket_cap_bytes)) {
      if (cur == nullptr) cur = &open.emplace_back();
      *cur = s.buckets.size();
      s.buckets.push_back({p.dtype(), p.device(), {}, {}, 0, 0, {}, 0, nullptr});
    }
    State::Bucket& b = s.buckets[*cur];
    s.where[i] = {static_cast<int64_t>(*cur), static_cast<int64_t>(b.members.size())};
    b.offsets.push_back(b.numel);
    b.members.push_back(i);
    b.numel += p.numel();
    b.nbytes += bytes;
  }
  for (State::Bucket& b : s.buckets) b.buffer = zeros({b.numel}, TensorOptions(b.dtype, b.device));

  s.seen.assign(n, 0);
  s.used.assign(n, 1);
  for (int64_t i = 0; i < n; ++i) {
    s.accumulators.push_back(autograd::gradient_edge(s.params[i]).node);
    s.acc_index[s.accumulators.back().get()] = i;
    // The hook holds the state weakly: after the Reducer is gone it does nothing.
    std::weak_ptr<State> weak = state_;
    s.params[i].register_hook([weak, i](const Tensor& grad) -> Tensor {
      const std::shared_ptr<State> st = weak.lock();
      return st ? st->on_grad(i, grad) : Tensor();
    });
  }
}

Reducer::~Reducer() {
  // Buckets still in flight (an abandoned backward) keep their buffers alive through their Work.
  state_->armed = false;
}

void Reducer::check_finished() const {
  const State& s = *state_;
  if (!s.armed || s.remaining == static_cast<int64_t>(s.params.size())) return;
  std::string missing;
  for (size_t i = 0; i < s.params.size(); ++i)
    if (!s.seen[i]) missing += (missing.empty() ? "" : ", ") + s.names[i];
  fail<Error>("DistributedDataParallel",
              "Expected to have finished reduction in the prior iteration before starting a new one: these "
              "parameters got no gradient: ", missing,
              ". Pass find_unused_parameters=True if the forward does not use them all");
}

void Reducer::disarm() { state_->armed = false; }

void Reducer::prepare_for_backward(const std::vector<Tensor>& outputs) {
  State& s = *state_;
  if (s.world == 1) {  // nothing to average: backward is the plain module's
    s.armed = false;
    return;
  }
  const int64_t n = static_cast<int64_t>(s.params.size());
  std::fill(s.seen.begin(), s.seen.end(), 0);
  s.remaining = n;
  s.next_launch = 0;
  for (State::Bucket& b : s.buckets) {
    b.pending = static_cast<int64_t>(b.members.size());
    b.work = nullptr;
  }
  s.armed = true;
  if (!s.find_unused) return;
  std::fill(s.used.begin(), s.used.end(), 0);
  std::vector<const autograd::Node*> stack;
  std::unordered_set<const autograd::Node*> visited;
  for (const Tensor& t : outputs)
    if (t.defined() && t.requires_grad())
      if (auto e = autograd::gradient_edge(t); e.node) stack.push_back(e.node.get());
  while (!stack.empty()) {
    const autograd::Node* node = stack.back();
    stack.pop_back();
    if (!visited.insert(node).second) continue;
    if (auto it = s.acc_index.find(node); it != s.acc_index.end()) s.used[it->second] = 1;
    for (const autograd::Edge& e : node->next_edges)
      if (e.node) stack.push_back(e.node.get());
  }
  // Parameters the graph does not reach are ready now, with whatever .grad holds (zeros if none).
  for (int64_t i = 0; i < n; ++i)
    if (!s.used[i]) s.mark_ready(i, Tensor());
  if (s.remaining == 0) s.finalize(-1);
}

ReducerStats Reducer::stats() const { return state_->stats; }
void Reducer::reset_stats() { state_->stats = {}; }

std::vector<std::vector<int64_t>> Reducer::buckets() const {
  std::vector<std::vector<int64_t>> out;
  for (const State::Bucket& b : state_->buckets) out.push_back(b.members);
  return out;
}

void broadcast_tensors(const std::vector<Tensor>& tensors, int src) {
  std::vector<std::pair<Tensor, Tensor>> copies;  // (target, contiguous buffer)
  std::vector<WorkPtr> works;
  for (const Tensor& t : tensors) {
    const Tensor d = t.detach();
    const Tensor c = d.is_contiguous() ? d : d.contiguous();
    works.push_back(broadcast(c, src, /*async_op=*/true));
    if (!c.is_same(d)) copies.emplace_back(d, c);
  }
  for (const WorkPtr& w : works) w->wait();
  autograd::NoGradGuard no_grad;
  for (auto& [t, c] : copies) {
    Tensor target = t;
    target.copy_(c);
  }
}

}  // namespace tessel::distributed
