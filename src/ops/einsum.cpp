// einsum: parse the equation into integer labels, take diagonals of repeated
// labels, sum out labels no one else needs, then contract operands pairwise
// as batched matmuls ([batch, left, k] @ [batch, k, right]).
#include <algorithm>
#include <map>

#include "tessel/ops.h"

namespace tessel {

namespace {

constexpr int kEllipsis = 1000;  // labels of "..." dims: kEllipsis + position

struct Term {
  Tensor t;
  std::vector<int> labels;  // one per dim
};

int letter(const std::string& eq, char c) {
  if (c >= 'a' && c <= 'z') return c - 'a';
  if (c >= 'A' && c <= 'Z') return 26 + (c - 'A');
  fail<ValueError>("einsum", "invalid character '", c, "' in equation '", eq, "'");
}

// Parses one term; "..." becomes `ell` labels right-aligned to `max_ell`.
std::vector<int> parse_term(const std::string& eq, const std::string& term, int64_t ndim, int64_t* ell_dims,
                            int64_t max_ell) {
  std::vector<int> out;
  size_t letters = 0;
  bool has_ell = false;
  for (size_t i = 0; i < term.size(); ++i) {
    if (term[i] == '.') {
      TS_CHECK(!has_ell && term.compare(i, 3, "...") == 0, ValueError, "einsum", "malformed '...' in '", eq, "'");
      has_ell = true;
      i += 2;
    } else {
      ++letters;
    }
  }
  const int64_t e = ndim < 0 ? max_ell : ndim - static_cast<int64_t>(letters);
  if (ndim >= 0) {
    TS_CHECK(has_ell ? e >= 0 : e == 0, ValueError, "einsum", "term '", term, "' does not match an operand with ",
             ndim, " dims in '", eq, "'");
  }
  if (ell_dims) *ell_dims = has_ell ? e : 0;
  for (size_t i = 0; i < term.size(); ++i) {
    if (term[i] == '.') {
      for (int64_t k = 0; k < e; ++k) out.push_back(kEllipsis + static_cast<int>(max_ell - e + k));
      i += 2;
    } else {
      out.push_back(letter(eq, term[i]));
    }
  }
  return out;
}

// Takes the diagonal of repeated labels within one operand.
void diagonals(Term& op) {
  for (size_t i = 0; i < op.labels.size(); ++i) {
    for (size_t j = i + 1; j < op.labels.size(); ++j) {
      if (op.labels[i] != op.labels[j]) continue;
      TS_CHECK(op.t.shape()[i] == op.t.shape()[j], ValueError, "einsum", "repeated index has sizes ",
               op.t.shape()[i], " and ", op.t.shape()[j]);
      op.t = op.t.diagonal(0, static_cast<int64_t>(i), static_cast<int64_t>(j));  // the diagonal goes last
      const int l = op.labels[i];
      op.labels.erase(op.labels.begin() + static_cast<long>(j));
      op.labels.erase(op.labels.begin() + static_cast<long>(i));
      op.labels.push_back(l);
      i = static_cast<size_t>(-1);  // restart: positions moved
      break;
    }
  }
}

// Sums out the labels of `op` for which keep() is false.
template <class Keep>
void sum_out(Term& op, Keep keep) {
  Shape dims;
  std::vector<int> rest;
  for (size_t i = 0; i < op.labels.size(); ++i) {
    if (keep(op.labels[i])) rest.push_back(op.labels[i]);
    else dims.push_back(static_cast<int64_t>(i));
  }
  if (dims.empty()) return;
  op.t = sum(op.t, dims);
  op.labels = rest;
}

int64_t size_of(const Term& op, int label) {
  for (size_t i = 0; i < op.labels.size(); ++i)
    if (op.labels[i] == label) return op.t.shape()[i];
  return 1;
}

Term contract(const Term& a, const Term& b, const std::vector<int>& keep) {
  auto in = [](const std::vector<int>& v, int l) { return std::find(v.begin(), v.end(), l) != v.end(); };
  std::vector<int> batch, left, right, red;
  for (int l : a.labels) {
    if (in(b.labels, l)) (in(keep, l) ? batch : red).push_back(l);
    else left.push_back(l);
  }
  for (int l : b.labels)
    if (!in(a.labels, l)) right.push_back(l);
  auto arrange = [&](const Term& op, const std::vector<int>& g1, const std::vector<int>& g2,
                     const std::vector<int>& g3) {
    Shape perm, sizes;
    for (const auto* g : {&g1, &g2, &g3})
      for (int l : *g) perm.push_back(std::find(op.labels.begin(), op.labels.end(), l) - op.labels.begin());
    Tensor t = op.t.permute(perm);
    for (int l : g1) sizes.push_back(size_of(op, l));
    int64_t m = 1, n = 1;
    for (int l : g2) m *= size_of(op, l);
    for (int l : g3) n *= size_of(op, l);
    sizes.push_back(m);
    sizes.push_back(n);
    return t.reshape(sizes);
  };
  for (int l : red) {
    TS_CHECK(size_of(a, l) == size_of(b, l), ValueError, "einsum", "contracted index has sizes ", size_of(a, l),
             " and ", size_of(b, l));
  }
  const Tensor A = arrange(a, batch, left, red);   // [batch..., L, K]
  const Tensor B = arrange(b, batch, red, right);   // [batch..., K, R]
  Tensor r = matmul(A, B);                                // [batch..., L, R]
  Shape sizes(r.shape().begin(), r.shape().end() - 2);
  for (int l : left) sizes.push_back(size_of(a, l));
  for (int l : right) sizes.push_back(size_of(b, l));
  Term out{r.reshape(sizes), batch};
  out.labels.insert(out.labels.end(), left.begin(), left.end());
  out.labels.insert(out.labels.end(), right.begin(), right.end());
  return out;
}

}  // namespace

Tensor einsum(const std::string& equation_in, const std::vector<Tensor>& tensors) {
  OpScope scope_("einsum");
  std::string eq;
  for (char c : equation_in)
    if (c != ' ') eq += c;
  const auto arrow = eq.find("->");
  const std::string lhs = eq.substr(0, arrow);
  std::vector<std::string> terms;
  for (size_t s = 0;;) {
    const size_t comma = lhs.find(',', s);
    terms.push_back(lhs.substr(s, comma == std::string::npos ? std::string::npos : comma - s));
    if (comma == std::string::npos) break;
    s = comma + 1;
  }
  TS_CHECK(!tensors.empty(), ValueError, "einsum", "needs at least one operand");
  TS_CHECK(terms.size() == tensors.size(), ValueError, "einsum", "equation '", equation_in, "' has ", terms.size(),
           " terms for ", tensors.size(), " operands");
  int64_t max_ell = 0;
  std::vector<int64_t> ell(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    parse_term(eq, terms[i], tensors[i].dim(), &ell[i], 0);
    max_ell = std::max(max_ell, ell[i]);
  }
  std::vector<Term> ops;
  std::map<int, int> count;
  for (size_t i = 0; i < tensors.size(); ++i) {
    ops.push_back({tensors[i], parse_term(eq, terms[i], tensors[i].dim(), nullptr, max_ell)});
    for (int l : ops.back().labels) ++count[l];
  }
  std::vector<int> output;
  if (arrow != std::string::npos) {
    output = parse_term(eq, eq.substr(arrow + 2), -1, nullptr, max_ell);
    for (size_t i = 0; i < output.size(); ++i) {
      TS_CHECK(count.count(output[i]), ValueError, "einsum", "output index in '", equation_in,
               "' does not appear in the inputs");
      TS_CHECK(std::count(output.begin(), output.end(), output[i]) == 1, ValueError, "einsum",
               "output index repeated in '", equation_in, "'");
    }
  } else {  // implicit: "..." first, then the letters seen once, alphabetically
    for (int64_t k = 0; k < max_ell; ++k) output.push_back(kEllipsis + static_cast<int>(k));
    for (const auto& [l, n] : count)
      if (l < kEllipsis && n == 1) output.push_back(l);
  }
  for (auto& op : ops) diagonals(op);
  // Left to right: each step keeps the labels the output or later operands need.
  auto needed_after = [&](size_t i) {
    std::vector<int> keep = output;
    for (size_t j = i + 1; j < ops.size(); ++j) keep.insert(keep.end(), ops[j].labels.begin(), ops[j].labels.end());
    return keep;
  };
  auto in = [](const std::vector<int>& v, int l) { return std::find(v.begin(), v.end(), l) != v.end(); };
  Term acc = ops[0];
  {
    std::vector<int> keep = needed_after(0);
    sum_out(acc, [&](int l) { return in(keep, l); });
  }
  for (size_t i = 1; i < ops.size(); ++i) {
    std::vector<int> keep = needed_after(i);
    std::vector<int> keep_b = keep;
    keep_b.insert(keep_b.end(), acc.labels.begin(), acc.labels.end());
    sum_out(ops[i], [&](int l) { return in(keep_b, l); });
    acc = contract(acc, ops[i], keep);
  }
  sum_out(acc, [&](int l) { return in(output, l); });
  Shape perm;
  for (int l : output) perm.push_back(std::find(acc.labels.begin(), acc.labels.end(), l) - acc.labels.begin());
  return acc.t.permute(perm);
}

}  // namespace tessel
