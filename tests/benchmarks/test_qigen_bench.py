"""Bookkeeping of ``mlroundup bench qigen`` on planted timings (no wall time), and what its
setups build. Oracles: hand arithmetic on the planted values, the bytes of a packed 4-bit
matrix in closed form, the call log of a fake model."""

import math

import pytest

import mlroundup.qigen.bench as qb

from .fakes import PlantedContext

TINY = qb.Settings(
    bandwidth_shapes=("smollm2 gate/up 1536x576",), torch_shapes=("smollm2 gate/up 1536x576",),
    random_model="tinyllama", repeats=3, model_repeats=2, n_prompt=8, n_decode=4,
    random_prompt=4, random_decode=2,
)  # fmt: skip
WEIGHT_BYTES = 1536 * 576 // 2 + 1536 * math.ceil(576 / 128) * 2 * 4  # codes + scales, minimums


def _plant(case, system):
    name, label = system.name, case.label
    if name == qb.PROBE:  # 20 GB/s from DRAM, 80 from cache, 25 in a decode case (DRAM)
        gbps = 20.0 if label.endswith("(dram)") else 25.0 if label.endswith("decode") else 80.0
        return {"wall": [1e-3, 2e-3, 1e-3], "info": {"read_bytes": int(gbps * 1e6)}}
    if name in ("gemv", "gemv_i8"):
        t = 1e-4 if name == "gemv" else 5e-5
        return {"wall": [t] * 3, "info": {"kernel": f"k_{name}", "weight_bytes": WEIGHT_BYTES}}
    if name == "llama.cpp":
        return {"status": "unavailable", "reason": "llama-cpp-python is not installed"}
    times = {"ours q4": 10e-6, "fp32": 30e-6, "bf16": 60e-6, "int8 dyn": 20e-6,
             "ours M=32": 100e-6, "fp32 M=32": 150e-6}  # fmt: skip
    if name in times:
        return {"wall": [times[name]] * 3}
    decode = {"ours": 8e-3, "ours, AVX2 only": 10e-3, "ours in transformers": 40e-3,
              "llama.cpp Q4_0": 20e-3}  # fmt: skip
    prompt = {"ours": 1e-3, "ours, AVX2 only": 1.25e-3, "ours in transformers": 4e-3,
              "llama.cpp Q4_0": 2e-3}  # fmt: skip
    table = decode if label.endswith("decode") else prompt
    # weights read per decoding step: 400 MB (llama.cpp), 500 MB (ours)
    info = {"weight_bytes": 400_000_000 if name == "llama.cpp Q4_0" else 500_000_000}
    return {"wall": [table.get(name, 25e-3)] * 2, "info": info}


@pytest.fixture
def ctx(monkeypatch):
    monkeypatch.setattr(qb, "SETTINGS", {"quick": TINY})
    from mlroundup.qigen import kernels

    monkeypatch.setattr(kernels, "available_isas", lambda: ["avx2", "portable"])
    return PlantedContext(_plant)


def test_bandwidth_table(ctx, monkeypatch):
    from mlroundup.kernels import bandwidth

    monkeypatch.setattr(bandwidth, "last_level_cache_bytes", lambda: 32 << 20)
    qb._bandwidth_table(ctx, TINY)
    (table,) = ctx.report.tables
    assert table.columns == qb.BANDWIDTH_COLUMNS
    assert [(r[1], r[2]) for r in table.rows] == [
        ("dram", "k_gemv"), ("dram", "k_gemv_i8"), ("cache", "k_gemv"), ("cache", "k_gemv_i8")
    ]  # fmt: skip
    row = table.rows[0]  # gemv from DRAM: 0.1 ms
    assert row[3] == pytest.approx(0.1)
    assert row[4] == pytest.approx(WEIGHT_BYTES / 1e-4 / 1e9)
    assert row[6] == pytest.approx(WEIGHT_BYTES / 1e-4 / 1e9 / 20.0)
    assert table.rows[3][6] == pytest.approx(WEIGHT_BYTES / 5e-5 / 1e9 / 80.0)  # int8, cache
    assert [r[7] for r in table.rows] == [None] * 4  # the goal is on the LLaMA-7B shapes only
    assert [r[5] for r in table.rows] == [pytest.approx(20.0)] * 2 + [pytest.approx(80.0)] * 2
    # the probe is the first side of every case (passes interleaved with the kernels')
    assert all(c.systems[0].name == qb.PROBE for c in ctx.cases)
    assert [c.systems[0].params["where"] for c in ctx.cases] == ["dram", "cache"]
    dram = [c for c in ctx.cases if c.label.endswith("(dram)")]
    assert all(s.params["dram"] and s.params["llc_bytes"] == 32 << 20
               for s in dram[0].systems[1:])  # fmt: skip


