#pragma once
// The activation a KataGo layer names in its file, chosen at run time. One functor type for all four
// kinds keeps the number of kernel instantiations independent of the net's activations (a switch on a
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
      default: return x;
    }
  }
};

}  // namespace fusekit::katago
