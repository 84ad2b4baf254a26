// The N-API face of the native kernels (plain C N-API from Node's headers, no node-addon-api): a context holds one
// instruction set's kernel table, a thread pool and its scratch; every exported kernel takes the context first, then
// the arguments of the matching method of src/kernels/types.ts (typed arrays, offsets, leading dimensions). Each
// call checks that its arrays are Float32Array / Int32Array and that every element it touches lies inside them, as
// the WebAssembly backend does: O(1) per call (O(N) for id arrays), and a violation is a thrown RangeError, never a
// write outside an array. Loaded by src/node/native/index.ts.

#include <node_api.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "kernels.h"
#include "pool.h"

namespace charnn {
namespace {

/** Below this many flops a GEMM runs on the calling thread alone: a hand-off costs a few microseconds. */
constexpr double PARALLEL_MIN_FLOP = 1 << 20;

// Subnormal floats (below 1.2e-38) cost a microcode assist of ~100+ cycles per operation on x86. Training meets
// them: a saturated gate (σ of a pre-activation below -87 is ~6e-39) makes whole columns of dgates subnormal, and
// dW = hᵀ·dgates then ran 30× slower (3×512 LSTM on tiny-shakespeare: gemmTN 12.4 s of a 14.3 s step). With
// `flushSubnormals` every kernel call runs with flush-to-zero and denormals-are-zero on, as PyTorch does after
// torch.set_flush_denormal(True); the caller's mode is restored on return (JavaScript's arithmetic keeps IEEE
// subnormals), and the helper threads keep the mode for their life.
struct Context {
  const Table* table;
  Pool pool;
  bool splitColumns;          // split C by columns (panels) between threads, else by rows
  bool flushSubnormals;
  bool exact;                 // GEMMs with a separate multiply and add (kernels.h)
  std::vector<float*> scratch;  // one packing area per thread
  Context(const Table* t, int threads, bool adaptive, bool columns, bool flush, bool exactGemm)
      : table(t), pool(threads, adaptive, flush), splitColumns(columns), flushSubnormals(flush), exact(exactGemm) {
    for (int i = 0; i < threads; i++) {
      scratch.push_back(static_cast<float*>(std::aligned_alloc(64, SCRATCH_FLOATS * sizeof(float))));
    }
  }
  ~Context() {
    for (float* s : scratch) std::free(s);
  }
};

const Table* tableNamed(const std::string& name) {
#if defined(__x86_64__)
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
                      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
  if (name == "avx512") return avx512 ? &avx512Table : nullptr;
  if (name == "avx2") return avx2 ? &avx2Table : nullptr;
#endif
  if (name == "scalar") return &genericTable;
  return nullptr;
}

// --- argument reading: each returns false after throwing a JS error -------------------------------------------

bool fail(napi_env env, const char* message, bool range = true) {
  if (range) napi_throw_range_error(env, nullptr, message);
  else napi_throw_type_error(env, nullptr, message);
  return false;
}

struct F32 {
  float* data = nullptr;
  size_t length = 0;
};

struct I32 {
  int32_t* data = nullptr;
  size_t length = 0;
};

struct F64 {
  double* data = nullptr;
  size_t length = 0;
};

// A typed array argument of the expected element type, or a thrown JavaScript error naming the argument.
template <typename View, typename Element>
bool readTyped(napi_env env, napi_value v, const char* what, napi_typedarray_type want, const char* kind, View* out) {
  bool is = false;
  napi_is_typedarray(env, v, &is);
  napi_typedarray_type type;
  void* data = nullptr;
  size_t length = 0;
  if (is) napi_get_typedarray_info(env, v, &type, &length, &data, nullptr, nullptr);
  if (!is || type != want) {
    std::string message = std::string("native kernels: ") + what + " is not " + kind;
    return fail(env, message.c_str(), false);
  }
  out->data = static_cast<Element*>(data);
  out->length = length;
  return true;
}

bool readF32(napi_env env, napi_value v, const char* what, F32* out) {
  return readTyped<F32, float>(env, v, what, napi_float32_array, "a Float32Array", out);
}

bool readI32(napi_env env, napi_value v, const char* what, I32* out) {
  return readTyped<I32, int32_t>(env, v, what, napi_int32_array, "an Int32Array", out);
}

bool readF64(napi_env env, napi_value v, const char* what, F64* out) {
  return readTyped<F64, double>(env, v, what, napi_float64_array, "a Float64Array", out);
}

bool readLong(napi_env env, napi_value v, const char* what, long* out) {
  int64_t value = 0;
  double check = 0;
  if (napi_get_value_double(env, v, &check) != napi_ok || !(check >= 0 && check <= 9007199254740991.0) ||
      check != static_cast<double>(static_cast<int64_t>(check))) {
    std::string message = std::string("native kernels: ") + what + " must be a non-negative integer";
    return fail(env, message.c_str());
  }
  napi_get_value_int64(env, v, &value);
  *out = static_cast<long>(value);
  return true;
}

bool readBool(napi_env env, napi_value v, bool* out) {
  return napi_get_value_bool(env, v, out) == napi_ok || fail(env, "native kernels: expected a boolean", false);
}

/** Elements first … last (inclusive) must lie inside the array; an empty range (last < first) always does. */
bool inside(napi_env env, size_t length, long first, long last, const char* what) {
  if (last < first || (first >= 0 && static_cast<size_t>(last) < length)) return true;
  char message[200];
  std::snprintf(message, sizeof message, "native kernels: %s (elements %ld … %ld) lies outside its %zu-element buffer",
                what, first, last, length);
  return fail(env, message);
}

bool idsInRange(napi_env env, const I32& ids, long n, long limit, const char* what) {
  if (!inside(env, ids.length, 0, n - 1, what)) return false;
  for (long r = 0; r < n; r++) {
    if (ids.data[r] < 0 || ids.data[r] >= limit) {
      char message[160];
      std::snprintf(message, sizeof message, "native kernels: %s[%ld] = %d is outside 0 … %ld", what, r, ids.data[r], limit - 1);
      return fail(env, message);
    }
  }
  return true;
}

/** Sets flush-to-zero / denormals-are-zero for the life of a kernel call when asked, restoring the caller's mode. */
struct FlushGuard {
#if defined(__x86_64__) || defined(__i386__)
  unsigned saved = 0;
  bool active = false;
  void enable() {
    saved = _mm_getcsr();
    _mm_setcsr(saved | FLUSH_BITS);
    active = true;
  }
  ~FlushGuard() {
    if (active) _mm_setcsr(saved);
  }
#else
  void enable() {}
#endif
};

/** IEEE subnormals (flush-to-zero and denormals-are-zero off) for the life of a call that must match JavaScript's doubles. */
struct IeeeGuard {
#if defined(__x86_64__) || defined(__i386__)
  unsigned saved = _mm_getcsr();
  IeeeGuard() { _mm_setcsr(saved & ~FLUSH_BITS); }
  ~IeeeGuard() { _mm_setcsr(saved); }
#endif
};

struct Call {
  napi_env env;
  napi_value argv[16];
  size_t argc = 16;
  Context* context = nullptr;
  FlushGuard flush;