def test_torch_table(ctx):
    qb._torch_table(ctx, TINY)
    (row,) = ctx.report.tables[0].rows
    got = dict(zip(qb.TORCH_COLUMNS, row, strict=True))
    assert got["ours q4 us"] == pytest.approx(10) and got["bf16 us"] == pytest.approx(60)
    assert got["x fp32"] == pytest.approx(3) and got["x bf16"] == pytest.approx(6)
    assert got["x int8"] == pytest.approx(2) and got["x fp32 M=32"] == pytest.approx(1.5)
    one, batch = ctx.cases
    assert [s.name for s in one.systems if s.ours] == ["ours q4"]
    assert {s.params["m"] for s in batch.systems} == {32}


def test_smollm2_table_with_llama_cpp_unavailable(ctx):
    qb._smollm2_table(ctx, TINY)
    (table,) = ctx.report.tables
    assert "(unavailable)" in table.title
    decode, prompt = table.rows
    assert decode == ["decode ms/token", None, pytest.approx(8.0), None, None,
                      pytest.approx(10.0), None, None, pytest.approx(40.0)]  # fmt: skip
    assert prompt == ["prompt tokens/s", None, pytest.approx(1000.0), None, None,
                      pytest.approx(800.0), None, None, pytest.approx(250.0)]  # fmt: skip
    avx2 = [s for c in ctx.cases for s in c.systems if s.name == "ours, AVX2 only"]
    assert len(avx2) == 2 and all(s.env == qb.AVX2_ONLY and s.ours for s in avx2)
    assert all(s.env == {} for c in ctx.cases for s in c.systems if s.name != "ours, AVX2 only")
    assert [c.label for c in ctx.cases] == ["SmolLM2-135M: decode", "SmolLM2-135M: prompt"]
    assert all(c.warmup == 1 and c.min_pass_s == 0 for c in ctx.cases)
    assert any("llama.cpp unavailable" in n for n in ctx.report.notes)


@pytest.mark.parametrize("avx512", [True, False])
def test_random_table(ctx, monkeypatch, avx512):
    from mlroundup.kernels import bandwidth
    from mlroundup.utils import cpu

    monkeypatch.setattr(bandwidth, "last_level_cache_bytes", lambda: 32 << 20)

    monkeypatch.setattr(cpu, "has_features", lambda features: avx512)
    qb._random_table(ctx, TINY)
    (table,) = ctx.report.tables
    rows = {r[0]: dict(zip(qb.RANDOM_COLUMNS, r, strict=True)) for r in table.rows}
    # bits per weight: 4 + a scale and a minimum per group (16 or 32 bits each)
    assert [r["bits/weight"] for r in rows.values()] == [4.5, 5.0, 4.5, 4.5, 4.5] + [5.0] * avx512
    avx2 = "ours 4-bit g32 float16 scales, int8 activations, AVX2 only"
    assert (avx2 in rows) == avx512  # the AVX2-forced run, only where AVX-512 is there to disable
    envs = {s.name: s.env for c in ctx.cases for s in c.systems}
    assert all(env == (qb.AVX2_ONLY if n == avx2 else {}) for n, env in envs.items())
    llama = rows["llama.cpp Q4_0"]
    assert llama["ms/token"] == pytest.approx(20) and llama["decode vs llama.cpp"] == 1.0
    ours = rows["ours 4-bit g32 float16 scales, int8 activations"]
    assert ours["ms/token"] == pytest.approx(25) and ours["tokens/s"] == pytest.approx(40)
    assert ours["decode vs llama.cpp"] == pytest.approx(20 / 25)
    assert ours["prompt tokens/s"] == pytest.approx(40)
    assert ours["prompt vs llama.cpp"] == pytest.approx(2 / 25)
    assert ours["goal (decode >= 1.0x)"] == "short by 20%"  # 0.8x of the 1.0x goal
    assert llama["goal (decode >= 1.0x)"] is None
    # the memory bound: bytes per token over the decode case's probe (25 GB/s)
    assert llama["weight MB/token"] == pytest.approx(400) and ours[
        "weight MB/token"
    ] == pytest.approx(500)
    assert llama["bound ms/token"] == pytest.approx(16) and ours["bound ms/token"] == pytest.approx(
        20
    )
    assert llama["of bound"] == pytest.approx(16 / 20) and ours["of bound"] == pytest.approx(
        20 / 25
    )
    decode, prompt = ctx.cases
    # 0.5 s at 25 GB/s over passes of 8 LLCs (32 MiB here): 12.5e9 / 2**28 = 46.6 -> 47
    assert decode.systems[0].name == qb.PROBE
    assert decode.systems[0].params == {"where": "dram", "passes": 47}
    assert qb.PROBE not in [s.name for s in prompt.systems]


