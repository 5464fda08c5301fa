// Prometheus text exposition (format 0.0.4) for the serve metrics.
#include "serve/metrics.h"

#include <charconv>
#include <cmath>
#include <stdexcept>

namespace tessel::serve {

namespace {

bool valid_name(const std::string& s, bool colon) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char ch = s[i];
    const bool alpha = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' || (colon && ch == ':');
    if (!alpha && !(i > 0 && ch >= '0' && ch <= '9')) return false;
  }
  return true;
}

void number(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
  }
}

void label_value(std::string& out, const std::string& v) {
  for (char ch : v) {
    if (ch == '\\')
      out += "\\\\";
    else if (ch == '"')
      out += "\\\"";
    else if (ch == '\n')
      out += "\\n";
    else
      out += ch;
  }
}

// {a="x",b="y"[,le="..."]}; nothing when there are no labels.
void labels(std::string& out, const std::vector<std::string>& names, const std::vector<std::string>& values,
            const std::string* le = nullptr) {
  if (names.empty() && !le) return;
  out += '{';
  for (size_t i = 0; i < names.size(); ++i) {
    if (i) out += ',';
    out += names[i];
    out += "=\"";
    label_value(out, values[i]);
    out += '"';
  }
  if (le) {
    if (!names.empty()) out += ',';
    out += "le=\"" + *le + "\"";
  }
  out += '}';
}

void header(std::string& out, const std::string& name, const std::string& help, const char* type) {
  out += "# HELP " + name + ' ';
  for (char ch : help) {
    if (ch == '\\')
      out += "\\\\";
    else if (ch == '\n')
      out += "\\n";
    else
      out += ch;
  }
  out += "\n# TYPE " + name + ' ' + type + '\n';
}

template <class M>
std::shared_ptr<M> make_series(const std::vector<double>&) {
  return std::make_shared<M>();
}
template <>
std::shared_ptr<Histogram> make_series<Histogram>(const std::vector<double>& buckets) {
  return std::make_shared<Histogram>(buckets);
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)) {
  for (size_t i = 1; i < bounds_.size(); ++i)
    if (!(bounds_[i] > bounds_[i - 1])) throw std::invalid_argument("histogram bucket bounds must increase");
  counts_ = std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1);
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0);
}

void Histogram::observe(double v) {
  // Bucket i counts values in (bounds[i-1], bounds[i]]: "le" is inclusive.
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.bounds = bounds_;
  uint64_t run = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    run += counts_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(run);
  }
  s.count = run;  // from the buckets, so that _count always equals the +Inf bucket
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

std::vector<double> latency_buckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}
std::vector<double> batch_size_buckets() { return {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024}; }

template <class M>
std::shared_ptr<M> Family<M>::with(const std::vector<std::string>& values) {
  if (values.size() != labels_.size())
    throw std::invalid_argument("metric " + name_ + " takes " + std::to_string(labels_.size()) + " label values, got " +
                                std::to_string(values.size()));
  std::lock_guard<std::mutex> lk(mu_);
  auto& s = series_[values];
  if (!s) s = make_series<M>(buckets_);
  return s;
}

template <class M>
void Family<M>::remove(const std::vector<std::string>& values) {
  std::lock_guard<std::mutex> lk(mu_);
  series_.erase(values);
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

MetricsRegistry::Entry& MetricsRegistry::entry(const std::string& name, const std::string& type,
                                               const std::vector<std::string>& label_names) {
  if (!valid_name(name, true)) throw std::invalid_argument("bad metric name '" + name + "'");
  for (const auto& l : label_names)
    if (!valid_name(l, false) || l == "le" || l.rfind("__", 0) == 0)
      throw std::invalid_argument("bad label name '" + l + "' for metric " + name);
  auto it = families_.find(name);
  if (it != families_.end()) {
    if (it->second.type != type) throw std::invalid_argument("metric " + name + " is already a " + it->second.type);
    return it->second;
  }
  order_.push_back(name);
  auto& e = families_[name];
  e.type = type;
  return e;
}

Family<Counter>& MetricsRegistry::counter(const std::string& name, const std::string& help,
                                          const std::vector<std::string>& labels) {
  std::lock_guard<std::mutex> lk(mu_);
  auto& e = entry(name, "counter", labels);
  if (!e.c) e.c = std::make_unique<Family<Counter>>(name, help, labels);
  if (e.c->label_names() != labels) throw std::invalid_argument("metric " + name + " has other label names");
  return *e.c;
}

Family<Gauge>& MetricsRegistry::gauge(const std::string& name, const std::string& help,
                                      const std::vector<std::string>& labels) {
  std::lock_guard<std::mutex> lk(mu_);
  auto& e = entry(name, "gauge", labels);
  if (!e.g) e.g = std::make_unique<Family<Gauge>>(name, help, labels);
  if (e.g->label_names() != labels) throw std::invalid_argument("metric " + name + " has other label names");
  return *e.g;
}

Family<Histogram>& MetricsRegistry::histogram(const std::string& name, const std::string& help,
                                              const std::vector<std::string>& labels, std::vector<double> buckets) {
  std::lock_guard<std::mutex> lk(mu_);
  auto& e = entry(name, "histogram", labels);
  if (!e.h) {
    Histogram check(buckets);  // validates the bounds before the family exists
    e.h = std::make_unique<Family<Histogram>>(name, help, labels, std::move(buckets));
  }
  if (e.h->label_names() != labels) throw std::invalid_argument("metric " + name + " has other label names");
  return *e.h;
}

std::string MetricsRegistry::render() const {
  std::lock_guard<std::mutex> lk(mu_);
  std::string out;
  for (const auto& name : order_) {
    const Entry& e = families_.at(name);
    if (e.c) {
      header(out, name, e.c->help(), "counter");
      for (const auto& [values, c] : e.c->series()) {
        out += name;
        labels(out, e.c->label_names(), values);
        out += ' ';
        number(out, c->value());
        out += '\n';
      }
    } else if (e.g) {
      header(out, name, e.g->help(), "gauge");
      for (const auto& [values, g] : e.g->series()) {
        out += name;
        labels(out, e.g->label_names(), values);
        out += ' ';
        number(out, g->value());
        out += '\n';
      }
    } else if (e.h) {
      header(out, name, e.h->help(), "histogram");
      for (const auto& [values, h] : e.h->series()) {
        const auto s = h->snapshot();
        for (size_t i = 0; i <= s.bounds.size(); ++i) {
          std::string le;
          if (i < s.bounds.size())
            number(le, s.bounds[i]);
          else
            le = "+Inf";
          out += name + "_bucket";
          labels(out, e.h->label_names(), values, &le);
          out += ' ' + std::to_string(s.cumulative[i]) + '\n';
        }
        out += name + "_sum";
        labels(out, e.h->label_names(), values);
        out += ' ';
        number(out, s.sum);
        out += '\n' + name + "_count";
        labels(out, e.h->label_names(), values);
        out += ' ' + std::to_string(s.count) + '\n';
      }
    }
  }
  return out;
}

}  // namespace tessel::serve
