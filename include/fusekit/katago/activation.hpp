#pragma once
// The activation a KataGo layer names in its file (or its fp16 scale-8 form), chosen at run time. One
// functor type for all kinds keeps the number of kernel instantiations independent of the net's activations (a switch on a
// value every thread of a launch shares costs next to nothing beside the memory traffic).
#include "fusekit/katago/model_desc.hpp"
#include "fusekit/ops/activation_functors.hpp"

namespace fusekit::katago {

struct ActFn {
  static constexpr bool arithmetic_heavy = true;
  Activation kind = Activation::identity;

  FUSEKIT_HOST_DEVICE float operator()(float x) const {
    switch (kind) {
      case Activation::relu: return act::Relu{}(x);
      case Activation::mish: return act::Mish{}(x);
      case Activation::silu: return act::Silu{}(x);
      case Activation::mish_scale8: return act::MishScale8{}(x);
      case Activation::silu_scale8: return 0.125f * act::Silu{}(8.0f * x);
      default: return x;
    }
  }
};

}  // namespace fusekit::katago
