"""Generate the C source of QIGen's GEMV / GEMM kernels: one skeleton, one vocabulary per ISA.

:func:`generate` turns a :class:`KernelSpec` into a complete C translation unit exporting one
function named :attr:`KernelSpec.name`. The skeleton (this module's ``_gemv`` / ``_gemm``) fixes
the loop nest; the vocabulary classes (:class:`Portable`, :class:`AVX2`, :class:`AVX512`) only spell
single vector statements. Every parameter that changes the code is in the kernel's name, e.g.
``qigen_q4_g128_gemv_1x16_a2__avx2``; the source starts with a comment naming the spec that made it.

Loop nest (notation of BLIS: the tile loop is "JR" over ``NR`` output rows, the batch loop "IR"
over ``MR`` activation rows; K is streamed whole, group by group):

GEMV (decode, batch 1), with QIGen's zero-point trick: for output row ``n`` and group
``j`` with scale ``s`` and minimum ``m``, ``sum_k (s q_k + m) x_k = s * sum_k q_k x_k + m * X_j``
where ``X_j = sum_{k in j} x_k`` is computed once per call; the inner loop is then only
unpack-convert-FMA on integer codes. ``nacc`` independent accumulator sets hide FMA latency.

GEMM (prompt, batch M): a thread dequantizes ``PANEL_KC`` x ``NR`` weights of its tile once into
a float panel that stays in L1 (``w = s q + m``), then a register-blocked micro-kernel
(``MR`` x ``NR`` accumulators, the BLIS scheme) streams the panel past every block of ``MR``
activation rows: the dequantization is shared by all M rows and the inner loop is only loads,
broadcasts and FMAs.

Integer GEMV (``gemv_i8``, beyond the paper; how today's llama.cpp computes): activations rounded
to int8 per block of 32, 4-bit codes multiplied as unsigned bytes with ``maddubs`` (AVX2) or
``vpdpbusd`` (AVX-512 VNNI), integer sums scaled to float once per block (see :func:`_gemv_i8`).
The integer GEMM (``gemm_i8``) does the same for ``MR`` activation rows at a time, splitting each
unit's nibbles once for all of them (:func:`_gemm_i8`).
"""

from __future__ import annotations

from dataclasses import dataclass

from mlroundup.kernels.pool import C_DECLARATIONS as POOL_DECLARATIONS
from mlroundup.qigen.layout import unit_shape
from mlroundup.qigen.quant import check_bits, check_scale_dtype

KINDS = ("gemv", "gemm", "gemv_i8", "gemm_i8")
#: ISAs with an integer (int8-activation) GEMV.
INT8_ISAS = ("avx2", "avx512vnni")


class Portable:
    """Portable C (GCC/Clang vector extensions, any architecture): 8 lanes per vector.

    The compiler lowers the vector types to whatever the target has (SSE2, NEON, or scalars).
    """

    name = "portable"
    lanes = 8
    flags: tuple[str, ...] = ()
    features: tuple[str, ...] = ()
    headers = (
        "typedef float vf_ __attribute__((vector_size(32)));\n"
        "typedef uint32_t vu_ __attribute__((vector_size(32)));\n"
    )

    def prelude(self, bits: int) -> str:
        return ""

    def zero(self, v: str) -> str:
        return f"vf_ {v} = {{0}};"

    def load_f(self, v: str, p: str) -> str:
        return f"vf_ {v}; memcpy(&{v}, {p}, sizeof {v});"

    def load_w(self, v: str, p: str) -> str:
        return f"vu_ {v}; memcpy(&{v}, {p}, sizeof {v});"

    #: C helpers the float16 loads need (emitted once per kernel that reads float16 scales).
    half_helpers = (
        "static inline float h2f_(uint16_t h) {  /* IEEE binary16 -> binary32, exact */\n"
        "    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu,"
        " m = h & 0x3ffu;\n"
        "    uint32_t b; float f;\n"
        "    if (e == 0) { f = (float)m * 5.9604644775390625e-8f; return sign ? -f : f; }\n"
        "    b = e == 31 ? (sign | 0x7f800000u | (m << 13)) : (sign | ((e + 112) << 23) | (m << 13));\n"
        "    memcpy(&f, &b, sizeof f); return f;\n"
        "}\n"
    )

    def load_h(self, v: str, p: str) -> str:
        """A vector of floats from ``lanes`` float16 values at ``p``."""
        return (f"vf_ {v}; for (int i_ = 0; i_ < {self.lanes}; i_++) "
                f"{v}[i_] = h2f_(({p})[i_]);")  # fmt: skip

    def extract(self, v: str, lo: str, off: int, bits: int, hi: str | None) -> str:
        e = f"({lo} >> {off})" if off else lo
        if hi is not None:
            e = f"({e} | ({hi} << {32 - off}))"
        if off + bits != 32 or hi is not None:
            e = f"({e} & {2**bits - 1}u)"
        return f"vf_ {v} = __builtin_convertvector({e}, vf_);"

    def extract_in_place(self, v: str, lo: str, off: int, bits: int) -> str:
        """Codes times ``2**off`` (masked in place, not shifted down); needs ``off + bits < 32``."""
        return f"vf_ {v} = __builtin_convertvector({lo} & {(2**bits - 1) << off}u, vf_);"

    def fma_scalar(self, acc: str, s: str, v: str) -> str:
        return f"{acc} += ({s}) * {v};"

    def fma_vec(self, acc: str, a: str, b: str) -> str:
        return f"{acc} += {a} * {b};"

    def fma_decl(self, v: str, a: str, b: str, c: str) -> str:
        return f"vf_ {v} = {a} * {b} + {c};"

    def add(self, acc: str, b: str) -> str:
        return f"{acc} += {b};"

    def store(self, p: str, v: str) -> str:
        return f"memcpy({p}, &{v}, sizeof {v});"


