// The native kernels of gan_core's fast path (gan_core/native.py, gan_core/fused.py): a batched
// MLP with Taylor jets, forward and backward, with gan_core.networks.BatchedMLP's structure and
// options; a per-replica Adam step; and the fused G and D steps of a differential equation whose
// residual is affine in the network output. Plain C++17 with a C interface and no dependency but
// the standard library: built at first use by native.py (g++ -O3 -march=native, a few seconds)
// and called through ctypes on the tensors' memory. The PyTorch code in networks.py, optim.py and
// train.py is the reference these kernels are tested against (tests/test_native.py).
//
// Layout. Inside a replica, a layer's activations are unit-major, "[unit][stream][point]": row c
// of A holds unit c for every jet stream s (value, d/dx_i, d2/dx_i^2, as in jets.py) and point p
// at column s * NP + p, with the points padded to NP, a multiple of the vector width, by zeros. Then a layer is
// one small GEMM over all streams at once (Z = W^T A over SP = S * NP columns), the bias and the
// skip are added in the pass that applies the activation, and a weight gradient is a row-by-row
// dot product over SP columns. Padded columns hold zeros in every gradient, so they add nothing.
//
// Replicas are independent: each is computed from its own rows of the inputs into its own rows of
// the outputs and its own part of the tape (what backward needs: every layer's input A and
// pre-activation Z, the dropout masks, the spectral-norm factors).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

#ifdef __AVX512F__
#include <immintrin.h>
#endif

namespace {

// -- vectors: one register's worth of floats, VL = 16 (AVX-512), 8 (AVX, AVX2) or 4 ---------------
#if defined(__AVX512F__)
constexpr int VL = 16;
#elif defined(__AVX__)
constexpr int VL = 8;
#else
constexpr int VL = 4;
#endif
typedef float vf __attribute__((vector_size(4 * VL)));
typedef int32_t vi __attribute__((vector_size(4 * VL)));

template <size_t... I>
inline vf splat_(float x, std::index_sequence<I...>) { return vf{((void)I, x)...}; }
// x in every lane (vf{} + x would add 0 + x: not x for -0, so not free)
inline vf splat(float x) { return splat_(x, std::make_index_sequence<VL>{}); }
inline vf ld(const float* p) { vf r; std::memcpy(&r, p, sizeof r); return r; }
inline void st(float* p, vf v) { std::memcpy(p, &v, sizeof v); }
inline float hsum(vf v) { float s = 0.f; for (int j = 0; j < VL; ++j) s += v[j]; return s; }
template <class To, class From> inline To bits(From f) { To t; std::memcpy(&t, &f, sizeof t); return t; }
inline vf vabs(vf x) { return bits<vf>(bits<vi>(x) & 0x7fffffff); }
inline vf vsel(vi c, vf a, vf b) { return c ? a : b; }

// KEEP(v): v stays in a register. In the GEMM loops GCC, left to itself, folds the broadcast or
// load of an operand into every product that uses it; then the loads, not the multiplications,
// set the pace (measured: 52 against 110 GF/s). An empty asm that "changes" v stops that.
#if defined(__x86_64__) && defined(__AVX__)
#define KEEP(v) asm("" : "+v"(v))
#else
#define KEEP(v) ((void)0)
#endif

// A float buffer: 64-byte aligned (whole cache lines per vector load), grown when too small,
// never cleared (every user writes what it reads)
class Buf {
 public:
  Buf() = default;
  Buf(const Buf&) = delete;
  Buf& operator=(const Buf&) = delete;
  ~Buf() { std::free(p_); }
  float* get(size_t n) {
    if (n > cap_) {
      std::free(p_);
      cap_ = (n + VL - 1) / VL * VL;
      p_ = static_cast<float*>(std::aligned_alloc(64, cap_ * sizeof(float)));
    }
    return p_;
  }

