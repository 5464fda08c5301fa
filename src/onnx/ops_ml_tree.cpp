// Tree ensembles of the ONNX-ML domain: TreeEnsembleRegressor and
// TreeEnsembleClassifier (ai.onnx.ml 1-3, what skl2onnx, onnxmltools and
// LightGBM/XGBoost converters write) and TreeEnsemble (ai.onnx.ml 5). The three
// are parsed into one flat forest at load (checked: ids, children, cycles),
// then each row walks every tree. Scores are summed in float64; where the spec
// is vague (binary classifiers, base values) the results follow onnxruntime.
#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "kernels/cpu/loops.h"
#include "src/onnx/ml_internal.h"

namespace tessel::onnx {
namespace {

using namespace ml;

enum class Mode : uint8_t { Leq, Lt, Gte, Gt, Eq, Neq, Member };
enum class Agg { Average, Sum, Min, Max };
// Node, leaf and feature ids are int32 in the walk.
constexpr size_t kMaxNodes = size_t{1} << 31;

// A split: 24 bytes with a double threshold, 16 with a float one, so that the nodes a
// block of rows walks stay in cache.
template <class T>
struct SplitT {
  T value = 0;
  int32_t feature = 0;
  int32_t yes = 0, no = 0;  // >= 0: a split; < 0: leaf ~k
  Mode mode = Mode::Leq;
  bool missing_yes = false;  // NaN goes to `yes`
};
using Split = SplitT<double>;

struct Forest : NodePrep {
  std::vector<Split> splits;
  // The same with float thresholds, when every threshold is a float: float32 rows
  // then walk them without a float64 copy, with the same comparisons.
  std::vector<SplitT<float>> fsplits;
  std::vector<std::pair<int64_t, int64_t>> sets;  // per split, Member only: its sorted values in `members`
  std::vector<int32_t> roots;        // per tree: a split, or ~leaf for a one-leaf tree
  std::vector<int64_t> leaf_begin;   // leaves + 1 offsets into targets/weights
  std::vector<int64_t> targets;
  std::vector<double> weights;
  std::vector<double> members;
  std::vector<double> base;
  int64_t n_targets = 1;
  int64_t max_feature = -1;
  Agg agg = Agg::Sum;
  Post post = Post::None;
  // One mode for every split and no NaN routing: the walk needs no switch (most exports).
  bool same_mode = false, any_missing = false;
  // Classifiers.
  bool classifier = false;
  Labels labels;
  bool binary = false;        // 2 classes, every weight on one class id
  bool all_positive = true;   // every class weight >= 0
  bool v5 = false;            // TreeEnsemble: the output has X's dtype

