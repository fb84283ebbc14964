"""Generated kernels against the NumPy oracle (``x @ dequantize(W).T`` in float64), on odd shapes:
M and N of 1, 3, 17, tails at every tile edge, K with a short last group and K not a multiple of
the packing unit. Every runnable ISA path is run; the others are compiled only (and say so)."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from mlroundup.kernels.build import CompileError, find_compiler
from mlroundup.qigen.codegen import INT8_ISAS, ISAS, KernelSpec, generate
from mlroundup.qigen.kernels import available_isas, compile_kernel, isa_supported, tune
from mlroundup.qigen.layout import pack
from mlroundup.qigen.quant import quantize_rtn, reference_matmul

try:
    find_compiler()
except CompileError:  # pragma: no cover
    pytest.skip("no C compiler on this machine", allow_module_level=True)

RUNNABLE = available_isas()
GROUP = {2: 32, 3: 32, 4: 32, 8: 32}
SPECS = [
    KernelSpec(kind, bits, GROUP[bits], 1, 2 if kind == "gemv" else 3, isa)
    for isa in RUNNABLE
    for bits in (2, 3, 4, 8)
    for kind in ("gemv", "gemm")
] + [  # float16 scales and minimums (llama.cpp Q4_1's storage)
    KernelSpec(kind, bits, GROUP[bits], 1, 2 if kind == "gemv" else 3, isa, "float16")
    for isa in RUNNABLE
    for bits in (3, 4)
    for kind in ("gemv", "gemm")
]


@pytest.fixture(scope="module")
def kernels():
    with ThreadPoolExecutor(2) as ex:  # compiles are subprocesses: two at once
        return dict(zip(SPECS, ex.map(compile_kernel, SPECS), strict=True))


def _shapes(nr, uv):
    ns = sorted({1, 3, 17, nr - 1, nr, nr + 1, 2 * nr + 3} - {0})
    ks = [uv, 32 + uv, 3 * 32, 3 * 32 + uv + 1]  # short last group; K off the unit length
    return ns, ks


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_kernel_matches_oracle_on_odd_shapes(kernels, spec):
    from mlroundup.qigen.layout import unit_shape

    kern = kernels[spec]
    rng = np.random.default_rng(spec.bits)
    ns, ks = _shapes(spec.nr, unit_shape(spec.bits)[0])
    for n in ns:
        for k in ks:
            w = rng.standard_normal((n, k))
            qw = quantize_rtn(w, spec.bits, spec.group_size, scale_dtype=spec.scale_dtype)
            pw = pack(qw, spec.nr)
            for m in (1,) if spec.kind == "gemv" else (1, 3, 17):
                x = rng.standard_normal((m, k)).astype(np.float32)
                got = kern(pw, x[0] if spec.kind == "gemv" else x, threads=2)
                ref = reference_matmul(x, qw)
                ref = ref[0] if spec.kind == "gemv" else ref
                tol = 1e-5 * np.sqrt(k) * np.abs(qw.dequantize()).max() * np.abs(x).max()
                assert np.abs(got - ref).max() <= tol, (n, k, m)


@pytest.mark.parametrize("isa", list(ISAS))
def test_whole_row_groups_and_wide_tiles(isa):
    if not isa_supported(isa):
        pytest.skip(f"this CPU lacks {ISAS[isa].features}: {isa} is compile-tested only")
    rng = np.random.default_rng(0)
    for spec in (KernelSpec("gemv", 4, None, 2, 1, isa), KernelSpec("gemm", 4, None, 2, 2, isa)):
        kern = compile_kernel(spec)
        qw = quantize_rtn(rng.standard_normal((2 * spec.nr + 5, 72)), 4, None)
        x = rng.standard_normal((5, 72)).astype(np.float32)
        got = kern(pack(qw, spec.nr), x[0] if spec.kind == "gemv" else x)
        ref = reference_matmul(x, qw)
        np.testing.assert_allclose(got, ref[0] if spec.kind == "gemv" else ref, atol=2e-4)


@pytest.mark.parametrize("isa", [i for i in ISAS if i not in RUNNABLE] or ["none"])
def test_unrunnable_isas_still_compile(isa):
    if isa == "none":
        pytest.skip("every ISA path runs on this CPU (tested above)")
    for kind in ("gemv", "gemm"):  # built, never called here
        for scale_dtype in ("float32", "float16"):
            compile_kernel(KernelSpec(kind, 3, 32, 1, 2, isa, scale_dtype))
    if isa in ("avx2", "avx512vnni"):
        compile_kernel(KernelSpec("gemv_i8", 4, 32, 1, 1, isa, "float16"))
        compile_kernel(KernelSpec("gemm_i8", 4, 32, 2, 3, isa, "float16"))


def test_kernel_rejects_mismatched_weights_and_inputs():
    spec = KernelSpec("gemv", 4, 32, 1, 2, RUNNABLE[0])
    kern = compile_kernel(spec)
    qw = quantize_rtn(np.ones((3, 64)), 4, 32)
    with pytest.raises(ValueError, match="does not match"):
        kern(pack(quantize_rtn(np.ones((3, 64)), 8, 32), spec.nr), np.ones(64))
    with pytest.raises(ValueError, match="K=64"):
        kern(pack(qw, spec.nr), np.ones(63))


def test_generated_source_names_its_spec():
    spec = KernelSpec("gemm", 3, 64, 2, 4, "avx2")
    src = generate(spec)
    assert spec.name == "qigen_q3_g64_gemm_4x16__avx2"
    assert repr(spec) in src and f"void {spec.name}(" in src
    with pytest.raises(ValueError, match="group_size"):
        KernelSpec("gemv", 3, 48, 1, 1, "avx2")


def test_autotune_picks_a_candidate_and_remembers(monkeypatch, tmp_path):
    import mlroundup.qigen.kernels as qk

    isa = RUNNABLE[0]
    specs = [KernelSpec("gemv", 4, 32, 1, 2, isa), KernelSpec("gemv", 4, 32, 1, 1, isa)]
    monkeypatch.setattr(qk, "candidates", lambda *a: specs)
    best, times = tune("gemv", 40, 96, 4, 32, isas=[isa], repeats=2, cache_dir=tmp_path)
    assert best in specs and set(times) == {s.name for s in specs}
    again, times2 = tune("gemv", 40, 96, 4, 32, isas=[isa], cache_dir=tmp_path)
    assert again == best and times2 == {}


def test_rotation_copies_pass_twice_the_llc_within_the_cap():
    from mlroundup.qigen.kernels import TUNE_ROTATION_MAX_BYTES, rotation_copies

    assert rotation_copies(10 << 20, 32 << 20) == 7  # ceil(64 MiB / 10 MiB)
    assert rotation_copies(100 << 20, 32 << 20) == 2  # at least two
    assert rotation_copies(1 << 20, 480 << 20) == TUNE_ROTATION_MAX_BYTES >> 20  # capped
    for bad in (0, 1.5, True, "8"):
        with pytest.raises(ValueError, match="nbytes"):
            rotation_copies(bad, 32 << 20)
    with pytest.raises(ValueError, match="llc_bytes"):
        rotation_copies(1 << 20, 0.5)


def test_large_gemv_is_tuned_from_dram(monkeypatch, tmp_path):
    """A GEMV at or over TUNE_DRAM_BYTES is timed over a rotation of packed copies (each timed
    call runs the kernel once per copy; oracle: rotation_copies of the codes' bytes, n k b / 8)
    and remembered as its own format; below it, and for a GEMM, one cache-resident copy."""
    import mlroundup.qigen.kernels as qk
    from mlroundup.kernels import bandwidth

    isa = RUNNABLE[0]
    spec = KernelSpec("gemv", 4, 32, 1, 2, isa)
    monkeypatch.setattr(qk, "candidates", lambda *a: [spec])
    monkeypatch.setattr(bandwidth, "last_level_cache_bytes", lambda: 40 * 96 // 2 * 3)
    runs = []
    real = qk.Kernel.prepare

    def counting_prepare(self, pw, x, out, threads=None):
        call = real(self, pw, x, out, threads)

        def counted():
            runs.append(id(pw.words))
            call()

        return counted

    monkeypatch.setattr(qk.Kernel, "prepare", counting_prepare)
    seen = {}
    monkeypatch.setattr(qk._autotune, "autotune",
                        lambda *a, **kw: seen.update(fmt=a[2], calls=a[3]) or
                        type("R", (), {"best": next(iter(a[3])), "times_s": {}})())  # fmt: skip
    monkeypatch.setattr(qk, "TUNE_DRAM_BYTES", 40 * 96 // 2)  # 40 x 96 4-bit codes
    qk.tune("gemv", 40, 96, 4, 32, isas=[isa], cache_dir=tmp_path, force=True)
    assert seen["fmt"].endswith("-dram")
    copies = qk.rotation_copies(40 * 96 * 4 // 8, 40 * 96 // 2 * 3)  # 11520 / 1920 = 6
    seen["calls"][spec.name]()
    assert len(runs) == copies and len(set(runs)) == copies  # every copy, once
    monkeypatch.setattr(qk, "TUNE_DRAM_BYTES", 40 * 96 // 2 + 1)
    runs.clear()
    qk.tune("gemv", 40, 96, 4, 32, isas=[isa], cache_dir=tmp_path, force=True)
    assert not seen["fmt"].endswith("-dram")
    seen["calls"][spec.name]()
    assert runs == []  # the cache-resident call goes through Kernel.__call__
    monkeypatch.setattr(qk, "TUNE_DRAM_BYTES", 1)
    gemm = KernelSpec("gemm", 4, 32, 1, 2, isa)
    monkeypatch.setattr(qk, "candidates", lambda *a: [gemm])
    qk.tune("gemm", 40, 96, 4, 32, isas=[isa], cache_dir=tmp_path, force=True)
    assert not seen["fmt"].endswith("-dram")  # a GEMM, even at m = 1


I8_ISAS = [i for i in ("avx2", "avx512vnni") if isa_supported(i)]


@pytest.mark.parametrize("isa", I8_ISAS or ["none"])
@pytest.mark.parametrize(
    "group,scale_dtype", [(32, "float32"), (128, "float32"), (None, "float32"), (32, "float16")]
)
@pytest.mark.parametrize("nv,nacc", [(1, 1), (1, 4), (2, 2)])
def test_int8_gemv_matches_its_oracle_on_odd_shapes(isa, group, scale_dtype, nv, nacc):
    """Oracle: reference_gemv_int8 (NumPy int8 rounding of activations per block of 32); with
    several integer accumulators per vector (``nacc``) too."""
    if isa == "none":
        pytest.skip("no integer-GEMV ISA (AVX2 or AVX-512 VNNI) on this CPU")
    from mlroundup.qigen.quant import reference_gemv_int8

    spec = KernelSpec("gemv_i8", 4, group, nv, nacc, isa, scale_dtype)
    kern = compile_kernel(spec)
    rng = np.random.default_rng(5)
    for n in (1, 3, 17, spec.nr - 1, spec.nr + 1):
        for k in (32, 96, 160, 576):
            w = rng.standard_normal((n, k))
            qw = quantize_rtn(w, 4, group, scale_dtype=scale_dtype)
            x = rng.standard_normal(k).astype(np.float32)
            got = kern(pack(qw, spec.nr), x)
            np.testing.assert_allclose(got, reference_gemv_int8(x, qw), atol=1e-4, rtol=1e-5)
            exact = reference_matmul(x[None], qw)[0]  # int8 activations: ~1% of the scale
            assert np.abs(got - exact).max() <= 0.05 * np.abs(exact).max() + 1e-3
    with pytest.raises(ValueError, match="multiple of 32"):
        kern(pack(quantize_rtn(np.ones((2, 40)), 4, None, scale_dtype=scale_dtype), spec.nr),
             np.ones(40))  # fmt: skip


@pytest.mark.parametrize(
    "kind,isa",
    [(k, i) for i in RUNNABLE for k in ("gemv", "gemv_i8") if k == "gemv" or i in I8_ISAS],
)
@pytest.mark.parametrize("prefetch", [(), ((2048, 2),), ((512, 3), (8192, 1))])
def test_gemv_software_prefetch_changes_the_code_not_the_result(kind, isa, prefetch):
    """Oracle: the kernel of the default spec (itself checked against NumPy above) gives the
    same floats bit for bit; the source holds one prefetch per cache line an iteration reads
    (64 B lines; 4 bytes x UW words x NR rows per unit in the float GEMV, 4 units of 4 bytes x
    NR rows per block of 32 in the integer one), at each distance asked for."""
    from mlroundup.qigen.quant import reference_gemv_int8

    base = KernelSpec(kind, 4, 32, 2, 2, isa)
    spec = KernelSpec(kind, 4, 32, 2, 2, isa, prefetch=prefetch)
    assert spec.name != base.name and spec.prefetches == prefetch
    line_bytes = (4 * 1 if kind == "gemv" else 16) * spec.nr  # 4-bit unit: 8 values, 1 word
    src = generate(spec)
    assert src.count("__builtin_prefetch") == len(prefetch) * max(1, line_bytes // 64)
    for ahead, locality in prefetch:
        assert f"wp + {ahead}, 0, {locality});" in src
    rng = np.random.default_rng(11)
    qw = quantize_rtn(rng.standard_normal((2 * spec.nr + 3, 160)), 4, 32)  # i8: K % 32 == 0
    x = rng.standard_normal(qw.shape[1]).astype(np.float32)
    pw = pack(qw, spec.nr)
    got = compile_kernel(spec)(pw, x, threads=2)
    np.testing.assert_array_equal(got, compile_kernel(base)(pw, x, threads=2))
    ref = reference_matmul(x[None], qw)[0] if kind == "gemv" else reference_gemv_int8(x, qw)
    np.testing.assert_allclose(got, ref, atol=1e-4, rtol=1e-4)


def test_default_prefetch_by_vendor_and_isa():
    from mlroundup.qigen import codegen

    assert codegen.default_prefetch("gemv_i8", "avx512vnni", "AuthenticAMD") == ()
    assert codegen.default_prefetch("gemv", "avx512", "AuthenticAMD") == ()
    assert codegen.default_prefetch("gemv", "avx2", "AuthenticAMD") == codegen.GEMV_PREFETCH
    assert codegen.default_prefetch("gemv_i8", "avx512vnni", "GenuineIntel") == (
        codegen.GEMV_I8_PREFETCH
    )
    assert codegen.default_prefetch("gemv", "portable", "") == codegen.GEMV_PREFETCH


@pytest.mark.parametrize(
    "prefetch",
    [((100, 2),), ((0, 2),), ((64, 4),), ((64, -1),), [(64, 2)], ((64,),), ((2 << 20, 2),),
     ((64.0, 2),), ((True, 2),), ((64, 2), (64, 2)), tuple((64 * i, 2) for i in range(1, 6))],
)  # fmt: skip
def test_bad_prefetch_is_a_value_error(prefetch):
    with pytest.raises(ValueError, match="prefetch"):
        KernelSpec("gemv", 4, 32, 1, 1, "avx2", prefetch=prefetch)


def test_prefetch_is_a_gemv_setting():
    with pytest.raises(ValueError, match="GEMV setting"):
        KernelSpec("gemm", 4, 32, 1, 2, "avx2", prefetch=())


def test_int8_gemv_spec_checks_and_vnni_compiles():
    with pytest.raises(ValueError, match="integer kernels"):
        KernelSpec("gemv_i8", 3, 32, 1, 1, "avx2")
    with pytest.raises(ValueError, match="nacc=5"):  # 4 units per block: at most 4 accumulators
        KernelSpec("gemv_i8", 4, 32, 1, 5, "avx512vnni")
    if not isa_supported("avx512vnni"):
        compile_kernel(KernelSpec("gemv_i8", 4, 64, 1, 1, "avx512vnni"))  # built, not run


def test_tune_max_nv_limits_the_tile_width(tmp_path):
    """Oracle: the definition of ``max_nv`` (no candidate wider than it is returned)."""
    from mlroundup.qigen.kernels import best_isa, tune

    spec, _ = tune("gemv", 40, 64, 4, 32, isas=[best_isa()], threads=1, repeats=1,
                   cache_dir=tmp_path, max_nv=1)  # fmt: skip
    assert spec.nv == 1
    with pytest.raises(ValueError, match="max_nv"):
        tune("gemv", 40, 64, 4, 32, threads=1, cache_dir=tmp_path, max_nv=0)


def test_tune_cache_is_kept_apart_per_effective_cpu_features(tmp_path, monkeypatch):
    """Oracle: the tuning key's definition (CPU model and the features left after
    MLROUNDUP_DISABLE_CPU_FEATURES). A run with the best ISA's features disabled stores its own
    winner, from the remaining ISAs, beside the normal run's instead of overwriting it."""
    import json
    import os

    from mlroundup.kernels.autotune import TUNE_FILE
    from mlroundup.qigen.kernels import best_isa
    from mlroundup.utils.cpu import DISABLE_ENV

    first, patterns = best_isa(), os.environ.get(DISABLE_ENV, "")  # kept: an AVX2-forced run
    if first == "portable":
        pytest.skip("one ISA path only: nothing to disable")
    args = ("gemv", 40, 64, 4, 32)
    full, _ = tune(*args, isas=[first], threads=1, repeats=1, cache_dir=tmp_path)
    monkeypatch.setenv(DISABLE_ENV, f"{patterns} {' '.join(ISAS[first].features)}")
    assert best_isa() != first
    less, times = tune(*args, isas=[best_isa()], threads=1, repeats=1, cache_dir=tmp_path)
    assert times and less.isa != first  # tuned afresh, among the ISAs still available
    keys = [k for k in json.loads((tmp_path / "kernels" / TUNE_FILE).read_text()) if "qigen" in k]
    assert len(keys) == 2
    monkeypatch.setenv(DISABLE_ENV, patterns)
    again, times = tune(*args, isas=[first], threads=1, repeats=1, cache_dir=tmp_path)
    assert again == full and times == {}  # the normal run's winner, read back untouched


