// The kernels themselves, compiled once per instruction set: isa-*.cc define CHARNN_NS (a namespace of their own,
// so no inline function of one target can be linked into another), CHARNN_TABLE and one of CHARNN_AVX512 /
// CHARNN_AVX2, set the matching `#pragma GCC target`, then include this file. Everything here is `static` inside
// that namespace. The TypeScript twins are in src/kernels/reference.ts; test/kernels-native.test.ts holds these to them.
//
// GEMM (see kernels.h for the blocking): a micro-kernel keeps an MR×PANEL block of C in registers and runs the
// whole reduction block over it, broadcasting one element of A per row and k against a row of the panel. A is
// read in place (row-major, or column-major for gemmTN); only B is packed. Ragged panels are zero-padded when
// packed and stored through a mask, so edge columns go through exactly the arithmetic of interior ones.
//
// Cells: plain loops over a row of H elements that the compiler vectorizes for the target; exp and tanh are
// Cephes' expf/tanhf written branch-free (the same polynomials as the WebAssembly kernels, assembly/cells.ts).
//
// The including file includes the standard and intrinsics headers BEFORE its target pragma, so that no library
// inline function gets compiled for (and linked from) a wider target than the CPU running it.

// All of it is compiled with floating-point contraction off, so every a·b + c written here is a multiply and an
// add, as in the WebAssembly plain-SIMD kernels: GCC would otherwise fuse the exact GEMMs' multiply-then-add
// intrinsics into the very FMA they exist to avoid, and the cells' polynomials likewise, and the forward cells
// are then the WebAssembly ones to the bit (the exact mode runs them for loaded models; test/kernels-exact.test.ts).
// The fused GEMM kernels say fmadd explicitly.
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")

namespace charnn {
namespace CHARNN_NS {

// --- GEMM micro-kernels ---------------------------------------------------------------------------------------
//
// kernel<MR, TA, EXACT>: C[MR × ncols] = (loadC ? C : 0) + A[MR × kc]·P[kc × PANEL], where element (r, k) of A is
// A[r·lda + k] (TA = false) or A[k·lda + r] (TA = true), and row k of the panel is P[k·PANEL …]; one fused
// multiply-add per k, or with EXACT a multiply and then an add (c = a·b + c, two roundings).


#if defined(CHARNN_AVX512)
constexpr int MR_MAX = 12;  // 24 accumulators + 2 panel rows of the 32 zmm registers

// c + a·b: one fused multiply-add, or with EXACT a multiply then an add (two roundings)
template <bool EXACT>
static inline __m512 madd(__m512 a, __m512 b, __m512 c) {
  return EXACT ? _mm512_add_ps(_mm512_mul_ps(a, b), c) : _mm512_fmadd_ps(a, b, c);
}

template <int MR, bool TA, bool EXACT>
static void kernel(long kc, const float* A, long lda, const float* P, float* C, long ldc, bool loadC, int ncols) {
  const __mmask16 m0 = ncols >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << ncols) - 1);
  const __mmask16 m1 = ncols >= 32 ? __mmask16(0xFFFF) : ncols <= 16 ? __mmask16(0) : __mmask16((1u << (ncols - 16)) - 1);
  __m512 c0[MR], c1[MR];
  for (int r = 0; r < MR; r++) {
    c0[r] = loadC ? _mm512_maskz_loadu_ps(m0, C + r * ldc) : _mm512_setzero_ps();
    c1[r] = loadC ? _mm512_maskz_loadu_ps(m1, C + r * ldc + 16) : _mm512_setzero_ps();
  }
  for (long k = 0; k < kc; k++) {
    const __m512 b0 = _mm512_loadu_ps(P + k * PANEL);
    const __m512 b1 = _mm512_loadu_ps(P + k * PANEL + 16);
    for (int r = 0; r < MR; r++) {
      const __m512 a = _mm512_set1_ps(TA ? A[k * lda + r] : A[r * lda + k]);
      c0[r] = madd<EXACT>(a, b0, c0[r]);
      c1[r] = madd<EXACT>(a, b1, c1[r]);
    }
  }
  for (int r = 0; r < MR; r++) {
    _mm512_mask_storeu_ps(C + r * ldc, m0, c0[r]);
    _mm512_mask_storeu_ps(C + r * ldc + 16, m1, c1[r]);
  }
}

#elif defined(CHARNN_AVX2)
constexpr int MR_MAX = 6;  // per 16-column half: 12 accumulators + 2 panel rows + 1 broadcast of 16 ymm

// c + a·b: one fused multiply-add, or with EXACT a multiply then an add (two roundings)
template <bool EXACT>
static inline __m256 madd(__m256 a, __m256 b, __m256 c) {
  return EXACT ? _mm256_add_ps(_mm256_mul_ps(a, b), c) : _mm256_fmadd_ps(a, b, c);
}

static inline __m256i laneMask(int n) {  // lanes < n set
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), lanes);
}

