#pragma once
// The (N, 1, H, W) board mask shared by the KataGo ops (norm_act, global_pool): its shape check.
#include "fusekit/core/error.hpp"
#include "fusekit/core/format.hpp"

namespace fusekit::detail {

template <class M, class X>
void check_board_mask(const char* op, const M& mask, const X& x) {
  FUSEKIT_CHECK(mask.size(0) == x.size(0) && mask.size(1) == 1 && mask.size(2) == x.size(2) && mask.size(3) == x.size(3),
                "{}: mask has shape {} but x has shape {}: the mask must be (N, 1, H, W) = [{}, 1, {}, {}]", op,
                mask.shape(), x.shape(), x.size(0), x.size(2), x.size(3));
}

}  // namespace fusekit::detail
