"""CPU identification and instruction-set features.

Shared by the run metadata of ``reproduce`` and by the kernel machinery (which picks an ISA path and
keys its compile cache by these features). Linux reads ``/proc/cpuinfo``; macOS asks ``sysctl``;
anything else reports only what :mod:`platform` knows, so callers fall back to the portable path.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import platform
import subprocess

#: Features the kernels care about, in the spelling of Linux's /proc/cpuinfo flags.
KNOWN_FEATURES: tuple[str, ...] = (
    "sse4_2", "avx", "avx2", "fma", "f16c", "bmi2",
    "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni", "avx512_bf16", "avx512_fp16",
    "avx512vbmi", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16",
    "neon", "asimd", "asimddp", "sve",
)  # fmt: skip


def _parse_cpuinfo(text: str) -> tuple[str, frozenset[str]]:
    model = ""
    flags: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "hardware", "cpu model") and not model:
            model = value.strip()
        elif key in ("flags", "features") and not flags:
            flags = set(value.split())
    if "asimd" in flags:  # aarch64 spells NEON as asimd
        flags.add("neon")
    return model, frozenset(flags)


@functools.cache
def _probe() -> tuple[str, frozenset[str]]:
    system = platform.system()
    if system == "Linux" and os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            model, flags = _parse_cpuinfo(fh.read())
        return model or platform.processor() or platform.machine(), flags
    if system == "Darwin":
        try:
            out = subprocess.run(
                ["sysctl", "-n", "machdep.cpu.brand_string"],
                capture_output=True,
                text=True,
                timeout=5,
                check=False,
            ).stdout.strip()
        except OSError:
            out = ""
        flags = {"neon", "asimd"} if platform.machine() == "arm64" else set()
        return out or platform.machine(), frozenset(flags)
    return platform.processor() or platform.machine(), frozenset()


def _parse_vendor(text: str) -> str:
    """The ``vendor_id`` field of a /proc/cpuinfo text ("" if absent)."""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() == "vendor_id":
            return value.strip()
    return ""


@functools.cache
def cpu_vendor() -> str:
    """The x86 vendor string, e.g. ``"AuthenticAMD"`` or ``"GenuineIntel"`` (Linux
    /proc/cpuinfo); "" where unknown (other systems, other architectures)."""
    if platform.system() == "Linux" and os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            return _parse_vendor(fh.read())
    return ""


def cpu_model() -> str:
    """The CPU's model name, e.g. ``"AMD EPYC 9B14"``; the architecture name if unknown."""
    return _probe()[0]


#: Environment variable naming CPU features to treat as absent (like NumPy's
#: ``NPY_DISABLE_CPU_FEATURES``): comma- or space-separated /proc/cpuinfo flags, shell-style
#: patterns allowed, e.g. ``MLROUNDUP_DISABLE_CPU_FEATURES="avx512*"`` runs an AVX-512 machine
#: as an AVX2-only one (every kernel then picks, and tests run, the paths such a CPU has).
DISABLE_ENV = "MLROUNDUP_DISABLE_CPU_FEATURES"


def disabled_features() -> tuple[str, ...]:
    """The patterns of :data:`DISABLE_ENV` (empty when unset)."""
    return tuple(os.environ.get(DISABLE_ENV, "").replace(",", " ").split())


def cpu_features() -> frozenset[str]:
    """Instruction-set features of this CPU, as /proc/cpuinfo flags (e.g. ``"avx2"``, ``"fma"``).

    Features matched by a pattern of :data:`DISABLE_ENV` are left out (read at each call).

    Returns
    -------
    frozenset of str
        All flags the OS reports (empty where it reports none); see :data:`KNOWN_FEATURES` for the
        ones the kernels use.
    """
    flags = _probe()[1]
    off = disabled_features()
    if not off:
        return flags
    return _without(flags, off)


@functools.lru_cache(maxsize=32)
def _without(flags: frozenset[str], off: tuple[str, ...]) -> frozenset[str]:
    """``flags`` less those matching a pattern of ``off`` (cached: kernels ask on every call, and
    matching ~100 flags against the patterns cost ~0.2 ms per Rosko call on an AVX2-forced run)."""
    return frozenset(f for f in flags if not any(fnmatch.fnmatchcase(f, p) for p in off))


def has_features(features) -> bool:
    """True when this CPU reports every flag in ``features`` (an empty set: always), e.g. the
    ``features`` of an ISA path of a kernel family; the one check both kernel families use."""
    return set(features) <= cpu_features()


def kernel_features() -> list[str]:
    """The subset of :func:`cpu_features` in :data:`KNOWN_FEATURES`, sorted; used in run metadata."""
    feats = cpu_features()
    return sorted(f for f in KNOWN_FEATURES if f in feats)


#: Cache sizes assumed where the OS does not report them (bytes): a common x86 server core.
DEFAULT_CACHES: dict[str, int] = {"L1": 32 * 1024, "L2": 512 * 1024, "L3": 16 * 1024 * 1024}


def _parse_size(text: str) -> int:
    text = text.strip().upper()
    mult = {"K": 1024, "M": 1024**2, "G": 1024**3}.get(text[-1:], 1)
    return int(text.rstrip("KMG") or 0) * mult


@functools.cache
def cache_sizes() -> dict[str, int]:
    """Per-level data cache sizes in bytes: ``{"L1": ..., "L2": ..., "L3": ...}``.

    L1 and L2 are per core; L3 is the whole shared cache. Read from
    ``/sys/devices/system/cpu/cpu0/cache`` on Linux; levels it does not report fall back to
    :data:`DEFAULT_CACHES`.
    """
    sizes = dict(DEFAULT_CACHES)
    root = "/sys/devices/system/cpu/cpu0/cache"
    try:
        entries = sorted(os.listdir(root))
    except OSError:
        return sizes
    for entry in entries:
        if not entry.startswith("index"):
            continue
        try:
            with open(os.path.join(root, entry, "level")) as fh:
                level = int(fh.read())
            with open(os.path.join(root, entry, "type")) as fh:
                kind = fh.read().strip()
            with open(os.path.join(root, entry, "size")) as fh:
                size = _parse_size(fh.read())
        except (OSError, ValueError):
            continue
        if kind in ("Data", "Unified") and size > 0 and 1 <= level <= 3:
            sizes[f"L{level}"] = size
    return sizes
