#pragma once
// Op-level tracing. While a trace::Recording is alive on a thread, each public op
// that thread runs records one Call: its name, inputs, attributes and outputs.
// Ops called inside another op are not recorded, so a composite op (linear,
// layer_norm, an LSTM) appears as itself. The ONNX exporter turns a trace into a
// graph; this is not the autograd tape (it sees integer ops and no_grad code too).
//
// An op records itself by re-entering with the tracer marking it as running:
//   Tensor foo(const Tensor& x, int64_t k) {
//     if (trace::Op t{"foo"}) return t.in(x).attr("k", k).out(foo(x, k));
//     ... the op itself ...
//   }
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "tessel/export.h"
#include "tessel/scalar.h"
#include "tessel/tensor.h"

namespace tessel::trace {

using Attr = std::variant<int64_t, double, std::string, std::vector<int64_t>, std::vector<double>>;

struct Call {
  std::string op;
  std::vector<std::optional<Tensor>> inputs;  // nullopt: an omitted optional input
  std::vector<std::pair<std::string, Attr>> attrs;
  std::vector<Tensor> outputs;
  bool inplace = false;  // outputs[0] is inputs[0], updated in place

  const Attr* find(const std::string& name) const;
  int64_t i(const std::string& name) const;  // errors when missing or of another type
  double f(const std::string& name) const;
  const std::string& s(const std::string& name) const;
  const std::vector<int64_t>& ints(const std::string& name) const;
};

struct Trace {
  std::vector<Call> calls;
  // Each output of a kernel that ran outside every traced op: an op tessel cannot
  // export produced it, or wrote into it (a value of the trace updated in place).
  struct Untraced {
    const void* storage;
    std::string op;  // the kernel's op name
    size_t at;       // calls.size() when it ran: after calls [0, at)
  };
  std::vector<Untraced> untraced;
};

// Records the ops this thread runs until finish() or destruction. Not nestable.
class TESSEL_API Recording {
 public:
  Recording();
  ~Recording();
  Recording(const Recording&) = delete;
  Recording& operator=(const Recording&) = delete;
  Trace finish();

 private:
  bool done_ = false;
};

// Whether this thread is recording.
TESSEL_API bool active() noexcept;

class TESSEL_API Op {
 public:
  explicit Op(const char* name) noexcept;
  ~Op();
  Op(const Op&) = delete;
  Op& operator=(const Op&) = delete;

  // True when this op is the outermost one running while recording: it records.
  explicit operator bool() const noexcept { return record_; }

  Op& in(const Tensor& t);
  Op& in(const std::optional<Tensor>& t);
  Op& in(const std::vector<Tensor>& ts);
  Op& scalar(const Scalar& s, DType dtype);  // a Scalar operand, recorded as a 0-d tensor of `dtype`
  Op& attr(const char* name, Attr value);
  Op& inplace();
  Tensor out(Tensor t);
  std::vector<Tensor> out(std::vector<Tensor> ts);
  template <class... T>
  std::tuple<T...> out(std::tuple<T...> ts) {
    std::apply([this](const auto&... t) { record({t...}); }, ts);
    return ts;
  }

 private:
  void record(std::vector<Tensor> outs);
  const char* name_;
  bool counted_ = false;
  bool record_ = false;
  Call call_;
};

}  // namespace tessel::trace
