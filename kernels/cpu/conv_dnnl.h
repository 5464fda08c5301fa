#pragma once
// Internal to the convolution kernels (conv.cpp: eager forward and backward;
// conv_blocked.cpp: the ONNX runtime's fused and blocked-layout calls): the
// oneDNN engine and stream, the primitive cache and the operand plumbing both
// halves share. Not a public header.
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>
#include <unordered_map>

#include <oneapi/dnnl/dnnl.hpp>

#include "tessel/kernel.h"
#include "tessel/tensor.h"

namespace tessel::cpu::conv_dnnl {

using dnnl::memory;
using tag = memory::format_tag;

dnnl::engine& engine();
dnnl::stream& stream();  // one per thread

struct ConvKey {
  int64_t n, c, h, w, o, kh, kw, ho, wo;
  ConvParams p;
  int kind;  // 0 forward, 1 backward input, 2 backward weight
  int bias;
  int threads;  // oneDNN fixes its thread partitioning when a primitive is created
  int dtype;
  // Post-ops of the fused forward (conv_fused.h): activation, its two float
  // parameters as bits (floats have no unique object representation), sum.
  int act = 0, act_a = 0, act_b = 0, sum = 0;
  bool operator==(const ConvKey& k) const { return std::memcmp(this, &k, sizeof(ConvKey)) == 0; }
};
// The cache compares and hashes the key's bytes: padding would make equal keys differ.
static_assert(std::has_unique_object_representations_v<ConvKey>, "ConvKey must have no padding bytes");

struct ConvPrim {
  dnnl::primitive prim;
  memory::desc src, wei, dst, bias;  // what the primitive expects (diff_* for backward)
  // Non-empty: the scratchpad each call brings (oneDNN's shared one would be
  // clobbered by concurrent runs).
  memory::desc scratch;
  std::string impl;    // oneDNN's implementation name
  bool usable = true;  // false: oneDNN has no fast implementation for this dtype here
};

// The primitive of `k`, from the shared cache (made on first use).
std::shared_ptr<ConvPrim> primitive(const ConvKey& k);
void add_scratchpad(std::unordered_map<int, memory>& args, const ConvPrim& p);
memory::data_type dnnl_type(DType d);

struct Dims {
  memory::dims src, wei, dst, bias, strides, dilates, pad_l, pad_r;
  tag wei_tag;
};
Dims dims_of(const ConvKey& k);

// A primitive argument: the tensor itself when its plain layout is what the
// primitive wants, else a buffer in the primitive's layout (`fill`: copy the
// tensor's values in; outputs are copied back by finish()).
struct Arg {
  memory user, mem;
  Tensor holder;
};
// `user`: how `t` lays out its values (plain NCHW, or blocked for the ONNX
// runtime's chains of convolutions, conv_fused.h).
Arg arg(const Tensor& t, const memory::desc& user, const memory::desc& want, bool fill);
Arg arg(const Tensor& t, const memory::dims& dims, tag plain, const memory::desc& want, bool fill);
void finish(Arg& a);
// The weight operand; a constant weight (const_weights.h) is reordered once per primitive.
Arg weight_arg(const Tensor& w, const Dims& d, const ConvKey& k, const ConvPrim& prim);

}  // namespace tessel::cpu::conv_dnnl