def test_run_without_llama_cpp_skips_the_random_table(ctx, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "llama_cpp" else real(name, *a))  # fmt: skip
    qb.run(ctx)
    titles = [t.title for t in ctx.report.tables]
    assert len(titles) == 3 and not any("random weights" in t for t in titles)
    assert any("random-weight comparison was not run" in n for n in ctx.report.notes)


def test_model_workload_times_what_it_says():
    """prompt: prepare resets, a call runs the prompt (units = its tokens); decode: prepare
    resets and runs the prompt, a call decodes n tokens one by one (units = n)."""
    from mlroundup.qigen.llamacpp import bench_prompt

    log = []
    reset, run = (lambda: log.append("reset")), (lambda toks: log.append(list(toks)))
    w = qb._model_workload(reset, run, "prompt", 5, 3, {})
    assert w.units == 5
    w.prepare()
    w.step()
    assert log == ["reset", bench_prompt(5)]
    log.clear()
    w = qb._model_workload(reset, run, "decode", 5, 3, {})
    assert w.units == 3
    w.prepare()
    w.step()
    assert log == ["reset", bench_prompt(5), [100], [101], [102]]
    with pytest.raises(ValueError, match="phase"):
        qb._model_workload(reset, run, "both", 5, 3, {})


def test_gemv_setup_rotates_enough_copies_to_leave_the_cache():
    """Oracle: 4 bits per code plus a float32 scale and minimum per group of 128; copies =
    ceil(4 x LLC / bytes), at least 2."""
    n, k, llc = 64, 256, 1 << 16
    w = qb.gemv_setup(threads=1, n=n, k=k, kind="gemv", dram=True, llc_bytes=llc)
    nbytes = n * k // 2 + n * (k // 128) * 2 * 4
    assert w.info["weight_bytes"] == nbytes
    assert w.units == w.info["copies"] == max(2, math.ceil(4 * llc / nbytes))
    w.step()
    assert qb.gemv_setup(threads=1, n=n, k=k, kind="gemv", dram=False).units == 1


def test_torch_setup_refuses_an_unknown_dtype():
    pytest.importorskip("torch")
    with pytest.raises(ValueError, match="dtype"):
        qb.torch_setup(threads=1, n=4, k=4, m=1, dtype="fp8")
    qb.torch_setup(threads=1, n=4, k=8, m=2, dtype="bf16").step()


def test_gemv_setup_times_the_spec_it_is_given():
    """Oracle: the name of the KernelSpec passed (not the autotuner's choice)."""
    from mlroundup.qigen.codegen import KernelSpec
    from mlroundup.qigen.kernels import available_isas

    fields = {"kind": "gemv", "bits": 4, "group_size": 128, "nv": 1, "nacc": 1,
              "isa": available_isas()[-1]}  # fmt: skip
    w = qb.gemv_setup(threads=1, n=40, k=256, kind="gemv", dram=False, spec=fields)
    assert w.info["kernel"] == KernelSpec(**fields).name
    w.step()