// One 16-column half of a panel (P and C already point at it), ncols ≤ 16 of it stored.
template <int MR, bool TA, bool EXACT>
static void half(long kc, const float* A, long lda, const float* P, float* C, long ldc, bool loadC, int ncols) {
  const __m256i m0 = laneMask(ncols), m1 = laneMask(ncols - 8);
  __m256 c0[MR], c1[MR];
  for (int r = 0; r < MR; r++) {
    c0[r] = loadC ? _mm256_maskload_ps(C + r * ldc, m0) : _mm256_setzero_ps();
    c1[r] = loadC ? _mm256_maskload_ps(C + r * ldc + 8, m1) : _mm256_setzero_ps();
  }
  for (long k = 0; k < kc; k++) {
    const __m256 b0 = _mm256_loadu_ps(P + k * PANEL);
    const __m256 b1 = _mm256_loadu_ps(P + k * PANEL + 8);
    for (int r = 0; r < MR; r++) {
      const __m256 a = _mm256_broadcast_ss(TA ? A + k * lda + r : A + r * lda + k);
      c0[r] = madd<EXACT>(a, b0, c0[r]);
      c1[r] = madd<EXACT>(a, b1, c1[r]);
    }
  }
  for (int r = 0; r < MR; r++) {
    _mm256_maskstore_ps(C + r * ldc, m0, c0[r]);
    _mm256_maskstore_ps(C + r * ldc + 8, m1, c1[r]);
  }
}

template <int MR, bool TA, bool EXACT>
static void kernel(long kc, const float* A, long lda, const float* P, float* C, long ldc, bool loadC, int ncols) {
  half<MR, TA, EXACT>(kc, A, lda, P, C, ldc, loadC, ncols < 16 ? ncols : 16);
  if (ncols > 16) half<MR, TA, EXACT>(kc, A, lda, P + 16, C + 16, ldc, loadC, ncols - 16);
}

#else
constexpr int MR_MAX = 4;

// (no FMA in this target: a multiply and an add either way, and contraction is off)
template <int MR, bool TA, bool EXACT>
static void kernel(long kc, const float* A, long lda, const float* P, float* C, long ldc, bool loadC, int ncols) {
  float acc[MR][PANEL];
  for (int r = 0; r < MR; r++) {
    for (int j = 0; j < PANEL; j++) acc[r][j] = loadC && j < ncols ? C[r * ldc + j] : 0.0f;
  }
  for (long k = 0; k < kc; k++) {
    const float* p = P + k * PANEL;
    for (int r = 0; r < MR; r++) {
      const float a = TA ? A[k * lda + r] : A[r * lda + k];
      for (int j = 0; j < PANEL; j++) acc[r][j] = a * p[j] + acc[r][j];
    }
  }
  for (int r = 0; r < MR; r++) {
    for (int j = 0; j < ncols; j++) C[r * ldc + j] = acc[r][j];
  }
}
#endif

template <bool TA, bool EXACT>
static void kernelRows(int rows, long kc, const float* A, long lda, const float* P, float* C, long ldc, bool loadC, int ncols) {
  switch (rows) {
    case 1: return kernel<1, TA, EXACT>(kc, A, lda, P, C, ldc, loadC, ncols);
    case 2: return kernel<2, TA, EXACT>(kc, A, lda, P, C, ldc, loadC, ncols);
    case 3: return kernel<3, TA, EXACT>(kc, A, lda, P, C, ldc, loadC, ncols);
    case 4: return kernel<4, TA, EXACT>(kc, A, lda, P, C, ldc, loadC, ncols);
    default: break;
  }
#if defined(CHARNN_AVX512) || defined(CHARNN_AVX2)
  switch (rows) {
    case 5: return kernel<5, TA, EXACT>(kc, A, lda, P, C, ldc, loadC, ncols);
    case 6: return kernel<6, TA, EXACT>(kc, A, lda, P, C, ldc, loadC, ncols);
    default: break;
  }
#endif
#if defined(CHARNN_AVX512)
  switch (rows) {
    case 7: return kernel<7, TA, EXACT>(kc, A, lda, P, C, ldc, loadC, ncols);
    case 8: return kernel<8, TA, EXACT>(kc, A, lda, P, C, ldc, loadC, ncols);
    case 9: return kernel<9, TA, EXACT>(kc, A, lda, P, C, ldc, loadC, ncols);
    case 10: return kernel<10, TA, EXACT>(kc, A, lda, P, C, ldc, loadC, ncols);
    case 11: return kernel<11, TA, EXACT>(kc, A, lda, P, C, ldc, loadC, ncols);
    case 12: return kernel<12, TA, EXACT>(kc, A, lda, P, C, ldc, loadC, ncols);
    default: break;
  }
#endif
}

// --- packing ------------------------------------------------------------------------------------------------

// Panels of op(B) rows k0 … k0+kc-1, columns c0 … c0+nc-1: panel q (kc×PANEL) at dst + q·stride, columns past nc
// zero. op(B)(k, j) = B[k·ldb + j], or B[j·ldb + k] when transposed.
static void packPanels(float* dst, long stride, const float* B, long ldb, bool transposed, long k0, long kc, long c0, long nc) {
  for (long q = 0; q * PANEL < nc; q++) {
    float* d = dst + q * stride;
    const long cols = nc - q * PANEL < PANEL ? nc - q * PANEL : PANEL;
    const long j0 = c0 + q * PANEL;
    if (!transposed) {
      for (long k = 0; k < kc; k++) {
        const float* s = B + (k0 + k) * ldb + j0;
        float* row = d + k * PANEL;
        for (long j = 0; j < cols; j++) row[j] = s[j];
        for (long j = cols; j < PANEL; j++) row[j] = 0.0f;
      }
    } else {
      // 64 k at a time, so the strided writes stay inside 8 KB of the panel
      for (long kb = 0; kb < kc; kb += 64) {
        const long ke = kb + 64 < kc ? kb + 64 : kc;
        for (long j = 0; j < PANEL; j++) {
          if (j < cols) {
            const float* s = B + (j0 + j) * ldb + k0;
            for (long k = kb; k < ke; k++) d[k * PANEL + j] = s[k];
          } else {
            for (long k = kb; k < ke; k++) d[k * PANEL + j] = 0.0f;
          }
        }
      }
    }
  }
}