  Call(napi_env e, napi_callback_info info, size_t expected) : env(e) {
    napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
    if (argc < expected) {
      fail(env, "native kernels: too few arguments", false);
      return;
    }
    void* data = nullptr;
    if (napi_get_value_external(env, argv[0], &data) != napi_ok) {
      fail(env, "native kernels: the first argument is not a kernel context", false);
      return;
    }
    context = static_cast<Context*>(data);
    if (context->flushSubnormals) flush.enable();
  }
  bool ok() const { return context != nullptr; }
  bool f32(size_t i, const char* what, F32* out) { return readF32(env, argv[i], what, out); }
  bool i32(size_t i, const char* what, I32* out) { return readI32(env, argv[i], what, out); }
  bool f64(size_t i, const char* what, F64* out) { return readF64(env, argv[i], what, out); }
  bool num(size_t i, const char* what, long* out) { return readLong(env, argv[i], what, out); }
  bool flag(size_t i, bool* out) { return readBool(env, argv[i], out); }
};

napi_value undefinedValue(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

// --- GEMM -----------------------------------------------------------------------------------------------------

// A GEMM on several threads is cut into units: groups of panels (columns split, the default) or of rows. Thread p
// owns a contiguous range of units and works through it from the front, so on a quiet machine each core keeps
// touching the same columns of the weights, step after step; a thread that runs out takes units from the back of
// another's range, so a helper that lost its core to another process delays the GEMM by at most the unit it holds.
// Which thread computes a unit never changes its bits (kernels.h).

/** Units per thread of a split GEMM: enough to rebalance, few enough that each is tens of microseconds. */
constexpr long UNITS_PER_THREAD = 8;
/** A row unit is at least this tall, so the micro-kernels still run full row blocks. */
constexpr long MIN_UNIT_ROWS = 12;
constexpr int MAX_PARTS = 64;

/** A range of units [front, back) claimed from both ends: front << 32 | back in one atomic word. */
struct UnitRange {
  std::atomic<uint64_t> word{0};
  void set(uint32_t front, uint32_t back) { word.store(uint64_t(front) << 32 | back, std::memory_order_relaxed); }
  long claim(bool fromFront) {
    uint64_t v = word.load(std::memory_order_relaxed);
    for (;;) {
      const uint32_t front = uint32_t(v >> 32), back = uint32_t(v);
      if (front >= back) return -1;
      const uint64_t next = fromFront ? uint64_t(front + 1) << 32 | back : uint64_t(front) << 32 | (back - 1);
      if (word.compare_exchange_weak(v, next, std::memory_order_relaxed)) return fromFront ? front : back - 1;
    }
  }
};

struct GemmJob {
  const Table* table = nullptr;
  Gemm g{};
  std::vector<float*>* scratch = nullptr;
  bool columns = true;
  long unit = 0;  // panels (columns split) or rows per unit
  UnitRange ranges[MAX_PARTS];
};

void gemmUnit(const GemmJob& job, long u, float* scratch) {
  const Gemm& g = job.g;
  if (job.columns) {
    const long n0 = u * job.unit * PANEL, n1 = std::min(g.N, (u + 1) * job.unit * PANEL);
    job.table->gemmPart(g, 0, g.M, n0, n1, scratch);
  } else {
    job.table->gemmPart(g, u * job.unit, std::min(g.M, (u + 1) * job.unit), 0, g.N, scratch);
  }
}

void gemmJob(void* context, int part, int parts) {
  GemmJob& job = *static_cast<GemmJob*>(context);
  float* scratch = (*job.scratch)[part];
  for (long u; (u = job.ranges[part].claim(true)) >= 0;) gemmUnit(job, u, scratch);
  for (int o = 1; o < parts; o++) {
    UnitRange& other = job.ranges[(part + o) % parts];
    for (long u; (u = other.claim(false)) >= 0;) gemmUnit(job, u, scratch);
  }
}

void runGemm(Context& c, const Gemm& g) {
  if (g.M == 0 || g.N == 0) return;
  GemmJob job;
  job.table = c.table;
  job.g = g;
  job.g.exact = c.exact;
  job.scratch = &c.scratch;
  const double flops = 2.0 * double(g.M) * double(g.N) * double(g.K);
  if (c.pool.threads() == 1 || flops < PARALLEL_MIN_FLOP) return c.table->gemmPart(job.g, 0, g.M, 0, g.N, c.scratch[0]);
  // the probe pairs GEMMs of one shape (pool.h); a collision of two shapes' keys only blurs one measurement
  const uint64_t shape = (uint64_t(g.form) << 60) ^ (uint64_t(g.M) << 40) ^ (uint64_t(g.N) << 20) ^ uint64_t(g.K);
  int parts = std::min(c.pool.partsForBigJob(shape), MAX_PARTS);
  const long panels = (g.N + PANEL - 1) / PANEL;
  // columns need at least two panels per thread to balance (a 65-wide output is 3 panels: split its rows)
  job.columns = c.splitColumns && panels >= 2 * parts;
  long units;
  if (job.columns) {
    units = std::min(panels, UNITS_PER_THREAD * parts);
    job.unit = (panels + units - 1) / units;
    units = (panels + job.unit - 1) / job.unit;
  } else {
    job.unit = std::max(MIN_UNIT_ROWS, (g.M + UNITS_PER_THREAD * parts - 1) / (UNITS_PER_THREAD * parts));
    units = (g.M + job.unit - 1) / job.unit;
  }
  if (units < parts) parts = int(units);
  for (int p = 0; p < parts; p++) job.ranges[p].set(uint32_t(units * p / parts), uint32_t(units * (p + 1) / parts));
  const int64_t started = Pool::nowNs();
  c.pool.run(parts, gemmJob, &job);
  c.pool.recordBigJob(shape, parts, Pool::nowNs() - started);
}

// gemm(ctx, form, M, N, K, A, aOff, lda, B, bOff, ldb, C, cOff, ldc, accumulate)
napi_value Gemm_(napi_env env, napi_callback_info info) {
  Call call(env, info, 15);
  if (!call.ok()) return nullptr;
  long form, M, N, K, aOff, lda, bOff, ldb, cOff, ldc;
  F32 A, B, C;
  bool accumulate;
  if (!call.num(1, "form", &form) || !call.num(2, "M", &M) || !call.num(3, "N", &N) || !call.num(4, "K", &K) ||
      !call.f32(5, "A", &A) || !call.num(6, "aOff", &aOff) || !call.num(7, "lda", &lda) ||
      !call.f32(8, "B", &B) || !call.num(9, "bOff", &bOff) || !call.num(10, "ldb", &ldb) ||
      !call.f32(11, "C", &C) || !call.num(12, "cOff", &cOff) || !call.num(13, "ldc", &ldc) || !call.flag(14, &accumulate)) {
    return nullptr;
  }
  if (form > FORM_TN) return fail(env, "native kernels: unknown GEMM form"), nullptr;
  if (M == 0 || N == 0) return undefinedValue(env);
  const bool transA = form == FORM_TN, transB = form == FORM_NT;
  if (!inside(env, C.length, cOff, cOff + (M - 1) * ldc + N - 1, "C")) return nullptr;
  if (K > 0) {
    // element (i, k) of A is A[aOff + i·lda + k], or A[aOff + k·lda + i] when transposed; likewise B
    if (!inside(env, A.length, aOff, transA ? aOff + (K - 1) * lda + M - 1 : aOff + (M - 1) * lda + K - 1, "A") ||
        !inside(env, B.length, bOff, transB ? bOff + (N - 1) * ldb + K - 1 : bOff + (K - 1) * ldb + N - 1, "B")) {
      return nullptr;
    }
  }
  runGemm(*call.context, Gemm{int(form), M, N, K, A.data + aOff, lda, B.data + bOff, ldb, C.data + cOff, ldc, accumulate});
  return undefinedValue(env);
}

// gemmPacked(ctx, M, N, K, A, aOff, lda, packed, C, cOff, ldc, accumulate)
napi_value GemmPacked(napi_env env, napi_callback_info info) {
  Call call(env, info, 12);
  if (!call.ok()) return nullptr;
  long M, N, K, aOff, lda, cOff, ldc;
  F32 A, P, C;
  bool accumulate;
  if (!call.num(1, "M", &M) || !call.num(2, "N", &N) || !call.num(3, "K", &K) || !call.f32(4, "A", &A) ||
      !call.num(5, "aOff", &aOff) || !call.num(6, "lda", &lda) || !call.f32(7, "packed", &P) || !call.f32(8, "C", &C) ||
      !call.num(9, "cOff", &cOff) || !call.num(10, "ldc", &ldc) || !call.flag(11, &accumulate)) {
    return nullptr;
  }
  if (M == 0 || N == 0) return undefinedValue(env);
  if (!inside(env, C.length, cOff, cOff + (M - 1) * ldc + N - 1, "C")) return nullptr;
  if (K > 0 && (!inside(env, A.length, aOff, aOff + (M - 1) * lda + K - 1, "A") ||
                !inside(env, P.length, 0, long(packedSize(K, N)) - 1, "packed"))) {
    return nullptr;
  }
  runGemm(*call.context, Gemm{FORM_PACKED, M, N, K, A.data + aOff, lda, P.data, 0, C.data + cOff, ldc, accumulate});
  return undefinedValue(env);
}

// packB(ctx, dst, W, K, N, transposed)
napi_value PackB(napi_env env, napi_callback_info info) {
  Call call(env, info, 6);
  if (!call.ok()) return nullptr;
  F32 dst, W;
  long K, N;
  bool transposed;
  if (!call.f32(1, "packed", &dst) || !call.f32(2, "W", &W) || !call.num(3, "K", &K) || !call.num(4, "N", &N) ||
      !call.flag(5, &transposed)) {
    return nullptr;
  }
  if (K == 0 || N == 0) return undefinedValue(env);
  if (!inside(env, dst.length, 0, long(packedSize(K, N)) - 1, "packed") || !inside(env, W.length, 0, K * N - 1, "W")) return nullptr;
  call.context->table->packB(dst.data, W.data, K, N, transposed);
  return undefinedValue(env);
}

// --- cells ----------------------------------------------------------------------------------------------------
//
// A step big enough to pay for the hand-off is split between the threads: by ranges of streams (rows) when there
// are enough of them, else by ranges of hidden units (multiples of 16, a vector). Every element is computed by the
// same code whichever thread has it, so the bits do not depend on the thread count or the split. By rows, each
// thread reads and writes whole rows, one block of memory; by units, two threads write alternate pieces of every
// row, and the cache lines (and the neighbours the prefetcher fetches with them) pass between the cores: an LSTM
// step of 128 or 200 streams × 128 units took longer on 2 threads split by units than on 1 (59 µs against 50
// at B 128, Zen 5) and 0.58 of 1 thread's time split by rows. gru's backward step sums dbhn[j] over the streams
// in order, so it splits by units only.

/** Below this many elements (B·H) a cell step runs on the calling thread alone. */
constexpr long CELL_PARALLEL_MIN = 4096;
/** Streams per thread from which a cell step is split by rows. */
constexpr long CELL_MIN_ROWS_PER_PART = 2;

template <typename Body>
void runCells(Context& c, long B, long H, bool byRows, const Body& body) {
  const int parts = c.pool.threads() > 1 && B * H >= CELL_PARALLEL_MIN && H >= 32 ? c.pool.active() : 1;
  if (parts == 1) return body(0, B, 0, H);
  struct Job { const Body* body; long B, H; bool rows; } job{&body, B, H, byRows && B >= CELL_MIN_ROWS_PER_PART * parts};
  c.pool.run(parts, [](void* context, int part, int parts) {
    const Job& j = *static_cast<const Job*>(context);
    if (j.rows) return (*j.body)(j.B * part / parts, j.B * (part + 1) / parts, 0, j.H);
    const auto bound = [&](int p) { return p == parts ? j.H : std::min(j.H, (j.H * p / parts + 8) / 16 * 16); };
    (*j.body)(0, j.B, bound(part), bound(part + 1));
  }, &job);
}

// lstmForwardStep(ctx, hs, cs, tanhC, gates, B, H, t)
napi_value LstmForwardStep(napi_env env, napi_callback_info info) {
  Call call(env, info, 8);
  if (!call.ok()) return nullptr;
  F32 hs, cs, tanhC, gates;
  long B, H, t;
  if (!call.f32(1, "hs", &hs) || !call.f32(2, "cs", &cs) || !call.f32(3, "tanhC", &tanhC) || !call.f32(4, "gates", &gates) ||
      !call.num(5, "B", &B) || !call.num(6, "H", &H) || !call.num(7, "t", &t)) {
    return nullptr;
  }
  const long n = B * H;
  if (!inside(env, hs.length, 0, (t + 2) * n - 1, "hs") || !inside(env, cs.length, 0, (t + 2) * n - 1, "cs") ||
      !inside(env, tanhC.length, 0, (t + 1) * n - 1, "tanhC") || !inside(env, gates.length, 0, (t + 1) * 4 * n - 1, "gates")) {
    return nullptr;
  }
  const Table* k = call.context->table;
  runCells(*call.context, B, H, true, [&](long b0, long b1, long j0, long j1) { k->lstmForwardStep(hs.data, cs.data, tanhC.data, gates.data, B, H, t, b0, b1, j0, j1); });
  return undefinedValue(env);
}

// lstmBackwardStep(ctx, dgates, dcNext, gates, cs, tanhC, dhs, dhNext, B, H, t)
napi_value LstmBackwardStep(napi_env env, napi_callback_info info) {
  Call call(env, info, 11);
  if (!call.ok()) return nullptr;
  F32 dgates, dcNext, gates, cs, tanhC, dhs, dhNext;
  long B, H, t;
  if (!call.f32(1, "dgates", &dgates) || !call.f32(2, "dcNext", &dcNext) || !call.f32(3, "gates", &gates) ||
      !call.f32(4, "cs", &cs) || !call.f32(5, "tanhC", &tanhC) || !call.f32(6, "dhs", &dhs) || !call.f32(7, "dhNext", &dhNext) ||
      !call.num(8, "B", &B) || !call.num(9, "H", &H) || !call.num(10, "t", &t)) {
    return nullptr;
  }
  const long n = B * H;
  if (!inside(env, dgates.length, 0, (t + 1) * 4 * n - 1, "dgates") || !inside(env, dcNext.length, 0, n - 1, "dcNext") ||
      !inside(env, gates.length, 0, (t + 1) * 4 * n - 1, "gates") || !inside(env, cs.length, 0, (t + 1) * n - 1, "cs") ||
      !inside(env, tanhC.length, 0, (t + 1) * n - 1, "tanhC") || !inside(env, dhs.length, 0, (t + 1) * n - 1, "dhs") ||
      !inside(env, dhNext.length, 0, n - 1, "dhNext")) {
    return nullptr;
  }
  const Table* k = call.context->table;
  runCells(*call.context, B, H, true, [&](long b0, long b1, long j0, long j1) {
    k->lstmBackwardStep(dgates.data, dcNext.data, gates.data, cs.data, tanhC.data, dhs.data, dhNext.data, B, H, t, b0, b1, j0, j1);
  });
  return undefinedValue(env);
}

// rnnForwardStep(ctx, hs, gates, B, H, t)
napi_value RnnForwardStep(napi_env env, napi_callback_info info) {
  Call call(env, info, 6);
  if (!call.ok()) return nullptr;
  F32 hs, gates;
  long B, H, t;
  if (!call.f32(1, "hs", &hs) || !call.f32(2, "gates", &gates) || !call.num(3, "B", &B) || !call.num(4, "H", &H) ||
      !call.num(5, "t", &t)) {
    return nullptr;
  }
  const long n = B * H;
  if (!inside(env, hs.length, 0, (t + 2) * n - 1, "hs") || !inside(env, gates.length, 0, (t + 1) * n - 1, "gates")) return nullptr;
  const Table* k = call.context->table;
  runCells(*call.context, B, H, true, [&](long b0, long b1, long j0, long j1) { k->rnnForwardStep(hs.data, gates.data, B, H, t, b0, b1, j0, j1); });
  return undefinedValue(env);
}

// rnnBackwardStep(ctx, dgates, gates, dhs, dhNext, B, H, t)
napi_value RnnBackwardStep(napi_env env, napi_callback_info info) {
  Call call(env, info, 8);
  if (!call.ok()) return nullptr;
  F32 dgates, gates, dhs, dhNext;
  long B, H, t;
  if (!call.f32(1, "dgates", &dgates) || !call.f32(2, "gates", &gates) || !call.f32(3, "dhs", &dhs) ||
      !call.f32(4, "dhNext", &dhNext) || !call.num(5, "B", &B) || !call.num(6, "H", &H) || !call.num(7, "t", &t)) {
    return nullptr;
  }
  const long n = B * H;
  if (!inside(env, dgates.length, 0, (t + 1) * n - 1, "dgates") || !inside(env, gates.length, 0, (t + 1) * n - 1, "gates") ||
      !inside(env, dhs.length, 0, (t + 1) * n - 1, "dhs") || !inside(env, dhNext.length, 0, n - 1, "dhNext")) {
    return nullptr;
  }
  const Table* k = call.context->table;
  runCells(*call.context, B, H, true, [&](long b0, long b1, long j0, long j1) { k->rnnBackwardStep(dgates.data, gates.data, dhs.data, dhNext.data, B, H, t, b0, b1, j0, j1); });
  return undefinedValue(env);
}

// gruForwardStep(ctx, hs, hn, gates, hProj, bhn, B, H, t)
napi_value GruForwardStep(napi_env env, napi_callback_info info) {
  Call call(env, info, 9);
  if (!call.ok()) return nullptr;
  F32 hs, hn, gates, hProj, bhn;
  long B, H, t;
  if (!call.f32(1, "hs", &hs) || !call.f32(2, "hn", &hn) || !call.f32(3, "gates", &gates) || !call.f32(4, "hProj", &hProj) ||
      !call.f32(5, "bhn", &bhn) || !call.num(6, "B", &B) || !call.num(7, "H", &H) || !call.num(8, "t", &t)) {
    return nullptr;
  }
  const long n = B * H;
  if (!inside(env, hs.length, 0, (t + 2) * n - 1, "hs") || !inside(env, hn.length, 0, (t + 1) * n - 1, "hn") ||
      !inside(env, gates.length, 0, (t + 1) * 3 * n - 1, "gates") || !inside(env, hProj.length, 0, 3 * n - 1, "hProj") ||
      !inside(env, bhn.length, 0, H - 1, "bhn")) {
    return nullptr;
  }
  const Table* k = call.context->table;
  runCells(*call.context, B, H, true, [&](long b0, long b1, long j0, long j1) { k->gruForwardStep(hs.data, hn.data, gates.data, hProj.data, bhn.data, B, H, t, b0, b1, j0, j1); });
  return undefinedValue(env);
}

// gruBackwardStep(ctx, dgates, dgatesH, dbhn, dhNext, gates, hs, hn, dhs, B, H, t)
napi_value GruBackwardStep(napi_env env, napi_callback_info info) {
  Call call(env, info, 12);
  if (!call.ok()) return nullptr;
  F32 dgates, dgatesH, dbhn, dhNext, gates, hs, hn, dhs;
  long B, H, t;
  if (!call.f32(1, "dgates", &dgates) || !call.f32(2, "dgatesH", &dgatesH) || !call.f32(3, "dbhn", &dbhn) ||
      !call.f32(4, "dhNext", &dhNext) || !call.f32(5, "gates", &gates) || !call.f32(6, "hs", &hs) || !call.f32(7, "hn", &hn) ||
      !call.f32(8, "dhs", &dhs) || !call.num(9, "B", &B) || !call.num(10, "H", &H) || !call.num(11, "t", &t)) {
    return nullptr;
  }
  const long n = B * H;
  if (!inside(env, dgates.length, 0, (t + 1) * 3 * n - 1, "dgates") || !inside(env, dgatesH.length, 0, (t + 1) * 3 * n - 1, "dgatesH") ||
      !inside(env, dbhn.length, 0, H - 1, "dbhn") || !inside(env, dhNext.length, 0, n - 1, "dhNext") ||
      !inside(env, gates.length, 0, (t + 1) * 3 * n - 1, "gates") || !inside(env, hs.length, 0, (t + 1) * n - 1, "hs") ||
      !inside(env, hn.length, 0, (t + 1) * n - 1, "hn") || !inside(env, dhs.length, 0, (t + 1) * n - 1, "dhs")) {
    return nullptr;
  }
  const Table* k = call.context->table;
  runCells(*call.context, B, H, false, [&](long b0, long b1, long j0, long j1) {
    k->gruBackwardStep(dgates.data, dgatesH.data, dbhn.data, dhNext.data, gates.data, hs.data, hn.data, dhs.data, B, H, t, b0, b1, j0, j1);
  });
  return undefinedValue(env);
}

// --- rows -----------------------------------------------------------------------------------------------------

// embedRows(ctx, out, N, G, ids, W, bias)
napi_value EmbedRows(napi_env env, napi_callback_info info) {
  Call call(env, info, 7);
  if (!call.ok()) return nullptr;
  F32 out, W, bias;
  I32 ids;
  long N, G;
  if (!call.f32(1, "out", &out) || !call.num(2, "N", &N) || !call.num(3, "G", &G) || !call.i32(4, "ids", &ids) ||
      !call.f32(5, "W", &W) || !call.f32(6, "bias", &bias)) {
    return nullptr;
  }
  if (N == 0 || G == 0) return undefinedValue(env);
  if (!inside(env, out.length, 0, N * G - 1, "out") || !inside(env, bias.length, 0, G - 1, "bias") ||
      !idsInRange(env, ids, N, long(W.length) / G, "ids")) {
    return nullptr;
  }
  call.context->table->embedRows(out.data, N, G, ids.data, W.data, bias.data);
  return undefinedValue(env);
}

// addBiasRows(ctx, out, N, G, bias)
napi_value AddBiasRows(napi_env env, napi_callback_info info) {
  Call call(env, info, 5);
  if (!call.ok()) return nullptr;
  F32 out, bias;
  long N, G;
  if (!call.f32(1, "out", &out) || !call.num(2, "N", &N) || !call.num(3, "G", &G) || !call.f32(4, "bias", &bias)) return nullptr;
  if (N == 0 || G == 0) return undefinedValue(env);
  if (!inside(env, out.length, 0, N * G - 1, "out") || !inside(env, bias.length, 0, G - 1, "bias")) return nullptr;
  call.context->table->addBiasRows(out.data, N, G, bias.data);
  return undefinedValue(env);
}

// sumRows(ctx, dbias, dout, N, G)
napi_value SumRows(napi_env env, napi_callback_info info) {
  Call call(env, info, 5);
  if (!call.ok()) return nullptr;
  F32 dbias, dout;
  long N, G;
  if (!call.f32(1, "dbias", &dbias) || !call.f32(2, "dout", &dout) || !call.num(3, "N", &N) || !call.num(4, "G", &G)) return nullptr;
  if (N == 0 || G == 0) return undefinedValue(env);
  if (!inside(env, dbias.length, 0, G - 1, "dbias") || !inside(env, dout.length, 0, N * G - 1, "dout")) return nullptr;
  call.context->table->sumRows(dbias.data, dout.data, N, G);
  return undefinedValue(env);
}

// scatterAddRows(ctx, dW, ids, dout, N, G)
napi_value ScatterAddRows(napi_env env, napi_callback_info info) {
  Call call(env, info, 6);
  if (!call.ok()) return nullptr;
  F32 dW, dout;
  I32 ids;
  long N, G;
  if (!call.f32(1, "dW", &dW) || !call.i32(2, "ids", &ids) || !call.f32(3, "dout", &dout) || !call.num(4, "N", &N) ||
      !call.num(5, "G", &G)) {
    return nullptr;
  }
  if (N == 0 || G == 0) return undefinedValue(env);
  if (!inside(env, dout.length, 0, N * G - 1, "dout") || !idsInRange(env, ids, N, long(dW.length) / G, "ids")) return nullptr;
  call.context->table->scatterAddRows(dW.data, ids.data, dout.data, N, G);
  return undefinedValue(env);
}

// multiplyInPlace(ctx, a, m, n) and addInPlace(ctx, out, x, n)
napi_value Elementwise(napi_env env, napi_callback_info info, bool multiply) {
  Call call(env, info, 4);
  if (!call.ok()) return nullptr;
  F32 a, b;
  long n;
  if (!call.f32(1, multiply ? "a" : "out", &a) || !call.f32(2, multiply ? "m" : "x", &b) || !call.num(3, "n", &n)) return nullptr;
  if (!inside(env, a.length, 0, n - 1, multiply ? "a" : "out") || !inside(env, b.length, 0, n - 1, multiply ? "m" : "x")) return nullptr;
  if (multiply) call.context->table->multiplyInPlace(a.data, b.data, n);
  else call.context->table->addInPlace(a.data, b.data, n);
  return undefinedValue(env);
}
napi_value MultiplyInPlace(napi_env env, napi_callback_info info) { return Elementwise(env, info, true); }
napi_value AddInPlace(napi_env env, napi_callback_info info) { return Elementwise(env, info, false); }

// --- softmax cross-entropy --------------------------------------------------------------------------------------

// softmaxCrossEntropy(ctx, logits, targets, N, V) → Σ -log p
napi_value SoftmaxCrossEntropy(napi_env env, napi_callback_info info) {
  Call call(env, info, 5);
  if (!call.ok()) return nullptr;
  F32 logits;
  I32 targets;
  long N, V;
  if (!call.f32(1, "logits", &logits) || !call.i32(2, "targets", &targets) || !call.num(3, "N", &N) || !call.num(4, "V", &V)) {
    return nullptr;
  }
  double total = 0;
  if (N > 0) {
    if (!inside(env, logits.length, 0, N * V - 1, "logits") || !idsInRange(env, targets, N, V, "targets")) return nullptr;
    total = call.context->table->softmaxCrossEntropy(logits.data, targets.data, N, V);
  }
  napi_value result;
  napi_create_double(env, total, &result);
  return result;
}

// --- the sampler's weights ----------------------------------------------------------------------------------

// expRow64(ctx, x, out, n)
napi_value ExpRow64(napi_env env, napi_callback_info info) {
  Call call(env, info, 4);
  if (!call.ok()) return nullptr;
  F64 x, out;
  long n;
  if (!call.f64(1, "x", &x) || !call.f64(2, "out", &out) || !call.num(3, "n", &n)) return nullptr;
  if (!inside(env, x.length, 0, n - 1, "x") || !inside(env, out.length, 0, n - 1, "out")) return nullptr;
  IeeeGuard ieee;
  call.context->table->expRow64(out.data, x.data, n);
  return undefinedValue(env);
}

// weighRows(ctx, logits, rows, V, temperature, topK, topP, scored, probs, stats)
napi_value WeighRows(napi_env env, napi_callback_info info) {
  Call call(env, info, 10);
  if (!call.ok()) return nullptr;
  F32 logits;
  F64 probs, stats;
  long rows, V, topK;
  double temperature = 0, topP = 0;
  bool scored = false;
  if (!call.f32(1, "logits", &logits) || !call.num(2, "rows", &rows) || !call.num(3, "V", &V) || !call.num(5, "topK", &topK) ||
      !call.flag(7, &scored) || !call.f64(8, "probs", &probs) || !call.f64(9, "stats", &stats)) {
    return nullptr;
  }
  if (napi_get_value_double(env, call.argv[4], &temperature) != napi_ok || !(temperature > 0)) {
    return fail(env, "native kernels: the temperature must be a positive number", false), nullptr;
  }
  if (napi_get_value_double(env, call.argv[6], &topP) != napi_ok || !(topP > 0 && topP <= 1)) {
    return fail(env, "native kernels: top-p must be above 0 and at most 1", false), nullptr;
  }
  if (rows == 0 || V == 0) return undefinedValue(env);
  if (!(topK >= 2 && topK <= V)) return fail(env, "native kernels: top-k must be 2 … V (1 is greedy: no weights)", false), nullptr;
  if (!inside(env, logits.length, 0, rows * V - 1, "logits") || !inside(env, probs.length, 0, rows * V - 1, "probs") ||
      !inside(env, stats.length, 0, 4 * rows - 1, "stats")) {
    return nullptr;
  }
  thread_local std::vector<double> x;
  thread_local std::vector<int32_t> order;
  if (x.size() < size_t(V)) x.resize(size_t(V)), order.resize(size_t(V));
  IeeeGuard ieee;
  call.context->table->weighRows(logits.data, rows, V, temperature, topK, topP, scored, probs.data, stats.data, x.data(), order.data());
  return undefinedValue(env);
}

// gatherRows(ctx, src, srcOff, dst, dstOff, rows, n, width): dst row r = src row rows[r], r < n (rows of `width`)
napi_value GatherRows(napi_env env, napi_callback_info info) {
  Call call(env, info, 8);
  if (!call.ok()) return nullptr;
  F32 src, dst;
  I32 rows;
  long srcOff, dstOff, n, width;
  if (!call.f32(1, "src", &src) || !call.num(2, "srcOff", &srcOff) || !call.f32(3, "dst", &dst) || !call.num(4, "dstOff", &dstOff) ||
      !call.i32(5, "rows", &rows) || !call.num(6, "n", &n) || !call.num(7, "width", &width)) {
    return nullptr;
  }
  if (n == 0 || width == 0) return undefinedValue(env);
  if (!inside(env, dst.length, dstOff, dstOff + n * width - 1, "dst") || !inside(env, src.length, srcOff, srcOff + width - 1, "src") ||
      !idsInRange(env, rows, n, (long(src.length) - srcOff) / width, "rows")) {
    return nullptr;
  }
  const float* from = src.data + srcOff;
  float* to = dst.data + dstOff;
  for (long r = 0; r < n; r++) std::memmove(to + r * width, from + long(rows.data[r]) * width, size_t(width) * sizeof(float));
  return undefinedValue(env);
}

// softmaxCrossEntropyBackward(ctx, logits, targets, N, V, scale)
napi_value SoftmaxCrossEntropyBackward(napi_env env, napi_callback_info info) {
  Call call(env, info, 6);
  if (!call.ok()) return nullptr;
  F32 logits;
  I32 targets;
  long N, V;
  double scale = 0;
  if (!call.f32(1, "logits", &logits) || !call.i32(2, "targets", &targets) || !call.num(3, "N", &N) || !call.num(4, "V", &V)) {
    return nullptr;
  }
  if (napi_get_value_double(env, call.argv[5], &scale) != napi_ok) return fail(env, "native kernels: scale is not a number", false), nullptr;
  if (N == 0) return undefinedValue(env);
  if (!inside(env, logits.length, 0, N * V - 1, "logits") || !idsInRange(env, targets, N, V, "targets")) return nullptr;
  call.context->table->softmaxCrossEntropyBackward(logits.data, targets.data, N, V, float(scale));
  return undefinedValue(env);
}

// --- contexts and buffers -------------------------------------------------------------------------------------

void finalizeContext(napi_env, void* data, void*) { delete static_cast<Context*>(data); }

// createContext(isa, threads, adaptive, splitColumns, flushSubnormals, exact) → context, or null when this CPU lacks
// the instruction set. exact: its GEMMs multiply and add separately (kernels.h), the WebAssembly plain-SIMD order.
napi_value CreateContext(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  char isa[32] = {0};
  size_t length = 0;
  long threads = 0;
  bool adaptive = false, columns = true, flush = true, exact = false;
  if (argc < 6 || napi_get_value_string_utf8(env, argv[0], isa, sizeof isa, &length) != napi_ok ||
      !readLong(env, argv[1], "threads", &threads) || !readBool(env, argv[2], &adaptive) || !readBool(env, argv[3], &columns) ||
      !readBool(env, argv[4], &flush) || !readBool(env, argv[5], &exact)) {
    if (argc < 6) fail(env, "native kernels: createContext(isa, threads, adaptive, splitColumns, flushSubnormals, exact)", false);
    return nullptr;
  }
  if (threads < 1 || threads > 64) return fail(env, "native kernels: threads must be 1 … 64"), nullptr;
  const Table* table = tableNamed(isa);
  napi_value result;
  if (table == nullptr) {
    napi_get_null(env, &result);
    return result;
  }
  Context* context = new Context(table, int(threads), adaptive, columns, flush, exact);
  napi_create_external(env, context, finalizeContext, nullptr, &result);
  return result;
}

// threadState(ctx) → [threads, active, switches]
napi_value ThreadState(napi_env env, napi_callback_info info) {
  Call call(env, info, 1);
  if (!call.ok()) return nullptr;
  napi_value result, value;
  napi_create_array_with_length(env, 3, &result);
  const int fields[3] = {call.context->pool.threads(), call.context->pool.active(), call.context->pool.switches()};
  for (uint32_t i = 0; i < 3; i++) {
    napi_create_int32(env, fields[i], &value);
    napi_set_element(env, result, i, value);
  }
  return result;
}

// alloc(length) → a zero-filled Float32Array whose data starts on a 64-byte boundary
napi_value Alloc(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  long length = 0;
  if (argc < 1 || !readLong(env, argv[0], "length", &length)) return nullptr;
  void* data = nullptr;
  napi_value buffer, array;
  if (napi_create_arraybuffer(env, size_t(length) * sizeof(float) + 64, &data, &buffer) != napi_ok) {
    return fail(env, "native kernels: out of memory"), nullptr;
  }
  const size_t misalignment = reinterpret_cast<uintptr_t>(data) % 64;
  napi_create_typedarray(env, napi_float32_array, size_t(length), buffer, misalignment ? 64 - misalignment : 0, &array);
  return array;
}

// packedSize(K, N) → floats
napi_value PackedSize(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  long K = 0, N = 0;
  if (argc < 2 || !readLong(env, argv[0], "K", &K) || !readLong(env, argv[1], "N", &N)) return nullptr;
  napi_value result;
  napi_create_double(env, double(packedSize(K, N)), &result);
  return result;
}

napi_value Init(napi_env env, napi_value exports) {
  const napi_property_descriptor methods[] = {
    {"createContext", nullptr, CreateContext, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"threadState", nullptr, ThreadState, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"alloc", nullptr, Alloc, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"packedSize", nullptr, PackedSize, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"gemm", nullptr, Gemm_, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"gemmPacked", nullptr, GemmPacked, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"packB", nullptr, PackB, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"lstmForwardStep", nullptr, LstmForwardStep, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"lstmBackwardStep", nullptr, LstmBackwardStep, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"rnnForwardStep", nullptr, RnnForwardStep, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"rnnBackwardStep", nullptr, RnnBackwardStep, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"gruForwardStep", nullptr, GruForwardStep, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"gruBackwardStep", nullptr, GruBackwardStep, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"embedRows", nullptr, EmbedRows, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"addBiasRows", nullptr, AddBiasRows, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"sumRows", nullptr, SumRows, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"scatterAddRows", nullptr, ScatterAddRows, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"multiplyInPlace", nullptr, MultiplyInPlace, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"addInPlace", nullptr, AddInPlace, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"softmaxCrossEntropy", nullptr, SoftmaxCrossEntropy, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"softmaxCrossEntropyBackward", nullptr, SoftmaxCrossEntropyBackward, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"expRow64", nullptr, ExpRow64, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"weighRows", nullptr, WeighRows, nullptr, nullptr, nullptr, napi_default, nullptr},
    {"gatherRows", nullptr, GatherRows, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof methods / sizeof methods[0], methods);
  return exports;
}

}  // namespace
}  // namespace charnn

NAPI_MODULE(NODE_GYP_MODULE_NAME, charnn::Init)