  template <class T>
  bool test(const SplitT<T>& s, int32_t k, T v) const {
    bool yes;
    switch (s.mode) {
      case Mode::Leq: yes = v <= s.value; break;
      case Mode::Lt: yes = v < s.value; break;
      case Mode::Gte: yes = v >= s.value; break;
      case Mode::Gt: yes = v > s.value; break;
      case Mode::Eq: yes = v == s.value; break;
      case Mode::Neq: yes = v != s.value; break;
      default: {
        const auto [b, e] = sets[static_cast<size_t>(k)];
        yes = std::binary_search(members.begin() + b, members.begin() + e, static_cast<double>(v));
      }
    }
    return yes || (s.missing_yes && std::isnan(v));
  }
  template <class T>
  int32_t leaf_of(const SplitT<T>* sp, const T* x, int32_t node) const {
    while (node >= 0) {
      const SplitT<T>& s = sp[node];
      node = test(s, node, x[s.feature]) ? s.yes : s.no;
    }
    return ~node;
  }
  // The walk of kLanes (row, tree) pairs at once with the comparison fixed at compile
  // time: lane j walks row x[j] from root[j] (a block of rows through one tree, or one
  // row through eight trees); their chains of dependent loads interleave, and the step
  // is a select, not a branch.
  static constexpr int kLanes = 8;
  template <Mode M, class T>
  static void leaves_of_mode(const SplitT<T>* sp, const T* const* x, const int32_t* root, int32_t* leaf, int lanes) {
    int32_t node[kLanes];
    bool active = false;
    for (int j = 0; j < kLanes; ++j) {
      node[j] = j < lanes ? root[j] : -1;
      active |= node[j] >= 0;
    }
    while (active) {
      active = false;
      for (int j = 0; j < kLanes; ++j) {
        const int32_t k = node[j];
        if (k < 0) continue;
        const SplitT<T>& s = sp[k];
        const T v = x[j][s.feature];
        bool yes;
        if constexpr (M == Mode::Leq) yes = v <= s.value;
        else if constexpr (M == Mode::Lt) yes = v < s.value;
        else if constexpr (M == Mode::Gte) yes = v >= s.value;
        else yes = v > s.value;
        node[j] = yes ? s.yes : s.no;
        active |= node[j] >= 0;
      }
    }
    for (int j = 0; j < lanes; ++j) leaf[j] = ~node[j];
  }
};

Agg agg_of(const Node& n, const std::string& a) {
  if (a == "SUM") return Agg::Sum;
  if (a == "AVERAGE") return Agg::Average;
  if (a == "MIN") return Agg::Min;
  if (a == "MAX") return Agg::Max;
  n.error("aggregate_function '", a, "' is not one of AVERAGE, SUM, MIN, MAX");
}

// A float attribute, or its `<name>_as_tensor` (double) form.
std::vector<double> floats_or_tensor(const Node& n, const std::string& name) {
  const std::string t = name + "_as_tensor";
  if (n.has(t)) {
    const auto* v = std::get_if<Tensor>(&n.attrs.at(t));
    if (!v) n.error<TypeError>("attribute ", t, " must be a tensor");
    return host_doubles(*v);
  }
  return n.floats(name);
}

// A TENSOR attribute's values (TreeEnsemble, ai.onnx.ml 5).
std::vector<double> tensor_attr(const Node& n, const std::string& name, bool required) {
  if (!n.has(name)) {
    if (required) n.error("attribute ", name, " is required");
    return {};
  }
  const auto* v = std::get_if<Tensor>(&n.attrs.at(name));
  if (!v) n.error<TypeError>("attribute ", name, " must be a tensor");
  return host_doubles(*v);
}

void check_len(const Node& n, const char* what, size_t got, size_t want, const char* of) {
  if (got != want) n.error("attribute ", what, " has ", got, " values, ", of, " has ", want);
}

// No split is reached twice from the roots: a cycle would never end a walk, and
// a shared subtree is not a tree. Iterative, so a deep chain cannot overflow the stack.
void check_trees(const Node& n, const Forest& f) {
  std::vector<char> seen(f.splits.size(), 0);
  std::vector<int64_t> stack;
  for (auto r : f.roots) {
    if (r < 0) continue;
    stack.push_back(r);
    while (!stack.empty()) {
      const int64_t k = stack.back();
      stack.pop_back();
      if (seen[static_cast<size_t>(k)]) n.error("node ", k, " is reached twice: the trees have a cycle or a shared node");
      seen[static_cast<size_t>(k)] = 1;
      for (int32_t c : {f.splits[static_cast<size_t>(k)].yes, f.splits[static_cast<size_t>(k)].no})
        if (c >= 0) stack.push_back(c);
    }
  }
}

// TreeEnsembleRegressor / TreeEnsembleClassifier (ai.onnx.ml 1-3): nodes named
// by (tree id, node id), LEAF nodes carrying the votes listed in target_* / class_*.
std::shared_ptr<Forest> parse_legacy(const Node& n, bool classifier) {
  auto f = std::make_shared<Forest>();
  f->classifier = classifier;
  const auto tree = n.ints("nodes_treeids"), id = n.ints("nodes_nodeids"), feat = n.ints("nodes_featureids");
  const auto yes = n.ints("nodes_truenodeids"), no = n.ints("nodes_falsenodeids");
  const auto modes = n.strings("nodes_modes");
  const auto values = floats_or_tensor(n, "nodes_values");
  const auto missing = n.ints("nodes_missing_value_tracks_true");
  const size_t m = tree.size();
  if (m == 0) n.error("the ensemble has no nodes (nodes_treeids is empty)");
  if (m >= kMaxNodes) n.error("the ensemble has ", m, " nodes; at most ", kMaxNodes - 1, " are supported");
  check_len(n, "nodes_nodeids", id.size(), m, "nodes_treeids");
  check_len(n, "nodes_modes", modes.size(), m, "nodes_treeids");
  std::map<std::pair<int64_t, int64_t>, size_t> at;
  for (size_t i = 0; i < m; ++i)
    if (!at.emplace(std::make_pair(tree[i], id[i]), i).second)
      n.error("node id ", id[i], " appears twice in tree ", tree[i]);
  // Leaves get consecutive numbers; splits too, in file order.
  std::vector<int64_t> slot(m);
  int64_t leaves = 0, nsplit = 0;
  for (size_t i = 0; i < m; ++i) slot[i] = modes[i] == "LEAF" ? ~leaves++ : nsplit++;
  const size_t ns = static_cast<size_t>(nsplit);
  if (ns) {
    for (auto [a, len] : {std::pair<const char*, size_t>{"nodes_featureids", feat.size()}, {"nodes_truenodeids", yes.size()},
                          {"nodes_falsenodeids", no.size()}, {"nodes_values", values.size()}})
      check_len(n, a, len, m, "nodes_treeids");
    if (!missing.empty()) check_len(n, "nodes_missing_value_tracks_true", missing.size(), m, "nodes_treeids");
  }
  f->splits.resize(ns);
  auto child = [&](size_t i, int64_t nid, const char* which) {
    auto it = at.find({tree[i], nid});
    if (it == at.end()) n.error("node ", id[i], " of tree ", tree[i], ": its ", which, " child ", nid, " does not exist");
    return slot[it->second];
  };
  for (size_t i = 0; i < m; ++i) {
    if (slot[i] < 0) continue;
    Split& s = f->splits[static_cast<size_t>(slot[i])];
    const std::string& md = modes[i];
    s.mode = md == "BRANCH_LEQ" ? Mode::Leq : md == "BRANCH_LT" ? Mode::Lt : md == "BRANCH_GTE" ? Mode::Gte
           : md == "BRANCH_GT" ? Mode::Gt : md == "BRANCH_EQ" ? Mode::Eq : md == "BRANCH_NEQ" ? Mode::Neq : Mode::Member;
    if (s.mode == Mode::Member) n.error("node ", id[i], " of tree ", tree[i], ": unknown mode '", md, "'");
    s.value = values[i];
    if (feat[i] < 0 || feat[i] >= static_cast<int64_t>(kMaxNodes))
      n.error("node ", id[i], " of tree ", tree[i], ": feature id ", feat[i], " is out of range");
    s.feature = static_cast<int32_t>(feat[i]);
    f->max_feature = std::max<int64_t>(f->max_feature, s.feature);
    s.yes = static_cast<int32_t>(child(i, yes[i], "true"));
    s.no = static_cast<int32_t>(child(i, no[i], "false"));
    s.missing_yes = !missing.empty() && missing[i] != 0;
  }
  // Roots: each tree's first node in file order, trees in id order.
  std::map<int64_t, size_t> first;
  for (size_t i = 0; i < m; ++i) first.emplace(tree[i], i);
  for (auto [t, i] : first) f->roots.push_back(static_cast<int32_t>(slot[i]));
  // Votes at the leaves.
  const char* p = classifier ? "class_" : "target_";
  const auto vt = n.ints(std::string(p) + "treeids"), vn = n.ints(std::string(p) + "nodeids");
  const auto vi = n.ints(std::string(p) + "ids");
  const auto vw = floats_or_tensor(n, std::string(p) + "weights");
  check_len(n, (std::string(p) + "nodeids").c_str(), vn.size(), vt.size(), (std::string(p) + "treeids").c_str());
  check_len(n, (std::string(p) + "ids").c_str(), vi.size(), vt.size(), (std::string(p) + "treeids").c_str());
  check_len(n, (std::string(p) + "weights").c_str(), vw.size(), vt.size(), (std::string(p) + "treeids").c_str());
  std::vector<std::vector<std::pair<int64_t, double>>> votes(static_cast<size_t>(leaves));
  for (size_t k = 0; k < vt.size(); ++k) {
    auto it = at.find({vt[k], vn[k]});
    if (it == at.end()) n.error(p, "nodeids: node ", vn[k], " of tree ", vt[k], " does not exist");
    if (slot[it->second] >= 0) n.error(p, "nodeids: node ", vn[k], " of tree ", vt[k], " is not a LEAF");
    votes[static_cast<size_t>(~slot[it->second])].emplace_back(vi[k], vw[k]);
  }
  f->leaf_begin.push_back(0);
  for (auto& v : votes) {
    for (auto [t, w] : v) f->targets.push_back(t), f->weights.push_back(w);
    f->leaf_begin.push_back(static_cast<int64_t>(f->targets.size()));
  }
  f->base = floats_or_tensor(n, "base_values");
  f->post = post_of(n, n.s("post_transform", "NONE"));
  if (classifier) {
    f->labels = labels_of(n, "classlabels_int64s", "classlabels_strings");
    f->n_targets = f->labels.size();
    std::set<int64_t> used(f->targets.begin(), f->targets.end());
    f->binary = f->n_targets == 2 && used.size() <= 1;
    for (double w : f->weights) f->all_positive = f->all_positive && w >= 0;
    if (f->n_targets == 1) n.error<NotImplementedError>("a classifier with one class label is not supported");
  } else {
    f->n_targets = n.i("n_targets", 1);
    f->agg = agg_of(n, n.s("aggregate_function", "SUM"));
  }
  return f;
}

// TreeEnsemble (ai.onnx.ml 5): splits by index, children flagged as leaves, one
// (target, weight) per leaf, set membership through NaN-separated lists.
std::shared_ptr<Forest> parse_v5(const Node& n) {
  auto f = std::make_shared<Forest>();
  f->v5 = true;
  const auto splits = tensor_attr(n, "nodes_splits", true), modes = tensor_attr(n, "nodes_modes", true);
  const auto feat = n.ints("nodes_featureids"), yes = n.ints("nodes_truenodeids"), no = n.ints("nodes_falsenodeids");
  const auto yes_leaf = n.ints("nodes_trueleafs"), no_leaf = n.ints("nodes_falseleafs");
  const auto missing = n.ints("nodes_missing_value_tracks_true");
  const auto lt = n.ints("leaf_targetids");
  const auto lw = tensor_attr(n, "leaf_weights", true), members = tensor_attr(n, "membership_values", false);
  const auto roots = n.ints("tree_roots");
  const size_t m = splits.size(), leaves = lw.size();
  if (m >= kMaxNodes || leaves >= kMaxNodes)
    n.error("the ensemble has ", m, " nodes and ", leaves, " leaves; at most ", kMaxNodes - 1, " of each are supported");
  for (auto [a, len] : {std::pair<const char*, size_t>{"nodes_modes", modes.size()}, {"nodes_featureids", feat.size()},
                        {"nodes_truenodeids", yes.size()}, {"nodes_falsenodeids", no.size()},
                        {"nodes_trueleafs", yes_leaf.size()}, {"nodes_falseleafs", no_leaf.size()}})
    check_len(n, a, len, m, "nodes_splits");
  if (!missing.empty()) check_len(n, "nodes_missing_value_tracks_true", missing.size(), m, "nodes_splits");
  check_len(n, "leaf_targetids", lt.size(), leaves, "leaf_weights");
  if (roots.empty()) n.error("tree_roots is empty");
  f->n_targets = n.i("n_targets", 0);
  if (f->n_targets <= 0) n.error("n_targets must be positive, got ", f->n_targets);
  auto child = [&](size_t i, int64_t k, int64_t leaf, const char* which) -> int64_t {
    const size_t lim = leaf ? leaves : m;
    if (k < 0 || static_cast<size_t>(k) >= lim)
      n.error("node ", i, ": ", which, " child ", k, " is out of range for ", lim, leaf ? " leaves" : " nodes");
    return leaf ? ~k : k;
  };
  f->splits.resize(m);
  size_t mi = 0;  // next membership value
  for (size_t i = 0; i < m; ++i) {
    Split& s = f->splits[i];
    const double md = modes[i];
    if (!(md >= 0 && md <= 6)) n.error("node ", i, ": mode ", md, " is not in 0..6");
    s.mode = static_cast<Mode>(static_cast<int>(md));
    s.value = splits[i];
    if (feat[i] < 0 || feat[i] >= static_cast<int64_t>(kMaxNodes)) n.error("node ", i, ": feature id ", feat[i], " is out of range");
    s.feature = static_cast<int32_t>(feat[i]);
    f->max_feature = std::max<int64_t>(f->max_feature, s.feature);
    s.yes = static_cast<int32_t>(child(i, yes[i], yes_leaf[i], "true"));
    s.no = static_cast<int32_t>(child(i, no[i], no_leaf[i], "false"));
    s.missing_yes = !missing.empty() && missing[i] != 0;
    if (s.mode == Mode::Member) {
      const int64_t b = static_cast<int64_t>(f->members.size());
      for (; mi < members.size() && !std::isnan(members[mi]); ++mi) f->members.push_back(members[mi]);
      if (mi >= members.size() && b == static_cast<int64_t>(f->members.size()))
        n.error("node ", i, ": membership_values has no set for this BRANCH_MEMBER node");
      ++mi;  // the NaN that ends the set
      std::sort(f->members.begin() + b, f->members.end());
      f->sets.resize(m);
      f->sets[i] = {b, static_cast<int64_t>(f->members.size())};
    }
  }
  for (auto r : roots) {
    if (r < 0 || static_cast<size_t>(r) >= m) n.error("tree root ", r, " is out of range for ", m, " nodes");
    const auto& s = f->splits[static_cast<size_t>(r)];
    // A one-leaf tree: both children the same leaf.
    f->roots.push_back(yes_leaf[r] && no_leaf[r] && yes[r] == no[r] ? s.yes : static_cast<int32_t>(r));
  }
  for (size_t k = 0; k <= leaves; ++k) f->leaf_begin.push_back(static_cast<int64_t>(k));
  f->targets = lt;
  f->weights = lw;
  const int64_t agg = n.i("aggregate_function", 1);  // 0 AVERAGE, 1 SUM, 2 MIN, 3 MAX
  if (agg < 0 || agg > 3) n.error("aggregate_function ", agg, " is not in 0..3 (AVERAGE, SUM, MIN, MAX)");
  f->agg = static_cast<Agg>(agg);
  f->post = post_of(n, n.i("post_transform", 0));
  return f;
}

std::shared_ptr<const Forest> forest_of(const Node& n) {
  if (auto p = std::dynamic_pointer_cast<const Forest>(n.prep)) return p;
  std::shared_ptr<Forest> f = n.op_type == "TreeEnsemble" ? parse_v5(n) : parse_legacy(n, n.op_type == "TreeEnsembleClassifier");
  for (auto t : f->targets)
    if (t < 0 || t >= f->n_targets)
      n.error(f->classifier ? "class id " : "target id ", t, " is out of range for ", f->n_targets,
              f->classifier ? " classes" : " targets");
  check_trees(n, *f);
  bool floats = true;
  for (const auto& sp : f->splits)
    floats = floats && (std::isnan(sp.value) || static_cast<double>(static_cast<float>(sp.value)) == sp.value);
  if (floats)
    for (const auto& sp : f->splits)
      f->fsplits.push_back({static_cast<float>(sp.value), sp.feature, sp.yes, sp.no, sp.mode, sp.missing_yes});
  f->same_mode = !f->splits.empty() && f->splits[0].mode != Mode::Member;
  for (const auto& sp : f->splits) {
    f->same_mode = f->same_mode && sp.mode == f->splits[0].mode;
    f->any_missing = f->any_missing || sp.missing_yes;
  }
  return f;
}

// Leaf lb's votes into one row's scores s and flags h.
inline void add_votes(const Forest& f, int32_t lb, double* s, char* h, bool sum, const int64_t* tg, const double* wt) {
  const auto b = static_cast<size_t>(lb);
  for (int64_t k = f.leaf_begin[b]; k < f.leaf_begin[b + 1]; ++k) {
    const int64_t c = tg[k];
    const double w = wt[k];
    if (sum) s[c] += w;  // scores start at 0
    else s[c] = !h[c] ? w : f.agg == Agg::Min ? std::min(s[c], w) : std::max(s[c], w);
    h[c] = 1;
  }
}

// Rows [i0, i1) through every tree (accumulate_with's block).
template <class T, class Walk>
void accumulate_block(const Forest& f, const SplitT<T>* sp, const T* x, int64_t i0, int64_t i1, int64_t feats,
                      double* score, char* has, const Walk& walk) {
  constexpr int L = Forest::kLanes;
  const int64_t t = f.n_targets;
  const bool sum = f.agg == Agg::Sum || f.agg == Agg::Average;
  const int64_t* tg = f.targets.data();
  const double* wt = f.weights.data();
  const T* rx[L];
  int32_t leaf[L], rt[L];
  const int64_t trees = static_cast<int64_t>(f.roots.size());
  if (i1 - i0 == 1) {
    // One row (a served request): eight trees at once, their leaves voted in tree
    // order as below (the same sums).
    for (int j = 0; j < L; ++j) rx[j] = x + i0 * feats;
    for (int64_t r0 = 0; r0 < trees; r0 += L) {
      const int lanes = static_cast<int>(std::min<int64_t>(L, trees - r0));
      walk(rx, f.roots.data() + r0, leaf, lanes);
      for (int j = 0; j < lanes; ++j) add_votes(f, leaf[j], score + i0 * t, has + i0 * t, sum, tg, wt);
    }
    return;
  }
  for (int32_t root : f.roots) {
    for (int j = 0; j < L; ++j) rt[j] = root;
    for (int64_t i = i0; i < i1; i += L) {
      const int lanes = static_cast<int>(std::min<int64_t>(L, i1 - i));
      for (int j = 0; j < L; ++j) rx[j] = x + (i + std::min(j, lanes - 1)) * feats;
      if (lanes == 1) leaf[0] = f.leaf_of(sp, rx[0], root);  // one row left: no idle lanes
      else walk(rx, rt, leaf, lanes);
      for (int j = 0; j < lanes; ++j) add_votes(f, leaf[j], score + (i + j) * t, has + (i + j) * t, sum, tg, wt);
    }
  }
}

// Sums (or min/max) of every tree's leaf votes per row: [rows, n_targets] scores and
// whether each got a vote. Rows go in blocks, each tree over a whole block, so a
// tree's nodes stay in cache while the block walks it; blocks run in parallel. A
// serial call enters no OpenMP region (see cpu::for_each_index), but through that
// helper's lambda the walk ran 5-15% slower at 10,000 rows: hence the two loops.
template <class T, class Walk>
void accumulate_with(const Forest& f, const SplitT<T>* sp, const T* x, int64_t rows, int64_t feats, double* score,
                     char* has, const Walk& walk) {
  constexpr int64_t kBlock = 64;
  const int64_t blocks = (rows + kBlock - 1) / kBlock;
  const int64_t work = rows * static_cast<int64_t>(f.roots.size());
  if (work > 4096 && blocks > 1) {
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < blocks; ++b)
      accumulate_block(f, sp, x, b * kBlock, std::min(rows, (b + 1) * kBlock), feats, score, has, walk);
  } else {
    for (int64_t b = 0; b < blocks; ++b)
      accumulate_block(f, sp, x, b * kBlock, std::min(rows, (b + 1) * kBlock), feats, score, has, walk);
  }
}

template <class T>
void accumulate_t(const Forest& f, const SplitT<T>* sp, const T* x, int64_t rows, int64_t feats, double* score,
                  char* has) {
  auto run = [&](auto walk) { accumulate_with(f, sp, x, rows, feats, score, has, walk); };
  if (f.same_mode && !f.any_missing) {
    switch (f.splits[0].mode) {
      case Mode::Leq:
        return run([sp](const T* const* r, const int32_t* k, int32_t* o, int n) { Forest::leaves_of_mode<Mode::Leq>(sp, r, k, o, n); });
      case Mode::Lt:
        return run([sp](const T* const* r, const int32_t* k, int32_t* o, int n) { Forest::leaves_of_mode<Mode::Lt>(sp, r, k, o, n); });
      case Mode::Gte:
        return run([sp](const T* const* r, const int32_t* k, int32_t* o, int n) { Forest::leaves_of_mode<Mode::Gte>(sp, r, k, o, n); });
      case Mode::Gt:
        return run([sp](const T* const* r, const int32_t* k, int32_t* o, int n) { Forest::leaves_of_mode<Mode::Gt>(sp, r, k, o, n); });
      default: break;
    }
  }
  run([&f, sp](const T* const* r, const int32_t* k, int32_t* o, int n) {
    for (int j = 0; j < n; ++j) o[j] = f.leaf_of(sp, r[j], k[j]);
  });
}

// Scores and votes of every row of X ([rows, features], float32 when the forest has
// float thresholds, else float64; see checked_features).
void accumulate(const Forest& f, const Tensor& x, std::vector<double>& score, std::vector<char>& has) {
  const int64_t rows = x.shape()[0], feats = x.shape()[1];
  score.assign(static_cast<size_t>(rows * f.n_targets), 0.0);
  has.assign(static_cast<size_t>(rows * f.n_targets), 0);
  if (x.dtype() == DType::Float32) accumulate_t(f, f.fsplits.data(), x.data<float>(), rows, feats, score.data(), has.data());
  else accumulate_t(f, f.splits.data(), x.data<double>(), rows, feats, score.data(), has.data());
}

// X as contiguous [rows, features]: float32 rows as they are when the forest has float
// thresholds (the comparisons are the same as in float64), else a float64 copy.
Tensor checked_features(const Node& n, const Forest& f, const Tensor& x) {
  Tensor xs;
  if (x.dtype() == DType::Float32 && !f.fsplits.empty() && (x.dim() == 1 || x.dim() == 2))
    xs = (x.dim() == 1 ? x.reshape({1, x.numel()}) : x).contiguous();
  else
    xs = features(n, x);
  if (f.max_feature >= xs.shape()[1])
    n.error("the trees read feature ", f.max_feature, " but X has ", xs.shape()[1], " features");
  return xs;
}

std::vector<Tensor> regress(const Node& n, const Inputs& in, const OpContext&) {
  const Tensor& xin = input(n, in, 0);
  auto f = forest_of(n);
  const Tensor x = checked_features(n, *f, xin);
  const int64_t rows = x.shape()[0], t = f->n_targets;
  std::vector<double> s;
  std::vector<char> h;
  accumulate(*f, x, s, h);
  // Base values: one per target, or (one target) a single origin.
  const bool per_target = static_cast<int64_t>(f->base.size()) == t;
  const double trees = static_cast<double>(f->roots.size());
  cpu::for_each_index(rows, rows > 2048, [&](int64_t i) {  // per row; nothing here throws
    double* r = s.data() + i * t;
    for (int64_t c = 0; c < t; ++c) {
      if (!h[static_cast<size_t>(i * t + c)]) {
        r[c] = 0;  // a target no leaf voted for is 0, without its base value (as onnxruntime)
        continue;
      }
      if (f->agg == Agg::Average) r[c] /= trees;
      if (per_target) r[c] += f->base[static_cast<size_t>(c)];
    }
    // onnxruntime applies only PROBIT to a single target.
    if (t > 1 || f->post == Post::Probit) apply_post(f->post, r, t);
  });
  DType out = DType::Float32;
  if (f->v5 && is_floating(xin.dtype())) out = xin.dtype();
  return one(from_vector(s, {rows, t}).to(out));
}

std::vector<Value> classify(const Node& n, const ValueInputs& in, const OpContext&) {
  if (in.empty() || !in[0] || !std::holds_alternative<Tensor>(*in[0])) n.error<TypeError>("X must be a numeric tensor");
  auto f = forest_of(n);
  const Tensor x = checked_features(n, *f, std::get<Tensor>(*in[0]));
  const int64_t rows = x.shape()[0], c = f->n_targets;
  std::vector<double> s;
  std::vector<char> h;
  accumulate(*f, x, s, h);
  std::vector<int64_t> idx(static_cast<size_t>(rows));
  const auto& base = f->base;
  if (f->binary && f->post == Post::Probit) n.error<NotImplementedError>("post_transform PROBIT on a one-column binary classifier");
  cpu::for_each_index(rows, rows > 2048, [&](int64_t i) {  // per row; nothing here throws
    double* r = s.data() + i * c;
    char* hr = h.data() + i * c;
    if (f->binary) {
      // One score for two classes: p = the votes plus the (last) base value. Labels
      // by p > 0.5 for probabilities (all weights >= 0), else by p > 0 (margins).
      const size_t used = !f->targets.empty() ? static_cast<size_t>(f->targets[0]) : 0;
      double p = hr[used] ? r[used] : 0;
      if (!base.empty()) p += base.back();
      const bool pos = f->all_positive ? p > 0.5 : p > 0;
      idx[static_cast<size_t>(i)] = pos ? 1 : 0;
      if (f->all_positive) r[0] = 1 - p, r[1] = p;
      else if (f->post == Post::Logistic) r[0] = logistic(-p), r[1] = logistic(p);
      else r[0] = -p, r[1] = p;
      return;
    }
    if (static_cast<int64_t>(base.size()) == c)
      for (int64_t k = 0; k < c; ++k) r[k] = (hr[k] ? r[k] : 0) + base[static_cast<size_t>(k)], hr[k] = 1;
    int64_t best = -1;
    for (int64_t k = 0; k < c; ++k) {
      if (!hr[k]) r[k] = 0;
      else if (best < 0 || r[k] > r[best]) best = k;
    }
    idx[static_cast<size_t>(i)] = std::max<int64_t>(best, 0);
    apply_post(f->post, r, c);
  });
  return {f->labels.make(idx), from_vector(s, {rows, c}).to(DType::Float32)};
}

}  // namespace

void register_tree_ops(std::map<std::string, OpFn>& t) {
  t["ai.onnx.ml.TreeEnsembleRegressor"] = regress;
  t["ai.onnx.ml.TreeEnsemble"] = regress;
}

// The classifier's label output may be strings: an op on values.
void register_tree_value_ops(std::map<std::string, ValueOpFn>& t) { t["ai.onnx.ml.TreeEnsembleClassifier"] = classify; }

// Parses the tree ensembles of the main graph once at load; a malformed one fails the load.
void prepare_tree_nodes(std::vector<Node>& nodes) {
  for (auto& n : nodes)
    if (n.domain == "ai.onnx.ml" &&
        (n.op_type == "TreeEnsembleClassifier" || n.op_type == "TreeEnsembleRegressor" || n.op_type == "TreeEnsemble"))
      n.prep = std::const_pointer_cast<Forest>(forest_of(n));
}

}  // namespace tessel::onnx