def test_prepared_call_matches_the_reference_and_checks_buffers():
    """Oracle: ``reference_matmul`` (dequantize, then NumPy) on an odd shape."""
    from mlroundup.qigen.kernels import best_isa, default_spec

    rng = np.random.default_rng(3)
    n, k = 37, 80
    qw = quantize_rtn(rng.standard_normal((n, k)).astype(np.float32), 4, 16)
    spec = default_spec("gemv", 4, 16, best_isa())
    kern = compile_kernel(spec)
    pw = pack(qw, spec.nr)
    x = np.zeros(pw.k_padded, np.float32)
    out = np.zeros(n, np.float32)
    call = kern.prepare(pw, x, out, 2)
    for _ in range(2):  # the call reads whatever x holds now
        v = rng.standard_normal(k).astype(np.float32)
        x[:k] = v
        call()
        np.testing.assert_allclose(out, reference_matmul(v[None], qw)[0], rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="invalid x"):
        kern.prepare(pw, np.zeros(pw.k_padded, np.float64), out)
    with pytest.raises(ValueError, match="invalid out"):
        kern.prepare(pw, x, np.zeros(n + 1, np.float32))


@pytest.mark.parametrize("isa", RUNNABLE)
def test_float16_scales_read_exactly_including_subnormals(isa):
    """Scales and minimums spanning float16's range (subnormals 2**-24.., normals up to 2**15,
    both signs for minimums) must reach the products unchanged: oracle = float64 products with
    the same float16 values. Checks the portable path's bit-level binary16 conversion too."""
    from mlroundup.qigen.quant import QuantizedWeight

    spec = KernelSpec("gemv", 4, 32, 1, 1, isa, "float16")
    kern = compile_kernel(spec)
    rng = np.random.default_rng(11)
    n, k = 2 * spec.nr + 3, 96
    mags = 2.0 ** rng.integers(-24, 15, (n, 3))
    scales = (mags * rng.uniform(1, 2, (n, 3))).astype(np.float16).astype(np.float32)
    mins = (-mags * rng.uniform(-2, 2, (n, 3))).astype(np.float16).astype(np.float32)
    scales[0, 0], mins[1, 1] = 2.0**-24, -(2.0**-20)  # smallest subnormal; a negative subnormal
    qw = QuantizedWeight(rng.integers(0, 16, (n, k), dtype=np.uint8), scales, mins, 4, 32,
                         "float16")  # fmt: skip
    x = rng.standard_normal(k).astype(np.float32)
    got = kern(pack(qw, spec.nr), x).astype(np.float64)
    ref = reference_matmul(x[None], qw)[0].astype(np.float64)
    # per row: float32 accumulation error relative to that row's own magnitude
    size = (np.abs(qw.dequantize()).astype(np.float64) @ np.abs(x)) + 1e-45
    assert np.all(np.abs(got - ref) <= 1e-5 * size), np.max(np.abs(got - ref) / size)
    with pytest.raises(ValueError, match="does not match"):  # float32 kernel, float16 weight
        compile_kernel(KernelSpec("gemv", 4, 32, 1, 1, isa))(pack(qw, spec.nr), x)