 private:
  float* p_ = nullptr;
  size_t cap_ = 0;
};

// exp (Cephes expf, ~1 ulp on [-87.3, 88.4]; clamped outside; NaN stays NaN)
inline vf vexp(vf x) {
  x = vsel(x > 88.3762626647949f, splat(88.3762626647949f), x);
  x = vsel(x < -87.3365447504f, splat(-87.3365447504f), x);
  vf fx = x * 1.44269504088896341f + 0.5f;
  vf t = __builtin_convertvector(__builtin_convertvector(fx, vi), vf);
  vf n = vsel(t > fx, t - 1.f, t);  // floor
  x = x - n * 0.693359375f;
  x = x - n * -2.12194440e-4f;
  vf z = x * x;
  vf y = splat(1.9875691500E-4f);
  y = y * x + 1.3981999507E-3f;
  y = y * x + 8.3334519073E-3f;
  y = y * x + 4.1665795894E-2f;
  y = y * x + 1.6666665459E-1f;
  y = y * x + 5.0000001201E-1f;
  y = y * z + x + 1.f;
  vi e = (__builtin_convertvector(n, vi) + 127) << 23;
  return y * bits<vf>(e);
}

// 1 / d: AVX-512's 14-bit estimate and one Newton step (~1 ulp, a quarter of a division's time);
// elsewhere a division (AVX's 12-bit estimate would need two steps)
inline vf vrecip(vf d) {
#ifdef __AVX512F__
  vf r = _mm512_rcp14_ps(d);
  return r * (2.f - d * r);
#else
  return 1.f / d;
#endif
}

inline vf vsigmoid(vf x) { return vrecip(1.f + vexp(-x)); }

// tanh (Cephes tanhf: an odd polynomial below 0.625, 1 - 2 / (e^2|x| + 1) above)
inline vf vtanh(vf x) {
  vf ax = vabs(x);
  vf z = x * x;
  vf small = ((((-5.70498872745E-3f * z + 2.06390887954E-2f) * z - 5.37397155531E-2f) * z
               + 1.33314422036E-1f) * z - 3.33332819422E-1f) * z * x + x;
  vf big = 1.f - 2.f * vrecip(vexp(2.f * ax) + 1.f);
  big = bits<vf>(bits<vi>(big) | (bits<vi>(x) & (int32_t)0x80000000));  // the sign of x
  return vsel(ax < 0.625f, small, big);
}

// log (Cephes logf) for x > 0
inline vf vlog(vf x) {
  vi b = bits<vi>(x);
  vi e = ((b >> 23) & 0xff) - 126;
  vf m = bits<vf>((b & 0x807fffff) | 0x3f000000);  // mantissa in [0.5, 1)
  vi lo = m < 0.707106781186547524f;
  vf ef = __builtin_convertvector(e, vf) - vsel(lo, splat(1.f), splat(0.f));
  m = vsel(lo, m + m - 1.f, m - 1.f);
  vf z = m * m;
  vf y = splat(7.0376836292E-2f);
  y = y * m - 1.1514610310E-1f;
  y = y * m + 1.1676998740E-1f;
  y = y * m - 1.2420140846E-1f;
  y = y * m + 1.4249322787E-1f;
  y = y * m - 1.6668057665E-1f;
  y = y * m + 2.0000714765E-1f;
  y = y * m - 2.4999993993E-1f;
  y = y * m + 3.3333331174E-1f;
  y = y * m * z;
  y = y + ef * -2.12194440e-4f - 0.5f * z;
  return m + y + ef * 0.693359375f;
}

// log1p(y) for y >= 0, accurate for small y: log(u) * y / (u - 1), u = 1 + y
inline vf vlog1p(vf y) {
  vf u = 1.f + y;
  vf d = u - 1.f;
  return vsel(d == 0.f, y, vlog(u) * (y / vsel(d == 0.f, splat(1.f), d)));
}

// sin and cos together (Cephes sinf/cosf, |x| < 8192; beyond, the C library's)
inline void vsincos(vf x, vf& s, vf& c) {
  vf ax = vabs(x);
  bool huge = false;
  for (int j = 0; j < VL; ++j) huge |= ax[j] > 8192.f;
  if (huge) {
    for (int j = 0; j < VL; ++j) { s[j] = std::sin(x[j]); c[j] = std::cos(x[j]); }
    return;
  }
  vi j = __builtin_convertvector(ax * 1.27323954473516f, vi);
  j = (j + 1) & ~1;
  vf y = __builtin_convertvector(j, vf);
  vf r = ((ax - y * 0.78515625f) - y * 2.4187564849853515625e-4f) - y * 3.77489497744594108e-8f;
  vf z = r * r;
  vf ps = ((-1.9515295891E-4f * z + 8.3321608736E-3f) * z - 1.6666654611E-1f) * z * r + r;
  vf pc = ((2.443315711809948E-5f * z - 1.388731625493765E-3f) * z + 4.166664568298827E-2f) * z * z
          - 0.5f * z + 1.f;
  vi q = (j >> 1) & 3;
  vi swap = (q & 1) != 0;
  vf sv = vsel(swap, pc, ps), cv = vsel(swap, ps, pc);
  vi sneg = ((q & 2) != 0) ^ (x < 0.f);
  vi cneg = ((q + 1) & 2) != 0;
  s = vsel(sneg, -sv, sv);
  c = vsel(cneg, -cv, cv);
}

// -- activations: f and its derivatives up to ND (what a jet of order ND - 1 needs backwards) -------
enum Act { TANH = 0, SWISH = 1, SIN = 2, RELU = 3, LEAKY_RELU = 4, SOFTPLUS = 5 };
constexpr float LEAKY_SLOPE = 0.2f;  // networks.LEAKY_SLOPE

template <int ACT, int ND>
inline void derivs(vf z, vf* f) {
  if constexpr (ACT == TANH) {
    vf t = vtanh(z), s = 1.f - t * t;
    f[0] = t;
    if (ND >= 1) f[1] = s;
    if (ND >= 2) f[2] = -2.f * t * s;
    if (ND >= 3) f[3] = s * (4.f * t * t - 2.f * s);
  } else if constexpr (ACT == SWISH) {  // z sigmoid(z) (networks.SWISH_BETA = 1)
    vf s = vsigmoid(z), ds = s * (1.f - s), h = 1.f - 2.f * s;
    f[0] = z * s;
    if (ND >= 1) f[1] = s + z * ds;
    if (ND >= 2) f[2] = ds * (2.f + z * h);
    if (ND >= 3) f[3] = ds * h * (2.f + z * h) + ds * (h - 2.f * z * ds);
  } else if constexpr (ACT == SIN) {
    vf s, c;
    vsincos(z, s, c);
    f[0] = s;
    if (ND >= 1) f[1] = c;
    if (ND >= 2) f[2] = -s;
    if (ND >= 3) f[3] = -c;
  } else if constexpr (ACT == RELU) {
    f[0] = vsel(z < 0.f, splat(0.f), z);  // NaN stays NaN, as torch.relu
    if (ND >= 1) f[1] = vsel(z > 0.f, splat(1.f), splat(0.f));
    if (ND >= 2) f[2] = splat(0.f);
    if (ND >= 3) f[3] = splat(0.f);
  } else if constexpr (ACT == LEAKY_RELU) {
    vf slope = vsel(z > 0.f, splat(1.f), splat(LEAKY_SLOPE));
    f[0] = z * slope;
    if (ND >= 1) f[1] = slope;
    if (ND >= 2) f[2] = splat(0.f);
    if (ND >= 3) f[3] = splat(0.f);
  } else {  // SOFTPLUS: log(1 + e^z), z itself above torch's threshold 20
    vf s = vsigmoid(z);
    f[0] = vsel(z > 20.f, z, vsel(z < 0.f, splat(0.f), z) + vlog1p(vexp(-vabs(z))));
    if (ND >= 1) f[1] = s;
    if (ND >= 2) f[2] = s * (1.f - s);
    if (ND >= 3) f[3] = s * (1.f - s) * (1.f - 2.f * s);
  }
}

// -- the network's shape and where everything lives -----------------------------------------------------
struct Net {
  int n_in, n_out, width, depth, hidden, L, act, dim, order, S, n, NP, SP, M;
  bool residual, out_tanh, sn;
  std::vector<int> din, dout, woff, boff, uoff, drop;  // per layer; drop: mask index or -1
  std::vector<int64_t> Aoff, Zoff, Woff;  // tape: layer inputs, pre-activations, normalised W
  int64_t Moff, Soff, Voff, Uoff, tape;  // tape: masks, sigmas, v, u (spectral norm)
  int64_t P, U;  // parameters and spectral-norm vector entries per replica

