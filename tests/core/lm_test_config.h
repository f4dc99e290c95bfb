#pragma once
// The small language model the core/lm tests train (seconds on 2 cores): 2 layers, width 32,
// 2 heads, 4 experts top-2, expert width 64, byte vocabulary.
#include "core/lm/lm_config.h"

namespace routerscope::test {

inline lm::LmConfig small_lm_config(int ctx) {
  lm::LmConfig c;
  c.d_model = 32;
  c.layers = 2;
  c.heads = 2;
  c.experts = 4;
  c.top_k = 2;
  c.d_expert = 64;
  c.ctx = ctx;
  return c;
}

} // namespace routerscope::test
