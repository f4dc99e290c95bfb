#include "core/progress.h"

#include "core/error.h"

namespace routerscope {

void Progress::check() const {
  if (cancelled())
    throw Error(ErrorKind::Cancelled, "cancelled");
}

} // namespace routerscope