@pytest.mark.parametrize("isa", RUNNABLE)
@pytest.mark.parametrize("group", [32, None])
def test_gemm_accumulates_across_panels(isa, group):
    """K spanning several dequantized panels (PANEL_KC values each) with a partial last panel,
    row blocks with a remainder, tile tails: oracle x @ dequantize(W).T in float64."""
    from mlroundup.qigen.codegen import PANEL_KC
    from mlroundup.qigen.kernels import gemm_mr

    rng = np.random.default_rng(3)
    k = 2 * PANEL_KC + 40
    for nv in (1, 2):
        spec = KernelSpec("gemm", 4, group, nv, gemm_mr(nv, isa), isa)
        kern = compile_kernel(spec)
        n = 2 * spec.nr + 5
        qw = quantize_rtn(rng.standard_normal((n, k)), 4, group)
        x = rng.standard_normal((spec.nacc * 2 + 1, k)).astype(np.float32)
        got = kern(pack(qw, spec.nr), x)
        ref = reference_matmul(x, qw)
        assert np.abs(got - ref).max() <= 1e-5 * np.sqrt(k) * np.abs(ref).max(), spec.name


@pytest.mark.parametrize("isa", I8_ISAS or ["none"])
@pytest.mark.parametrize(
    "group,scale_dtype,nv,mr",
    [(32, "float32", 1, 4), (128, "float32", 2, 3), (None, "float32", 2, 2), (32, "float16", 1, 3)],
)
def test_int8_gemm_matches_the_row_by_row_oracle(isa, group, scale_dtype, nv, mr):
    """Oracle: reference_gemv_int8 applied to each activation row (the same int8 rounding per
    block of 32); rows not a multiple of MR, tile tails, whole-row and float16 groups."""
    if isa == "none":
        pytest.skip("no integer-kernel ISA (AVX2 or AVX-512 VNNI) on this CPU")
    from mlroundup.qigen.quant import reference_gemv_int8

    spec = KernelSpec("gemm_i8", 4, group, nv, mr, isa, scale_dtype)
    kern = compile_kernel(spec)
    rng = np.random.default_rng(7)
    for n in (1, 3, spec.nr - 1, 2 * spec.nr + 3):
        for k in (32, 160, 576):
            qw = quantize_rtn(rng.standard_normal((n, k)), 4, group, scale_dtype=scale_dtype)
            pw = pack(qw, spec.nr)
            for m in (1, mr, 2 * mr + 1, 17):
                x = rng.standard_normal((m, k)).astype(np.float32)
                got = kern(pw, x)
                ref = np.stack([reference_gemv_int8(row, qw) for row in x])
                # float32 sums of k / 32 scaled block sums (the oracle sums in float64)
                tol = 2e-6 * np.sqrt(k / 32) * np.abs(ref).max()
                np.testing.assert_allclose(got, ref, atol=tol, rtol=1e-5)
    with pytest.raises(ValueError, match="multiple of 32"):
        kern(pack(quantize_rtn(np.ones((2, 40)), 4, None, scale_dtype=scale_dtype), spec.nr),
             np.ones((3, 40)))  # fmt: skip