class _X86(Portable):
    """Shared spelling of the x86 intrinsic vocabularies (``P`` is the intrinsic prefix)."""

    P = ""
    ftype = ""
    itype = ""
    headers = "#include <immintrin.h>\n"

    def prelude(self, bits: int) -> str:
        return f"const {self.itype} mask_ = {self.P}_set1_epi32({2**bits - 1});"

    def zero(self, v: str) -> str:
        return f"{self.ftype} {v} = {self.P}_setzero_ps();"

    def load_f(self, v: str, p: str) -> str:
        return f"{self.ftype} {v} = {self.P}_loadu_ps({p});"

    def load_w(self, v: str, p: str) -> str:
        return f"{self.itype} {v} = {self.P}_loadu_si{self.lanes * 32}((const void*)({p}));"

    half_helpers = ""

    def load_h(self, v: str, p: str) -> str:
        """``lanes`` float16 values widened with F16C (AVX2) / AVX-512F ``vcvtph2ps``."""
        half = "_mm_loadu_si128((const __m128i*)" if self.lanes == 8 else (
            "_mm256_loadu_si256((const __m256i*)")  # fmt: skip
        return f"{self.ftype} {v} = {self.P}_cvtph_ps({half}({p})));"

    def extract(self, v: str, lo: str, off: int, bits: int, hi: str | None) -> str:
        P = self.P
        e = f"{P}_srli_epi32({lo}, {off})" if off else lo
        if hi is not None:
            e = f"{P}_or_si{self.lanes * 32}({e}, {P}_slli_epi32({hi}, {32 - off}))"
        if off + bits != 32 or hi is not None:
            e = f"{P}_and_si{self.lanes * 32}({e}, mask_)"
        return f"{self.ftype} {v} = {P}_cvtepi32_ps({e});"

    def extract_in_place(self, v: str, lo: str, off: int, bits: int) -> str:
        m = (2**bits - 1) << off
        e = f"{self.P}_and_si{self.lanes * 32}({lo}, {self.P}_set1_epi32((int){m}u))"
        return f"{self.ftype} {v} = {self.P}_cvtepi32_ps({e});"

    def fma_scalar(self, acc: str, s: str, v: str) -> str:
        return f"{acc} = {self.P}_fmadd_ps({self.P}_set1_ps({s}), {v}, {acc});"

    def fma_vec(self, acc: str, a: str, b: str) -> str:
        return f"{acc} = {self.P}_fmadd_ps({a}, {b}, {acc});"

    def fma_decl(self, v: str, a: str, b: str, c: str) -> str:
        return f"{self.ftype} {v} = {self.P}_fmadd_ps({a}, {b}, {c});"

    def add(self, acc: str, b: str) -> str:
        return f"{acc} = {self.P}_add_ps({acc}, {b});"

    def store(self, p: str, v: str) -> str:
        return f"{self.P}_storeu_ps({p}, {v});"

    # integer path (4-bit codes x int8 activations)
    def prelude_i8(self) -> str:
        return (
            f"const {self.itype} nib_ = {self.P}_set1_epi32(0x0F0F0F0F);\n"
            f"const {self.itype} ones16_ = {self.P}_set1_epi16(1);"
        )

    def izero(self, v: str) -> str:
        return f"{self.itype} {v} = {self.P}_setzero_si{self.lanes * 32}();"

    def nibbles(self, lo: str, hi: str, w: str) -> str:
        b = self.lanes * 32
        return (
            f"{self.itype} {lo} = {self.P}_and_si{b}({w}, nib_); "
            f"{self.itype} {hi} = {self.P}_and_si{b}({self.P}_srli_epi32({w}, 4), nib_);"
        )

    def dot2_u8s8(self, acc: str, u1: str, s1: str, u2: str, s2: str) -> str:
        """``acc += u1 . s1 + u2 . s2`` per 32-bit lane (4 unsigned x signed byte products each);
        ``s1``, ``s2`` are int32 scalars broadcast to every lane. Without VNNI: maddubs pairs
        (at most 4 * 15 * 127 = 7620 per 16-bit lane, no saturation), then madd with ones."""
        P = self.P
        return (
            f"{acc} = {P}_add_epi32({acc}, {P}_madd_epi16({P}_add_epi16("
            f"{P}_maddubs_epi16({u1}, {P}_set1_epi32({s1})), "
            f"{P}_maddubs_epi16({u2}, {P}_set1_epi32({s2}))), ones16_));"
        )

    def iadd(self, acc: str, b: str) -> str:
        return f"{acc} = {self.P}_add_epi32({acc}, {b});"

    def cvt_i(self, v: str, i: str) -> str:
        return f"{self.ftype} {v} = {self.P}_cvtepi32_ps({i});"


class AVX2(_X86):
    """AVX2 + FMA (+ F16C for float16 scales): 8 float lanes in ``__m256``."""

    name = "avx2"
    lanes = 8
    P = "_mm256"
    ftype, itype = "__m256", "__m256i"
    flags = ("-mavx2", "-mfma", "-mf16c")
    features = ("avx2", "fma", "f16c")


class AVX512(_X86):
    """AVX-512F: 16 float lanes in ``__m512`` (generated and compiled everywhere; run only where
    the CPU reports ``avx512f``)."""

    name = "avx512"
    lanes = 16
    P = "_mm512"
    ftype, itype = "__m512", "__m512i"
    flags = ("-mavx512f", "-mfma")
    features = ("avx512f",)

    def prelude(self, bits: int) -> str:
        table = ", ".join(f"{i & (2**bits - 1)}.0f" for i in range(16))
        return super().prelude(bits) + (
            f"\nconst __m512 codes_ = _mm512_setr_ps({table});" if bits <= 4 else "")  # fmt: skip

    def extract(self, v: str, lo: str, off: int, bits: int, hi: str | None) -> str:
        """The word's lowest code of at most 4 bits as a float in one ``vpermps`` (a lookup in
        the 16 floats ``i & (2**bits - 1)``, indexed by each lane's low 4 bits) instead of a
        mask and a conversion: a 4-bit unit's 8 codes take 23 instructions, not 24 (the float
        GEMV 5% faster with its weights in L2, 4-7% from DRAM, 2 threads)."""
        if off == 0 and hi is None and bits <= 4:
            return f"{self.ftype} {v} = _mm512_permutexvar_ps({lo}, codes_);"
        return super().extract(v, lo, off, bits, hi)


class AVX512VNNI(AVX512):
    """AVX-512 with VNNI: the float kernels of :class:`AVX512`, and ``vpdpbusd`` (4 byte products
    summed into a 32-bit lane in one instruction) in the integer GEMV."""

    name = "avx512vnni"
    flags = ("-mavx512f", "-mavx512bw", "-mavx512vnni", "-mfma")
    features = ("avx512f", "avx512bw", "avx512_vnni")

    def dot2_u8s8(self, acc: str, u1: str, s1: str, u2: str, s2: str) -> str:
        P = self.P
        return (
            f"{acc} = {P}_dpbusd_epi32({P}_dpbusd_epi32({acc}, {u1}, {P}_set1_epi32({s1})), "
            f"{u2}, {P}_set1_epi32({s2}));"
        )


ISAS: dict[str, Portable] = {v.name: v for v in (Portable(), AVX2(), AVX512(), AVX512VNNI())}