  // spec: n_in, n_out, width, depth, residual, activation, output_tanh, spectral_norm, dim, order
  Net(const std::vector<int64_t>& spec, int n_points, int masks) {
    n_in = (int)spec[0]; n_out = (int)spec[1]; width = (int)spec[2]; depth = (int)spec[3];
    residual = spec[4] != 0; act = (int)spec[5]; out_tanh = spec[6] != 0; sn = spec[7] != 0;
    dim = (int)spec[8]; order = (int)spec[9];
    S = 1 + dim * order;
    n = n_points;
    NP = (n + VL - 1) / VL * VL;
    SP = S * NP;
    M = masks;
    hidden = residual ? 2 * depth + 1 : depth;
    L = hidden + 1;
    std::vector<int> w(L + 1, width);
    w[0] = n_in;
    w[L] = n_out;
    int64_t off = 0, uo = 0;
    for (int l = 0; l < L; ++l) {
      din.push_back(w[l]); dout.push_back(w[l + 1]);
      woff.push_back((int)off); off += (int64_t)w[l] * w[l + 1];
      boff.push_back((int)off); off += w[l + 1];
      uoff.push_back((int)uo); uo += w[l + 1];
      // dropout: after every hidden layer (plain), after every block (residual)
      int d = -1;
      if (l < hidden) d = residual ? (l >= 2 && l % 2 == 0 ? l / 2 - 1 : -1) : l;
      drop.push_back(M > 0 ? d : -1);
    }
    P = off; U = uo;
    int64_t t = 0;
    for (int l = 0; l <= hidden; ++l) { Aoff.push_back(t); t += (int64_t)din[l] * SP; }
    for (int l = 0; l < L; ++l) {
      Zoff.push_back(t);
      if (l < hidden || out_tanh) t += (int64_t)dout[l] * SP;
    }
    Moff = t; t += (int64_t)M * width * NP;
    for (int l = 0; l < L; ++l) { Woff.push_back(t); if (sn) t += (int64_t)din[l] * dout[l]; }
    Soff = t; if (sn) t += L;
    Voff = t;
    if (sn) for (int l = 0; l < L; ++l) t += din[l];
    Uoff = t; if (sn) t += U;
    tape = (t + VL - 1) / VL * VL;  // each replica's tape starts on a cache line
  }
  bool skip(int l) const { return residual && l >= 2 && l % 2 == 0 && l < hidden; }
};

// -- small GEMMs ------------------------------------------------------------------------------------
// C[m][0:N] = (add ? add[m][0:N] : 0) + sum_k M(m, k) B[k][0:N], M(m, k) = Mp[m * ms + k * ks];
// B, C and add have rows of N contiguous floats, N a multiple of VL. Blocks of 4 rows x JB
// vectors: JB = 4 with AVX-512's 32 vector registers, else 2 (16 registers).
#ifdef __AVX512F__
constexpr int JB = 4;
#else
constexpr int JB = 2;
#endif

// one block: rows m..m+R-1, columns j..j+V*VL-1 (R <= 4, V <= JB)
template <int R, int V>
inline void gemm_block(const float* Mp, int ms, int ks, const float* B, const float* add, float* C,
                       int m, int j, int Kd, int N) {
  vf c[R][V];
  for (int r = 0; r < R; ++r)
    for (int h = 0; h < V; ++h)
      c[r][h] = add ? ld(add + (size_t)(m + r) * N + j + h * VL) : splat(0.f);
  for (int k = 0; k < Kd; ++k) {
    const float* b = B + (size_t)k * N + j;
    vf bv[V], w[R];
    for (int h = 0; h < V; ++h) bv[h] = ld(b + h * VL);
    for (int r = 0; r < R; ++r) w[r] = splat(Mp[(m + r) * ms + k * ks]);
    for (int r = 0; r < R; ++r) KEEP(w[r]);
    for (int h = 0; h < V; ++h) KEEP(bv[h]);
    for (int r = 0; r < R; ++r)
      for (int h = 0; h < V; ++h) c[r][h] += w[r] * bv[h];
  }
  for (int r = 0; r < R; ++r)
    for (int h = 0; h < V; ++h) st(C + (size_t)(m + r) * N + j + h * VL, c[r][h]);
}

template <int R>
inline void gemm_rows(const float* Mp, int ms, int ks, const float* B, const float* add, float* C,
                      int m, int Kd, int N) {
  int j = 0;
  for (; j + JB * VL <= N; j += JB * VL) gemm_block<R, JB>(Mp, ms, ks, B, add, C, m, j, Kd, N);
  switch ((N - j) / VL) {  // the columns left over, in one block
    case 3: return gemm_block<R, 3>(Mp, ms, ks, B, add, C, m, j, Kd, N);
    case 2: return gemm_block<R, 2>(Mp, ms, ks, B, add, C, m, j, Kd, N);
    case 1: return gemm_block<R, 1>(Mp, ms, ks, B, add, C, m, j, Kd, N);
  }
}

void gemm(const float* Mp, int ms, int ks, const float* B, const float* add, float* C, int Mr,
          int Kd, int N) {
  int m = 0;
  for (; m + 4 <= Mr; m += 4) gemm_rows<4>(Mp, ms, ks, B, add, C, m, Kd, N);
  switch (Mr - m) {
    case 3: return gemm_rows<3>(Mp, ms, ks, B, add, C, m, Kd, N);
    case 2: return gemm_rows<2>(Mp, ms, ks, B, add, C, m, Kd, N);
    case 1: return gemm_rows<1>(Mp, ms, ks, B, add, C, m, Kd, N);
  }
}

// the lanes of each of 8 vectors summed: out[i] = sum of acc[i] (a shuffle tree: 2-3 vector
// operations per sum instead of VL scalar additions)
inline void reduce8(const vf* acc, float* out) {
#if defined(__AVX512F__)
  vf s[4], t[2];
  for (int i = 0; i < 4; ++i) {
    const vf a = acc[2 * i], b = acc[2 * i + 1];
    s[i] = __builtin_shufflevector(a, b, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23)
         + __builtin_shufflevector(a, b, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
  }
  for (int i = 0; i < 2; ++i) {
    const vf a = s[2 * i], b = s[2 * i + 1];
    t[i] = __builtin_shufflevector(a, b, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27)
         + __builtin_shufflevector(a, b, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
  }
  vf u = __builtin_shufflevector(t[0], t[1], 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29)
       + __builtin_shufflevector(t[0], t[1], 2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31);
  u = u + __builtin_shufflevector(u, u, 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14);
  for (int i = 0; i < 8; ++i) out[i] = u[2 * i];
#elif defined(__AVX__)
  vf s[4], t[2];
  for (int i = 0; i < 4; ++i) {
    const vf a = acc[2 * i], b = acc[2 * i + 1];
    s[i] = __builtin_shufflevector(a, b, 0, 1, 2, 3, 8, 9, 10, 11)
         + __builtin_shufflevector(a, b, 4, 5, 6, 7, 12, 13, 14, 15);
  }
  for (int i = 0; i < 2; ++i) {
    const vf a = s[2 * i], b = s[2 * i + 1];
    t[i] = __builtin_shufflevector(a, b, 0, 1, 4, 5, 8, 9, 12, 13)
         + __builtin_shufflevector(a, b, 2, 3, 6, 7, 10, 11, 14, 15);
  }
  const vf u = __builtin_shufflevector(t[0], t[1], 0, 2, 4, 6, 8, 10, 12, 14)
             + __builtin_shufflevector(t[0], t[1], 1, 3, 5, 7, 9, 11, 13, 15);
  for (int i = 0; i < 8; ++i) out[i] = u[i];
#else
  for (int i = 0; i < 8; ++i) out[i] = hsum(acc[i]);
#endif
}

// G[c * ldg + o] = sum_j A[c][j] Z[o][j], j < N: a weight gradient (A: layer input, Z: its grad).
// Blocks of 4 x OB outputs, OB = 4 with AVX-512's 32 vector registers, else 2
#ifdef __AVX512F__
constexpr int OB = 4;
#else
constexpr int OB = 2;
#endif
void wgrad(const float* A, const float* Z, float* G, int Cn, int On, int N, int ldg) {
  int c = 0;
  for (; c + 4 <= Cn; c += 4) {
    int o = 0;
    for (; o + OB <= On; o += OB) {
      vf acc[4 * OB];
      for (int a = 0; a < 4 * OB; ++a) acc[a] = splat(0.f);
      const float* a0 = A + (size_t)c * N;
      const float* z0 = Z + (size_t)o * N;
      for (int j = 0; j < N; j += VL) {
        vf z[OB], x[4];
        for (int h = 0; h < OB; ++h) z[h] = ld(z0 + (size_t)h * N + j);
        for (int a = 0; a < 4; ++a) x[a] = ld(a0 + (size_t)a * N + j);
        for (int h = 0; h < OB; ++h) KEEP(z[h]);
        for (int a = 0; a < 4; ++a) KEEP(x[a]);
        for (int a = 0; a < 4; ++a)
          for (int h = 0; h < OB; ++h) acc[OB * a + h] += x[a] * z[h];
      }
      float out[4 * OB];
      for (int i = 0; i < OB / 2; ++i) reduce8(acc + 8 * i, out + 8 * i);
      for (int a = 0; a < 4; ++a)
        for (int h = 0; h < OB; ++h) G[(size_t)(c + a) * ldg + o + h] = out[OB * a + h];
    }
    for (; o < On; ++o) {
      vf acc[4] = {splat(0.f), splat(0.f), splat(0.f), splat(0.f)};
      for (int j = 0; j < N; j += VL) {
        vf z0 = ld(Z + (size_t)o * N + j);
        for (int a = 0; a < 4; ++a) acc[a] += ld(A + (size_t)(c + a) * N + j) * z0;
      }
      for (int a = 0; a < 4; ++a) G[(size_t)(c + a) * ldg + o] = hsum(acc[a]);
    }
  }
  for (; c < Cn; ++c) {
    int o = 0;
    for (; o + 8 <= On; o += 8) {
      vf acc[8];
      for (int h = 0; h < 8; ++h) acc[h] = splat(0.f);
      for (int j = 0; j < N; j += VL) {
        vf x = ld(A + (size_t)c * N + j);
        for (int h = 0; h < 8; ++h) acc[h] += x * ld(Z + (size_t)(o + h) * N + j);
      }
      reduce8(acc, G + (size_t)c * ldg + o);
    }
    for (; o < On; ++o) {
      vf acc = splat(0.f);
      for (int j = 0; j < N; j += VL) acc += ld(A + (size_t)c * N + j) * ld(Z + (size_t)o * N + j);
      G[(size_t)c * ldg + o] = hsum(acc);
    }
  }
}

// -- activations on jets --------------------------------------------------------------------------
// rows of Z (pre-activation jets; b: the bias, added to the value stream here and kept in Z) ->
// rows of A = act(Z) * mask, every stream (jets.Jet.apply):
//   a0 = f(z0),  a1_i = f'(z0) z1_i,  a2_i = f''(z0) z1_i^2 + f'(z0) z2_i
template <int ACT>
void act_forward(const Net& net, float* Z, const float* b, float* A, int rows, const float* mask) {
  const int NP = net.NP, D = net.dim, SP = net.SP;
  for (int o = 0; o < rows; ++o) {
    float* z = Z + (size_t)o * SP;
    float* a = A + (size_t)o * SP;
    const float* mk = mask ? mask + (size_t)o * NP : nullptr;
    const vf bias = splat(b ? b[o] : 0.f);
    for (int p = 0; p < NP; p += VL) {
      vf f[4] = {};
      vf z0 = ld(z + p) + bias;
      st(z + p, z0);
      const vf m = mk ? ld(mk + p) : splat(1.f);
      if (net.order == 0) {
        derivs<ACT, 0>(z0, f);
        st(a + p, f[0] * m);
        continue;
      }
      if (net.order == 1) derivs<ACT, 1>(z0, f); else derivs<ACT, 2>(z0, f);
      st(a + p, f[0] * m);
      for (int i = 0; i < D; ++i) {
        const vf z1 = ld(z + (1 + i) * NP + p);
        st(a + (1 + i) * NP + p, f[1] * z1 * m);
        if (net.order == 2) {
          const vf z2 = ld(z + (1 + D + i) * NP + p);
          st(a + (1 + D + i) * NP + p, (f[2] * z1 * z1 + f[1] * z2) * m);
        }
      }
    }
  }
}

// the gradient of rows of A = act(Z) * mask back to Z: gZ from gA (may be the same buffer). A:
// the activation's output rows; tanh's derivatives come from its value t there (1 - t^2, ...)
// when no mask scaled it, instead of a second tanh
template <int ACT>
void act_backward(const Net& net, const float* Z, const float* A, const float* gA, float* gZ,
                  int rows, const float* mask) {
  const int NP = net.NP, D = net.dim, SP = net.SP;
  const bool from_t = ACT == TANH && !mask && A;
  for (int o = 0; o < rows; ++o) {
    const float* z = Z + (size_t)o * SP;
    const float* ga = gA + (size_t)o * SP;
    float* gz = gZ + (size_t)o * SP;
    const float* mk = mask ? mask + (size_t)o * NP : nullptr;
    for (int p = 0; p < NP; p += VL) {
      vf f[4] = {};
      const vf z0 = ld(z + p);
      const vf m = mk ? ld(mk + p) : splat(1.f);
      if (from_t) {
        const vf t = ld(A + (size_t)o * SP + p), s = 1.f - t * t;
        f[1] = s;
        f[2] = -2.f * t * s;
        f[3] = s * (4.f * t * t - 2.f * s);
      } else if (net.order == 0) {
        derivs<ACT, 1>(z0, f);
      } else if (net.order == 1) {
        derivs<ACT, 2>(z0, f);
      } else {
        derivs<ACT, 3>(z0, f);
      }
      vf g0 = ld(ga + p) * m * f[1];
      for (int i = 0; i < D && net.order > 0; ++i) {
        const vf z1 = ld(z + (1 + i) * NP + p);
        const vf g1 = ld(ga + (1 + i) * NP + p) * m;
        g0 += g1 * f[2] * z1;
        vf gz1 = g1 * f[1];
        if (net.order == 2) {
          const vf z2 = ld(z + (1 + D + i) * NP + p);
          const vf g2 = ld(ga + (1 + D + i) * NP + p) * m;
          g0 += g2 * (f[3] * z1 * z1 + f[2] * z2);
          gz1 += g2 * 2.f * f[2] * z1;
          st(gz + (1 + D + i) * NP + p, g2 * f[1]);
        }
        st(gz + (1 + i) * NP + p, gz1);
      }
      st(gz + p, g0);
    }
  }
}

void act_forward_any(int act, const Net& net, float* Z, const float* b, float* A, int rows,
                     const float* mk) {
  switch (act) {
    case TANH: return act_forward<TANH>(net, Z, b, A, rows, mk);
    case SWISH: return act_forward<SWISH>(net, Z, b, A, rows, mk);
    case SIN: return act_forward<SIN>(net, Z, b, A, rows, mk);
    case RELU: return act_forward<RELU>(net, Z, b, A, rows, mk);
    case LEAKY_RELU: return act_forward<LEAKY_RELU>(net, Z, b, A, rows, mk);
    default: return act_forward<SOFTPLUS>(net, Z, b, A, rows, mk);
  }
}

void act_backward_any(int act, const Net& net, const float* Z, const float* A, const float* gA,
                      float* gZ, int rows, const float* mk) {
  switch (act) {
    case TANH: return act_backward<TANH>(net, Z, A, gA, gZ, rows, mk);
    case SWISH: return act_backward<SWISH>(net, Z, A, gA, gZ, rows, mk);
    case SIN: return act_backward<SIN>(net, Z, A, gA, gZ, rows, mk);
    case RELU: return act_backward<RELU>(net, Z, A, gA, gZ, rows, mk);
    case LEAKY_RELU: return act_backward<LEAKY_RELU>(net, Z, A, gA, gZ, rows, mk);
    default: return act_backward<SOFTPLUS>(net, Z, A, gA, gZ, rows, mk);
  }
}

// -- spectral norm: one power iteration per training forward, as networks.BatchedMLP._normalised ----
// W (din x dout, row-major) -> Wn = W / sigma in the tape; u (dout) updated when `update`:
//   v = normalize(W u),  t = v^T W,  u' = t / |t|,  sigma = v^T W u' = |t|
void spectral(const Net& net, int l, const float* W, float* u, bool update, float* T, Buf& buf) {
  const int a = net.din[l], b = net.dout[l], bv = (b + VL - 1) / VL * VL;
  float* v = T + net.Voff;
  for (int k = 0; k < l; ++k) v += net.din[k];
  float* t = buf.get(bv);
  double nv = 0;
  for (int c = 0; c < a; ++c) {
    float x = 0.f;
    for (int o = 0; o < b; ++o) x += W[(size_t)c * b + o] * u[o];
    v[c] = x;
    nv += (double)x * x;
  }
  const float iv = (float)std::max(std::sqrt(nv), 1e-12);
  for (int c = 0; c < a; ++c) v[c] /= iv;
  std::fill(t, t + bv, 0.f);
  for (int c = 0; c < a; ++c) {  // t = v^T W, a row of W at a time
    const float* row = W + (size_t)c * b;
    for (int o = 0; o < b; ++o) t[o] += v[c] * row[o];
  }
  double nt = 0;
  for (int o = 0; o < b; ++o) nt += (double)t[o] * t[o];
  const float sg = (float)std::max(std::sqrt(nt), 1e-12);
  float* ut = T + net.Uoff + net.uoff[l];
  for (int o = 0; o < b; ++o) {
    ut[o] = t[o] / sg;
    if (update) u[o] = ut[o];
  }
  // sigma = v^T W u' = |t|, as the reference's einsum computes it up to round-off
  T[net.Soff + l] = sg;
  float* Wn = T + net.Woff[l];
  for (int j = 0; j < a * b; ++j) Wn[j] = W[j] / sg;
}

// d loss / d W from d loss / d Wn (in place): g / sigma - (sum g * W) / sigma^2 v u'^T
void spectral_backward(const Net& net, int l, const float* W, const float* T, float* g) {
  const int a = net.din[l], b = net.dout[l];
  const float sg = T[net.Soff + l];
  const float* vt = T + net.Voff;
  for (int k = 0; k < l; ++k) vt += net.din[k];
  const float* ut = T + net.Uoff + net.uoff[l];
  double dot = 0;
  for (int c = 0; c < a; ++c) {
    float x = 0.f;
    for (int o = 0; o < b; ++o) x += g[(size_t)c * b + o] * W[(size_t)c * b + o];
    dot += x;
  }
  const float coef = (float)(dot / ((double)sg * sg));
  for (int c = 0; c < a; ++c) {
    const float cv = coef * vt[c];
    float* row = g + (size_t)c * b;
    for (int o = 0; o < b; ++o) row[o] = row[o] / sg - cv * ut[o];
  }
}

// -- one replica: forward and backward --------------------------------------------------------------
const float* weight(const Net& net, int l, const float* P, const float* T) {
  return net.sn ? T + net.Woff[l] : P + net.woff[l];
}

// x: (S, n, n_in) -> y: (S, n, n_out); T: this replica's tape; u: its spectral-norm vector
void forward_one(const Net& net, const float* P, const float* x, const float* masks, float* u,
                 bool update_u, float* T, float* y, Buf& scratch) {
  const int n = net.n, NP = net.NP, SP = net.SP, S = net.S;
  float* A0 = T + net.Aoff[0];
  for (int c = 0; c < net.n_in; ++c)
    for (int s = 0; s < S; ++s) {
      float* row = A0 + (size_t)c * SP + s * NP;
      for (int p = 0; p < n; ++p) row[p] = x[((size_t)s * n + p) * net.n_in + c];
      std::fill(row + n, row + NP, 0.f);
    }
  if (net.M) {  // masks (M, n, width) -> tape (M, width, NP), zero-padded
    float* mt = T + net.Moff;
    std::fill(mt, mt + (size_t)net.M * net.width * NP, 0.f);
    for (int m = 0; m < net.M; ++m)
      for (int p = 0; p < n; ++p)
        for (int o = 0; o < net.width; ++o)
          mt[((size_t)m * net.width + o) * NP + p] = masks[((size_t)m * n + p) * net.width + o];
  }
  if (net.sn)
    for (int l = 0; l < net.L; ++l)
      spectral(net, l, P + net.woff[l], u + net.uoff[l], update_u, T, scratch);
  for (int l = 0; l < net.L; ++l) {
    const int rows = net.dout[l];
    const bool top = l == net.hidden;
    float* Z = !top || net.out_tanh ? T + net.Zoff[l] : scratch.get((size_t)rows * SP);
    // Z = W^T A (+ the block's input, for the second layer of a residual block)
    gemm(weight(net, l, P, T), 1, rows, T + net.Aoff[l], net.skip(l) ? T + net.Aoff[l - 1] : nullptr,
         Z, rows, net.din[l], SP);
    const float* b = P + net.boff[l];
    if (!top) {
      const float* mk = net.drop[l] >= 0 ? T + net.Moff + (size_t)net.drop[l] * net.width * NP : nullptr;
      act_forward_any(net.act, net, Z, b, T + net.Aoff[l + 1], rows, mk);
      continue;
    }
    const float* out = Z;
    if (net.out_tanh) {
      float* t = scratch.get((size_t)rows * SP);
      act_forward<TANH>(net, Z, b, t, rows, nullptr);
      out = t;
    }
    for (int s = 0; s < S; ++s)
      for (int p = 0; p < n; ++p)
        for (int o = 0; o < rows; ++o)
          y[((size_t)s * n + p) * rows + o] =
              out[(size_t)o * SP + s * NP + p] + (net.out_tanh || s > 0 ? 0.f : b[o]);
  }
}

// gy: (S, n, n_out) -> gP (P) if wanted, gx (S, n, n_in) if wanted
void backward_one(const Net& net, const float* P, const float* T, const float* gy, float* gP,
                  float* gx, Buf& scratch) {
  const int n = net.n, NP = net.NP, SP = net.SP, S = net.S;
  const size_t buf = (size_t)std::max({net.width, net.n_in, net.n_out}) * SP;
  float* gZ = scratch.get(3 * buf);  // d loss / d this layer's pre-activation
  float* gA = gZ + buf;              // d loss / d this layer's input
  float* pending = gA + buf;         // d loss / d a block's input, through its skip
  const int top = net.hidden;
  for (int s = 0; s < S; ++s)
    for (int o = 0; o < net.n_out; ++o) {
      float* row = gZ + (size_t)o * SP + s * NP;
      for (int p = 0; p < n; ++p) row[p] = gy[((size_t)s * n + p) * net.n_out + o];
      std::fill(row + n, row + NP, 0.f);  // padded points: zero gradients all the way down
    }
  if (net.out_tanh)
    act_backward<TANH>(net, T + net.Zoff[top], nullptr, gZ, gZ, net.n_out, nullptr);
  bool has_pending = false;
  for (int l = top; l >= 0; --l) {
    const int a = net.din[l], b = net.dout[l];
    const float* W = weight(net, l, P, T);
    if (gP) {
      float* gW = gP + net.woff[l];
      wgrad(T + net.Aoff[l], gZ, gW, a, b, SP, b);
      if (net.sn) spectral_backward(net, l, P + net.woff[l], T, gW);
      for (int o = 0; o < b; ++o) {
        vf acc = splat(0.f);
        for (int p = 0; p < NP; p += VL) acc += ld(gZ + (size_t)o * SP + p);
        gP[net.boff[l] + o] = hsum(acc);
      }
    }
    if (l == 0) {
      if (gx) gemm(W, b, 1, gZ, nullptr, gA, a, b, SP);
      break;
    }
    // gA = W gZ (+ what reached this input through a skip)
    gemm(W, b, 1, gZ, has_pending ? pending : nullptr, gA, a, b, SP);
    has_pending = false;
    if (net.skip(l)) {  // Z_l = A_l W + b + A_{l-1}: A_{l-1} receives gZ_l as it is
      std::swap(pending, gZ);
      has_pending = true;
    }
    const float* mk = net.drop[l - 1] >= 0 ? T + net.Moff + (size_t)net.drop[l - 1] * net.width * NP
                                           : nullptr;
    act_backward_any(net.act, net, T + net.Zoff[l - 1], T + net.Aoff[l], gA, gZ, a, mk);
  }
  if (gx)
    for (int s = 0; s < S; ++s)
      for (int p = 0; p < n; ++p)
        for (int c = 0; c < net.n_in; ++c)
          gx[((size_t)s * n + p) * net.n_in + c] = gA[(size_t)c * SP + s * NP + p];
}

// -- Adam, one replica's row ---------------------------------------------------------------------------
struct Adam {  // optim.BatchedAdam's state for one (R, P) parameter; steps counted by the caller
  float* p; float* m; float* v; const double* steps; const double* scale;
  double lr, b1, b2, eps;
};

// torch's Adam on row r of N entries:  m = lerp(m, g, 1 - b1),  v = b2 v + (1 - b2) g^2,
// p -= m * step_size / (sqrt(v) / root_bc2 + eps),  step_size = lr scale / (1 - b1^t)
void adam_row(const Adam& a, int64_t r, int64_t N, const float* g) {
  const float w = (float)(1.0 - a.b1), fb2 = (float)a.b2, c2 = (float)(1.0 - a.b2);
  const float e = (float)a.eps;
  const float ss = (float)(a.lr * a.scale[r] / (1.0 - std::pow(a.b1, a.steps[r])));
  const float rb = (float)std::sqrt(1.0 - std::pow(a.b2, a.steps[r]));
  float* __restrict p = a.p + r * N;
  float* __restrict m = a.m + r * N;
  float* __restrict v = a.v + r * N;
  const float* __restrict gr = g;
  for (int64_t j = 0; j < N; ++j) {
    const float gj = gr[j];
    // torch's lerp: self + w (end - self) for w < 0.5, else end - (end - self) (1 - w)
    m[j] = w < 0.5f ? m[j] + w * (gj - m[j]) : gj - (gj - m[j]) * (1.f - w);
    v[j] = v[j] * fb2 + c2 * gj * gj;
    p[j] = p[j] - (m[j] * ss) / (std::sqrt(v[j]) / rb + e);
  }
}

// -- the fused steps of a differential equation ------------------------------------------------------
// What train()'s G step and D step compute, for every seed in one call, when the residual is
// affine in G's output jet N at each point: r = b + M N (fused.py computes b and M from the
// problem's own code once per draw of the points).
enum Method { GAN = 0, L2 = 1, L1 = 2, HUBER = 3 };

struct Step {
  int64_t K, n, E, dim;   // seeds, points, residual channels (equations), coordinates
  int64_t groups;         // D replicas per seed: E (one D per equation) or 1
  int64_t cond;           // D also sees the coordinates
  int64_t method;         // Method
  int64_t d_mean;         // D's loss: the mean of its two terms (else their sum)
  int64_t d_masks;        // D's dropout layers (0: none)
  double huber_delta;
  const int64_t* gspec;   // G: spec, input jet (K, S, n, n_in), Adam
  const float* g_in;
  Adam g;
  const float* b;         // (K, n, E)
  const float* M;         // (K, S, n, n_out, E)
  const int64_t* dspec;   // D: spec, Adam, spectral-norm vectors (or null)
  Adam d;
  float* du;
  const float* X;         // (K, n, dim) coordinates, for a conditional D
  // per call
  const float* masks_a;   // D's dropout masks (K * groups, d_masks, n, width): G step / D on real
  const float* masks_b;   //   D on fake
  const float* noise_a;   // instance noise (K, n, E), scaled, or null: G step / D on real
  const float* noise_b;   //   D on fake
  const float* real;      // D step: (K, n, E)
  const float* fake;
  const float* t_real;    // soft labels (K * groups, n) or null (1 and 0)
  const float* t_fake;
  float* loss;            // (K,)
  float* r;               // G step: the residual at the step's start (K, n, E)
  float* grad;            // null, or where the gradient Adam applied goes (the stepped net's
                          // (R, P)): for tests against the PyTorch steps
};

// D's input for replica g of seed k at every point: its residual channel(s) (+ noise), then the
// coordinates for a conditional D
void d_input(const Step& s, const Net& D, int64_t k, int64_t g, const float* z, const float* noise,
             float* din) {
  const int n = (int)s.n, E = (int)s.E, cin = D.n_in;
  const int zc = s.groups > 1 ? 1 : E;
  for (int p = 0; p < n; ++p) {
    for (int c = 0; c < zc; ++c) {
      const int e = s.groups > 1 ? (int)g : c;
      const int64_t at = (k * n + p) * E + e;
      din[p * cin + c] = noise ? z[at] + noise[at] : z[at];
    }
    if (s.cond)
      for (int i = 0; i < s.dim; ++i) din[p * cin + zc + i] = s.X[(k * n + p) * s.dim + i];
  }
}

// binary cross-entropy with logits, as torch: (1 - t) x - log sigmoid(x)
inline double bce(double x, double t) {
  return (1.0 - t) * x - std::min(x, 0.0) + std::log1p(std::exp(-std::fabs(x)));
}
inline double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// one call's working memory, reused from call to call (thread_local: calls from two threads
// at once each have their own)
struct Work {
  Buf tape, tape2, x, y, y2, gy, gy2, gp, gp2, gx, r, dr, scratch;
};
thread_local Work work;

// G's step: loss and residual from the current weights, then Adam on G (D frozen)
void g_step(const Step& s) {
  const int n = (int)s.n, E = (int)s.E;
  const Net G(std::vector<int64_t>(s.gspec, s.gspec + 10), n, 0);
  const bool adv = s.method == GAN;
  const Net D = adv ? Net(std::vector<int64_t>(s.dspec, s.dspec + 10), n, (int)s.d_masks) : G;
  const int S = G.S, no = G.n_out, di = D.n_in, dout = D.n_out;
  Work& w = work;
  float* tg = w.tape.get(G.tape);
  float* y = w.y.get((size_t)S * n * no);
  float* gy = w.gy.get((size_t)S * n * no);
  float* gp = w.gp.get(G.P);
  float* td = w.tape2.get(adv ? D.tape : 1);
  float* din = w.x.get((size_t)n * di);
  float* gdin = w.gx.get((size_t)n * di);
  float* dy = w.y2.get((size_t)n * dout);
  float* gdy = w.gy2.get((size_t)n * dout);
  float* r = w.r.get((size_t)n * E);
  float* dr = w.dr.get((size_t)n * E);
  const int64_t in_size = (int64_t)S * n * G.n_in, msize = (int64_t)s.d_masks * n * D.width;
  for (int64_t k = 0; k < s.K; ++k) {
    forward_one(G, s.g.p + k * G.P, s.g_in + k * in_size, nullptr, nullptr, false, tg, y, w.scratch);
    const float* Mk = s.M + k * (int64_t)S * n * no * E;
    for (int p = 0; p < n; ++p)  // r = b + M N, point by point
      for (int e = 0; e < E; ++e) {
        float acc = s.b[(k * n + p) * E + e];
        for (int j = 0; j < S; ++j)
          for (int c = 0; c < no; ++c)
            acc += Mk[(((int64_t)j * n + p) * no + c) * E + e] * y[((size_t)j * n + p) * no + c];
        r[(size_t)p * E + e] = acc;
      }
    std::copy(r, r + (size_t)n * E, s.r + k * n * E);
    std::fill(dr, dr + (size_t)n * E, 0.f);
    double loss = 0;
    if (adv) {  // BCE(D(r), 1): the mean over the seed's D replicas and points
      const double count = (double)s.groups * n;
      for (int64_t g = 0; g < s.groups; ++g) {
        const int64_t d = k * s.groups + g;
        d_input(s, D, k, g, s.r, s.noise_a, din);
        forward_one(D, s.d.p + d * D.P, din, s.masks_a ? s.masks_a + d * msize : nullptr,
                    s.du ? s.du + d * D.U : nullptr, true, td, dy, w.scratch);
        std::fill(gdy, gdy + (size_t)n * dout, 0.f);
        for (int p = 0; p < n; ++p) {
          const double x = dy[(size_t)p * dout];
          loss += bce(x, 1.0);
          gdy[(size_t)p * dout] = (float)((sigmoid(x) - 1.0) / count);
        }
        backward_one(D, s.d.p + d * D.P, td, gdy, nullptr, gdin, w.scratch);
        for (int p = 0; p < n; ++p) {
          if (s.groups > 1) dr[(size_t)p * E + g] += gdin[(size_t)p * di];
          else for (int e = 0; e < E; ++e) dr[(size_t)p * E + e] += gdin[(size_t)p * di + e];
        }
      }
      loss /= count;
    } else {  // the classical losses of r: the mean over points and equations
      const double count = (double)n * E, delta = s.huber_delta;
      for (size_t j = 0; j < (size_t)n * E; ++j) {
        const double v = r[j], a = std::fabs(v);
        if (s.method == L2) {
          loss += v * v;
          dr[j] = (float)(2.0 * v / count);
        } else if (s.method == L1) {
          loss += a;
          dr[j] = (float)(((v > 0) - (v < 0)) / count);
        } else {
          loss += a < delta ? 0.5 * v * v : delta * (a - 0.5 * delta);
          dr[j] = (float)((v < -delta ? -delta : v > delta ? delta : v) / count);
        }
      }
      loss /= count;
    }
    s.loss[k] = (float)loss;
    for (int j = 0; j < S; ++j)  // d loss / d N = M^T (d loss / d r), point by point
      for (int p = 0; p < n; ++p)
        for (int c = 0; c < no; ++c) {
          float acc = 0.f;
          for (int e = 0; e < E; ++e)
            acc += Mk[(((int64_t)j * n + p) * no + c) * E + e] * dr[(size_t)p * E + e];
          gy[((size_t)j * n + p) * no + c] = acc;
        }
    backward_one(G, s.g.p + k * G.P, tg, gy, gp, nullptr, w.scratch);
    if (s.grad) std::copy(gp, gp + G.P, s.grad + k * G.P);
    adam_row(s.g, k, G.P, gp);
  }
}

// D's step on a (real, fake) pair: BCE(D(real), 1) + BCE(D(fake), 0) (soft labels if given;
// halved when d_mean), then Adam on D
void d_step(const Step& s) {
  const int n = (int)s.n;
  const Net D(std::vector<int64_t>(s.dspec, s.dspec + 10), n, (int)s.d_masks);
  const int dout = D.n_out;
  Work& w = work;
  float* tr = w.tape.get(D.tape);
  float* tf = w.tape2.get(D.tape);
  float* din = w.x.get((size_t)n * D.n_in);
  float* yr = w.y.get((size_t)n * dout);
  float* yf = w.y2.get((size_t)n * dout);
  float* gyr = w.gy.get((size_t)n * dout);
  float* gyf = w.gy2.get((size_t)n * dout);
  float* gp = w.gp.get(D.P);
  float* gp2 = w.gp2.get(D.P);
  const int64_t msize = (int64_t)s.d_masks * n * D.width;
  const double half = s.d_mean ? 0.5 : 1.0, count = (double)s.groups * n;
  for (int64_t k = 0; k < s.K; ++k) {
    double loss = 0;
    for (int64_t g = 0; g < s.groups; ++g) {
      const int64_t d = k * s.groups + g;
      float* u = s.du ? s.du + d * D.U : nullptr;
      d_input(s, D, k, g, s.real, s.noise_a, din);
      forward_one(D, s.d.p + d * D.P, din, s.masks_a ? s.masks_a + d * msize : nullptr, u, true,
                  tr, yr, w.scratch);
      d_input(s, D, k, g, s.fake, s.noise_b, din);
      forward_one(D, s.d.p + d * D.P, din, s.masks_b ? s.masks_b + d * msize : nullptr, u, true,
                  tf, yf, w.scratch);
      std::fill(gyr, gyr + (size_t)n * dout, 0.f);
      std::fill(gyf, gyf + (size_t)n * dout, 0.f);
      for (int p = 0; p < n; ++p) {
        const double xr = yr[(size_t)p * dout], xf = yf[(size_t)p * dout];
        const double t1 = s.t_real ? s.t_real[d * n + p] : 1.0;
        const double t0 = s.t_fake ? s.t_fake[d * n + p] : 0.0;
        loss += half * (bce(xr, t1) + bce(xf, t0)) / count;
        gyr[(size_t)p * dout] = (float)(half * (sigmoid(xr) - t1) / count);
        gyf[(size_t)p * dout] = (float)(half * (sigmoid(xf) - t0) / count);
      }
      backward_one(D, s.d.p + d * D.P, tr, gyr, gp, nullptr, w.scratch);
      backward_one(D, s.d.p + d * D.P, tf, gyf, gp2, nullptr, w.scratch);
      for (int64_t j = 0; j < D.P; ++j) gp[j] += gp2[j];
      if (s.grad) std::copy(gp, gp + D.P, s.grad + d * D.P);
      adam_row(s.d, d, D.P, gp);
    }
    s.loss[k] = (float)loss;
  }
}

}  // namespace

// -- the C interface (gan_core/native.py and fused.py check every shape before they call) -----------
// spec: n_in, n_out, width, depth, residual, activation, output_tanh, spectral_norm, dim, order;
// n: points; masks: dropout layers (0: none). Per replica r of R, contiguous float32: params P,
// x (S, n, n_in), masks (M, n, width), u U (spectral norm), tape T, y (S, n, n_out).
extern "C" {

int64_t gc_step_size() { return (int64_t)sizeof(Step); }

// sizes = {P, U, T, S}
void gc_mlp_sizes(const int64_t* spec, int n, int masks, int64_t* sizes) {
  const Net net(std::vector<int64_t>(spec, spec + 10), n, masks);
  sizes[0] = net.P; sizes[1] = net.U; sizes[2] = net.tape; sizes[3] = net.S;
}

void gc_mlp_forward(const int64_t* spec, int64_t R, int n, int masks, const float* params,
                    const float* x, const float* mk, float* u, int update_u, float* tape, float* y) {
  const Net net(std::vector<int64_t>(spec, spec + 10), n, masks);
  const int64_t xs = (int64_t)net.S * n * net.n_in, ys = (int64_t)net.S * n * net.n_out;
  const int64_t ms = (int64_t)masks * n * net.width;
  for (int64_t r = 0; r < R; ++r)
    forward_one(net, params + r * net.P, x + r * xs, mk ? mk + r * ms : nullptr,
                u ? u + r * net.U : nullptr, update_u != 0, tape + r * net.tape, y + r * ys,
                work.scratch);
}

// gp (R, P) and gx (R, S, n, n_in) may be null: not wanted
void gc_mlp_backward(const int64_t* spec, int64_t R, int n, int masks, const float* params,
                     const float* tape, const float* gy, float* gp, float* gx) {
  const Net net(std::vector<int64_t>(spec, spec + 10), n, masks);
  const int64_t xs = (int64_t)net.S * n * net.n_in, ys = (int64_t)net.S * n * net.n_out;
  for (int64_t r = 0; r < R; ++r)
    backward_one(net, params + r * net.P, tape + r * net.tape, gy + r * ys,
                 gp ? gp + r * net.P : nullptr, gx ? gx + r * xs : nullptr, work.scratch);
}

// optim.BatchedAdam.step for one (R, N) parameter (steps: counted already)
void gc_adam(int64_t R, int64_t N, float* p, const float* g, float* m, float* v, const double* steps,
             const double* scale, double lr, double b1, double b2, double eps) {
  const Adam a{p, m, v, steps, scale, lr, b1, b2, eps};
  for (int64_t r = 0; r < R; ++r) adam_row(a, r, N, g + r * N);
}

void gc_g_step(const Step* s) { g_step(*s); }

void gc_d_step(const Step* s) { d_step(*s); }

}  // extern "C"