@pytest.mark.parametrize("isa", I8_ISAS or ["none"])
def test_int8_kernels_on_tiny_and_non_finite_activations(isa):
    """Blocks too small for 127 / max|x| (it overflows float32 below max|x| ~ 3.7e-37) keep the
    ~1% int8 error against the exact float64 product (down to 1e-39; further into the
    subnormals float32 itself runs out of digits); a NaN or infinite activation makes its own
    row NaN and leaves the other rows as the oracle says."""
    if isa == "none":
        pytest.skip("no integer-kernel ISA (AVX2 or AVX-512 VNNI) on this CPU")
    from mlroundup.qigen.quant import reference_gemv_int8

    rng = np.random.default_rng(9)
    qw = quantize_rtn(rng.standard_normal((20, 128)), 4, 32)
    gemv = compile_kernel(KernelSpec("gemv_i8", 4, 32, 1, 1, isa))
    gemm = compile_kernel(KernelSpec("gemm_i8", 4, 32, 2, 3, isa))
    pv, pm = pack(qw, gemv.spec.nr), pack(qw, gemm.spec.nr)
    base = rng.standard_normal((4, 128)).astype(np.float32)
    for scale in (1e-38, 1e-39):
        x = (base * np.float32(scale)).astype(np.float32)
        exact = reference_matmul(x.astype(np.float64) / scale, qw) * scale  # no underflow
        for got in (gemm(pm, x), np.stack([gemv(pv, row) for row in x])):
            assert np.all(np.isfinite(got))
            assert np.abs(got - exact).max() <= 0.05 * np.abs(exact).max(), scale
    x = base.copy()
    x[1, 7], x[2, 100] = np.nan, np.inf
    got = gemm(pm, x)
    assert np.all(np.isnan(got[1])) and np.all(np.isnan(got[2]))
    for r in (0, 3):
        np.testing.assert_allclose(got[r], reference_gemv_int8(x[r], qw), atol=1e-4, rtol=1e-5)
    assert np.all(np.isnan(gemv(pv, x[1])))


