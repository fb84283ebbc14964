"""Quantization and packing. Oracles: the RTN error bound s/2 (closed form), GPTQ with a diagonal
Hessian equals RTN (no cross-column error to spread; Frantar et al. Alg. 1), and a bit-by-bit
reference packer written independently of the vectorized one."""

import numpy as np
import pytest

from mlroundup.qigen.layout import pack, pack_rows, unit_shape, unpack_rows
from mlroundup.qigen.quant import dequantize, quantize_gptq, quantize_rtn


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
@pytest.mark.parametrize("group_size", [32, 64, 128, None])
def test_rtn_error_bound_and_code_range(bits, group_size):
    rng = np.random.default_rng(bits)
    w = rng.standard_normal((7, 200)).astype(np.float32)  # 200: last group shorter
    qw = quantize_rtn(w, bits, group_size)
    g = group_size or 200
    assert qw.scales.shape == (7, -(-200 // g))
    assert qw.q.max() <= 2**bits - 1
    err = np.abs(w - qw.dequantize())
    bound = qw.scales[:, np.arange(200) // g] / 2
    assert np.all(err <= bound * (1 + 1e-5) + 1e-6)
    # group extremes are exact grid points: min -> code 0, max -> top code
    assert np.allclose(qw.dequantize()[:, :g].min(1), w[:, :g].min(1), atol=1e-6)
    assert np.allclose(qw.dequantize()[:, :g].max(1), w[:, :g].max(1), atol=1e-5)


def test_rtn_constant_group_is_exact():
    w = np.full((2, 64), 0.25, np.float32)
    qw = quantize_rtn(w, 4, 32)
    assert np.array_equal(qw.dequantize(), w)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="bits"):
        quantize_rtn(np.ones((2, 8)), 5)
    with pytest.raises(ValueError, match="group_size"):
        quantize_rtn(np.ones((2, 8)), 4, 0)
    with pytest.raises(ValueError, match="hessian"):
        quantize_gptq(np.ones((2, 8)), np.eye(7))
    with pytest.raises(ValueError, match="non-finite"):
        quantize_rtn(np.array([[np.nan, 1.0]]), 4)


@pytest.mark.parametrize("bits", [3, 4])
def test_gptq_with_diagonal_hessian_equals_rtn(bits):
    rng = np.random.default_rng(1)
    w = rng.standard_normal((5, 96))
    h = np.diag(rng.random(96) + 0.5)
    a = quantize_gptq(w, h, bits, 32)
    b = quantize_rtn(w, bits, 32)
    assert np.array_equal(a.q, b.q)
    assert np.allclose(a.scales, b.scales) and np.allclose(a.mins, b.mins)


def test_gptq_lowers_output_error_on_correlated_inputs():
    rng = np.random.default_rng(2)
    k = 128
    mix = rng.standard_normal((k, k)) / np.sqrt(k) + np.eye(k)
    x = rng.standard_normal((2048, k)) @ mix  # correlated calibration inputs
    w = rng.standard_normal((32, k))
    h = x.T @ x
    y = x @ w.T
    err = {
        name: np.linalg.norm(y - x @ qw.dequantize().T)
        for name, qw in (("rtn", quantize_rtn(w, 3, 32)), ("gptq", quantize_gptq(w, h, 3, 32)))
    }
    assert err["gptq"] < 0.8 * err["rtn"]


def _pack_slow(q, bits):
    """Reference: write every code's bits LSB-first into one long bit string, cut it into words."""
    uv, uw = unit_shape(bits)
    n, k = q.shape
    out = np.zeros((n, k // uv, uw), np.uint32)
    for r in range(n):
        for u in range(k // uv):
            bitstr = []
            for i in range(uv):
                v = int(q[r, u * uv + i])
                bitstr += [(v >> b) & 1 for b in range(bits)]
            for w in range(uw):
                out[r, u, w] = sum(bit << j for j, bit in enumerate(bitstr[32 * w : 32 * w + 32]))
    return out


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
def test_pack_rows_matches_bitwise_reference_and_round_trips(bits):
    rng = np.random.default_rng(bits)
    uv, _ = unit_shape(bits)
    q = rng.integers(0, 2**bits, (3, 2 * uv), dtype=np.uint8)
    words = pack_rows(q, bits)
    assert np.array_equal(words, _pack_slow(q, bits))
    assert np.array_equal(unpack_rows(words, bits), q)


def test_three_bit_code_straddles_words():
    q = np.zeros((1, 32), np.uint8)
    q[0, 10] = 0b111  # bits 30, 31 of word 0 and bit 0 of word 1
    w = pack_rows(q, 3)[0, 0]
    assert (w[0], w[1], w[2]) == (0b11 << 30, 1, 0)


@pytest.mark.parametrize("n,k,g", [(1, 8, 8), (17, 40, 32), (33, 200, 64), (5, 100, None)])
def test_layout_round_trips_and_streams_tiles_in_order(n, k, g):
    rng = np.random.default_rng(3)
    qw = quantize_rtn(rng.standard_normal((n, k)), 4, g)
    pw = pack(qw, 16)
    back = pw.to_quantized()
    assert np.array_equal(back.q, qw.q)
    assert np.array_equal(
        dequantize(back.q, back.scales, back.mins, back.group_size), qw.dequantize()
    )
    # tile t, unit u, word w, lane r holds row t*16+r
    rows = pack_rows(np.pad(qw.q, ((0, 0), (0, pw.k_padded - k))), 4)
    t, r = divmod(n - 1, 16)
    assert np.array_equal(pw.words[t, :, :, r], rows[n - 1])
    assert pw.words.flags.c_contiguous


def test_pack_rejects_group_inside_a_word():
    qw = quantize_rtn(np.ones((2, 64)), 3, 16)  # 3-bit units are 32 values long
    with pytest.raises(ValueError, match="multiple of 32"):
        pack(qw, 8)


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
@pytest.mark.parametrize("magnitude", [3.0, 1e-3, 1e-6, 1e-7])
def test_float16_scales_rtn_bound_and_exact_storage(bits, magnitude):
    """Oracle (closed form): the float16 grid s16 q + m16 must span each group's range
    (m16 <= min w, m16 + (2**bits - 1) s16 >= max w), so every weight is within s16 / 2 of
    its dequantized value, down to weights whose scales are float16 subnormals (1e-6, 1e-7)
    where rounding to nearest would clip or flush the scale to 0. Stored values are float16
    numbers, and a non-constant group never gets scale 0."""
    rng = np.random.default_rng(bits)
    w = (rng.standard_normal((9, 200)) * magnitude).astype(np.float32)
    qw = quantize_rtn(w, bits, 64, scale_dtype="float16")
    assert qw.scale_dtype == "float16"
    for a in (qw.scales, qw.mins):
        assert np.array_equal(a.astype(np.float16).astype(np.float32), a)
    assert np.all(qw.scales > 0)
    idx = np.arange(200) // 64
    bound = qw.scales[:, idx] / 2
    assert np.all(np.abs(w - qw.dequantize()) <= bound * (1 + 1e-5) + 1e-12 * magnitude)
    # GPTQ with a diagonal Hessian is RTN here too (float16 grid chosen the same way)
    g = quantize_gptq(w, np.diag(rng.random(200) + 0.5), bits, 64, scale_dtype="float16")
    assert np.array_equal(g.q, qw.q) and np.array_equal(g.scales, qw.scales)


def test_float16_packing_halves_the_parameter_bytes_and_round_trips():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((37, 96))
    q32, q16 = (quantize_rtn(w, 4, 32, scale_dtype=d) for d in ("float32", "float16"))
    p32, p16 = pack(q32, 16), pack(q16, 16)
    assert p16.scales.dtype == np.float16 and p16.scale_dtype == "float16"
    n_pad, groups = 48, 3  # 37 rows padded to 3 tiles of 16
    assert p32.nbytes - p16.nbytes == 2 * n_pad * groups * (4 - 2)
    back = p16.to_quantized()
    assert back.scale_dtype == "float16" and back.scales.dtype == np.float32
    assert np.array_equal(back.q, q16.q) and np.array_equal(back.scales, q16.scales)
    assert np.array_equal(back.mins, q16.mins)


def test_float16_scale_errors_are_named():
    from mlroundup.qigen.quant import QuantizedWeight

    with pytest.raises(ValueError, match="scale_dtype"):
        quantize_rtn(np.ones((2, 8)), 4, scale_dtype="bfloat16")
    with pytest.raises(ValueError, match="float16's range"):
        quantize_rtn(np.array([[0.0, 1e6]]), 4, scale_dtype="float16")
    with pytest.raises(ValueError, match="not float16 numbers"):
        QuantizedWeight(np.zeros((1, 8), np.uint8), np.full((1, 1), 0.1, np.float32),
                        np.zeros((1, 1), np.float32), 4, 8, "float16")  # fmt: skip


def test_malformed_weights_and_hessians_are_named():
    from mlroundup.qigen.quant import QuantizedWeight

    with pytest.raises(ValueError, match="group_size"):
        quantize_rtn(np.ones((2, 8)), 4, True)
    with pytest.raises(ValueError, match=r"scales of shape \(2, 3\)"):
        QuantizedWeight(np.zeros((2, 64), np.uint8), np.ones((2, 3), np.float32),
                        np.zeros((2, 2), np.float32), 4, 32)  # fmt: skip
    with pytest.raises(ValueError, match="4-bit range"):
        QuantizedWeight(np.full((1, 8), 16, np.uint8), np.ones((1, 1), np.float32),
                        np.zeros((1, 1), np.float32), 4, 8)  # fmt: skip
    not_psd = -np.eye(8)  # negative definite: no Cholesky factor even after 1% dampening
    with pytest.raises(ValueError, match="positive definite"):
        quantize_gptq(np.ones((2, 8)), not_psd, 4, 8)


def test_weights_beyond_float32_or_not_real_are_refused():
    with pytest.raises(ValueError, match="float32"):
        quantize_rtn(np.full((4, 32), 1e300), 4, 32)
    with pytest.raises(ValueError, match="real numbers"):
        quantize_rtn(np.ones((4, 32), complex), 4, 32)


def test_whole_rows_have_one_spelling_none():
    """Whole-row groups are group_size=None in every Python entry point; GPTQ's command-line
    -1 (and 0, the C generator's internal value) are refused with a hint, not silently accepted."""
    from mlroundup.qigen.codegen import KernelSpec

    w = np.random.default_rng(0).standard_normal((4, 64))
    qw = quantize_rtn(w, 4, None)
    assert qw.scales.shape[-1] == 1 or qw.scales.size == 4  # one group per row
    for bad in (-1, 0):
        with pytest.raises(ValueError, match="group_size=None"):
            quantize_rtn(w, 4, bad)
        with pytest.raises(ValueError, match="None \\(whole row\\)"):
            KernelSpec("gemv", 4, bad, 1, 1, "portable")
    assert KernelSpec("gemv", 4, None, 1, 1, "portable").name.startswith("qigen_q4_grow_")
