"""CPU feature parsing (oracle: hand-written /proc/cpuinfo excerpts)."""

from mlroundup.kernels import cpu

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


def test_this_machine():
    assert isinstance(cpu.cpu_model(), str) and cpu.cpu_model()
    feats = cpu.kernel_features()
    assert feats == sorted(feats) and set(feats) <= set(cpu.KNOWN_FEATURES)
