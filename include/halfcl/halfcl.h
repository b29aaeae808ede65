/* halfcl umbrella header: mixed-precision neural-network training on any OpenCL device. */
#ifndef HALFCL_HALFCL_H
#define HALFCL_HALFCL_H

#include "halfcl/runtime.h"
#include "halfcl/tensor.h"
#include "halfcl/ops.h"
#include "halfcl/amp.h"
#include "halfcl/io.h"
#include "halfcl/nn.h"
#include "halfcl/dist.h"

#define HALFCL_VERSION_MAJOR 0
#define HALFCL_VERSION_MINOR 1
#define HALFCL_VERSION_PATCH 0

#endif /* HALFCL_HALFCL_H */
