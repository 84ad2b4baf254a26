// The portable kernels: plain C++ for the baseline of the target (SSE2 on x86-64), any other CPU too.
#include <cmath>
#include <cstring>
#include "kernels.h"

#define CHARNN_NS isa_generic
#define CHARNN_TABLE genericTable
#define CHARNN_NAME "scalar"
#include "kernels-impl.h"
