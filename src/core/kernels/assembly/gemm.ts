// AssemblyScript source of the WebAssembly SIMD GEMM behind src/core/kernels/wasm.ts: the three row-major forms
// (NN, NT, TN) in float32, register-blocked on f32x4. Compiled by build.mjs beside this file, twice: with
// plain SIMD (mul + add) and with relaxed SIMD (fused multiply-add), which Node 20 only runs behind a flag.
//
// Dimensions: C is M×N, the shared (reduction) dimension is K. Blocking constants:
//   MR×NR  block of C kept in registers by the micro-kernel (5 rows × 8 columns = 10 f32x4 accumulators)
//   KC     depth of one packed slab of B (KC×NR panel = 8 KB, stays in L1 while every strip of A passes it)
//   NC     width of one packed block of B (KC×NC = 512 KB, stays in L2)
//   MC     rows of A swept over the block before moving on (MC×KC = 125 KB, stays in L2 next to it)
//
// Every pointer is a byte address into the (imported, shared) memory; leading dimensions come in elements and
// are turned into byte strides here. `scratch` is a caller-reserved area of scratchBytes() bytes, passed per
// call rather than held in a global so that worker threads sharing this memory can each bring their own.
//
// Why 5×8 (measured on the 2-core Zen 4 this was written on, 512³ and the LSTM shapes): 4×8 leaves adders idle
// (8 dependency chains cannot cover add latency × 2 pipes); 6×8, 4×12 and 3×16 ran out of the 16 xmm registers
// V8 allocates and spilled, losing ~40%. 5×8 also tiles the common M = 50 exactly. Packing both operands (B into
// NR-wide k-major panels, A into MR-row k-major strips) beat reading them in place by 10-25%, most for TN and
// the M = 50 steps, and lets the micro-kernel address everything at fixed offsets from two pointers.

const MR: i32 = 5;
const NR: i32 = 8;
const KC: i32 = 256;
const NC: i32 = 512;
const MC: i32 = 125; // a multiple of MR

const FORM_NN: i32 = 0; // C = A[M×K] · B[K×N]
const FORM_NT: i32 = 1; // C = A[M×K] · B[N×K]ᵀ
const FORM_TN: i32 = 2; // C = A[K×M]ᵀ · B[K×N]

// Scratch layout: packed B block (KC×NC), packed A block (MC×KC), and a C tile (MR×NR) for ragged edges. Both
// packed blocks are zero-padded to whole strips and panels, so the one micro-kernel serves every shape and
// never reads or writes outside its operands.
const PACK_B_BYTES: usize = <usize>(KC * NC * 4);
const PACK_A_BYTES: usize = <usize>(KC * MC * 4);
const TILE_C_BYTES: usize = <usize>(MR * NR * 4);

export function scratchBytes(): i32 {
  return <i32>(PACK_B_BYTES + PACK_A_BYTES + TILE_C_BYTES);
}

/** First byte after this module's static data; the JS allocator hands out memory from here on. */
export function heapBase(): usize {
  return __heap_base;
}

export function gemmNN(M: i32, N: i32, K: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32, accumulate: bool, scratch: usize): void {
  gemm(FORM_NN, M, N, K, a, lda, b, ldb, c, ldc, accumulate, scratch);
}

export function gemmNT(M: i32, N: i32, K: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32, accumulate: bool, scratch: usize): void {
  gemm(FORM_NT, M, N, K, a, lda, b, ldb, c, ldc, accumulate, scratch);
}

export function gemmTN(M: i32, N: i32, K: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32, accumulate: bool, scratch: usize): void {
  gemm(FORM_TN, M, N, K, a, lda, b, ldb, c, ldc, accumulate, scratch);
}

