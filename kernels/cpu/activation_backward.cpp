// First-order backwards of activations as single kernels (relu's builtin op, and by
// name hardsigmoid's, hardswish's, gelu's, softplus's and silu's): one pass over g and x
// where the derivative rules would run four to six ops. Under create_graph the
// rules in src/autograd/rules_elementwise.cpp use their ops instead.
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "kernels/cpu/clones.h"
#include "kernels/cpu/loops.h"
#include "kernels/cpu/register.h"
#include "kernels/cpu/vecmath.h"
#include "tessel/kernel.h"

// gxo_run's ops take and return GCC vectors by value, inlined into its clones; the SSE2 build
// would report their instantiations (-Wpsabi: an ABI note for calls that never leave this file).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

namespace tessel::cpu {
namespace {

// o[i] = op(g[i], x[i], o[i]) over contiguous runs on GCC vectors, with an AVX2 clone: under
// -ftrapping-math the plain loops stay scalar with branches, which random inputs mispredict
// (hardswish's backward of 1e5 floats in (-4, 4): 240 us). `op` is generic: it takes and
// returns 32-byte vectors, and T for the tail and for strided runs.
template <class T, class Op>
TESSEL_CLONES void gxo_run(T* o, const T* g, const T* x, int64_t n, Op op) {
  typedef T V __attribute__((vector_size(32)));
  constexpr int64_t W = 32 / sizeof(T);
  int64_t i = 0;
  for (; i + W <= n; i += W) {
    V gv, xv, ov;
    __builtin_memcpy(&gv, g + i, sizeof(V));
    __builtin_memcpy(&xv, x + i, sizeof(V));
    __builtin_memcpy(&ov, o + i, sizeof(V));
    const V r = op(gv, xv, ov);
    __builtin_memcpy(o + i, &r, sizeof(V));
  }
  for (; i < n; ++i) o[i] = op(g[i], x[i], o[i]);
}

// hardsigmoid's and hardswish's first-order backwards (by name, "hardsigmoid_backward_fused",
// "hardswish_backward_fused"): in g, x; out dx. PyTorch's formulas (a NaN x gives g for
// hardswish, 0 for hardsigmoid): one pass instead of the rule's five or six ops.
template <class T, bool Swish>
struct HardBackward {
  template <class V>  // V: T or a GCC vector of T
  V operator()(V g, V x, V) const {
    if constexpr (Swish) {
      const V mid = x <= T(3) ? g * (x / T(3) + T(0.5)) : g;
      return x < T(-3) ? V{} : mid;
    } else {
      return (x > T(-3)) & (x < T(3)) ? g / T(6) : V{};
    }
  }
};

template <class T, bool Swish>
void hard_backward_kernel(const KernelCall& c) {
  for_each<3>({&c.out[0], &c.in[0], &c.in[1]}, [](char** p, const int64_t* s, int64_t n) {
    constexpr int64_t S = sizeof(T);
    if (s[0] == S && s[1] == S && s[2] == S) {
      gxo_run(reinterpret_cast<T*>(p[0]), reinterpret_cast<const T*>(p[1]), reinterpret_cast<const T*>(p[2]), n,
              HardBackward<T, Swish>{});
      return;
    }
    for (int64_t i = 0; i < n; ++i) {
      T& o = *reinterpret_cast<T*>(p[0] + i * s[0]);
      o = HardBackward<T, Swish>{}(*reinterpret_cast<const T*>(p[1] + i * s[1]),
                                   *reinterpret_cast<const T*>(p[2] + i * s[2]), T(0));
    }
  });
}

// gelu's first-order backward (by name, "gelu_backward_fused"): in g, x; out dx (one
// shape); params UnaryParams (a = 0: exact, else the tanh approximation).
//   exact: dx = g * (Phi(x) + x * phi(x))
//   tanh:  t = tanh(k (x + c x^3)), dx = g * (0.5 (1 + t) + 0.5 x (1 - t^2) k (1 + 3 c x^2))
// Blocks of 512: float32's exact form in one float-lane pass (vecmath's GeluBackward),
// the others through vecmath's vector tanh (or erf and exp) into the output, then one
// pass combines; strided runs are gathered into blocks first. Without a vecmath table,
// the scalar functions.
template <class T>
void gelu_backward_kernel(const KernelCall& c) {
  const bool approx = static_cast<const UnaryParams*>(c.params)->a != 0;
  constexpr T k = T(0.79788456080286535588), cc = T(0.044715), inv_sqrt2 = T(0.70710678118654752440),
              inv_sqrt_2pi = T(0.39894228040143267794);
  using UnaryFn = void (*)(T*, const T*, int64_t, vecmath::Params);
  UnaryFn vtanh = nullptr, verf = nullptr, vexp = nullptr;
  if (const vecmath::Table* vt = vecmath::table()) {
    if constexpr (std::is_same_v<T, float>) {
      vtanh = vt->f32[vecmath::Tanh], verf = vt->f32[vecmath::Erf], vexp = vt->f32[vecmath::Exp];
    } else {
      vtanh = vt->f64[vecmath::Tanh], verf = vt->f64[vecmath::Erf], vexp = vt->f64[vecmath::Exp];
    }
  }
  vecmath::BinaryF fused = nullptr;  // float32, exact form: one pass in float lanes
  if constexpr (std::is_same_v<T, float>)
    if (vtanh && !approx) fused = vecmath::table()->bin_f32[vecmath::GeluBackward];
  constexpr int64_t kBlock = 512;
  // dx for contiguous arrays of at most kBlock elements
  const auto block = [&](T* ob, const T* gb, const T* xb, int64_t m) {
    if constexpr (std::is_same_v<T, float>) {
      if (fused) return fused(ob, gb, xb, m);
    }
    T tmp[kBlock];
    if (approx) {
      for (int64_t i = 0; i < m; ++i) ob[i] = k * (xb[i] + cc * xb[i] * xb[i] * xb[i]);
      vtanh(ob, ob, m, {});
      for (int64_t i = 0; i < m; ++i) {
        const T t = ob[i], xv = xb[i];
        ob[i] = gb[i] * (T(0.5) * (T(1) + t) + T(0.5) * xv * (T(1) - t * t) * k * (T(1) + T(3) * cc * xv * xv));
      }
    } else {
      for (int64_t i = 0; i < m; ++i) ob[i] = xb[i] * inv_sqrt2, tmp[i] = T(-0.5) * xb[i] * xb[i];
      verf(ob, ob, m, {});
      vexp(tmp, tmp, m, {});
      for (int64_t i = 0; i < m; ++i) ob[i] = gb[i] * (T(0.5) * (T(1) + ob[i]) + xb[i] * tmp[i] * inv_sqrt_2pi);
    }
  };
  for_each<3>({&c.out[0], &c.in[0], &c.in[1]}, [&](char** p, const int64_t* s, int64_t n) {
    constexpr int64_t S = sizeof(T);
    if (vtanh) {
      for (int64_t i0 = 0; i0 < n; i0 += kBlock) {
        const int64_t m = std::min(kBlock, n - i0);
        if (s[0] == S && s[1] == S && s[2] == S) {
          block(reinterpret_cast<T*>(p[0]) + i0, reinterpret_cast<const T*>(p[1]) + i0,
                reinterpret_cast<const T*>(p[2]) + i0, m);
          continue;
        }
        // strided (a transposed input, an expanded gradient): gathered into blocks, so that
        // every element takes the vector path (the scalar erf and exp: 10x the time)
        T gb[kBlock], xb[kBlock], ob[kBlock];
        for (int64_t i = 0; i < m; ++i) {
          gb[i] = *reinterpret_cast<const T*>(p[1] + (i0 + i) * s[1]);
          xb[i] = *reinterpret_cast<const T*>(p[2] + (i0 + i) * s[2]);
        }
        block(ob, gb, xb, m);
        for (int64_t i = 0; i < m; ++i) *reinterpret_cast<T*>(p[0] + (i0 + i) * s[0]) = ob[i];
      }
      return;
    }
    for (int64_t i = 0; i < n; ++i) {
      const T gv = *reinterpret_cast<const T*>(p[1] + i * s[1]), xv = *reinterpret_cast<const T*>(p[2] + i * s[2]);
      T d;
      if (approx) {
        const T t = std::tanh(k * (xv + cc * xv * xv * xv));
        d = T(0.5) * (T(1) + t) + T(0.5) * xv * (T(1) - t * t) * k * (T(1) + T(3) * cc * xv * xv);
      } else {
        d = T(0.5) * (T(1) + std::erf(xv * inv_sqrt2)) + xv * std::exp(T(-0.5) * xv * xv) * inv_sqrt_2pi;
      }
      *reinterpret_cast<T*>(p[0] + i * s[0]) = gv * d;
    }
  }, 40);
}

// softplus's first-order backward (by name, "softplus_backward_fused"): in g, x; out dx;
// params UnaryParams (a = beta, b = threshold): dx = g where beta x > threshold, else
// g sigmoid(beta x). One pass instead of the rule's five ops (mul, gt, sigmoid, mul,
// where), which logsigmoid's backward (-softplus(-x)) also runs. Contiguous runs take
// vecmath's vector sigmoid a block at a time.
// z = beta x, then (after the vector sigmoid of z in o) dx = z > threshold ? g : g o.
template <class T>
TESSEL_CLONES void scale_run(T* o, const T* x, T beta, int64_t n) {
  typedef T V __attribute__((vector_size(32)));
  constexpr int64_t W = 32 / sizeof(T);
  int64_t i = 0;
  for (; i + W <= n; i += W) {
    V xv;
    __builtin_memcpy(&xv, x + i, sizeof(V));
    xv *= beta;
    __builtin_memcpy(o + i, &xv, sizeof(V));
  }
  for (; i < n; ++i) o[i] = x[i] * beta;
}
// The runs of a first-order backward built on sigmoid(beta x) (softplus, silu): contiguous
// blocks take vecmath's vector sigmoid into the output, then `finish(o, g, x, m)`;
// strided operands (mixed layouts: a transposed input under a contiguous gradient) are
// gathered into buffers and the result scattered back. Without vecmath, `one(g, x)`.
template <class T, class Finish, class One>
void sigmoid_backward_blocks(const KernelCall& c, T beta, Finish finish, One one) {
  using UnaryFn = void (*)(T*, const T*, int64_t, vecmath::Params);
  UnaryFn vsig = nullptr;
  if (const vecmath::Table* vt = vecmath::table()) {
    if constexpr (std::is_same_v<T, float>)
      vsig = vt->f32[vecmath::Sigmoid];
    else
      vsig = vt->f64[vecmath::Sigmoid];
  }
  for_each<3>(
      {&c.out[0], &c.in[0], &c.in[1]},
      [&](char** q, const int64_t* s, int64_t n) {
        constexpr int64_t S = sizeof(T);
        if (!vsig) {
          for (int64_t i = 0; i < n; ++i)
            *reinterpret_cast<T*>(q[0] + i * s[0]) =
                one(*reinterpret_cast<const T*>(q[1] + i * s[1]), *reinterpret_cast<const T*>(q[2] + i * s[2]));
          return;
        }
        constexpr int64_t kBlock = 512;
        T gbuf[kBlock], xbuf[kBlock], obuf[kBlock];
        for (int64_t i0 = 0; i0 < n; i0 += kBlock) {
          const int64_t m = std::min(kBlock, n - i0);
          const auto run = [&](int k, T* buf) -> T* {
            T* p0 = reinterpret_cast<T*>(q[k] + i0 * s[k]);
            if (s[k] == S) return p0;
            if (buf != obuf)
              for (int64_t i = 0; i < m; ++i) buf[i] = *reinterpret_cast<const T*>(q[k] + (i0 + i) * s[k]);
            return buf;
          };
          T* ob = run(0, obuf);
          const T *gb = run(1, gbuf), *xb = run(2, xbuf);
          if (beta == T(1)) {
            vsig(ob, xb, m, {});
          } else {
            scale_run(ob, xb, beta, m);
            vsig(ob, ob, m, {});
          }
          finish(ob, gb, xb, m);
          if (ob == obuf)
            for (int64_t i = 0; i < m; ++i) *reinterpret_cast<T*>(q[0] + (i0 + i) * s[0]) = obuf[i];
        }
      },
      20);
}

template <class T>
void softplus_backward_kernel(const KernelCall& c) {
  const auto& p = *static_cast<const UnaryParams*>(c.params);
  const T beta = static_cast<T>(p.a), threshold = static_cast<T>(p.b);
  sigmoid_backward_blocks<T>(
      c, beta,
      [&](T* o, const T* g, const T* x, int64_t m) {
        gxo_run(o, g, x, m, [=](auto gv, auto xv, auto sv) { return xv * beta > threshold ? gv : gv * sv; });
      },
      [&](T g, T x) {
        const T z = x * beta;
        return z > threshold ? g : g * (T(1) / (T(1) + std::exp(-z)));
      });
}

// silu's first-order backward (by name, "silu_backward_fused"): in g, x; out dx =
// g (s (x (1 - s) + 1)), s = sigmoid(x), the rule's formula in its order (the same bits), in
// one pass after the vector sigmoid instead of six (sigmoid, rsub, mul, add, mul, mul: 1.28x
// PyTorch's forward and backward time at 10^5 on an Intel AVX-512 CPU).
template <class T>
void silu_backward_kernel(const KernelCall& c) {
  sigmoid_backward_blocks<T>(
      c, T(1),
      [](T* o, const T* g, const T* x, int64_t m) {
        gxo_run(o, g, x, m, [](auto gv, auto xv, auto sv) { return gv * (sv * (xv * (T(1) - sv) + T(1))); });
      },
      [](T g, T x) {
        const T s = T(1) / (T(1) + std::exp(-x));
        return g * (s * (x * (T(1) - s) + T(1)));
      });
}

template <class T>
void relu_backward_kernel(const KernelCall& c) {
  for_each<3>({&c.out[0], &c.in[0], &c.in[1]}, [](char** p, const int64_t* s, int64_t n) {
    if constexpr (std::is_floating_point_v<T>) {
      if (s[0] == sizeof(T) && s[1] == sizeof(T) && s[2] == sizeof(T)) {
        gxo_run(reinterpret_cast<T*>(p[0]), reinterpret_cast<const T*>(p[1]), reinterpret_cast<const T*>(p[2]), n,
                [](auto g, auto y, auto) { return y > T(0) ? g : decltype(g){}; });
        return;
      }
    }
    for (int64_t i = 0; i < n; ++i) {
      const T g = *reinterpret_cast<const T*>(p[1] + i * s[1]);
      const T y = *reinterpret_cast<const T*>(p[2] + i * s[2]);
      *reinterpret_cast<T*>(p[0] + i * s[0]) = select(y > T(0), g, T(0));
    }
  });
}
const bool registered = [] {
  register_for(TypeList<float, double>{}, op::relu_backward,
               []<class T>(std::type_identity<T>) -> Kernel { return relu_backward_kernel<T>; });
  // By name (as plugins do), so the builtin op list in registry.h stays as it is.
  auto& reg = Registry::get();
  const OpId hsb = reg.op_id("hardsigmoid_backward_fused"), hwb = reg.op_id("hardswish_backward_fused");
  reg.add(hsb, DeviceType::CPU, DType::Float32, &hard_backward_kernel<float, false>);
  reg.add(hsb, DeviceType::CPU, DType::Float64, &hard_backward_kernel<double, false>);
  reg.add(hwb, DeviceType::CPU, DType::Float32, &hard_backward_kernel<float, true>);
  reg.add(hwb, DeviceType::CPU, DType::Float64, &hard_backward_kernel<double, true>);
  register_for(TypeList<float, double>{}, reg.op_id("softplus_backward_fused"),
               []<class T>(std::type_identity<T>) -> Kernel { return softplus_backward_kernel<T>; });
  register_for(TypeList<float, double>{}, reg.op_id("silu_backward_fused"),
               []<class T>(std::type_identity<T>) -> Kernel { return silu_backward_kernel<T>; });
  const OpId gb = reg.op_id("gelu_backward_fused");
  reg.add(gb, DeviceType::CPU, DType::Float32, &gelu_backward_kernel<float>);
  reg.add(gb, DeviceType::CPU, DType::Float64, &gelu_backward_kernel<double>);
  return true;
}();

}  // namespace
}  // namespace tessel::cpu