@dataclass(frozen=True)
class KernelSpec:
    """Everything that changes a kernel's code.

    Parameters
    ----------
    kind : {"gemv", "gemm", "gemv_i8", "gemm_i8"}
    bits : {2, 3, 4, 8}
    group_size : int or None
        Group length along K (a positive multiple of the packing unit); None for whole-row
        groups (one group per row, as everywhere in mlroundup's Python API).
    nv : int
        Vectors per tile, so ``NR = nv * lanes`` output rows per tile.
    nacc : int
        GEMV: independent accumulator sets; GEMM: ``MR``, activation rows per register block.
    isa : {"portable", "avx2", "avx512", "avx512vnni"}
    scale_dtype : {"float32", "float16"}
        Storage of the scales and minimums the kernel reads.
    prefetch : tuple of (int, int) pairs, optional
        GEMV kinds: the weight stream's software prefetches, ``(bytes ahead, locality)`` per
        pair (locality 3: into L1, 2: L2, 1: L3, 0: non-temporal; bytes ahead a positive
        multiple of 64, at most 1 MiB; at most 4 distinct pairs); ``()`` for none; None
        (default) for the kind's
        default on this CPU (:func:`default_prefetch`).
    """

    kind: str
    bits: int
    group_size: int | None
    nv: int
    nacc: int
    isa: str
    scale_dtype: str = "float32"
    prefetch: tuple[tuple[int, int], ...] | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"invalid kind={self.kind!r}: one of {KINDS}")
        check_bits(self.bits)
        check_scale_dtype(self.scale_dtype)
        if self.isa not in ISAS:
            raise ValueError(f"invalid isa={self.isa!r}: one of {tuple(ISAS)}")
        uv, _ = unit_shape(self.bits)
        g = self.group_size
        if g is not None and (isinstance(g, bool) or not isinstance(g, int) or g <= 0 or g % uv):
            raise ValueError(
                f"invalid group_size={g!r}: None (whole row) or a positive multiple of {uv}"
            )
        if self.kind.endswith("_i8") and (
            self.bits != 4 or self.isa not in INT8_ISAS or (g or 0) % 32
        ):
            raise ValueError(
                f"the integer kernels need bits=4, isa in {INT8_ISAS} and group_size None or a "
                f"multiple of 32; got bits={self.bits}, isa={self.isa!r}, "
                f"group_size={self.group_size}"
            )
        if not 1 <= self.nv <= 8:
            raise ValueError(f"invalid nv={self.nv}: 1..8")
        if not 1 <= self.nacc <= 8:
            raise ValueError(f"invalid nacc={self.nacc}: 1..8")
        if self.kind == "gemv_i8" and self.nacc > 4:
            raise ValueError(f"invalid nacc={self.nacc}: 1..4 for gemv_i8 (4 units per block)")
        if self.prefetch is not None:
            pf = self.prefetch
            ok = isinstance(pf, tuple) and all(
                isinstance(p, tuple) and len(p) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) for v in p)
                and 0 < p[0] <= 1 << 20 and p[0] % 64 == 0 and 0 <= p[1] <= 3
                for p in pf
            )  # fmt: skip
            if not ok or len(pf) > 4 or len(set(pf)) != len(pf):
                raise ValueError(
                    f"invalid prefetch={pf!r}: a tuple (not a list) of at most 4 distinct "
                    "(bytes ahead, locality) tuples of Python ints, bytes a positive multiple of "
                    "64 up to 1 MiB, locality 0..3"
                )
            if not self.kind.startswith("gemv"):
                raise ValueError(f"prefetch is a GEMV setting; kind={self.kind!r}")

    @property
    def prefetches(self) -> tuple[tuple[int, int], ...]:
        """The weight stream's software prefetches: :attr:`prefetch`, or this CPU's default
        for the kind and ISA (:func:`default_prefetch`)."""
        if self.prefetch is not None:
            return self.prefetch
        return default_prefetch(self.kind, self.isa)

    @property
    def nr(self) -> int:
        """Output rows per tile."""
        return self.nv * ISAS[self.isa].lanes

    @property
    def name(self) -> str:
        g = f"g{self.group_size}" if self.group_size else "grow"
        mr = self.nacc if self.kind.startswith("gemm") else 1
        acc = "" if self.kind.startswith("gemm") else f"_a{self.nacc}"
        sd = "_sf16" if self.scale_dtype == "float16" else ""
        pf = ("" if self.prefetch is None
              else "_pf" + ("none" if not self.prefetch else
                            "_".join(f"{a}l{loc}" for a, loc in self.prefetch)))  # fmt: skip
        return f"qigen_q{self.bits}_{g}_{self.kind}_{mr}x{self.nr}{acc}{sd}{pf}__{self.isa}"


def _in_place(off: int, bits: int, hi: str | int | None) -> bool:
    """A code can be masked in place when it neither straddles words nor reaches the sign bit
    (the prescaled activation ``x * 2**-off``, off <= 30, only underflows for |x| < 1e-29)."""
    return hi is None and 0 < off and off + bits < 32


def _unpack_unit(isa: Portable, spec: KernelSpec, wptr: str) -> tuple[list[str], list[tuple]]:
    """Statements loading one packing unit of a tile, and per value i the (lo, off, hi) words."""
    uv, uw = unit_shape(spec.bits)
    lines = []
    for w in range(uw):
        for v in range(spec.nv):
            lines.append(isa.load_w(f"w{w}_{v}", f"{wptr} + {w * spec.nr + v * isa.lanes}"))
    vals = []
    for i in range(uv):
        w, off = divmod(i * spec.bits, 32)
        vals.append((w, off, w + 1 if off + spec.bits > 32 else None))
    return lines, vals


#: Tasks per thread a parallel loop is cut into: the pool hands tasks out as threads free up, so
#: a thread slowed by another process's work (a shared machine) leaves its share to the others.
TASKS_PER_THREAD = 4

#: Large GEMVs are cut finer: into tasks of about :data:`GEMV_TASK_BYTES` of weights, at least
#: :data:`TASKS_PER_THREAD` and at most this many per thread (a 4096x4096 4-bit product: 32
#: tasks of 288 KB instead of 8 of 1.15 MB), so a thread that streams faster than the other
#: takes more of them instead of idling for up to one coarse task at the end; products of less
#: than ``TASKS_PER_THREAD`` such tasks per thread (SmolLM2's, TinyLlama's 2048x2048) keep the
#: split they had.
GEMV_TASKS_PER_THREAD = 16
GEMV_TASK_BYTES = 256 * 1024

#: Percent of a large GEMV's tiles (one cut into at least :data:`TASKS_PER_THREAD` tasks per
#: thread) given out first as one contiguous run per thread; the rest is the tasks of about
#: :data:`GEMV_TASK_BYTES` that a faster thread takes more of. From DRAM, 2 threads, against
#: the read probe in the same rounds, the integer GEMV of a 4096x4096 weight streamed 0.79 of
#: the probe with every task of ~288 KB, 0.83 with half of the tiles in the two long runs, 0.86
#: with 75%, 90% or all of them: long runs stream faster than the same bytes in tasks handed to
#: the two threads in turn (a task's first lines come without the prefetch ahead of them:
#: prefetching them at the task's start gained only 1-2%).
GEMV_HEAD_PERCENT = 75

#: C helpers every kernel uses to split a loop of ``count`` items over the worker pool.
_TASK_HELPERS = f"""
#define TASKS_PER_THREAD {TASKS_PER_THREAD}
static inline int64_t chunk_(int64_t count, int nthreads)
{{  /* items per task: about TASKS_PER_THREAD tasks per thread, at least one item */
    const int64_t want = (int64_t)nthreads * TASKS_PER_THREAD;
    return count <= want ? 1 : (count + want - 1) / want;
}}

#define GEMV_TASKS_PER_THREAD {GEMV_TASKS_PER_THREAD}
#define GEMV_TASK_BYTES {GEMV_TASK_BYTES}
static inline int64_t gemv_chunk_(int64_t count, int nthreads, int64_t tile_bytes)
{{  /* tiles per GEMV task: tasks of about GEMV_TASK_BYTES of weights, between TASKS_PER_THREAD
       and GEMV_TASKS_PER_THREAD of them per thread, a multiple of the threads */
    const int64_t lo = (int64_t)nthreads * TASKS_PER_THREAD;
    const int64_t hi = (int64_t)nthreads * GEMV_TASKS_PER_THREAD;
    int64_t tasks = count * tile_bytes / GEMV_TASK_BYTES;
    tasks = tasks < lo ? lo : tasks > hi ? hi : tasks;
    tasks -= tasks % nthreads;
    return count <= tasks ? 1 : (count + tasks - 1) / tasks;
}}

#define GEMV_HEAD_PERCENT {GEMV_HEAD_PERCENT}
static inline int64_t gemv_head_(int64_t count, int nthreads, int64_t per)
{{  /* items in each of the first nthreads tasks of a large GEMV (0: none): GEMV_HEAD_PERCENT of
       the tiles in one contiguous run per thread, the rest in tasks of `per` */
    if (nthreads < 2 || count < (int64_t)nthreads * TASKS_PER_THREAD * per) return 0;
    return count * GEMV_HEAD_PERCENT / 100 / nthreads;
}}

static void parallel_(mlr_parallel_for_fn pf, int nthreads, int64_t ntasks, mlr_task_fn fn,
                      void* ctx)
{{  /* fn(ctx, task, worker) for every task; on the pool when there is one */
    if (pf && nthreads > 1 && ntasks > 1 && pf(ntasks, fn, ctx, nthreads) == 0) return;
    for (int64_t i = 0; i < ntasks; i++) fn(ctx, i, 0);
}}
"""


