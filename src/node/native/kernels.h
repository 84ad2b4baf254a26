// The native kernel library's internal interface: one table of plain C++ functions per instruction set
// (isa-avx512.cc, isa-avx2.cc, isa-generic.cc compile kernels-impl.h three times with different target flags),
// chosen once at load time from what the CPU supports. addon.cc wraps a table for Node.
//
// GEMM: C[M×N] = (accumulate ? C : 0) + op(A)·op(B), row-major, with leading dimensions, as src/kernels/types.ts.
// op(B) is read through panels of PANEL consecutive columns (K×PANEL floats, row k of the panel at k·PANEL),
// packed per call from B, or once per pass by packB (gemmPacked). A part of a GEMM is a rectangle of C: rows
// [m0, m1), columns [n0, n1) with n0 on a panel boundary. Every element of C is summed in the same order
// (k = 0 … K-1, in blocks of KC, one fused multiply-add per k) whatever rectangle it falls in, so any split of C
// between threads gives the same bits as one thread.
//
// Exact mode (Gemm::exact): a separate multiply and add per k instead of the fused one, c = c + a·b from
// (accumulate ? C : +0) in k order, which is the order of the WebAssembly plain-SIMD kernels
// (src/core/kernels/assembly/gemm.ts): the same bits as they give, for any shape, so models in Node can sample on
// these kernels and still produce, seed for seed, the text the page makes. A few rows of a non-transposed product
// (the sampler's step) read B in place instead of packing it.
//
// Dimension legend for the cells: B batch streams, T time steps, H hidden size, G gate width (4H lstm [i f g o],
// 3H gru [r z n], H rnn), N rows (T·B), V vocabulary; buffers time-major (row t·B + b), as cells/workspace.ts.

#pragma once

#include <cstddef>
#include <cstdint>

namespace charnn {

constexpr int PANEL = 32;   // columns per packed panel of op(B)
constexpr int KC = 256;     // reduction block: one panel slice (KC×PANEL floats, 32 KB) stays in L1
constexpr int NC = 1024;    // columns of B packed at a time by an unpacked GEMM (KC×NC floats, 1 MB of scratch)
constexpr int MC = 120;     // rows of A swept against one panel slice before the next (A block ~120 KB, in L2)

/** Floats of per-thread scratch: the panels an unpacked GEMM packs B into, then an MC×KC block of A (gemmTN). */
constexpr size_t SCRATCH_B_FLOATS = size_t(KC) * NC;
constexpr size_t SCRATCH_FLOATS = SCRATCH_B_FLOATS + size_t(MC) * KC;

enum Form { FORM_NN = 0, FORM_NT = 1, FORM_TN = 2, FORM_PACKED = 3 };

struct Gemm {
  int form;
  long M, N, K;
  const float* A; long lda;
  const float* B; long ldb;  // FORM_PACKED: the packed panels (ldb unused)
  float* C; long ldc;
  bool accumulate;
  bool exact = false;  // separate multiply and add (see above), else fused
};

struct Table {
  const char* name;
  /** Computes rows [m0, m1), columns [n0, n1) of g; n0 is a multiple of PANEL. */
  void (*gemmPart)(const Gemm& g, long m0, long m1, long n0, long n1, float* scratch);
  /** dst = op(B) (K×N) as panels; W is K×N, or N×K when transposed. */
  void (*packB)(float* dst, const float* W, long K, long N, bool transposed);

  // cell steps over streams [b0, b1) and hidden units [j0, j1) (a thread's share; 0, B, 0, H for all)
  void (*lstmForwardStep)(float* hs, float* cs, float* tanhC, float* gates, long B, long H, long t, long b0, long b1, long j0, long j1);
  void (*lstmBackwardStep)(float* dgates, float* dcNext, const float* gates, const float* cs, const float* tanhC,
                           const float* dhs, const float* dhNext, long B, long H, long t, long b0, long b1, long j0, long j1);
  void (*rnnForwardStep)(float* hs, float* gates, long B, long H, long t, long b0, long b1, long j0, long j1);
  void (*rnnBackwardStep)(float* dgates, const float* gates, const float* dhs, const float* dhNext, long B, long H, long t,
                          long b0, long b1, long j0, long j1);
  void (*gruForwardStep)(float* hs, float* hn, float* gates, const float* hProj, const float* bhn, long B, long H, long t,
                         long b0, long b1, long j0, long j1);
  void (*gruBackwardStep)(float* dgates, float* dgatesH, float* dbhn, float* dhNext, const float* gates, const float* hs,
                          const float* hn, const float* dhs, long B, long H, long t, long b0, long b1, long j0, long j1);

  void (*embedRows)(float* out, long N, long G, const int32_t* ids, const float* W, const float* bias);
  void (*addBiasRows)(float* out, long N, long G, const float* bias);
  void (*sumRows)(float* dbias, const float* dout, long N, long G);
  void (*scatterAddRows)(float* dW, const int32_t* ids, const float* dout, long N, long G);
  void (*multiplyInPlace)(float* a, const float* m, long n);
  void (*addInPlace)(float* out, const float* x, long n);
  /** Rows become probabilities; returns Σ_r -log p[r, targets[r]] (float64). */
  double (*softmaxCrossEntropy)(float* logits, const int32_t* targets, long N, long V);
  void (*softmaxCrossEntropyBackward)(float* logits, const int32_t* targets, long N, long V, float scale);
  /** out[i] = e^x[i], Math.exp's bits (fdlibm's exp, as V8's). */
  void (*expRow64)(double* out, const double* x, long n);
  /** The sampler's weights of `rows` rows of logits: probs (rows × V) and stats (rows × 4); x, order: V of scratch. */
  void (*weighRows)(const float* logits, long rows, long V, double temperature, long topK, double topP, bool scored, double* probs,
                    double* stats, double* x, int32_t* order);
};

extern const Table avx512Table;
extern const Table avx2Table;
extern const Table genericTable;

/** Floats packB writes for a K×N op(B). */
inline size_t packedSize(long K, long N) {
  return size_t((N + PANEL - 1) / PANEL) * PANEL * size_t(K);
}

}  // namespace charnn
