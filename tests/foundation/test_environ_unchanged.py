"""Library code never changes the process environment: importing each method and running a small
kernel of it, in a fresh interpreter, leaves ``os.environ`` and the C library's environment as they
were. Oracle: a snapshot of both taken by the same script before the first mlroundup import (a
fresh process, so nothing an earlier test imported can hide a change).

threadpoolctl (a dependency, used by mlroundup.utils.threads) sets ``KMP_DUPLICATE_LIB_OK`` itself
when imported; the script imports it before the snapshot, so the test sees our code's changes
only. torch's inductor (loaded by transformers when the SmolLM2 loader runs) sets
``TORCHINDUCTOR_CACHE_DIR`` in its own cache helper; that name, and only it, is allowed to
appear, and only in the SmolLM2 case."""

import json
import subprocess
import sys

import pytest

SCRIPT = r"""
import ctypes, json, os, sys
libc = ctypes.CDLL(None)
libc.getenv.restype = ctypes.c_char_p
WATCH = ("OMP_WAIT_POLICY", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY",
         "MKL_RT", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "KMP_BLOCKTIME")
def snap():
    c = {k: (libc.getenv(k.encode()) or b"").decode() or None for k in WATCH}
    return dict(os.environ), c
import threadpoolctl  # sets KMP_DUPLICATE_LIB_OK on import (not ours)
before = snap()
import numpy as np
rng = np.random.default_rng(0)
which = sys.argv[1]
if which == "qigen":
    from mlroundup.qigen.kernels import available_isas, compile_kernel
    from mlroundup.qigen.codegen import KernelSpec
    from mlroundup.qigen.layout import pack
    from mlroundup.qigen.quant import quantize_rtn
    spec = KernelSpec("gemv", 4, 32, 1, 2, available_isas()[0])
    qw = quantize_rtn(rng.standard_normal((8, 64)), 4, 32)
    compile_kernel(spec)(pack(qw, spec.nr), rng.standard_normal(64).astype(np.float32), threads=2)
elif which == "rosko":
    import scipy.sparse as sp
    from mlroundup.rosko import pack, spmm
    from mlroundup.rosko.compare import load_mkl
    a = sp.random_array((32, 32), density=0.2, random_state=0, format="csr", dtype=np.float32)
    b = rng.standard_normal((32, 8)).astype(np.float32)
    spmm(pack(a), b, np.empty((32, 8), np.float32), threads=2)
    load_mkl(2)
elif which == "longstep":
    from mlroundup.longstep.pep import worst_case
    worst_case(np.ones(2))
elif which == "relora":
    import torch
    from mlroundup.relora.layers import wrap_relora
    model = torch.nn.Sequential(torch.nn.Linear(8, 8))
    wrap_relora(model, r=2, targets=lambda name, m: isinstance(m, torch.nn.Linear))
    model(torch.randn(2, 8)).sum().backward()
elif which == "smollm2":
    from mlroundup.models import load_smollm2
    load_smollm2()
after = snap()
print(json.dumps({"os": [sorted(set(before[0].items()) ^ set(after[0].items()))],
                  "libc": {k: (before[1][k], after[1][k]) for k in WATCH
                           if before[1][k] != after[1][k]}}))
"""


def _smollm2_available() -> bool:
    try:
        from mlroundup.models.smollm2 import cache_is_valid, cache_path

        return cache_is_valid(cache_path())
    except Exception:
        return False


CASES = ["qigen", "rosko", "longstep", "relora"]
CASES.append(
    "smollm2"
    if _smollm2_available()
    else pytest.param("smollm2", marks=pytest.mark.skip(reason="no converted SmolLM2 cache"))
)


@pytest.mark.parametrize("which", CASES)
def test_importing_and_running_leaves_the_environment_alone(which):
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, which], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    diff = json.loads(proc.stdout.strip().splitlines()[-1])
    allowed = {"TORCHINDUCTOR_CACHE_DIR"} if which == "smollm2" else set()
    changed = {name for name, _value in diff["os"][0]}
    assert changed <= allowed, diff
    assert diff["libc"] == {}, diff