@pytest.mark.parametrize("threads", [0, -1, 100_000, 1.5, True])
def test_bad_thread_counts_are_value_errors_not_aborts(threads):
    """A count the worker pool cannot take (or a negative one, which the C side would use to
    size per-thread buffers) is refused in Python first."""
    spec = KernelSpec("gemv", 4, 32, 1, 1, RUNNABLE[0])
    kern = compile_kernel(spec)
    pw = pack(quantize_rtn(np.ones((3, 64)), 4, 32), spec.nr)
    x, out = np.zeros(64, np.float32), np.zeros(3, np.float32)
    with pytest.raises(ValueError, match="threads"):
        kern(pw, x, threads=threads)
    with pytest.raises(ValueError, match="threads"):
        kern.prepare(pw, x, out, threads)


def _pool_specs(isa):
    specs = [KernelSpec("gemv", 3, 32, 1, 2, isa), KernelSpec("gemm", 4, 32, 1, 3, isa)]
    if isa in INT8_ISAS:
        specs += [KernelSpec("gemv_i8", 4, 32, 1, 1, isa), KernelSpec("gemm_i8", 4, 32, 1, 3, isa)]
    return specs


@pytest.mark.parametrize("isa", RUNNABLE)
def test_every_thread_count_and_no_pool_give_the_reference(isa):
    """The kernels split their loops into tasks of the shared worker pool: 1, 2, 3 and 5 threads
    (more tasks than tiles, fewer, uneven chunks, and a GEMV large enough for its finer split
    into tasks of ``GEMV_TASK_BYTES``, whose first 75% of tiles (``GEMV_HEAD_PERCENT``) go to
    one long task per thread at 2 and 3 threads), and a NULL pool pointer (the calling thread
    alone), all give the NumPy oracle's product on odd shapes (float: ``reference_matmul``;
    integer kernels: ``reference_gemv_int8`` row by row). Run once per ISA path; with
    ``MLROUNDUP_DISABLE_CPU_FEATURES='avx512*'`` that is the AVX2 path."""
    import ctypes

    from mlroundup.qigen.quant import reference_gemv_int8

    rng = np.random.default_rng(5)
    for spec in _pool_specs(isa):
        kern = compile_kernel(spec)
        gemm, i8 = spec.kind.startswith("gemm"), spec.kind.endswith("_i8")
        shapes = [(1, 64), (spec.nr + 3, 96), (9 * spec.nr - 1, 160)]
        if not gemm:  # over 20 tasks of GEMV_TASK_BYTES: the GEMVs' finer split, uneven tail
            shapes.append((130 * spec.nr + 5, 4096))
        for n, k in shapes:
            qw = quantize_rtn(rng.standard_normal((n, k)), spec.bits, 32)
            pw = pack(qw, spec.nr)
            x = rng.standard_normal((5, k)).astype(np.float32)
            xin = x if gemm else x[0]
            if i8:
                ref = np.stack([reference_gemv_int8(r, qw) for r in x])
            else:
                ref = reference_matmul(x, qw)
            ref = ref if gemm else ref[0]
            tol = 1e-5 * np.sqrt(k) * np.abs(qw.dequantize()).max() * np.abs(x).max()
            for threads in (1, 2, 3, 5):  # NaN where a task left an output unwritten
                got = kern(pw, xin, np.full((5 if gemm else 1, n), np.nan, np.float32), threads)
                assert np.abs(got - ref).max() <= tol, (spec.name, n, k, threads)
            out = np.zeros((5 if gemm else 1, n), np.float32)
            xp = np.zeros((out.shape[0], pw.k_padded), np.float32)
            xp[:, :k] = x[: out.shape[0]]
            c = [ctypes.c_void_p(a.ctypes.data) for a in (pw.words, pw.scales, pw.mins, xp, out)]
            dims = (out.shape[0], n, pw.k_padded) if gemm else (n, pw.k_padded)
            kern.fn(*c, *dims, 3, None)  # no pool: every task on this thread
            got = out if gemm else out[0]
            assert np.abs(got - ref).max() <= tol, (spec.name, n, k, "no pool")