static void packB(float* dst, const float* W, long K, long N, bool transposed) {
  packPanels(dst, K * PANEL, W, transposed ? K : N, transposed, 0, K, 0, N);
}

// --- the loop nest --------------------------------------------------------------------------------------------

// gemmTN reads A down its columns: element (i, k) at A[k·lda + i], a cache line per k for each row block, which
// with the panel overflows L1. So each row block of an MC-row group is first copied to `packedA` as kc×rows
// (element (r, k) at k·rows + r: one contiguous stream). The values and their order of use are unchanged.
template <bool TA, bool EXACT>
static void sweep(const Gemm& g, long m0, long m1, long kc, const float* Ak, const float* panels, long panelStride,
                  long c0, long nc, bool loadC, float* packedA) {
  for (long r0 = m0; r0 < m1; r0 += MC) {
    const long r1 = r0 + MC < m1 ? r0 + MC : m1;
    // balanced row blocks: 50 rows are five blocks of 10, not four of 12 and one of 2
    const long rows = r1 - r0;
    const long blocks = (rows + MR_MAX - 1) / MR_MAX;
    if (TA) {
      long i = r0;
      for (long b = 0; b < blocks; b++) {
        const long next = r0 + (rows * (b + 1)) / blocks, height = next - i;
        float* dst = packedA + (i - r0) * kc;
        for (long k = 0; k < kc; k++) {
          const float* src = Ak + k * g.lda + i;
          for (long r = 0; r < height; r++) dst[k * height + r] = src[r];
        }
        i = next;
      }
    }
    for (long q = 0; q * PANEL < nc; q++) {
      const int ncols = int(nc - q * PANEL < PANEL ? nc - q * PANEL : PANEL);
      const float* P = panels + q * panelStride;
      float* Cq = g.C + c0 + q * PANEL;
      long i = r0;
      for (long b = 0; b < blocks; b++) {
        const long next = r0 + (rows * (b + 1)) / blocks, height = next - i;
        if (TA) kernelRows<true, EXACT>(int(height), kc, packedA + (i - r0) * kc, height, P, Cq + i * g.ldc, g.ldc, loadC, ncols);
        else kernelRows<false, EXACT>(int(height), kc, Ak + i * g.lda, g.lda, P, Cq + i * g.ldc, g.ldc, loadC, ncols);
        i = next;
      }
    }
  }
}

// Exact mode, a few rows of C = (accumulate ? C : 0) + A·B (B K×N, read in place): for each row, C's columns
// [n0, n1) take four rows of B at a time in order, c = (((c + a0·b0) + a1·b1) + a2·b2) + a3·b3, a plain loop the
// compiler vectorizes for the target (every lane the same separate multiply and add). The sampler's step (M = 1)
// costs less this way than packing B for it, and it is the order of the WebAssembly gemmSmallNN.
constexpr long SMALL_ROWS = 4;

static void gemmSmallExact(const Gemm& g, long m0, long m1, long n0, long n1) {
  const long n = n1 - n0;
  for (long i = m0; i < m1; i++) {
    const float* a = g.A + i * g.lda;
    float* __restrict c = g.C + i * g.ldc + n0;
    if (!g.accumulate) std::memset(c, 0, size_t(n) * sizeof(float));
    const float* b = g.B + n0;
    long k = 0;
    for (; k + 4 <= g.K; k += 4) {
      const float a0 = a[k], a1 = a[k + 1], a2 = a[k + 2], a3 = a[k + 3];
      const float* __restrict b0 = b + k * g.ldb;
      const float* __restrict b1 = b0 + g.ldb;
      const float* __restrict b2 = b1 + g.ldb;
      const float* __restrict b3 = b2 + g.ldb;
      for (long j = 0; j < n; j++) c[j] = (((c[j] + a0 * b0[j]) + a1 * b1[j]) + a2 * b2[j]) + a3 * b3[j];
    }
    for (; k < g.K; k++) {
      const float ak = a[k];
      const float* __restrict bk = b + k * g.ldb;
      for (long j = 0; j < n; j++) c[j] = c[j] + ak * bk[j];
    }
  }
}

