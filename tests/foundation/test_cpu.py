"""CPU feature parsing (oracle: hand-written /proc/cpuinfo excerpts)."""

from mlroundup.utils import cpu

X86 = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse4_2 avx avx2 fma f16c avx512f avx512_vnni amx_tile
processor\t: 1
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu
"""

ARM = """processor\t: 0
BogoMIPS\t: 50.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics asimddp sve
CPU implementer\t: 0x41
"""


def test_parse_x86_takes_first_cpu():
    model, flags = cpu._parse_cpuinfo(X86)
    assert model == "Intel(R) Xeon(R) Platinum 8480+"
    assert {"avx2", "fma", "avx512f", "avx512_vnni", "amx_tile"} <= flags
    assert "neon" not in flags


def test_parse_arm_maps_asimd_to_neon():
    _, flags = cpu._parse_cpuinfo(ARM)
    assert {"neon", "asimd", "asimddp", "sve"} <= flags


def test_parse_vendor():
    assert cpu._parse_vendor(X86) == "GenuineIntel"
    assert cpu._parse_vendor(X86.replace("GenuineIntel", "AuthenticAMD")) == "AuthenticAMD"
    assert cpu._parse_vendor(ARM) == ""
    assert isinstance(cpu.cpu_vendor(), str)


def test_this_machine():
    assert isinstance(cpu.cpu_model(), str) and cpu.cpu_model()
    feats = cpu.kernel_features()
    assert feats == sorted(feats) and set(feats) <= set(cpu.KNOWN_FEATURES)


def test_disabled_features_shrink_the_isa_paths(monkeypatch):
    """MLROUNDUP_DISABLE_CPU_FEATURES makes an AVX-512 CPU look AVX2-only to every kernel family.
    Oracle: a hand-written flag list, with the avx512* flags struck out by hand."""
    from mlroundup.qigen import kernels as qk
    from mlroundup.rosko import matmul as rm

    flags = frozenset("fpu sse4_2 avx avx2 fma f16c avx512f avx512bw avx512_vnni amx_tile".split())
    monkeypatch.setattr(cpu, "_probe", lambda: ("test CPU", flags))
    monkeypatch.delenv(cpu.DISABLE_ENV, raising=False)  # the suite may run under it
    assert "avx512f" in cpu.cpu_features()
    assert "avx512vnni" in qk.available_isas() and "avx512" in rm.available_isas()
    monkeypatch.setenv(cpu.DISABLE_ENV, "avx512*, amx_tile")
    assert cpu.cpu_features() == {"fpu", "sse4_2", "avx", "avx2", "fma", "f16c"}
    assert qk.available_isas() == ["avx2", "portable"]
    assert rm.available_isas() == ["avx2", "portable"]
    monkeypatch.setenv(cpu.DISABLE_ENV, "avx2")
    assert "avx2" not in qk.available_isas() and "avx2" not in rm.available_isas()
