// The kernels for CPUs with AVX2 and FMA (Haswell and later, Zen); used only where the CPU reports them (addon.cc).
#include <cmath>
#include <cstring>
#include <immintrin.h>
#include "kernels.h"

#pragma GCC target("avx2,fma,bmi,bmi2,f16c,popcnt")
#define CHARNN_AVX2 1
#define CHARNN_NS isa_avx2
#define CHARNN_TABLE avx2Table
#define CHARNN_NAME "avx2"
#include "kernels-impl.h"
