"""Asymmetric group-wise weight quantization: round-to-nearest and GPTQ, plus the NumPy oracle.

A weight matrix ``W`` of shape ``(N, K)`` (``nn.Linear`` layout: output rows, input channels) is
cut along ``K`` into groups of ``g`` consecutive input channels (the last group may be shorter
when ``g`` does not divide ``K``; ``group_size=None`` means one group per row). Each
(row, group) pair gets a scale ``s`` and a minimum ``m`` (kept in separate arrays, as in QIGen),
and each weight an integer code ``q`` in ``[0, 2**bits - 1]``; the dequantized weight is
``s * q + m``. Scales and minimums are float32 (QIGen), or rounded to float16 with
``scale_dtype="float16"`` (the storage of llama.cpp's Q4_1 blocks: 4-bit codes plus a float16
scale and minimum per 32 weights, 5 bits per weight), which the kernels then read as float16.

Round-to-nearest takes ``m = min(w)``, ``s = (max(w) - min(w)) / (2**bits - 1)`` over the group
and ``q = round((w - m) / s)``, so every weight is within ``s / 2`` of its dequantized value.
GPTQ (Frantar et al. 2022, arXiv 2210.17323, Algorithm 1 with lazy batch updates and groups)
quantizes one column at a time and spreads the error onto the not-yet-quantized columns
through the inverse Hessian ``(2 X^T X + damp I)^{-1}`` of a calibration set ``X``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Bit widths the packer and kernels support.
BITS: tuple[int, ...] = (2, 3, 4, 8)
#: Storage types of the scales and minimums.
SCALE_DTYPES: tuple[str, ...] = ("float32", "float16")
_F16_MAX = float(np.finfo(np.float16).max)


@dataclass(frozen=True)
class QuantizedWeight:
    """Integer codes and per-group parameters of one quantized matrix.

    Attributes
    ----------
    q : ndarray of shape (N, K), dtype=uint8
        Codes in ``[0, 2**bits - 1]``.
    scales, mins : ndarray of shape (N, G), dtype=float32
        Per (row, group) scale and minimum; ``G = ceil(K / group_size)``.
    bits : int
    group_size : int
        Group length along K (equal to K for whole-row groups).
    scale_dtype : {"float32", "float16"}
        How the kernels store ``scales`` and ``mins``; with "float16" every value is exactly a
        float16 (the quantizers round them before choosing the codes), so packing loses nothing.

    Raises
    ------
    ValueError
        On codes that are not uint8 (N, K) within ``[0, 2**bits - 1]``, unsupported ``bits``, a
        non-positive ``group_size``, ``scales`` / ``mins`` not of shape (N, G), an unknown
        ``scale_dtype``, or "float16" with values that are not float16 numbers.
    """

    q: np.ndarray
    scales: np.ndarray
    mins: np.ndarray
    bits: int
    group_size: int
    scale_dtype: str = "float32"

    def __post_init__(self) -> None:
        check_scale_dtype(self.scale_dtype)
        q = np.asarray(self.q)
        if q.ndim != 2 or q.dtype != np.uint8:
            raise ValueError(
                f"invalid q: need uint8 codes of shape (N, K), got {q.dtype} {q.shape}"
            )
        n, k = q.shape
        check_bits(self.bits)
        if q.size and int(q.max()) > 2**self.bits - 1:
            raise ValueError(
                f"codes reach {int(q.max())}, beyond the {self.bits}-bit range [0, {2**self.bits - 1}]"
            )
        if isinstance(self.group_size, bool) or int(self.group_size) < 1:
            raise ValueError(f"invalid group_size={self.group_size!r}: a positive int")
        expect = (n, -(-k // int(self.group_size)))
        for name in ("scales", "mins"):
            if np.shape(getattr(self, name)) != expect:
                raise ValueError(f"invalid {name} of shape {np.shape(getattr(self, name))}: need "
                                 f"{expect} (rows, ceil(K / group_size))")  # fmt: skip
        if self.scale_dtype == "float16":
            for name in ("scales", "mins"):
                a = np.asarray(getattr(self, name), np.float32)
                if not np.array_equal(a.astype(np.float16).astype(np.float32), a):
                    raise ValueError(
                        f"scale_dtype='float16' but {name} hold values that are not float16 "
                        "numbers: quantize with scale_dtype='float16'"
                    )

    @property
    def shape(self) -> tuple[int, int]:
        return self.q.shape  # type: ignore[return-value]

    def dequantize(self) -> np.ndarray:
        """The float32 matrix ``s * q + m`` of shape (N, K): the test oracle's weights."""
        return dequantize(self.q, self.scales, self.mins, self.group_size)


