#pragma once
// The activation a KataGo layer names in its file (or its fp16 scale-8 form), chosen at run time. One
// functor type for all kinds keeps the number of kernel instantiations independent of the net's activations (a switch on a
// value every thread of a launch shares costs next to nothing beside the memory traffic).
#include "fusekit/katago/model_desc.hpp"
#include "fusekit/ops/activation_functors.hpp"

namespace fusekit::katago {

// KataGo's SiLU on activations stored divided by 8.
struct SiluScale8 {
  FUSEKIT_HOST_DEVICE float operator()(float x) const { return 0.125f * act::Silu{}(8.0f * x); }
};

struct ActFn {
  static constexpr bool arithmetic_heavy = true;
  Activation kind = Activation::identity;

  // fn(functor) with the fixed functor of this kind: host loops over whole rows switch once and take the
  // functor's SIMD form (cpu::activation_span) instead of switching per element.
  template <class Fn>
  decltype(auto) visit(Fn&& fn) const {
    switch (kind) {
      case Activation::relu: return fn(act::Relu{});
      case Activation::mish: return fn(act::Mish{});
      case Activation::silu: return fn(act::Silu{});
      case Activation::mish_scale8: return fn(act::MishScale8{});
      case Activation::silu_scale8: return fn(SiluScale8{});
      default: return fn(act::Identity{});
    }
  }

  FUSEKIT_HOST_DEVICE float operator()(float x) const {
    switch (kind) {
      case Activation::relu: return act::Relu{}(x);
      case Activation::mish: return act::Mish{}(x);
      case Activation::silu: return act::Silu{}(x);
      case Activation::mish_scale8: return act::MishScale8{}(x);
      case Activation::silu_scale8: return SiluScale8{}(x);
      default: return x;
    }
  }
};

}  // namespace fusekit::katago