def _tasks(
    name: str,
    fields: list[tuple[str, str]],
    body: str,
    per: str = "chunk_(count, nthreads)",
    head: str = "0",
) -> tuple[str, str]:
    """A parallel loop ``for (t = 0; t < count; t++) body`` over the worker pool.

    Returns ``(definitions, dispatch)``: the context struct and task function (file scope; the
    task declares every field as a local of the same name, so ``body`` reads like the loop it
    replaces, with ``worker`` the running thread's index in ``[0, nthreads)``), and the
    statements that fill the context from the caller's locals of those names and run the tasks
    (``count``, ``pf`` and ``nthreads`` must be in scope there). Tasks hold ``per`` items each,
    except, when the C expression ``head`` (which may use ``per_``) is positive, the first
    ``nthreads`` tasks, which hold ``head`` items each."""
    decl = "".join(f"    {t} {n};\n" for t, n in fields)
    unpack = "".join(f"    {t} {'restrict ' if t.endswith('*') else ''}{n} = c_->{n};\n"
                     for t, n in fields)  # fmt: skip
    defs = f"""
typedef struct {{
{decl}    int64_t per_, count_, head_, heads_;
}} {name}_ctx;

static void {name}_task(void* ctx_, int64_t task, int worker)
{{
    const {name}_ctx* c_ = (const {name}_ctx*)ctx_;
{unpack}    (void)worker;
    const int64_t ht_ = task < c_->heads_ ? task : c_->heads_;  /* head tasks before this one */
    const int64_t lo_ = ht_ * c_->head_ + (task - ht_) * c_->per_;
    const int64_t len_ = task < c_->heads_ ? c_->head_ : c_->per_;
    const int64_t hi_ = lo_ + len_ < c_->count_ ? lo_ + len_ : c_->count_;
    for (int64_t t = lo_; t < hi_; t++) {{
{body}
    }}
}}
"""
    init = ", ".join(f".{n} = {n}" for _, n in fields)
    dispatch = (
        f"{{ {name}_ctx c_ = {{{init}, .per_ = {per}, .count_ = count}};\n"
        f"      {{ const int64_t per_ = c_.per_; c_.head_ = {head}; (void)per_; }}\n"
        "      c_.heads_ = c_.head_ > 0 ? nthreads : 0;\n"
        "      const int64_t rest_ = count - c_.heads_ * c_.head_;\n"
        f"      parallel_(pf, nthreads, c_.heads_ + (rest_ + c_.per_ - 1) / c_.per_, {name}_task,"
        " &c_); }"
    )
    return defs, dispatch


#: How far ahead of its reads a GEMV prefetches its weight stream: ``(bytes ahead, locality)``
#: pairs, locality as ``__builtin_prefetch``'s (3: ``prefetcht0``, into L1; 2: ``prefetcht1``,
#: into L2). The hardware prefetchers alone left the float GEMV of a 4096x4096 weight from DRAM
#: at half the read bandwidth here (Intel Xeon, 2 threads): a core computes while its next lines
#: are late. Measured from DRAM, 2 threads, against the read probe in the same rounds (was 2 KB
#: ahead into L1 for both): the float GEMV streams best with a 4 KB page ahead into L2 and 1 KB
#: ahead into L1 (11008x4096: 0.70-0.74 -> 0.76-0.81; 4096x4096: 0.65 -> 0.72; into L2 alone
#: was slower than into L1 alone); the integer GEMV, with far more compute to spare, with the
#: page ahead into L2 alone (11008x4096: 0.87 -> 0.92; 4096x4096: 0.76-0.79 -> 0.82; 3, 6, 8,
#: 16 KB ahead were slower, and adding 512 B-1 KB into L1 did not help).
#: (These A/B figures ran the old variant's process first; on this machine a process started
#: earlier in a case measured 3-7% slower than an identical one started later, so they
#: overstate each gain by up to that. Order-balanced, this prefetch, :data:`GEMV_HEAD_PERCENT`
#: and AVX-512's ``vpermps`` extraction together: 4096x4096 gemv 0.68 -> 0.74, gemv_i8 0.79 ->
#: 0.83; 11008x4096 gemv 0.72 -> 0.81, gemv_i8 0.84 -> 0.88.)
GEMV_PREFETCH = ((1024, 3), (4096, 2))
GEMV_I8_PREFETCH = ((4096, 2),)
#: On AMD, the AVX-512 GEMVs prefetch nothing in software: on a 2-core Zen 4 EPYC (family 25),
#: from DRAM, order-balanced pairs in one case (scripts/qigen_gemv_dram.py, median of 9), the
#: integer GEMV 11008x4096 went 39.3 -> 45.9-49.5 GB/s (the read probe at 55 GB/s in those
#: rounds) and the float one 0.85-0.87 -> 0.90 of the probe (35 GB/s); with the probe near 30
#: GB/s every variant reaches ~0.95-1.0 and none is slower. 1 KB or 16 KB ahead into L2 were no
#: better than none. The AVX2 kernels keep theirs there (integer 4096x4096: 0.94 / 0.74 with,
#: 0.92 / 0.64 without).
AMD_AVX512_PREFETCH: tuple[tuple[int, int], ...] = ()


def default_prefetch(kind: str, isa: str, vendor: str | None = None) -> tuple[tuple[int, int], ...]:
    """The software prefetches a GEMV of ``kind`` on ``isa`` gets by default on a CPU of
    ``vendor`` (default: this one's, :func:`mlroundup.utils.cpu.cpu_vendor`):
    :data:`AMD_AVX512_PREFETCH` for AVX-512 kernels on AMD, else :data:`GEMV_I8_PREFETCH`
    (``kind="gemv_i8"``) or :data:`GEMV_PREFETCH`. Only speed depends on it, never a result."""
    from mlroundup.utils.cpu import cpu_vendor

    vendor = cpu_vendor() if vendor is None else vendor
    if vendor == "AuthenticAMD" and isa.startswith("avx512"):
        return AMD_AVX512_PREFETCH
    return GEMV_I8_PREFETCH if kind == "gemv_i8" else GEMV_PREFETCH


def _prefetch(p: str, nbytes: int, levels: tuple[tuple[int, int], ...]) -> str:
    """Prefetch the cache lines of the ``nbytes`` an iteration reads from ``p`` at each
    ``(bytes ahead, locality)`` of ``levels`` (a line is 64 bytes; prefetches never fault, so
    reading past the weight's end is harmless)."""
    return " ".join(f"__builtin_prefetch((const char*){p} + {ahead + off}, 0, {locality});"
                    for ahead, locality in levels
                    for off in range(0, max(nbytes, 64), 64))  # fmt: skip


def _header(spec: KernelSpec, isa: Portable) -> str:
    uv, uw = unit_shape(spec.bits)
    return (
        f"/* Generated by mlroundup.qigen.codegen from {spec!r}.\n"
        f"   Do not edit: regenerate. Unit: {uv} values in {uw} words; NR={spec.nr}. */\n"
        "#include <stdint.h>\n#include <stdlib.h>\n#include <string.h>\n"
        f"{isa.headers}{POOL_DECLARATIONS}{_TASK_HELPERS}"
        f"#define NR {spec.nr}\n#define UV {uv}\n#define UW {uw}\n#define GS {spec.group_size or 0}\n"
        + ("typedef uint16_t sc_t;  /* float16 scales and minimums */\n" + isa.half_helpers
           if spec.scale_dtype == "float16" else "typedef float sc_t;\n")
    )  # fmt: skip


def _load_sm(isa: Portable, spec: KernelSpec, v: str, p: str) -> str:
    """Load one vector of scales or minimums (converted from float16 where stored so)."""
    return isa.load_h(v, p) if spec.scale_dtype == "float16" else isa.load_f(v, p)