def check_scale_dtype(scale_dtype: str) -> str:
    if scale_dtype not in SCALE_DTYPES:
        raise ValueError(f"invalid scale_dtype={scale_dtype!r}: one of {SCALE_DTYPES}")
    return scale_dtype


def check_bits(bits: int) -> int:
    if bits not in BITS:
        raise ValueError(f"invalid bits={bits!r}: supported {BITS}")
    return int(bits)


def resolve_group_size(group_size: int | None, k: int) -> int:
    """The group length for ``K = k`` input channels (``None``: whole row, one group per row).

    Raises
    ------
    ValueError
        If ``group_size`` is neither None nor a positive int (GPTQ's command-line ``-1`` for
        whole rows is refused with a hint: mlroundup spells it None).
    """
    if group_size is None:
        return int(k)
    if not isinstance(group_size, bool) and group_size in (-1, 0):
        raise ValueError(f"invalid group_size={group_size!r}: whole-row groups are group_size=None")
    if (
        isinstance(group_size, bool)
        or not isinstance(group_size, int | np.integer)
        or group_size <= 0
    ):
        raise ValueError(
            f"invalid group_size={group_size!r}: a positive int, or None for whole rows"
        )
    return int(min(group_size, k))


def _check_matrix(w: np.ndarray) -> np.ndarray:
    w = np.asarray(w)
    if w.ndim != 2 or 0 in w.shape:
        raise ValueError(f"invalid weight of shape {w.shape}: need a non-empty 2-D (N, K) matrix")
    if w.dtype.kind not in "fiu":
        raise ValueError(f"invalid weight dtype {w.dtype}: need real numbers")
    with np.errstate(over="ignore"):
        if not np.all(np.isfinite(w)) or not np.all(np.isfinite(w.astype(np.float32))):
            raise ValueError("weight has non-finite values (or values beyond float32's range)")
    return w


def group_params(
    w: np.ndarray, bits: int, scale_dtype: str = "float32"
) -> tuple[np.ndarray, np.ndarray]:
    """Scale and minimum of each row of ``w`` (shape (N, g)) for ``bits``-bit codes.

    Returns ``(scales, mins)`` of shape (N,), float32. With ``scale_dtype="float16"`` both are
    float16 numbers, rounded so that the grid still spans the row: the minimum rounded down,
    then the scale computed from it and rounded up, so ``m16 <= min(w)`` and
    ``m16 + (2**bits - 1) s16 >= max(w)`` and every weight is within ``s16 / 2`` of the grid
    (rounding to nearest instead could clip a group's extremes, and flush a tiny scale to 0).
    A constant row gets scale 0 (every code is 0 and dequantizes exactly to the minimum).

    Raises
    ------
    ValueError
        With "float16", if a minimum or scale is beyond float16's range (65504).
    """
    lo = w.min(axis=1).astype(np.float32)
    hi = w.max(axis=1).astype(np.float32)
    top = np.float32(2**bits - 1)
    if check_scale_dtype(scale_dtype) == "float16":
        if max(np.abs(lo).max(initial=0.0), np.abs(hi).max(initial=0.0)) > _F16_MAX / 2:
            raise ValueError(
                f"weights reach {max(np.abs(lo).max(), np.abs(hi).max()):.3g}, beyond float16's "
                "range for a scale and minimum (32752): use scale_dtype='float32'"
            )
        lo = _round_f16(lo, down=True)
        scale = _round_f16(((hi - lo) / top).astype(np.float32), down=False)
        # float32 rounding of (hi - lo) / top can leave the top grid point a hair short
        short = (lo + top * scale < hi) & (hi > lo)
        scale[short] = _round_f16(np.nextafter(scale[short], np.float32(np.inf)), down=False)
        return scale, lo
    scale = ((hi - lo) / top).astype(np.float32)
    return scale, lo


def _round_f16(a: np.ndarray, *, down: bool) -> np.ndarray:
    """``a`` (float32) rounded to a float16 number toward -inf (``down``) or +inf, as float32."""
    h = a.astype(np.float16)
    wrong = h.astype(np.float32) > a if down else h.astype(np.float32) < a
    h[wrong] = np.nextafter(h[wrong], np.float16(-np.inf if down else np.inf))
    return h.astype(np.float32)