// Goto-style loop nest: a KC×NC block of B is packed once into NR-wide k-major panels, an MC×KC block of A into
// MR-row strips, then each strip streams over each panel while its MR×NR block of C stays in registers. The
// forms differ only in how packing reads the operands: element (i, k) of op(A) sits at
// a + i*aRowStride + k*aDepthStride, and NT's B is gathered transposed.
//
// Every element of C is one sum in k order from (accumulate ? C : +0): c = c + a(i,k)·b(k,j) for k = 0 … K-1 (a
// separate multiply and add in the plain build), whether it falls in an interior tile, an edge tile or a later
// slab of K. gemmSmallNN and gemmPacked (cells.ts) and the native kernels' exact mode (src/node/native) keep the
// same order, so every one of them gives the same bits for any number of rows: a row of a batched product is the
// one-row product (a stream of sampleMany is the single sample of its seed) and the page samples what the CLI does.
function gemm(form: i32, M: i32, N: i32, K: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32, accumulate: bool, scratch: usize): void {
  if (M <= 0 || N <= 0) return;
  const cRowStride = <usize>ldc << 2;
  if (K <= 0) {
    // an empty sum: C = (accumulate ? C : 0) + 0
    if (!accumulate) for (let i = 0; i < M; i++) memory.fill(c + <usize>i * cRowStride, 0, <usize>N << 2);
    return;
  }
  const aRowStride: usize = form == FORM_TN ? 4 : <usize>lda << 2;
  const aDepthStride: usize = form == FORM_TN ? <usize>lda << 2 : 4;
  const bRowStride = <usize>ldb << 2;
  const packB = scratch;
  const packA = packB + PACK_B_BYTES;
  const tileC = packA + PACK_A_BYTES;

  for (let jc = 0; jc < N; jc += NC) {
    const nc = min(NC, N - jc);
    for (let pc = 0; pc < K; pc += KC) {
      const kc = min(KC, K - pc);
      // later slabs of K add onto what the first one wrote
      const acc = accumulate || pc > 0;
      packBBlock(form, b, bRowStride, pc, kc, jc, nc, packB);

      for (let ic = 0; ic < M; ic += MC) {
        const mc = min(MC, M - ic);
        packABlock(a + <usize>ic * aRowStride + <usize>pc * aDepthStride, aRowStride, aDepthStride, kc, mc, packA);
        for (let jr = 0; jr < nc; jr += NR) {
          const nr = min(NR, nc - jr);
          const panel = packB + <usize>jr * <usize>kc * 4;
          for (let ir = 0; ir < mc; ir += MR) {
            const mr = min(MR, mc - ir);
            const strip = packA + <usize>ir * <usize>kc * 4;
            const cBlock = c + <usize>(ic + ir) * cRowStride + (<usize>(jc + jr) << 2);
            if (mr == MR && nr == NR) {
              micro5x8(kc, strip, panel, cBlock, cRowStride, acc);
            } else {
              // Ragged edge: the padded strip and panel give a full tile in scratch, which starts from C's valid
              // corner when accumulating (so an edge element's sum runs c + a0·b0 + a1·b1 … in the same order
              // as an interior one's, not c + (a0·b0 + …)); its valid corner is then copied back.
              if (acc) {
                for (let r = 0; r < mr; r++) {
                  for (let j = 0; j < nr; j++) store<f32>(tileC + <usize>(r * NR + j) * 4, load<f32>(cBlock + <usize>r * cRowStride + (<usize>j << 2)));
                }
              }
              micro5x8(kc, strip, panel, tileC, <usize>(NR * 4), acc);
              for (let r = 0; r < mr; r++) {
                for (let j = 0; j < nr; j++) store<f32>(cBlock + <usize>r * cRowStride + (<usize>j << 2), load<f32>(tileC + <usize>(r * NR + j) * 4));
              }
            }
          }
        }
      }
    }
  }
}

// Copies op(A)[0 : mc, 0 : kc] (element (i, k) at a + i*aRowStride + k*aDepthStride) into MR-row strips, each kc
// groups of MR contiguous floats, the last strip zero-padded to MR rows. Strip s starts at dst + s*MR*kc floats.
function packABlock(a: usize, aRowStride: usize, aDepthStride: usize, kc: i32, mc: i32, dst: usize): void {
  for (let ir = 0; ir < mc; ir += MR) {
    const mr = min(MR, mc - ir);
    const strip = dst + <usize>ir * <usize>kc * 4;
    const src = a + <usize>ir * aRowStride;
    for (let k = 0; k < kc; k++) {
      const out = strip + <usize>(k * MR * 4);
      const col = src + <usize>k * aDepthStride;
      let r = 0;
      for (; r < mr; r++) store<f32>(out + (<usize>r << 2), load<f32>(col + <usize>r * aRowStride));
      for (; r < MR; r++) store<f32>(out + (<usize>r << 2), 0);
    }
  }
}

// Copies op(B)[pc : pc+kc, jc : jc+nc] into NR-wide panels, each kc rows of NR contiguous floats, the last
// panel zero-padded to NR columns. Panel p starts at dst + p*NR*kc floats.
function packBBlock(form: i32, b: usize, bRowStride: usize, pc: i32, kc: i32, jc: i32, nc: i32, dst: usize): void {
  for (let jr = 0; jr < nc; jr += NR) {
    const nr = min(NR, nc - jr);
    const panel = dst + <usize>jr * <usize>kc * 4;
    if (form == FORM_NT) {
      // B is N×K: op(B)(k, j) = b[j*ldb + k], a transposing gather
      const rows = b + <usize>(jc + jr) * bRowStride + (<usize>pc << 2);
      let k = 0;
      if (nr == NR) {
        // 4×4 SIMD transposes: four floats along k from each of 8 rows become 4 packed rows of 8
        for (; k + 4 <= kc; k += 4) {
          const src = rows + (<usize>k << 2);
          const out = panel + <usize>(k * NR * 4);
          transpose4x4(src, bRowStride, out);
          transpose4x4(src + 4 * bRowStride, bRowStride, out + 16);
        }
      }
      for (; k < kc; k++) {
        const out = panel + <usize>(k * NR * 4);
        const src = rows + (<usize>k << 2);
        let j = 0;
        for (; j < nr; j++) store<f32>(out + (<usize>j << 2), load<f32>(src + <usize>j * bRowStride));
        for (; j < NR; j++) store<f32>(out + (<usize>j << 2), 0);
      }
    } else {
      for (let k = 0; k < kc; k++) {
        const out = panel + <usize>(k * NR * 4);
        const src = b + <usize>(pc + k) * bRowStride + (<usize>(jc + jr) << 2);
        if (nr == NR) {
          v128.store(out, v128.load(src));
          v128.store(out, v128.load(src, 16), 16);
        } else {
          let j = 0;
          for (; j < nr; j++) store<f32>(out + (<usize>j << 2), load<f32>(src + (<usize>j << 2)));
          for (; j < NR; j++) store<f32>(out + (<usize>j << 2), 0);
        }
      }
    }
  }
}

