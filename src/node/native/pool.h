// A persistent pool of helper threads for the native kernels, and the measurement that decides how many of them a
// GEMM uses. The caller's thread always takes part 0 of a job; helper w takes part w + 1.
//
// Hand-off: the caller writes the job, bumps the helper's `posted` counter and wakes it if it sleeps; a helper polls
// `posted` for SPIN_NS before sleeping on a condition variable, because an LSTM step issues GEMMs back to back a
// few microseconds apart and a sleep/wake round trip costs tens of microseconds.
//
// Busy second core: results do not depend on the thread count (kernels.h), so the pool may change it freely. Every
// PROBE_INTERVAL it runs PROBE_PAIRS pairs of big GEMMs, the two of a pair of one shape, one on 1 thread and the
// next of that shape on all. Each shape measured in at least MIN_SHAPE_PAIRS pairs then runs on whichever setting
// was faster in most of its pairs; any other shape, and the cells, on whichever was faster in most pairs of all
// (`active`, which `switches` counts the changes of; the TypeScript side reports them). Most pairs, not the total
// time: on a virtual machine a helper now and then waits a millisecond or more for its core (a hypervisor's
// scheduling, a wake-up), and one such pair outweighed ten where two threads were faster (the sampler's steps,
// 135x512x128: 118 us against 85 in most pairs, then a 697 us outlier; it ran on 1 thread, 1.6x slower a row).
// A busy second core slows every pair, so most pairs still see it. Pairing by shape matters: a training step
// issues GEMMs of a few shapes in a fixed order, so plain alternation gave one setting mostly one shape and the
// other another (a 2x192 LSTM with dropout then trained on 1 thread much of the time, 15% slower than on 2). Per
// shape matters when the sizes differ: 200 samples side by side shrink from 200 rows to 1, and a 64x512x128 product
// takes 50 us on 1 thread and 57 on 2 where a 200-row one takes 153 and 99.

#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CHARNN_PAUSE() _mm_pause()
#else
#define CHARNN_PAUSE() std::this_thread::yield()
#endif

namespace charnn {

/** MXCSR flush-to-zero (bit 15) and denormals-are-zero (bit 6). */
constexpr unsigned FLUSH_BITS = 0x8040;

using JobFn = void (*)(void* context, int part, int parts);

class Pool {
 public:
  static constexpr int64_t SPIN_NS = 200'000;            // a helper polls this long before sleeping
  static constexpr int64_t PROBE_INTERVAL_NS = 1'000'000'000;  // between two measurements of 1 vs all threads (load changes fast)
  static constexpr int PROBE_PAIRS = 32;                 // pairs of same-shape GEMMs per measurement
  static constexpr int PROBE_SHAPES = 8;                 // shapes a measurement tells apart (others are not measured)
  static constexpr int MIN_SHAPE_PAIRS = 2;              // pairs a shape needs for a choice of its own
  static constexpr int WARMUP_CALLS = 32;                // big GEMMs before the first measurement

  /** `flushSubnormals`: helpers run with the CPU's flush-to-zero and denormals-are-zero modes on (see addon.cc). */
  Pool(int threads, bool adaptive, bool flushSubnormals)
      : threads_(threads), active_(threads), adaptive_(adaptive && threads > 1) {
    helpers_.reserve(threads - 1);
    for (int w = 0; w + 1 < threads; w++) helpers_.push_back(new Helper());
    for (Helper* h : helpers_) {
      h->thread = std::thread([h, flushSubnormals] {
#if defined(__x86_64__) || defined(__i386__)
        if (flushSubnormals) _mm_setcsr(_mm_getcsr() | FLUSH_BITS);
#endif
        h->loop();
      });
    }
  }

  ~Pool() {
    for (Helper* h : helpers_) {
      {
        std::lock_guard<std::mutex> lock(h->mutex);
        h->stop.store(true);
        h->posted.fetch_add(1);
      }
      h->wake.notify_one();
      h->thread.join();
      delete h;
    }
  }

  int threads() const { return threads_; }
  int active() const { return active_; }
  int switches() const { return switches_; }

  /**
   * Threads the next big GEMM, of this shape, should use: the chosen count, or while measuring 1 for a shape's first
   * GEMM of a pair and all for its second.
   */
  int partsForBigJob(uint64_t shape) {
    if (!adaptive_) return threads_;
    const int64_t now = nowNs();
    if (probing_ < 0) {
      if (++bigCalls_ < WARMUP_CALLS || now < nextProbeNs_) return chosenFor(shape);
      probing_ = 0;
      probeJobs_ = 0;
      shapes_ = 0;
    }
    if (++probeJobs_ > PROBE_JOBS_MAX) {  // too many shapes to pair up: keep what we have
      finishProbe();
      return chosenFor(shape);
    }
    Pending* p = pendingFor(shape);
    if (p == nullptr) return chosenFor(shape);
    return p->ns < 0 ? 1 : threads_;
  }