static void gemmPart(const Gemm& g, long m0, long m1, long n0, long n1, float* scratch) {
  if (m1 <= m0 || n1 <= n0) return;
  if (g.K == 0) {
    if (!g.accumulate) {
      for (long i = m0; i < m1; i++) std::memset(g.C + i * g.ldc + n0, 0, size_t(n1 - n0) * sizeof(float));
    }
    return;
  }
  if (g.exact && g.form == FORM_NN && m1 - m0 <= SMALL_ROWS) return gemmSmallExact(g, m0, m1, n0, n1);
  const bool TA = g.form == FORM_TN;
  const bool packed = g.form == FORM_PACKED;
  for (long k0 = 0; k0 < g.K; k0 += KC) {
    const long kc = g.K - k0 < KC ? g.K - k0 : KC;
    const bool loadC = g.accumulate || k0 > 0;
    const float* Ak = TA ? g.A + k0 * g.lda : g.A + k0;  // element (i, k0 + k)
    const long chunk = packed ? n1 - n0 : NC;
    for (long c0 = n0; c0 < n1; c0 += chunk) {
      const long nc = n1 - c0 < chunk ? n1 - c0 : chunk;
      const float* panels;
      long panelStride;
      if (packed) {
        panels = g.B + (c0 / PANEL) * g.K * PANEL + k0 * PANEL;
        panelStride = g.K * PANEL;
      } else {
        packPanels(scratch, kc * PANEL, g.B, g.ldb, g.form == FORM_NT, k0, kc, c0, nc);
        panels = scratch;
        panelStride = kc * PANEL;
      }
      float* packedA = scratch + SCRATCH_B_FLOATS;
      if (g.exact) {
        if (TA) sweep<true, true>(g, m0, m1, kc, Ak, panels, panelStride, c0, nc, loadC, packedA);
        else sweep<false, true>(g, m0, m1, kc, Ak, panels, panelStride, c0, nc, loadC, packedA);
      } else {
        if (TA) sweep<true, false>(g, m0, m1, kc, Ak, panels, panelStride, c0, nc, loadC, packedA);
        else sweep<false, false>(g, m0, m1, kc, Ak, panels, panelStride, c0, nc, loadC, packedA);
      }
    }
  }
}


// --- nonlinearities -----------------------------------------------------------------------------------------

// c ? a : b through the bits: a plain select next to a float→int conversion (which may trap, so is not
// speculated) becomes a branch, and the loop then does not vectorize.
static inline float blend(bool c, float a, float b) {
  const uint32_t m = 0u - uint32_t(c);
  return __builtin_bit_cast(float, (__builtin_bit_cast(uint32_t, a) & m) | (__builtin_bit_cast(uint32_t, b) & ~m));
}

static inline float expf_(float x) {
  x = blend(x < -88.0f, -88.0f, x);
  x = blend(x > 88.0f, 88.0f, x);
  // n = floor(x·log2 e + 0.5), by truncation and a correction (floorf itself does not vectorize without
  // -fno-trapping-math); exact for the clamped range
  const float v = x * 1.44269504088896341f + 0.5f;
  const float truncated = float(int32_t(v));
  const float n = truncated - blend(truncated > v, 1.0f, 0.0f);
  // r = x - n·ln2, with ln2 split in a part exact in float32 and the rest
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  const float z = r * r;
  float y = 1.9875691500e-4f;
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * z + r + 1.0f;
  // 2ⁿ straight into the exponent bits (n = -127 after the clamp gives 0)
  const int32_t bits = (int32_t(n) + 127) << 23;
  return y * __builtin_bit_cast(float, bits);
}

static inline float sigmoidf_(float x) { return 1.0f / (1.0f + expf_(-x)); }

static inline float tanhf_(float x) {
  const float ax = __builtin_fabsf(x);
  const float z = x * x;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  const float small = p * z * x + x;
  const float large = 1.0f - 2.0f / (expf_(ax + ax) + 1.0f);
  // near 0 the odd polynomial (1 - 2/(e^2|x|+1) would cancel); elsewhere through exp, with x's sign
  return blend(ax < 0.625f, small, __builtin_copysignf(large, x));
}

// --- cells, one step (equations in src/kernels/reference.ts) ----------------------------------------------------
//
// Each computes hidden units j0 … j1-1 of every stream: threads take disjoint ranges of units (addon.cc).

static void lstmForwardStep(float* hs, float* cs, float* tanhC, float* gates, long B, long H, long t, long b0, long b1, long j0, long j1) {
  const long G = 4 * H, prev = t * B * H, next = prev + B * H;
  for (long b = b0; b < b1; b++) {
    float* __restrict gi = gates + (t * B + b) * G;
    float* __restrict gf = gi + H;
    float* __restrict gg = gf + H;
    float* __restrict go = gg + H;
    const float* __restrict cPrev = cs + prev + b * H;
    float* __restrict cNext = cs + next + b * H;
    float* __restrict tc = tanhC + prev + b * H;
    float* __restrict h = hs + next + b * H;
    // one loop per gate, then the state: each loop keeps its polynomial's constants in registers (one loop for all
    // five reloaded them; 3.3 -> 2.8 ns an element, B 200 × H 128, Zen 5), and every element's operations are the same
#pragma GCC ivdep
    for (long j = j0; j < j1; j++) gi[j] = sigmoidf_(gi[j]);
#pragma GCC ivdep
    for (long j = j0; j < j1; j++) gf[j] = sigmoidf_(gf[j]);
#pragma GCC ivdep
    for (long j = j0; j < j1; j++) gg[j] = tanhf_(gg[j]);
#pragma GCC ivdep
    for (long j = j0; j < j1; j++) go[j] = sigmoidf_(go[j]);
#pragma GCC ivdep
    for (long j = j0; j < j1; j++) {
      // c_t = f ⊙ c_{t-1} + i ⊙ g,  h_t = o ⊙ tanh(c_t)
      const float c = gf[j] * cPrev[j] + gi[j] * gg[j];
      cNext[j] = c;
      const float tcj = tanhf_(c);
      tc[j] = tcj;
      h[j] = go[j] * tcj;
    }
  }
}