def test_kernels_use_the_worker_pool_not_openmp():
    """Oracle: the sources and the compiled libraries' bytes. No kernel is OpenMP code (no
    second OpenMP runtime beside PyTorch's): no pragma in the source, no ``GOMP_`` symbol in
    the shared object; each kernel takes the pool's entry point as its last argument."""
    for isa in ISAS:
        for spec in _pool_specs(isa) + [KernelSpec("gemv", 4, None, 1, 1, isa)]:
            src = generate(spec)
            assert "#pragma omp" not in src and "omp.h" not in src, spec.name
            assert "mlr_parallel_for_fn pf)" in src, spec.name
    for spec in _pool_specs(RUNNABLE[0]):
        compile_kernel(spec)
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if spec.name + "-" in line}
        assert paths, spec.name
        for path in paths:
            with open(path, "rb") as f:
                assert b"GOMP_" not in f.read(), path


def test_repeated_calls_start_no_threads():
    """Threads of this process (``/proc/self/task``) over 200 GEMV and GEMM calls on 2 threads:
    the pool's workers are started once, not per call."""
    import os

    spec = KernelSpec("gemv", 4, 32, 1, 2, RUNNABLE[0])
    gspec = KernelSpec("gemm", 4, 32, 1, 3, RUNNABLE[0])
    kern, gemm = compile_kernel(spec), compile_kernel(gspec)
    qw = quantize_rtn(np.random.default_rng(0).standard_normal((200, 64)), 4, 32)
    pw = pack(qw, spec.nr)
    x = np.ones((4, 64), np.float32)
    kern(pw, x[0], threads=2)
    gemm(pw, x, threads=2)
    before = len(os.listdir("/proc/self/task"))
    for _ in range(100):
        kern(pw, x[0], threads=2)
        gemm(pw, x, threads=2)
    assert len(os.listdir("/proc/self/task")) == before