def _store_tile(isa: Portable, spec: KernelSpec, accs: list[str], ydst: str, nvalid: str) -> str:
    out = [f"if ({nvalid} >= NR) {{"]
    out += [isa.store(f"{ydst} + {v * isa.lanes}", a) for v, a in enumerate(accs)]
    out.append("} else { float t_[NR];")
    out += [isa.store(f"t_ + {v * isa.lanes}", a) for v, a in enumerate(accs)]
    out.append(f"memcpy({ydst}, t_, (size_t){nvalid} * sizeof(float)); }}")
    return "\n".join(out)


#: C helpers shared by the kernels that prepare activations (emitted by the ones that use them).
_ROW_HELPERS = r"""
static void group_sums(const float* x, int64_t kp, int64_t gs, float* xsum)
{   /* X_j = sum of x over group j: the zero-point term m * X_j. Eight interleaved partial sums
       (one vector; a single running sum is a chain of dependent adds, ~4 cycles each). */
    for (int64_t j = 0; j * gs < kp; j++) {
        const int64_t k0 = j * gs, k1 = (j + 1) * gs < kp ? (j + 1) * gs : kp;
        float p[8] = {0};
        int64_t k = k0;
        for (; k + 8 <= k1; k += 8)
            for (int l = 0; l < 8; l++) p[l] += x[k + l];
        float s = ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));
        for (; k < k1; k++) s += x[k];
        xsum[j] = s;
    }
}
"""

#: C helper of the integer kernels (AVX2 intrinsics: every ISA in INT8_ISAS has them): one pass
#: over a row that rounds it to int8 and sums its groups.
_I8_HELPERS = r"""
static inline float hmax8_(__m256 v)
{
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    return _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
}

static inline float hsum8_(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

static void prepare_row_i8(const float* x, int64_t kp, int64_t gs, int8_t* xq, float* dx,
                           float* xsum)
{   /* int8 per block of 32: dx_b = max|x| / 127, q = rint(x / max|x| * 127) (x / max|x| stays
       finite for tiny blocks, where 127 / max|x| would overflow); each 8-value unit stored as
       (x0, x2, x4, x6, x1, x3, x5, x7) to meet the packed word's low / high nibbles. A block
       with NaN or an infinity gets dx_b = NaN and codes 0: its row's outputs are NaN.
       Also X_j, the float sum of group j (gs and kp multiples of 32). */
    const __m256 abs_ = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256 big_ = _mm256_set1_ps(3.402823466e38f);
    const __m256i unit_ = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    const __m256i pack_ = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int64_t j = 0; j * gs < kp; j++) xsum[j] = 0.0f;
    for (int64_t b = 0; b < kp / 32; b++) {
        __m256 v[4], a = _mm256_setzero_ps(), fin = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
        for (int u = 0; u < 4; u++) {
            v[u] = _mm256_loadu_ps(x + 32 * b + 8 * u);
            const __m256 au = _mm256_and_ps(v[u], abs_);
            a = _mm256_max_ps(a, au);
            fin = _mm256_and_ps(fin, _mm256_cmp_ps(au, big_, _CMP_LE_OQ));  /* false: NaN, inf */
        }
        xsum[32 * b / gs] += hsum8_(_mm256_add_ps(_mm256_add_ps(v[0], v[1]),
                                                  _mm256_add_ps(v[2], v[3])));
        const float amax = hmax8_(a);
        const int finite = _mm256_movemask_ps(fin) == 0xff;
        dx[b] = finite ? amax / 127.0f : __builtin_nanf("");
        __m256i q[4];
        for (int u = 0; u < 4; u++) {
            if (finite && amax > 0.0f) {  /* rint: the default rounding mode, as the reference */
                const __m256 r = _mm256_mul_ps(_mm256_div_ps(v[u], _mm256_set1_ps(amax)),
                                               _mm256_set1_ps(127.0f));
                q[u] = _mm256_permutevar8x32_epi32(_mm256_cvtps_epi32(r), unit_);
            } else {
                q[u] = _mm256_setzero_si256();
            }
        }
        /* 32 int32 in [-127, 127] -> bytes; the packs work per 128-bit lane, the permute puts
           the four units' 4-byte halves back in order */
        const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]),
                                             _mm256_packs_epi32(q[2], q[3]));
        _mm256_storeu_si256((__m256i*)(xq + 32 * b), _mm256_permutevar8x32_epi32(p, pack_));
    }
}
"""


#: Tiles per task of the GEMV kernels (a tile streams its codes, scales and minimums).
_GEMV_PER = ("gemv_chunk_(count, nthreads, "
             "(kp / UV) * UW * NR * 4 + 2 * ngroups * NR * (int64_t)sizeof(sc_t))")  # fmt: skip

#: Tiles in each thread's first task of a GEMV (:data:`GEMV_HEAD_PERCENT`).
_GEMV_HEAD = "gemv_head_(count, nthreads, per_)"

#: What a GEMV tile task reads from its caller (see :func:`_tasks`).
_GEMV_FIELDS = [("const uint32_t*", "w"), ("const sc_t*", "sc"), ("const sc_t*", "mn"),
                ("const float*", "xsum"), ("float*", "y"), ("int64_t", "n"), ("int64_t", "kp"),
                ("int64_t", "gs"), ("int64_t", "ngroups")]  # fmt: skip


def _gemv(spec: KernelSpec, isa: Portable) -> str:
    nv, na, L = spec.nv, spec.nacc, isa.lanes
    unit_lines, vals = _unpack_unit(isa, spec, "wp")
    body = list(unit_lines)
    for i, (w, off, hi) in enumerate(vals):
        for v in range(nv):
            if _in_place(off, spec.bits, hi):
                body.append(isa.extract_in_place(f"c{i}_{v}", f"w{w}_{v}", off, spec.bits))
            else:
                hiw = None if hi is None else f"w{hi}_{v}"
                body.append(isa.extract(f"c{i}_{v}", f"w{w}_{v}", off, spec.bits, hiw))
            body.append(isa.fma_scalar(f"g{i % na}_{v}", f"xk[{i}]", f"c{i}_{v}"))
    prescale = ", ".join(
        f"{2.0**-off if _in_place(off, spec.bits, hi) else 1.0:.9e}f" for _w, off, hi in vals
    )
    gzero = [isa.zero(f"g{a}_{v}") for a in range(na) for v in range(nv)]
    reduce = [isa.add(f"g0_{v}", f"g{a}_{v}") for a in range(1, na) for v in range(nv)]
    scale = []
    for v in range(nv):
        scale.append(_load_sm(isa, spec, f"s_{v}", f"sp + j * NR + {v * L}"))
        scale.append(_load_sm(isa, spec, f"m_{v}", f"mp + j * NR + {v * L}"))
        scale.append(isa.fma_vec(f"acc_{v}", f"g0_{v}", f"s_{v}"))
        scale.append(isa.fma_scalar(f"acc_{v}", "xsum[j]", f"m_{v}"))
    nl = "\n"
    tile = f"""
        {isa.prelude(spec.bits)}
        const uint32_t* wp = w + t * (kp / UV) * UW * NR;
        const sc_t* sp = sc + t * ngroups * NR;
        const sc_t* mp = mn + t * ngroups * NR;
        {nl.join(isa.zero(f"acc_{v}") for v in range(nv))}
        for (int64_t j = 0; j < ngroups; j++) {{
            const int64_t k1 = (j + 1) * gs < kp ? (j + 1) * gs : kp;
            {nl.join(gzero)}
            for (int64_t k = j * gs; k < k1; k += UV, wp += UW * NR) {{
                const float* xk = xs + k;
                {_prefetch("wp", 4 * unit_shape(spec.bits)[1] * spec.nr, spec.prefetches)}
                {nl.join(body)}
            }}
            {nl.join(reduce)}
            {nl.join(scale)}
        }}
        {_store_tile(isa, spec, [f"acc_{v}" for v in range(nv)], "y + t * NR", "(n - t * NR)")}"""
    defs, dispatch = _tasks(
        "tiles", _GEMV_FIELDS + [("const float*", "xs")], tile, _GEMV_PER, _GEMV_HEAD
    )
    return f"""{_header(spec, isa)}{_ROW_HELPERS}{defs}
void {spec.name}(const uint32_t* restrict w, const sc_t* restrict sc, const sc_t* restrict mn,
                 const float* restrict x, float* restrict y, int64_t n, int64_t kp, int nthreads,
                 mlr_parallel_for_fn pf)
{{
    const int64_t gs = GS ? GS : kp;
    const int64_t ngroups = (kp + gs - 1) / gs;
    const int64_t count = (n + NR - 1) / NR;  /* tiles */
    /* Codes are masked in place (value * 2^off) instead of shifted down, so the activations
       are prescaled by 2^-off once per call: one instruction less per code, same products. */
    static const float prescale[UV] = {{{prescale}}};
    float* xsum = (float*)malloc((size_t)ngroups * sizeof(float));
    float* xs = (float*)malloc((size_t)kp * sizeof(float));
    for (int64_t k = 0; k < kp; k += UV)  /* kp is a multiple of UV */
        for (int i = 0; i < UV; i++) xs[k + i] = x[k + i] * prescale[i];
    group_sums(x, kp, gs, xsum);
    {dispatch}
    free(xsum);
    free(xs);
}}
"""