static void lstmBackwardStep(float* dgates, float* dcNext, const float* gates, const float* cs, const float* tanhC,
                             const float* dhs, const float* dhNext, long B, long H, long t, long b0, long b1, long j0, long j1) {
  const long G = 4 * H, prev = t * B * H;
  for (long b = b0; b < b1; b++) {
    const float* __restrict g0 = gates + (t * B + b) * G;
    float* __restrict d0 = dgates + (t * B + b) * G;
    const float* __restrict tcRow = tanhC + prev + b * H;
    const float* __restrict cPrev = cs + prev + b * H;
    const float* __restrict dhRow = dhs + prev + b * H;
    const float* __restrict dhN = dhNext + b * H;
    float* __restrict dcN = dcNext + b * H;
#pragma GCC ivdep
    for (long j = j0; j < j1; j++) {
      const float i = g0[j], f = g0[H + j], g = g0[2 * H + j], o = g0[3 * H + j], tc = tcRow[j];
      // dh = dh from above + dh from step t+1
      const float dh = dhRow[j] + dhN[j];
      // dc += dh * o * (1 - tanh(c)^2)
      const float dc = dcN[j] + dh * o * (1.0f - tc * tc);
      d0[j] = dc * g * i * (1.0f - i);
      d0[H + j] = dc * cPrev[j] * f * (1.0f - f);
      d0[2 * H + j] = dc * i * (1.0f - g * g);
      d0[3 * H + j] = dh * tc * o * (1.0f - o);
      // dc_{t-1} = dc * f
      dcN[j] = dc * f;
    }
  }
}

static void rnnForwardStep(float* hs, float* gates, long B, long H, long t, long b0, long b1, long j0, long j1) {
  for (long b = b0; b < b1; b++) {
    float* __restrict a = gates + (t * B + b) * H;
    float* __restrict h = hs + ((t + 1) * B + b) * H;
    for (long j = j0; j < j1; j++) {
      const float v = tanhf_(a[j]);
      a[j] = v;
      h[j] = v;
    }
  }
}

static void rnnBackwardStep(float* dgates, const float* gates, const float* dhs, const float* dhNext, long B, long H, long t,
                            long b0, long b1, long j0, long j1) {
  for (long b = b0; b < b1; b++) {
    const long off = (t * B + b) * H;
    float* __restrict d = dgates + off;
    const float* __restrict h = gates + off;
    const float* __restrict dh = dhs + off;
    const float* __restrict dn = dhNext + b * H;
    // da = (dh from above + dh from t+1) ⊙ (1 - h²)
    for (long j = j0; j < j1; j++) d[j] = (dh[j] + dn[j]) * (1.0f - h[j] * h[j]);
  }
}

static void gruForwardStep(float* hs, float* hn, float* gates, const float* hProj, const float* bhn, long B, long H, long t,
                           long b0, long b1, long j0, long j1) {
  const long G = 3 * H, prev = t * B * H, next = prev + B * H;
  for (long b = b0; b < b1; b++) {
    float* __restrict g0 = gates + (t * B + b) * G;
    const float* __restrict p0 = hProj + b * G;
    float* __restrict hnRow = hn + prev + b * H;
    const float* __restrict hPrev = hs + prev + b * H;
    float* __restrict hNext = hs + next + b * H;
#pragma GCC ivdep
    for (long j = j0; j < j1; j++) {
      const float r = sigmoidf_(g0[j] + p0[j]);
      const float z = sigmoidf_(g0[H + j] + p0[H + j]);
      const float hnj = p0[2 * H + j] + bhn[j];
      const float n = tanhf_(g0[2 * H + j] + r * hnj);
      g0[j] = r; g0[H + j] = z; g0[2 * H + j] = n;
      hnRow[j] = hnj;
      hNext[j] = (1.0f - z) * n + z * hPrev[j];
    }
  }
}

static void gruBackwardStep(float* dgates, float* dgatesH, float* dbhn, float* dhNext, const float* gates, const float* hs,
                            const float* hn, const float* dhs, long B, long H, long t, long b0, long b1, long j0, long j1) {
  const long G = 3 * H, prev = t * B * H;
  for (long b = b0; b < b1; b++) {
    const float* __restrict g0 = gates + (t * B + b) * G;
    float* __restrict d0 = dgates + (t * B + b) * G;
    float* __restrict dH0 = dgatesH + (t * B + b) * G;
    const float* __restrict hPrevRow = hs + prev + b * H;
    const float* __restrict hnRow = hn + prev + b * H;
    const float* __restrict dhRow = dhs + prev + b * H;
    float* __restrict dhN = dhNext + b * H;
    float* __restrict db = dbhn;
#pragma GCC ivdep
    for (long j = j0; j < j1; j++) {
      const float r = g0[j], z = g0[H + j], n = g0[2 * H + j];
      const float dh = dhRow[j] + dhN[j];
      // dn = dh * (1 - z), through tanh; dz = dh * (h_{t-1} - n), through σ; dr = dan * (h·Wh_n + bhn), through σ
      const float dan = dh * (1.0f - z) * (1.0f - n * n);
      const float daz = dh * (hPrevRow[j] - n) * z * (1.0f - z);
      const float dar = dan * hnRow[j] * r * (1.0f - r);
      d0[j] = dar; d0[H + j] = daz; d0[2 * H + j] = dan;
      dH0[j] = dar; dH0[H + j] = daz; dH0[2 * H + j] = dan * r;
      db[j] += dan * r;
      // direct path: dh_{t-1} = dh * z (the matrix path is added by the caller)
      dhN[j] = dh * z;
    }
  }
}

