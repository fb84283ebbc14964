"""Bit-packing and the streaming tile layout of quantized weights (QIGen, kernel design).

Codes of ``b`` bits are packed along K into 32-bit words, least significant bits first. A
*packing unit* is the smallest run of K values that fills whole words: ``lcm(b, 32) / b`` values
in ``lcm(b, 32) / 32`` words (16 values / 1 word at 2 bits, 32 / 3 at 3 bits, 8 / 1 at 4 bits,
4 / 1 at 8 bits); at 3 bits values straddle word boundaries (value 10 uses bits 30-31 of word 0
and bit 0 of word 1).

The kernel computes ``NR`` output rows at once (one tile) and walks K from start to end, so the
packed words are stored in exactly that visiting order (the paper's "Z-curve" order): tile by
tile; within a tile unit by unit; within a unit word by word; within a word position the ``NR``
rows side by side, so one vector load fetches the same word of ``NR`` rows::

    words[t, u, w, r] = word w of unit u of row t * NR + r          # (N_tiles, K_units, W, NR)

Scales and minimums are kept apart from the codes in arrays of shape ``(N_tiles, G, NR)``, float32
or float16 (the weight's ``scale_dtype``).
Rows are padded to a multiple of ``NR`` (padding codes 0, scale 0, minimum 0) and K to a multiple
of the unit length (padding codes 0; the kernel multiplies them by zero-padded activations).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mlroundup.qigen.quant import QuantizedWeight, check_bits

#: Codes :func:`pack_rows` widens to 64 bits at a time (16 MB of temporaries; a LLaMA-7B-sized
#: output layer at once would take 1.6 GB).
PACK_CHUNK_CODES = 1 << 21


def unit_shape(bits: int) -> tuple[int, int]:
    """``(values, words)`` of one packing unit of ``bits``-bit codes."""
    check_bits(bits)
    lcm = bits * 32 // math.gcd(bits, 32)
    return lcm // bits, lcm // 32


def pack_rows(q: np.ndarray, bits: int) -> np.ndarray:
    """Pack codes of shape (N, K) (K a multiple of the unit length) into uint32 words.

    Returns
    -------
    ndarray of shape (N, K_units, W), dtype=uint32
    """
    uv, uw = unit_shape(bits)
    n, k = q.shape
    if k % uv:
        raise ValueError(f"K={k} is not a multiple of the {bits}-bit unit length {uv}")
    out = np.empty((n, k // uv, uw), np.uint32)
    rows = max(1, PACK_CHUNK_CODES // max(k, 1))
    for r0 in range(0, n, rows):  # row blocks: the 64-bit temporaries stay small
        qu = q[r0 : r0 + rows].reshape(-1, k // uv, uv).astype(np.uint64)
        words = np.zeros((qu.shape[0], k // uv, uw), np.uint64)
        for i in range(uv):
            pos = i * bits
            w, off = divmod(pos, 32)
            words[:, :, w] |= qu[:, :, i] << np.uint64(off)
            if off + bits > 32:  # straddles into the next word
                words[:, :, w + 1] |= qu[:, :, i] >> np.uint64(32 - off)
        out[r0 : r0 + rows] = words & np.uint64(0xFFFFFFFF)
    return out


def unpack_rows(words: np.ndarray, bits: int) -> np.ndarray:
    """Inverse of :func:`pack_rows`: uint8 codes of shape (N, K_units * unit values)."""
    uv, _ = unit_shape(bits)
    n, ku, _ = words.shape
    w64 = words.astype(np.uint64)
    mask = np.uint64(2**bits - 1)
    out = np.zeros((n, ku, uv), np.uint8)
    for i in range(uv):
        w, off = divmod(i * bits, 32)
        v = w64[:, :, w] >> np.uint64(off)
        if off + bits > 32:
            v |= w64[:, :, w + 1] << np.uint64(32 - off)
        out[:, :, i] = (v & mask).astype(np.uint8)
    return out.reshape(n, ku * uv)


@dataclass(frozen=True)
class PackedWeight:
    """A quantized matrix in the kernel's streaming layout.

    Attributes
    ----------
    words : ndarray of shape (N_tiles, K_units, W, NR), dtype=uint32
    scales, mins : ndarray of shape (N_tiles, G, NR), dtype=float32 or float16
    n, k : int
        Logical output rows and input channels.
    k_padded : int
        K rounded up to the unit length (the kernel's K).
    bits, group_size, nr : int
    """

    words: np.ndarray
    scales: np.ndarray
    mins: np.ndarray
    n: int
    k: int
    k_padded: int
    bits: int
    group_size: int
    nr: int

    @property
    def scale_dtype(self) -> str:
        """How the scales and minimums are stored: "float32" or "float16"."""
        return str(self.scales.dtype)

    @property
    def n_groups(self) -> int:
        return self.scales.shape[1]

    @property
    def nbytes(self) -> int:
        """Bytes the kernel streams per product: codes, scales and minimums."""
        return self.words.nbytes + self.scales.nbytes + self.mins.nbytes

    def to_quantized(self) -> QuantizedWeight:
        """Undo the layout (for tests): the :class:`QuantizedWeight` this was packed from."""
        nt, ku, uw, nr = self.words.shape
        rows = self.words.transpose(0, 3, 1, 2).reshape(nt * nr, ku, uw)[: self.n]
        q = unpack_rows(rows, self.bits)[:, : self.k]
        s = self.scales.transpose(0, 2, 1).reshape(nt * nr, -1)[: self.n]
        m = self.mins.transpose(0, 2, 1).reshape(nt * nr, -1)[: self.n]
        s, m = s.astype(np.float32), m.astype(np.float32)  # copies
        return QuantizedWeight(q, s, m, self.bits, self.group_size, self.scale_dtype)


def check_group_size(group_size: int, k: int, bits: int) -> None:
    """Groups must start on a packing unit (whole-row groups, ``group_size >= k``, always do).

    Raises
    ------
    ValueError
        If ``group_size < k`` is not a multiple of the ``bits``-bit packing unit length.
    """
    uv, _ = unit_shape(bits)
    if group_size % uv and group_size < k:
        raise ValueError(
            f"group_size={group_size} is not a multiple of the {bits}-bit packing unit ({uv} "
            f"values); use a multiple of {uv}, or None for whole rows"
        )


def pack(qw: QuantizedWeight, nr: int) -> PackedWeight:
    """Lay out ``qw`` for a kernel computing ``nr`` output rows per tile.

    Raises
    ------
    ValueError
        If ``nr`` is not a positive multiple of 8, or the group size is not a multiple of the
        packing unit length (then a group would start inside a word); a K that is not a multiple
        of the unit length is padded instead.
    """
    if nr <= 0 or nr % 8:
        raise ValueError(f"invalid nr={nr!r}: a positive multiple of 8 (vector lanes)")
    n, k = qw.q.shape
    uv, _ = unit_shape(qw.bits)
    g = qw.group_size
    check_group_size(g, k, qw.bits)
    kp = -(-k // uv) * uv
    np_ = -(-n // nr) * nr
    q = np.zeros((np_, kp), np.uint8)
    q[:n, :k] = qw.q
    n_groups = qw.scales.shape[1]
    dt = np.dtype(qw.scale_dtype)  # float16 values are exact (QuantizedWeight checks)
    s = np.zeros((np_, n_groups), dt)
    m = np.zeros((np_, n_groups), dt)
    s[:n], m[:n] = qw.scales, qw.mins
    words = pack_rows(q, qw.bits)  # (Np, Ku, W)
    nt = np_ // nr
    words = np.ascontiguousarray(words.reshape(nt, nr, *words.shape[1:]).transpose(0, 2, 3, 1))
    s = np.ascontiguousarray(s.reshape(nt, nr, n_groups).transpose(0, 2, 1))
    m = np.ascontiguousarray(m.reshape(nt, nr, n_groups).transpose(0, 2, 1))
    group = g if g < k else kp  # whole-row groups cover the padding too
    return PackedWeight(words, s, m, n, k, kp, qw.bits, group, nr)
