"""Rosko: row-skipping outer-product sparse x dense matrix multiplication for CPUs.

>>> import numpy as np, scipy.sparse as sp
>>> from mlroundup.rosko import pack, spmm
>>> A = sp.random_array((512, 1024), density=0.05, dtype=np.float32, random_state=0)
>>> W = pack(A)                       # pack a fixed (pruned) matrix once
>>> B = np.ones((1024, 64), np.float32)
>>> C = spmm(W, B)                    # C = A @ B, shape (512, 64)

Reference: V. Natesh, A. Sabot, H. T. Kung, M. Ting, "Rosko: Row Skipping Outer Products for Sparse
Matrix Multiplication Kernels", arXiv:2307.03930 (2023).
"""

from mlroundup.rosko.matmul import Plan, available_isas, isa_supported, spmm, spmm_plan
from mlroundup.rosko.packing import PackedSparse, pack
from mlroundup.rosko.tiling import BlockSizes, block_sizes

__all__ = [
    "BlockSizes",
    "PackedSparse",
    "Plan",
    "available_isas",
    "block_sizes",
    "isa_supported",
    "pack",
    "spmm",
    "spmm_plan",
]