#: K values per dequantized panel of the panel GEMM (KC x PW floats: 16 KB at PW = 16).
PANEL_KC = 256


def panel_tiles(nv: int) -> int:
    """Weight tiles per GEMM panel: two when a tile is one vector wide, so the micro-kernel
    always has at least two vectors per broadcast activation (one load per FMA would make it
    load-bound)."""
    return 2 if nv == 1 else 1


def _panel_tile(spec: KernelSpec, isa: Portable, mr: int) -> str:
    """Register-blocked micro-kernel: ``y[r, :] (+)= sum_k x[r, k] * B[k, :]`` for ``mr`` rows and
    one dequantized panel ``B`` (kc x PW floats); only loads, broadcasts and FMAs inside."""
    nv, L = spec.nv * panel_tiles(spec.nv), isa.lanes
    nl = "\n"
    body = [isa.load_f(f"b_{v}", f"bk + {v * L}") for v in range(nv)]
    body += [isa.fma_scalar(f"acc{r}_{v}", f"x[{r} * ldx + k]", f"b_{v}")
             for r in range(mr) for v in range(nv)]  # fmt: skip
    full, tail = [], []
    for r in range(mr):
        for v in range(nv):
            full.append(f"if (!first) {{ {isa.load_f('p_', f'y + {r} * ldy + {v * L}')} "
                        f"{isa.add(f'acc{r}_{v}', 'p_')} }}")  # fmt: skip
            full.append(isa.store(f"y + {r} * ldy + {v * L}", f"acc{r}_{v}"))
        tail.append(f"memset(t_, 0, sizeof t_); if (!first) memcpy(t_, y + {r} * ldy, "
                    "(size_t)nvalid * sizeof(float));")  # fmt: skip
        for v in range(nv):
            tail.append(f"{{ {isa.load_f('p_', f't_ + {v * L}')} {isa.add(f'acc{r}_{v}', 'p_')} }}")
            tail.append(isa.store(f"t_ + {v * L}", f"acc{r}_{v}"))
        tail.append(f"memcpy(y + {r} * ldy, t_, (size_t)nvalid * sizeof(float));")
    return f"""
static inline void tile_{mr}(const float* restrict B, const float* restrict x, int64_t ldx,
                             int64_t kc, float* restrict y, int64_t ldy, int64_t nvalid, int first)
{{
    {nl.join(isa.zero(f"acc{r}_{v}") for r in range(mr) for v in range(nv))}
    for (int64_t k = 0; k < kc; k++) {{
        const float* bk = B + k * PW;
        {nl.join(body)}
    }}
    if (nvalid >= PW) {{
        {nl.join(full)}
    }} else {{
        float t_[PW];
        {nl.join(tail)}
    }}
}}
"""


def _gemm(spec: KernelSpec, isa: Portable) -> str:
    """Panel GEMM (prompt processing): each thread dequantizes ``PANEL_KC`` x ``PW`` weights
    (``PW = NR`` times :func:`panel_tiles`) once into a float panel that stays in L1
    (``w = s q + m``), then runs a register-blocked float micro-kernel (``MR`` x ``PW``
    accumulators, BLIS-style) over every activation row block. Dequantization costs O(N K) per
    call, shared by all ``M`` rows; the inner loop is loads, broadcasts and FMAs only."""
    nv, mr, L, pt = spec.nv, spec.nacc, isa.lanes, panel_tiles(spec.nv)
    unit_lines, vals = _unpack_unit(isa, spec, "wp")
    deq = list(unit_lines)
    for i, (w, off, hi) in enumerate(vals):
        for v in range(nv):
            hiw = None if hi is None else f"w{hi}_{v}"
            deq.append(isa.extract(f"c{i}_{v}", f"w{w}_{v}", off, spec.bits, hiw))
            deq.append(isa.fma_decl(f"d{i}_{v}", f"c{i}_{v}", f"s_{v}", f"m_{v}"))
            deq.append(isa.store(f"bp + {i} * PW + {v * L}", f"d{i}_{v}"))
    load_sm = []
    for v in range(nv):
        load_sm.append(_load_sm(isa, spec, f"s_{v}", f"sp + j * NR + {v * L}"))
        load_sm.append(_load_sm(isa, spec, f"m_{v}", f"mp + j * NR + {v * L}"))
    tiles = "".join(_panel_tile(spec, isa, r) for r in range(1, mr + 1))
    cases = "\n".join(
        f"                    case {r}: tile_{r}(B, xr, kp, k1 - k0, yr, n, nvalid, k0 == 0); break;"
        for r in range(1, mr + 1)
    )
    nl = "\n"
    panel = f"""
            const int64_t pn = t;  /* this task's panel */
            float* B = Bs + (int64_t)worker * KC * PW;  /* the running thread's panel buffer */
            {isa.prelude(spec.bits)}
            const int64_t nvalid = n - pn * PW;
            for (int64_t k0 = 0; k0 < kp; k0 += KC) {{
                const int64_t k1 = k0 + KC < kp ? k0 + KC : kp;
                for (int64_t t = pn * PT; t < pn * PT + PT && t < ntiles; t++) {{
                    const uint32_t* wt = w + t * (kp / UV) * UW * NR;
                    const sc_t* sp = sc + t * ngroups * NR;
                    const sc_t* mp = mn + t * ngroups * NR;
                    for (int64_t k = k0; k < k1; k += UV) {{  /* dequantize tile t's part */
                        const int64_t j = k / gs;
                        const uint32_t* wp = wt + (k / UV) * UW * NR;
                        float* bp = B + (k - k0) * PW + (t - pn * PT) * NR;
                        {nl.join(load_sm)}
                        {nl.join(deq)}
                    }}
                }}
                for (int64_t r0 = 0; r0 < m; r0 += MR) {{
                    const int64_t rows = m - r0 < MR ? m - r0 : MR;
                    const float* xr = x + r0 * kp + k0;
                    float* yr = y + r0 * n + pn * PW;
                    switch (rows) {{
{cases}
                    }}
                }}
            }}"""
    fields = [("const uint32_t*", "w"), ("const sc_t*", "sc"), ("const sc_t*", "mn"),
              ("const float*", "x"), ("float*", "y"), ("float*", "Bs"), ("int64_t", "m"),
              ("int64_t", "n"), ("int64_t", "kp"), ("int64_t", "gs"), ("int64_t", "ngroups"),
              ("int64_t", "ntiles")]  # fmt: skip
    defs, dispatch = _tasks("panels", fields, panel)
    return f"""{_header(spec, isa)}#define MR {mr}
#define KC {PANEL_KC}
#define PT {pt}   /* weight tiles per panel */
#define PW (PT * NR)
{tiles}{defs}
void {spec.name}(const uint32_t* restrict w, const sc_t* restrict sc, const sc_t* restrict mn,
                 const float* restrict x, float* restrict y, int64_t m, int64_t n, int64_t kp,
                 int nthreads, mlr_parallel_for_fn pf)
{{
    const int64_t gs = GS ? GS : kp;
    const int64_t ngroups = (kp + gs - 1) / gs;
    const int64_t ntiles = (n + NR - 1) / NR;
    const int64_t count = (ntiles + PT - 1) / PT;  /* panels */
    /* one dequantized panel per thread (zeroed: a last panel's missing tiles stay 0) */
    float* Bs = (float*)calloc((size_t)nthreads * KC * PW, sizeof(float));
    {dispatch}
    free(Bs);
}}
"""


