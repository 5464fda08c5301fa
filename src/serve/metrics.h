#pragma once
// A small Prometheus registry: counters, gauges and histograms in labelled
// families, rendered in the text exposition format 0.0.4 (GET /metrics).
// Updates are lock-free atomics; only creating or removing a series locks.
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace tessel::serve {

// The Content-Type of render()'s output.
inline constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

class Counter {
 public:
  void inc(double v = 1) { v_.fetch_add(v, std::memory_order_relaxed); }
  double value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

class Gauge {
 public:
  void set(double v) { v_.store(v, std::memory_order_relaxed); }
  void inc(double v = 1) { v_.fetch_add(v, std::memory_order_relaxed); }
  void dec(double v = 1) { v_.fetch_sub(v, std::memory_order_relaxed); }
  double value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

class Histogram {
 public:
  // `bounds`: the upper bounds of the buckets, increasing; +Inf is implied.
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  struct Snapshot {
    std::vector<double> bounds;        // without +Inf
    std::vector<uint64_t> cumulative;  // per bound, then +Inf (== count)
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot snapshot() const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // per bucket (not cumulative), last is +Inf
  std::atomic<double> sum_{0};
};

// Latency buckets in seconds (100 us .. 10 s) and batch-size buckets (1 .. 1024).
std::vector<double> latency_buckets();
std::vector<double> batch_size_buckets();

// One metric name with its label names; each distinct list of label values is a series.
template <class M>
class Family {
 public:
  Family(std::string name, std::string help, std::vector<std::string> label_names, std::vector<double> buckets = {})
      : name_(std::move(name)), help_(std::move(help)), labels_(std::move(label_names)), buckets_(std::move(buckets)) {}
  // The series for these label values (in label-name order), created at first use.
  // Throws std::invalid_argument when the count of values is wrong.
  std::shared_ptr<M> with(const std::vector<std::string>& values);
  // Drops a series (a model version unloaded); holders keep a detached copy.
  void remove(const std::vector<std::string>& values);

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& label_names() const { return labels_; }
  std::map<std::vector<std::string>, std::shared_ptr<M>> series() const {
    std::lock_guard<std::mutex> lk(mu_);
    return series_;
  }

 private:
  std::string name_, help_;
  std::vector<std::string> labels_;
  std::vector<double> buckets_;
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::shared_ptr<M>> series_;
};

class MetricsRegistry {
 public:
  // Returns the family, creating it on first call; a second call with the same
  // name returns the same family (std::invalid_argument if the type or the
  // label names differ, or a name is not a valid Prometheus name).
  Family<Counter>& counter(const std::string& name, const std::string& help, const std::vector<std::string>& labels);
  Family<Gauge>& gauge(const std::string& name, const std::string& help, const std::vector<std::string>& labels);
  Family<Histogram>& histogram(const std::string& name, const std::string& help, const std::vector<std::string>& labels,
                               std::vector<double> buckets);

  // Every family in registration order: # HELP, # TYPE, then one line per
  // series (histograms: cumulative _bucket{le=...} lines, +Inf, _sum, _count).
  std::string render() const;

 private:
  struct Entry {
    std::string type;  // counter, gauge, histogram
    std::unique_ptr<Family<Counter>> c;
    std::unique_ptr<Family<Gauge>> g;
    std::unique_ptr<Family<Histogram>> h;
  };
  Entry& entry(const std::string& name, const std::string& type, const std::vector<std::string>& labels);
  mutable std::mutex mu_;
  std::vector<std::string> order_;
  std::map<std::string, Entry> families_;
};

}  // namespace tessel::serve
