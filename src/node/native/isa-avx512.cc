// The kernels for CPUs with AVX-512 (F, VL, BW, DQ) and FMA; used only where the CPU reports them (addon.cc).
#include <cmath>
#include <cstring>
#include <immintrin.h>
#include "kernels.h"

#pragma GCC target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,bmi,bmi2,f16c,popcnt")
#define CHARNN_AVX512 1
#define CHARNN_NS isa_avx512
#define CHARNN_TABLE avx512Table
#define CHARNN_NAME "avx512"
#include "kernels-impl.h"
