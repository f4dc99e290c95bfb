#pragma once
// A minimal work-sharing loop: body(i) for i in [0, count) on up to `threads` threads (0 = one per
// hardware thread), items handed out one at a time. The first exception stops the hand-out and is
// rethrown on the calling thread once every worker has finished.
#include <functional>

namespace routerscope {

void parallel_for(int count, int threads, const std::function<void(int)>& body);

} // namespace routerscope