def _gemv_i8(spec: KernelSpec, isa: _X86) -> str:
    """Integer GEMV: activations quantized to int8 per block of 32 (scale ``dx_b = max|x|/127``),
    4-bit codes multiplied as unsigned bytes. A packed word of one row holds 8 consecutive codes,
    the even-indexed ones in the low nibbles of its 4 bytes and the odd-indexed in the high
    nibbles, so the activations of each 8-value unit are stored reordered as
    ``(x0, x2, x4, x6, x1, x3, x5, x7)``: two 32-bit broadcasts per unit. Per block the integer
    sums become float with ``dx_b``; the zero-point term uses the exact float sums ``X_j``.

    ``nacc`` independent integer accumulators per vector (unit ``u`` adds into ``u % nacc``,
    summed at the end of the block): with one, the block's eight ``vpdpbusd`` form one dependent
    chain (5 cycles each), which bounds the VNNI kernel below the memory's speed."""
    nv, na = spec.nv, min(spec.nacc, 4)
    body = []
    for u in range(4):  # 4 units of 8 codes = one activation block of 32
        body.append(f"int32_t xe{u}, xo{u}; memcpy(&xe{u}, xb + {8 * u}, 4); "
                    f"memcpy(&xo{u}, xb + {8 * u + 4}, 4);")  # fmt: skip
        for v in range(nv):
            body.append(isa.load_w(f"w{u}_{v}", f"wp + {u * spec.nr + v * isa.lanes}"))
            body.append(isa.nibbles(f"lo{u}_{v}", f"hi{u}_{v}", f"w{u}_{v}"))
            body.append(isa.dot2_u8s8(f"ia{u % na}_{v}", f"lo{u}_{v}", f"xe{u}", f"hi{u}_{v}",
                                      f"xo{u}"))  # fmt: skip
    nl = "\n"
    blk = [isa.izero(f"ia{a}_{v}") for a in range(na) for v in range(nv)]
    fin = []
    for v in range(nv):
        for a in range(1, na):
            fin.append(isa.iadd(f"ia0_{v}", f"ia{a}_{v}"))
        fin.append(isa.cvt_i(f"f_{v}", f"ia0_{v}"))
        fin.append(isa.fma_scalar(f"g_{v}", "dx[kb / 32]", f"f_{v}"))
    scale = []
    for v in range(nv):
        scale.append(_load_sm(isa, spec, f"s_{v}", f"sp + j * NR + {v * isa.lanes}"))
        scale.append(_load_sm(isa, spec, f"m_{v}", f"mp + j * NR + {v * isa.lanes}"))
        scale.append(isa.fma_vec(f"acc_{v}", f"g_{v}", f"s_{v}"))
        scale.append(isa.fma_scalar(f"acc_{v}", "xsum[j]", f"m_{v}"))
    tile = f"""
        {isa.prelude_i8()}
        const uint32_t* wp = w + t * (kp / UV) * UW * NR;
        const sc_t* sp = sc + t * ngroups * NR;
        const sc_t* mp = mn + t * ngroups * NR;
        {nl.join(isa.zero(f"acc_{v}") for v in range(nv))}
        for (int64_t j = 0; j < ngroups; j++) {{
            const int64_t k1 = (j + 1) * gs < kp ? (j + 1) * gs : kp;
            {nl.join(isa.zero(f"g_{v}") for v in range(nv))}
            for (int64_t kb = j * gs; kb < k1; kb += 32, wp += 4 * UW * NR) {{
                const int8_t* xb = xq + kb;
                {_prefetch("wp", 16 * spec.nr, spec.prefetches)}
                {nl.join(blk)}
                {nl.join(body)}
                {nl.join(fin)}
            }}
            {nl.join(scale)}
        }}
        {_store_tile(isa, spec, [f"acc_{v}" for v in range(nv)], "y + t * NR", "(n - t * NR)")}"""
    fields = _GEMV_FIELDS + [("const int8_t*", "xq"), ("const float*", "dx")]
    defs, dispatch = _tasks("tiles", fields, tile, _GEMV_PER, _GEMV_HEAD)
    return f"""{_header(spec, isa)}{_I8_HELPERS}{defs}
void {spec.name}(const uint32_t* restrict w, const sc_t* restrict sc, const sc_t* restrict mn,
                 const float* restrict x, float* restrict y, int64_t n, int64_t kp, int nthreads,
                 mlr_parallel_for_fn pf)
{{
    /* kp must be a multiple of 32 (checked by the caller). */
    const int64_t gs = GS ? GS : kp;
    const int64_t ngroups = (kp + gs - 1) / gs;
    const int64_t count = (n + NR - 1) / NR;  /* tiles */
    float* xsum = (float*)malloc((size_t)ngroups * sizeof(float));
    float* dx = (float*)malloc((size_t)(kp / 32) * sizeof(float));
    int8_t* xq = (int8_t*)malloc((size_t)kp);
    prepare_row_i8(x, kp, gs, xq, dx, xsum);
    {dispatch}
    free(xsum); free(dx); free(xq);
}}
"""