// --- rows -----------------------------------------------------------------------------------------------------

static void embedRows(float* out, long N, long G, const int32_t* ids, const float* W, const float* bias) {
  for (long r = 0; r < N; r++) {
    const float* __restrict src = W + long(ids[r]) * G;
    float* __restrict dst = out + r * G;
    for (long j = 0; j < G; j++) dst[j] = src[j] + bias[j];
  }
}

static void addBiasRows(float* out, long N, long G, const float* bias) {
  for (long r = 0; r < N; r++) {
    float* __restrict dst = out + r * G;
    for (long j = 0; j < G; j++) dst[j] += bias[j];
  }
}

static void sumRows(float* dbias, const float* dout, long N, long G) {
  for (long r = 0; r < N; r++) {
    const float* __restrict src = dout + r * G;
    float* __restrict dst = dbias;
    for (long j = 0; j < G; j++) dst[j] += src[j];
  }
}

static void scatterAddRows(float* dW, const int32_t* ids, const float* dout, long N, long G) {
  for (long r = 0; r < N; r++) {
    float* __restrict dst = dW + long(ids[r]) * G;
    const float* __restrict src = dout + r * G;
    for (long j = 0; j < G; j++) dst[j] += src[j];
  }
}

static void multiplyInPlace(float* a, const float* m, long n) {
  float* __restrict x = a;
  const float* __restrict y = m;
  for (long e = 0; e < n; e++) x[e] *= y[e];
}

static void addInPlace(float* out, const float* x, long n) {
  // out and x may be the same array (out += out): no __restrict here
  for (long e = 0; e < n; e++) out[e] += x[e];
}

// --- softmax cross-entropy ------------------------------------------------------------------------------------

static double softmaxCrossEntropy(float* logits, const int32_t* targets, long N, long V) {
  double total = 0;
  for (long r = 0; r < N; r++) {
    float* __restrict row = logits + r * V;
    float max = -INFINITY;
    for (long v = 0; v < V; v++) max = row[v] > max ? row[v] : max;
    for (long v = 0; v < V; v++) row[v] = expf_(row[v] - max);
    double sum = 0;
    for (long v = 0; v < V; v++) sum += row[v];
    const float inv = float(1.0 / sum);
    for (long v = 0; v < V; v++) row[v] *= inv;
    // -log p(target), guarded against a probability that underflowed to 0
    const double p = row[targets[r]];
    total -= std::log(p > 5e-324 ? p : 5e-324);
  }
  return total;
}

static void softmaxCrossEntropyBackward(float* logits, const int32_t* targets, long N, long V, float scale) {
  for (long r = 0; r < N; r++) {
    float* __restrict row = logits + r * V;
    row[targets[r]] -= 1.0f;
    for (long v = 0; v < V; v++) row[v] *= scale;
  }
}


// --- the sampler's weights (float64) ----------------------------------------------------------------------------
//
// exp64 is the exponential of fdlibm's e_exp.c, the one V8 computes Math.exp with (src/base/ieee754.cc): the same
// reduction x = k·ln2 + r, the same constants and the same operations in the same order, so every result is
// Math.exp's to the bit and a sample drawn from these weights is the one the page draws from Math.exp's
// (test/kernels-native.test.ts compares them over millions of arguments). Its constants are fdlibm's:
//   Copyright (C) 1993 by Sun Microsystems, Inc. All rights reserved. Developed at SunSoft, a Sun Microsystems,
//   Inc. business. Permission to use, copy, modify, and distribute this software is freely granted, provided that
//   this notice is preserved.
// expRow64 runs the common arguments (±0 and 2^-28 ≤ |x| < 704, x ≠ 1) through one branch-free form of the
// operations, which the compiler vectorizes, and sends the rest (tiny, huge, NaN, ±∞, 1) to exp64. The branch-free
// form is exp64's for those arguments: without reduction (|x| ≤ ln2/2) it uses k = 0, where hi = x − 0·ln2hi = x and lo = 0 and
// 1 − ((0 − x·c/(2 − c)) − x) is fdlibm's 1 − (x·c/(c − 2) − x) exactly (IEEE negation is exact); for
// ln2/2 < |x| < 1.5·ln2, fdlibm's separate branch gives the k = ±1 and hi, lo the general one gives.

constexpr double EXP_LN2_HI = 6.93147180369123816490e-01, EXP_LN2_LO = 1.90821492927058770002e-10;
constexpr double EXP_INV_LN2 = 1.44269504088896338700e+00;
constexpr double EXP_P1 = 1.66666666666666019037e-01, EXP_P2 = -2.77777777770155933842e-03,
                 EXP_P3 = 6.61375632143793436117e-05, EXP_P4 = -1.65339022054652515390e-06,
                 EXP_P5 = 4.13813679705723846039e-08;