def quantize_codes(w: np.ndarray, scale: np.ndarray, lo: np.ndarray, bits: int) -> np.ndarray:
    """Round-to-nearest codes of ``w`` (N, g) on the grid ``scale * q + lo`` (per row), clipped.

    Codes outside ``[0, 2**bits-1]`` only occur in GPTQ (whose updated weights may leave the
    group's range) and are clipped there, as in the reference algorithm.
    """
    safe = np.where(scale > 0, scale, np.float32(1.0))
    q = np.rint((w - lo[:, None]) / safe[:, None])
    q = np.where(scale[:, None] > 0, q, 0.0)
    return np.clip(q, 0, 2**bits - 1).astype(np.uint8)


def quantize_rtn(
    w: np.ndarray,
    bits: int = 4,
    group_size: int | None = 128,
    *,
    scale_dtype: str = "float32",
) -> QuantizedWeight:
    """Round-to-nearest asymmetric group-wise quantization.

    Parameters
    ----------
    w : array_like of shape (N, K)
        Weights, ``nn.Linear`` layout.
    bits : {2, 3, 4, 8}
    group_size : int or None
        Input channels per group; None for one group per row. A ``K`` that is not a
        multiple of it leaves a shorter last group.
    scale_dtype : {"float32", "float16"}
        Storage of scales and minimums (see :func:`group_params`).

    Returns
    -------
    QuantizedWeight
        With ``|w - dequantize()| <= scale / 2`` (+ float32 rounding) elementwise, float16
        scales included (see :func:`group_params`).

    Raises
    ------
    ValueError
        On bad ``bits``, ``group_size``, ``scale_dtype`` or a non-finite / non-2-D ``w``.
    """
    w = _check_matrix(w).astype(np.float32)
    bits = check_bits(bits)
    n, k = w.shape
    g = resolve_group_size(group_size, k)
    n_groups = -(-k // g)
    q = np.empty((n, k), np.uint8)
    scales = np.empty((n, n_groups), np.float32)
    mins = np.empty((n, n_groups), np.float32)
    for j in range(n_groups):
        blk = w[:, j * g : (j + 1) * g]
        s, lo = group_params(blk, bits, scale_dtype)
        scales[:, j], mins[:, j] = s, lo
        q[:, j * g : (j + 1) * g] = quantize_codes(blk, s, lo, bits)
    return QuantizedWeight(q, scales, mins, bits, g, scale_dtype)


def dequantize(q: np.ndarray, scales: np.ndarray, mins: np.ndarray, group_size: int) -> np.ndarray:
    """``scales * q + mins`` broadcast over groups: float32 array of q's shape (N, K)."""
    k = q.shape[1]
    idx = np.arange(k) // group_size
    return (q.astype(np.float32) * scales[:, idx] + mins[:, idx]).astype(np.float32)


def reference_matmul(x: np.ndarray, qw: QuantizedWeight) -> np.ndarray:
    """The oracle: ``x @ dequantize(W).T`` in float64, returned as float32 of shape (M, N)."""
    return (np.asarray(x, np.float64) @ qw.dequantize().astype(np.float64).T).astype(np.float32)


def quantize_activations_int8(x: np.ndarray, block: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 quantization of a float32 vector per block: ``dx = max|x| / 127``,
    ``xq = rint(x / max|x| * 127)`` (all in float32, as the integer kernels compute them; the
    ratio stays finite for blocks too small for ``127 / max|x|``). A block holding NaN or an
    infinity gets ``dx = NaN`` and codes 0, so products with it are NaN.

    Returns ``(xq, dx)``: int8 of x's shape and float32 of shape (len(x) // block,).
    """
    xb = np.asarray(x, np.float32).reshape(-1, block)
    amax = np.abs(xb).max(axis=1)  # NaN if any is NaN
    ok = np.isfinite(amax) & (amax > 0)
    safe = np.where(ok, amax, np.float32(1.0)).astype(np.float32)
    with np.errstate(invalid="ignore"):
        ratio = np.where(ok[:, None], xb / safe[:, None], np.float32(0.0)).astype(np.float32)
    xq = np.rint(ratio * np.float32(127.0)).astype(np.int8)
    dx = np.where(np.isfinite(amax), amax / np.float32(127.0), np.float32(np.nan))
    return xq.reshape(-1), dx.astype(np.float32)


def reference_gemv_int8(x: np.ndarray, qw: QuantizedWeight) -> np.ndarray:
    """Oracle of the integer GEMV: codes times int8 activations (per block of 32), the
    zero-point term on exact float activations; float64, returned as float32 of shape (N,)."""
    k = qw.q.shape[1]
    kp = -(-k // 32) * 32
    xp = np.zeros(kp, np.float32)
    xp[:k] = x
    xq, dx = quantize_activations_int8(xp)
    xhat = (xq.astype(np.float64) * np.repeat(dx.astype(np.float64), 32))[:k]
    idx = np.arange(k) // qw.group_size
    wq = qw.q.astype(np.float64) * qw.scales[:, idx]
    wm = qw.mins[:, idx].astype(np.float64)
    return (wq @ xhat + wm @ np.asarray(x, np.float64)).astype(np.float32)


def quantize_gptq(
    w: np.ndarray,
    hessian: np.ndarray,
    bits: int = 4,
    group_size: int | None = 128,
    *,
    damp: float = 0.01,
    block_size: int = 128,
    scale_dtype: str = "float32",
) -> QuantizedWeight:
    """GPTQ quantization of ``w`` given the calibration Hessian ``H = X^T X`` (up to scale).

    Parameters
    ----------
    w : array_like of shape (N, K)
    hessian : array_like of shape (K, K)
        Symmetric positive semi-definite, e.g. ``sum_t x_t x_t^T`` over calibration inputs ``x_t``
        of the layer (the factor 2/n of the paper does not change the result).
    bits, group_size
        As :func:`quantize_rtn`; group parameters are computed from the (error-updated) weights
        when the algorithm enters each group (Frantar et al., Sec. 4 and the "groupsize" option).
    damp : float
        Relative dampening: ``H += damp * mean(diag H) * I`` (paper: 1%).
    block_size : int
        Columns per lazy batch update (paper: 128); does not change the result.
    scale_dtype : {"float32", "float16"}
        Storage of scales and minimums; float16 ones are rounded when a group's parameters are
        chosen, so later columns compensate the rounding too.

    Returns
    -------
    QuantizedWeight

    Raises
    ------
    ValueError
        On shape mismatch, non-finite input, a negative ``damp``, or an unknown
        ``scale_dtype`` (or weights beyond float16's range with "float16").

    References
    ----------
    E. Frantar, S. Ashkboos, T. Hoefler, D. Alistarh. GPTQ: Accurate Post-Training Quantization
    for Generative Pre-trained Transformers. arXiv 2210.17323, Algorithm 1.
    """
    w = _check_matrix(w).astype(np.float64)
    bits = check_bits(bits)
    check_scale_dtype(scale_dtype)
    n, k = w.shape
    h = np.array(hessian, np.float64)
    if h.shape != (k, k):
        raise ValueError(f"invalid hessian of shape {h.shape}: need ({k}, {k}) for w {w.shape}")
    if not np.all(np.isfinite(h)):
        raise ValueError("hessian has non-finite values")
    if not damp >= 0:
        raise ValueError(f"invalid damp={damp!r}: must be >= 0")
    if block_size < 1:
        raise ValueError(f"invalid block_size={block_size!r}: must be >= 1")
    g = resolve_group_size(group_size, k)
    n_groups = -(-k // g)
    if g < block_size:  # keep every group inside one lazy batch, so its parameters see all updates
        block_size = (block_size // g) * g
    dead = np.diag(h) == 0
    h[dead, dead] = 1.0
    w[:, dead] = 0.0
    h[np.diag_indices(k)] += damp * np.mean(np.diag(h))
    # Upper Cholesky factor of H^-1 (H^-1 = U^T U): row i of U holds the update coefficients.
    try:
        hinv = np.linalg.cholesky(np.linalg.inv(h)).T
    except np.linalg.LinAlgError as exc:
        raise ValueError(
            f"hessian is not positive definite even after dampening (damp={damp}): it must be "
            "X^T X of calibration inputs (symmetric, no negative eigenvalues); raise damp"
        ) from exc
    q = np.zeros((n, k), np.uint8)
    scales = np.zeros((n, n_groups), np.float32)
    mins = np.zeros((n, n_groups), np.float32)
    for i1 in range(0, k, block_size):
        i2 = min(i1 + block_size, k)
        err = np.zeros((n, i2 - i1))
        for i in range(i1, i2):
            if i % g == 0:
                j = i // g
                s, lo = group_params(w[:, i : min(i + g, k)], bits, scale_dtype)
                scales[:, j], mins[:, j] = s, lo
            j = i // g
            col = w[:, i]
            qi = quantize_codes(col[:, None], scales[:, j], mins[:, j], bits)[:, 0]
            q[:, i] = qi
            deq = scales[:, j].astype(np.float64) * qi + mins[:, j]
            e = (col - deq) / hinv[i, i]
            w[:, i:i2] -= np.outer(e, hinv[i, i:i2])
            err[:, i - i1] = e
        w[:, i2:] -= err @ hinv[i1:i2, i2:]
    return QuantizedWeight(q, scales, mins, bits, g, scale_dtype)