def _gemm_i8(spec: KernelSpec, isa: _X86) -> str:
    """Integer GEMM (prompts with int8 activations, as llama.cpp's): each activation row is
    rounded to int8 per block of 32 exactly as in :func:`_gemv_i8`; the packed 4-bit codes are
    read in place (no dequantized panel) and their nibbles split once per unit for ``MR`` rows.
    Per row and block the integer sum becomes float with ``dx_b * s`` (one multiply and one FMA);
    the zero-point term adds ``m * X_j`` per group from the exact float row sums."""
    nv, mr = spec.nv, spec.nacc
    nl = "\n"
    unit = []
    for u in range(4):  # 4 units of 8 codes = one activation block of 32
        for v in range(nv):
            unit.append(isa.load_w(f"w{u}_{v}", f"wp + {u * spec.nr + v * isa.lanes}"))
            unit.append(isa.nibbles(f"lo{u}_{v}", f"hi{u}_{v}", f"w{u}_{v}"))
        for r in range(mr):
            unit.append(f"int32_t xe{u}_{r}, xo{u}_{r}; memcpy(&xe{u}_{r}, xq + {r} * kp + kb + "
                        f"{8 * u}, 4); memcpy(&xo{u}_{r}, xq + {r} * kp + kb + {8 * u + 4}, 4);")  # fmt: skip
            for v in range(nv):
                unit.append(isa.dot2_u8s8(f"ia{r}_{v}", f"lo{u}_{v}", f"xe{u}_{r}",
                                          f"hi{u}_{v}", f"xo{u}_{r}"))  # fmt: skip
    blk_zero = [isa.izero(f"ia{r}_{v}") for r in range(mr) for v in range(nv)]
    fin = []
    for v in range(nv):
        for r in range(mr):
            fin.append(isa.cvt_i(f"f{r}_{v}", f"ia{r}_{v}"))
            fin.append(f"{{ {isa.ftype} t_ = {isa.P}_mul_ps(s_{v}, {isa.P}_set1_ps("
                       f"dx[{r} * nb + kb / 32])); {isa.fma_vec(f'acc{r}_{v}', f'f{r}_{v}', 't_')} }}")  # fmt: skip
    load_s = [_load_sm(isa, spec, f"s_{v}", f"sp + j * NR + {v * isa.lanes}") for v in range(nv)]
    mins = []
    for v in range(nv):
        mins.append(_load_sm(isa, spec, f"m_{v}", f"mp + j * NR + {v * isa.lanes}"))
        for r in range(mr):
            mins.append(isa.fma_scalar(f"acc{r}_{v}", f"xsum[{r} * ngroups + j]", f"m_{v}"))
    stores = [
        _store_tile(isa, spec, [f"acc{r}_{v}" for v in range(nv)], f"y + {r} * ldy", "nvalid")
        for r in range(mr)
    ]
    tile = f"""
static inline void tile_i8(const uint32_t* restrict wt, const sc_t* restrict sp,
                           const sc_t* restrict mp, const int8_t* restrict xq,
                           const float* restrict dx, const float* restrict xsum, float* restrict y,
                           int64_t kp, int64_t gs, int64_t ngroups, int64_t ldy, int64_t nvalid)
{{
    {isa.prelude_i8()}
    const int64_t nb = kp / 32;
    const uint32_t* wp = wt;
    {nl.join(isa.zero(f"acc{r}_{v}") for r in range(mr) for v in range(nv))}
    for (int64_t j = 0; j < ngroups; j++) {{
        const int64_t k1 = (j + 1) * gs < kp ? (j + 1) * gs : kp;
        {nl.join(load_s)}
        for (int64_t kb = j * gs; kb < k1; kb += 32, wp += 4 * UW * NR) {{
            {nl.join(blk_zero)}
            {nl.join(unit)}
            {nl.join(fin)}
        }}
        {nl.join(mins)}
    }}
    {nl.join(stores)}
}}
"""
    rows_defs, rows_dispatch = _tasks("rows", [
        ("const float*", "x"), ("int8_t*", "xq"), ("float*", "dx"), ("float*", "xsum"),
        ("int64_t", "kp"), ("int64_t", "gs"), ("int64_t", "ngroups"), ("int64_t", "nb")], """
        prepare_row_i8(x + t * kp, kp, gs, xq + t * kp, dx + t * nb, xsum + t * ngroups);""")  # fmt: skip
    blocks_defs, blocks_dispatch = _tasks("blocks", [
        ("const uint32_t*", "w"), ("const sc_t*", "sc"), ("const sc_t*", "mn"),
        ("const int8_t*", "xq"), ("const float*", "dx"), ("const float*", "xsum"),
        ("float*", "y"), ("int64_t", "m"), ("int64_t", "n"), ("int64_t", "kp"), ("int64_t", "gs"),
        ("int64_t", "ngroups"), ("int64_t", "nb"), ("int64_t", "nrb")], """
        const int64_t tt = t / nrb, rb = t % nrb;  /* weight tile, block of MR rows */
        const int64_t rows = m - rb * MR < MR ? m - rb * MR : MR;
        float yt[MR * NR];
        tile_i8(w + tt * (kp / UV) * UW * NR, sc + tt * ngroups * NR, mn + tt * ngroups * NR,
                xq + rb * MR * kp, dx + rb * MR * nb, xsum + rb * MR * ngroups, yt, kp, gs,
                ngroups, NR, NR);
        const int64_t nvalid = n - tt * NR < NR ? n - tt * NR : NR;
        for (int64_t r = 0; r < rows; r++)
            memcpy(y + (rb * MR + r) * n + tt * NR, yt + r * NR, (size_t)nvalid * sizeof(float));""")  # fmt: skip
    return f"""{_header(spec, isa)}#define MR {mr}
{_I8_HELPERS}{tile}{rows_defs}{blocks_defs}
void {spec.name}(const uint32_t* restrict w, const sc_t* restrict sc, const sc_t* restrict mn,
                 const float* restrict x, float* restrict y, int64_t m, int64_t n, int64_t kp,
                 int nthreads, mlr_parallel_for_fn pf)
{{
    /* kp must be a multiple of 32 (checked by the caller). Rows are quantized in blocks of MR
       (padding rows are zero), so every tile call has MR rows. */
    const int64_t gs = GS ? GS : kp;
    const int64_t ngroups = (kp + gs - 1) / gs;
    const int64_t ntiles = (n + NR - 1) / NR;
    const int64_t nb = kp / 32, mp_ = (m + MR - 1) / MR * MR;
    int8_t* xq = (int8_t*)calloc((size_t)(mp_ * kp), 1);
    float* dx = (float*)calloc((size_t)(mp_ * nb), sizeof(float));
    float* xsum = (float*)calloc((size_t)(mp_ * ngroups), sizeof(float));
    {{ const int64_t count = m;  /* activation rows */
      {rows_dispatch} }}
    const int64_t nrb = mp_ / MR;
    {{ const int64_t count = ntiles * nrb;  /* (weight tile, row block) pairs */
      {blocks_dispatch} }}
    free(xq); free(dx); free(xsum);
}}
"""


def generate(spec: KernelSpec) -> str:
    """The C source of ``spec``'s kernel (one exported function named ``spec.name``).

    Signatures (all arrays C-contiguous; ``kp`` is K padded to the unit length)::

        void gemv(const uint32_t* w, const float* scales, const float* mins, const float* x,
                  float* y, int64_t n, int64_t kp, int nthreads,
                  mlr_parallel_for_fn pf);                          # x: (kp,), y: (n,)
        void gemm(const uint32_t* w, const float* scales, const float* mins, const float* x,
                  float* y, int64_t m, int64_t n, int64_t kp, int nthreads,
                  mlr_parallel_for_fn pf);                          # x: (m, kp), y: (m, n)

    ``pf`` is the shared worker pool's entry point
    (:func:`mlroundup.kernels.pool.parallel_for_address`; its type is in
    :data:`mlroundup.kernels.pool.C_DECLARATIONS`): the kernel cuts its loop into about
    :data:`TASKS_PER_THREAD` tasks per thread and runs them on at most ``nthreads`` threads.
    With ``pf`` NULL (or ``nthreads`` 1) it runs on the calling thread alone. The generated code
    has no OpenMP and no link-time dependency on the pool.

    ``gemv_i8`` has the GEMV signature, ``gemm_i8`` the GEMM one; both need ``kp`` to be a
    multiple of 32. With
    ``spec.scale_dtype == "float16"`` the scales and minimums are ``const uint16_t*`` (IEEE
    binary16 bits; name suffix ``_sf16``).

    ``w``, ``scales``, ``mins`` are a :class:`mlroundup.qigen.layout.PackedWeight` with
    ``nr == spec.nr`` and matching bits and group size.
    """
    isa = ISAS[spec.isa]
    kinds = {"gemv": _gemv, "gemm": _gemm, "gemv_i8": _gemv_i8, "gemm_i8": _gemm_i8}
    return kinds[spec.kind](spec, isa)