static double exp64(double x) {
  const uint64_t bits = __builtin_bit_cast(uint64_t, x);
  const uint32_t hx = uint32_t(bits >> 32) & 0x7FFFFFFFu;
  const bool negative = (bits >> 63) != 0;
  if (hx >= 0x40862E42u) {  // |x| ≥ 709.78…: NaN, ±∞, overflow, underflow
    if (hx >= 0x7FF00000u) {
      if (((hx & 0xFFFFFu) | uint32_t(bits)) != 0) return x + x;  // NaN
      return negative ? 0.0 : x;
    }
    if (x > 7.09782712893383973096e+02) return INFINITY;
    if (x < -7.45133219101941108420e+02) return 0.0;
  }
  double hi = 0.0, lo = 0.0;
  int32_t k = 0;
  if (hx > 0x3FD62E42u) {  // |x| > ln2/2
    if (hx < 0x3FF0A2B2u) {  // and < 1.5·ln2
      if (x == 1.0) return 2.718281828459045;
      hi = negative ? x + EXP_LN2_HI : x - EXP_LN2_HI;
      lo = negative ? -EXP_LN2_LO : EXP_LN2_LO;
      k = negative ? -1 : 1;
    } else {
      k = int32_t(EXP_INV_LN2 * x + (negative ? -0.5 : 0.5));
      const double t = k;
      hi = x - t * EXP_LN2_HI;
      lo = t * EXP_LN2_LO;
    }
    x = hi - lo;
  } else if (hx < 0x3E300000u) {  // |x| < 2^-28
    return 1.0 + x;
  }
  const double t = x * x;
  const double c = x - t * (EXP_P1 + t * (EXP_P2 + t * (EXP_P3 + t * (EXP_P4 + t * EXP_P5))));
  if (k == 0) return 1.0 - ((x * c) / (c - 2.0) - x);
  const double y = 1.0 - ((lo - (x * c) / (2.0 - c)) - hi);
  if (k >= -1021) {
    if (k == 1024) return y * 2.0 * 8.988465674311579539e307;
    return y * __builtin_bit_cast(double, uint64_t(int64_t(k) + 1023) << 52);
  }
  return y * __builtin_bit_cast(double, uint64_t(int64_t(k) + 1000 + 1023) << 52) * 9.33263618503218878990e-302;
}

// ±0 is a fast lane too (every row of the sampler has one, its largest logit): fdlibm's 1 + x is 1, and so is the
// branch-free form (k = 0, r = 0, c = 0, y = 1 − ((0 − 0) − 0))
static inline bool expFastLane(double x) {
  const uint32_t hx = uint32_t(__builtin_bit_cast(uint64_t, x) >> 32) & 0x7FFFFFFFu;
  return bool((int(x == 0.0) | int(hx >= 0x3E300000u)) & int(hx < 0x40860000u) & int(x != 1.0));
}

static inline double blend64(bool c, double a, double b) {  // blend's double twin
  const uint64_t m = 0ull - uint64_t(c);
  return __builtin_bit_cast(double, (__builtin_bit_cast(uint64_t, a) & m) | (__builtin_bit_cast(uint64_t, b) & ~m));
}

/** out[i] = exp64(x[i]) for i < n. */
static void expRow64(double* __restrict out, const double* __restrict x, long n) {
  int slow = 0;
  for (long i = 0; i < n; i++) {
    const double xi = x[i];
    const uint32_t hx = uint32_t(__builtin_bit_cast(uint64_t, xi) >> 32) & 0x7FFFFFFFu;
    slow |= int(!expFastLane(xi));
    // lanes outside the fast range compute garbage here and are redone below; 0 keeps their conversion defined
    const double xc = blend64(hx < 0x40860000u, xi, 0.0);
    const int32_t reduced = int32_t(EXP_INV_LN2 * xc + __builtin_copysign(0.5, xc));
    const int32_t k = reduced & -int32_t(hx > 0x3FD62E42u);
    const double t = k;
    const double hi = xc - t * EXP_LN2_HI;
    const double lo = t * EXP_LN2_LO;
    const double r = hi - lo;
    const double rr = r * r;
    const double c = r - rr * (EXP_P1 + rr * (EXP_P2 + rr * (EXP_P3 + rr * (EXP_P4 + rr * EXP_P5))));
    const double y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi);
    out[i] = y * __builtin_bit_cast(double, uint64_t(int64_t(k) + 1023) << 52);
  }
  if (!slow) return;
  for (long i = 0; i < n; i++) {
    if (!expFastLane(x[i])) out[i] = exp64(x[i]);
  }
}

/** The k-th largest (1 ≤ k ≤ n) of x[0 … n), no NaN among them: a quickselect, reordering x. */
static double kthLargest(double* x, long n, long k) {
  long lo = 0, hi = n - 1;
  const long want = k - 1;
  while (lo < hi) {
    const double pivot = x[lo + (hi - lo) / 2];
    long i = lo, j = hi;
    while (i <= j) {  // descending: left of i ≥ pivot, right of j ≤ pivot
      while (x[i] > pivot) i++;
      while (x[j] < pivot) j--;
      if (i <= j) {
        const double t = x[i];
        x[i] = x[j];
        x[j] = t;
        i++;
        j--;
      }
    }
    if (want <= j) hi = j;
    else if (want >= i) lo = i;
    else return x[want];  // between j and i every value is the pivot
  }
  return x[lo];
}