  /** Tells the measurement how long a big GEMM of this shape took on `parts` threads. */
  void recordBigJob(uint64_t shape, int parts, int64_t ns) {
    if (!adaptive_ || probing_ < 0) return;
    Pending* p = pendingFor(shape);
    if (p == nullptr) return;
    if (parts == 1) {
      p->ns = ns;
      return;
    }
    if (p->ns < 0 || parts != threads_) return;
    p->wins += ns < p->ns;
    p->pairs++;
    p->ns = -1;
    if (++probing_ >= PROBE_PAIRS) finishProbe();
  }

  /** Runs fn(context, part, parts) for every part < parts (≤ threads), part 0 on this thread; returns when all are done. */
  void run(int parts, JobFn fn, void* context) {
    for (int w = 0; w + 1 < parts; w++) helpers_[w]->post(fn, context, w + 1, parts);
    fn(context, 0, parts);
    for (int w = 0; w + 1 < parts; w++) helpers_[w]->finish();
  }

  static int64_t nowNs() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
  }

 private:
  struct Helper {
    std::thread thread;
    std::atomic<uint64_t> posted{0};
    std::atomic<uint64_t> done{0};
    std::atomic<bool> sleeping{false};
    std::atomic<bool> stop{false};
    std::mutex mutex;
    std::condition_variable wake;
    JobFn fn = nullptr;
    void* context = nullptr;
    int part = 0, parts = 0;

    void post(JobFn f, void* c, int p, int n) {
      fn = f; context = c; part = p; parts = n;
      posted.fetch_add(1);  // seq_cst: publishes the job, and orders against the load of `sleeping` below
      if (sleeping.load()) {
        std::lock_guard<std::mutex> lock(mutex);
        wake.notify_one();
      }
    }

    void finish() {
      const uint64_t target = posted.load(std::memory_order_relaxed);
      for (uint32_t spins = 0; done.load(std::memory_order_acquire) != target; spins++) {
        // the helper may have lost its core to another process: give ours up now and then
        if ((spins & 1023) == 1023) std::this_thread::yield();
        else CHARNN_PAUSE();
      }
    }

    void loop() {
      uint64_t seen = 0;
      for (;;) {
        const int64_t spinUntil = nowNs() + SPIN_NS;
        uint32_t spins = 0;
        while (posted.load(std::memory_order_acquire) == seen) {
          CHARNN_PAUSE();
          if ((++spins & 255) == 0 && nowNs() > spinUntil) {
            std::unique_lock<std::mutex> lock(mutex);
            sleeping.store(true);  // seq_cst: either the poster sees it, or we see its new `posted`
            wake.wait(lock, [&] { return posted.load() != seen; });
            sleeping.store(false);
          }
        }
        seen = posted.load(std::memory_order_acquire);
        if (stop.load()) return;
        fn(context, part, parts);
        done.store(seen, std::memory_order_release);
      }
    }
  };

  const int threads_;
  int active_;
  const bool adaptive_;
  int switches_ = 0;
  int bigCalls_ = 0;
  int probing_ = -1;  // -1: not measuring; else pairs measured so far
  int64_t nextProbeNs_ = 0;
  int probeJobs_ = 0;
  static constexpr int PROBE_JOBS_MAX = 64 * PROBE_PAIRS;
  struct Pending {
    uint64_t shape;
    int64_t ns;       // the 1-thread GEMM of a pair waiting for its all-thread twin, or -1
    int wins;         // pairs of this shape where all threads took less time than 1
    int pairs;
  };
  Pending pending_[PROBE_SHAPES];
  int shapes_ = 0;
  struct Choice {
    uint64_t shape;
    int parts;
  };
  Choice choices_[PROBE_SHAPES];  // the last measurement's choice for each shape it measured enough
  int choiceCount_ = 0;

  int chosenFor(uint64_t shape) const {
    for (int i = 0; i < choiceCount_; i++) {
      if (choices_[i].shape == shape) return choices_[i].parts;
    }
    return active_;
  }

  Pending* pendingFor(uint64_t shape) {
    for (int i = 0; i < shapes_; i++) {
      if (pending_[i].shape == shape) return &pending_[i];
    }
    if (shapes_ == PROBE_SHAPES) return nullptr;
    pending_[shapes_] = {shape, -1, 0, 0};
    return &pending_[shapes_++];
  }

  void finishProbe() {
    int wins = 0, pairs = 0;  // over every shape's pairs: those all threads won, and all
    for (int i = 0; i < shapes_; i++) {
      wins += pending_[i].wins;
      pairs += pending_[i].pairs;
    }
    const int chosen = pairs == 0 || 2 * wins >= pairs ? threads_ : 1;
    if (chosen != active_) switches_++;
    active_ = chosen;
    choiceCount_ = 0;
    for (int i = 0; i < shapes_; i++) {
      const Pending& p = pending_[i];
      if (p.pairs >= MIN_SHAPE_PAIRS) choices_[choiceCount_++] = {p.shape, 2 * p.wins >= p.pairs ? threads_ : 1};
    }
    probing_ = -1;
    nextProbeNs_ = nowNs() + PROBE_INTERVAL_NS;
  }
  std::vector<Helper*> helpers_;
};

}  // namespace charnn