// Reads a 4×4 block (rows `rowStride` bytes apart) at src and writes its transpose as 4 rows of 4 floats, NR
// floats apart, at out.
// @ts-ignore: decorator
@inline function transpose4x4(src: usize, rowStride: usize, out: usize): void {
  const r0 = v128.load(src);
  const r1 = v128.load(src + rowStride);
  const r2 = v128.load(src + 2 * rowStride);
  const r3 = v128.load(src + 3 * rowStride);
  const t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5); // r0[0] r1[0] r0[1] r1[1]
  const t1 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7); // r0[2] r1[2] r0[3] r1[3]
  const t2 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5);
  const t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
  v128.store(out, v128.shuffle<f32>(t0, t2, 0, 1, 4, 5)); // column 0: r0[0] r1[0] r2[0] r3[0]
  v128.store(out, v128.shuffle<f32>(t0, t2, 2, 3, 6, 7), NR * 4);
  v128.store(out, v128.shuffle<f32>(t1, t3, 0, 1, 4, 5), NR * 8);
  v128.store(out, v128.shuffle<f32>(t1, t3, 2, 3, 6, 7), NR * 12);
}

// c += a * b, fused (one rounding) when compiled with relaxed SIMD, else a separate multiply and add.
// ASC_FEATURE_RELAXED_SIMD is a compile-time constant, so each build keeps exactly one branch.
// @ts-ignore: decorator
@inline function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

// C[5×8] = (accumulate ? C : 0) + S[5×kc] · P[kc×8], S a packed strip of A (5 floats per k), P a packed panel of
// B (8 floats per k). Written out by hand because the ten accumulators must be locals for V8 to keep them in
// registers; the packed layouts make every load a fixed offset from one pointer.
function micro5x8(kc: i32, strip: usize, panel: usize, c: usize, cRowStride: usize, accumulate: bool): void {
  let c00: v128, c01: v128, c10: v128, c11: v128, c20: v128, c21: v128, c30: v128, c31: v128, c40: v128, c41: v128;
  if (accumulate) {
    c00 = v128.load(c); c01 = v128.load(c, 16);
    c10 = v128.load(c + cRowStride); c11 = v128.load(c + cRowStride, 16);
    c20 = v128.load(c + 2 * cRowStride); c21 = v128.load(c + 2 * cRowStride, 16);
    c30 = v128.load(c + 3 * cRowStride); c31 = v128.load(c + 3 * cRowStride, 16);
    c40 = v128.load(c + 4 * cRowStride); c41 = v128.load(c + 4 * cRowStride, 16);
  } else {
    c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = f32x4.splat(0);
  }
  for (let k = 0; k < kc; k++) {
    const b0 = v128.load(panel);
    const b1 = v128.load(panel, 16);
    let ak = v128.load32_splat(strip);
    c00 = madd(ak, b0, c00); c01 = madd(ak, b1, c01);
    ak = v128.load32_splat(strip, 4);
    c10 = madd(ak, b0, c10); c11 = madd(ak, b1, c11);
    ak = v128.load32_splat(strip, 8);
    c20 = madd(ak, b0, c20); c21 = madd(ak, b1, c21);
    ak = v128.load32_splat(strip, 12);
    c30 = madd(ak, b0, c30); c31 = madd(ak, b1, c31);
    ak = v128.load32_splat(strip, 16);
    c40 = madd(ak, b0, c40); c41 = madd(ak, b1, c41);
    strip += MR * 4;
    panel += NR * 4;
  }
  v128.store(c, c00); v128.store(c, c01, 16);
  v128.store(c + cRowStride, c10); v128.store(c + cRowStride, c11, 16);
  v128.store(c + 2 * cRowStride, c20); v128.store(c + 2 * cRowStride, c21, 16);
  v128.store(c + 3 * cRowStride, c30); v128.store(c + 3 * cRowStride, c31, 16);
  v128.store(c + 4 * cRowStride, c40); v128.store(c + 4 * cRowStride, c41, 16);
}