/** sample.ts NUCLEUS_SLACK: the nucleus may fall short of p by this share of the sum. */
constexpr double NUCLEUS_SLACK = 1e-6;

/**
 * sample.ts keepNucleus: zeroes every weight outside the smallest set of the largest (ties: lower id first) whose
 * sum reaches topP of `sum`, returning the set's sum, added up largest first as keepNucleus adds it. The order is
 * total, so taking the weights off a heap gives keepNucleus's sorted order and its sum to the bit.
 */
static double keepNucleus(double* p, long V, double sum, double topP, int32_t* heap) {
  const auto before = [p](int32_t a, int32_t b) { return p[a] > p[b] || (p[a] == p[b] && a < b); };
  const auto siftDown = [&](long i, long n) {
    for (;;) {
      const long l = 2 * i + 1, r = l + 1;
      long top = i;
      if (l < n && before(heap[l], heap[top])) top = l;
      if (r < n && before(heap[r], heap[top])) top = r;
      if (top == i) return;
      const int32_t t = heap[i];
      heap[i] = heap[top];
      heap[top] = t;
      i = top;
    }
  };
  for (long v = 0; v < V; v++) heap[v] = int32_t(v);
  for (long i = V / 2 - 1; i >= 0; i--) siftDown(i, V);
  const double target = topP * sum * (1.0 - NUCLEUS_SLACK);
  double kept = 0.0;
  long n = V;
  while (n > 0 && kept < target && p[heap[0]] > 0.0) {
    kept += p[heap[0]];
    heap[0] = heap[--n];
    siftDown(0, n);
  }
  for (long i = 0; i < n; i++) p[heap[i]] = 0.0;
  return kept;
}

/**
 * The sampler's weights of `rows` rows of logits (rows × V), weigh's (src/core/sample.ts) for a temperature above 0
 * and top-k above 1: per row, best = the first argmax, max = its logit, probs[v] = exp((logit_v − max) / temperature)
 * for the topK largest logits (ties at the k-th all in; topK = V: all), then only the nucleus of topP (1: all);
 * sum = Σ probs in v order, or the nucleus's sum; with `scored` modelSum = Σ_v exp(logit_v − max) in v order (NaN
 * unscored). stats[4r …] = best, max, sum, modelSum; best = −1 for a row with a NaN logit under top-k or top-p,
 * whose sorts weigh defines only by its own sorting (the caller weighs such a row itself). Exactly weigh's float64
 * operations; x (V doubles) and order (V ints) are scratch.
 */
static void weighRows(const float* logits, long rows, long V, double temperature, long topK, double topP, bool scored,
                      double* probs, double* stats, double* x, int32_t* order) {
  for (long r = 0; r < rows; r++) {
    const float* __restrict row = logits + r * V;
    double* __restrict p = probs + r * V;
    if (topK < V || topP < 1.0) {
      bool nan = false;
      for (long v = 0; v < V; v++) nan |= row[v] != row[v];
      if (nan) {
        stats[4 * r] = -1.0;
        continue;
      }
    }
    long best = 0;
    for (long v = 1; v < V; v++) best = row[v] > row[best] ? v : best;
    const double max = row[best];
    double modelSum = NAN;
    if (scored) {
      for (long v = 0; v < V; v++) x[v] = double(row[v]) - max;
      expRow64(p, x, V);
      modelSum = 0.0;
      for (long v = 0; v < V; v++) modelSum += p[v];
    }
    if (!scored || temperature != 1.0) {
      for (long v = 0; v < V; v++) x[v] = (double(row[v]) - max) / temperature;
      expRow64(p, x, V);
    }
    // weigh keeps logit ≥ the k-th largest (−∞ without top-k: a NaN logit then gets weight 0)
    double threshold = -INFINITY;
    if (topK < V) {
      for (long v = 0; v < V; v++) x[v] = row[v];
      threshold = kthLargest(x, V, topK);
    }
    double sum = 0.0;
    for (long v = 0; v < V; v++) {
      if (!(row[v] >= threshold)) p[v] = 0.0;
      sum += p[v];
    }
    if (topP < 1.0) sum = keepNucleus(p, V, sum, topP, order);
    stats[4 * r] = double(best);
    stats[4 * r + 1] = max;
    stats[4 * r + 2] = sum;
    stats[4 * r + 3] = modelSum;
  }
}

}  // namespace CHARNN_NS

const Table CHARNN_TABLE = {
  CHARNN_NAME,
  CHARNN_NS::gemmPart,
  CHARNN_NS::packB,
  CHARNN_NS::lstmForwardStep,
  CHARNN_NS::lstmBackwardStep,
  CHARNN_NS::rnnForwardStep,
  CHARNN_NS::rnnBackwardStep,
  CHARNN_NS::gruForwardStep,
  CHARNN_NS::gruBackwardStep,
  CHARNN_NS::embedRows,
  CHARNN_NS::addBiasRows,
  CHARNN_NS::sumRows,
  CHARNN_NS::scatterAddRows,
  CHARNN_NS::multiplyInPlace,
  CHARNN_NS::addInPlace,
  CHARNN_NS::softmaxCrossEntropy,
  CHARNN_NS::softmaxCrossEntropyBackward,
  CHARNN_NS::expRow64,
  CHARNN_NS::weighRows,
};

}  // namespace charnn

#pragma GCC pop_options
