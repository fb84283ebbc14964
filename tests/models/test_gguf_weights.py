"""GGUF tensor reader (oracle: arrays we write with gguf's own writer, and Q4_1 dequantized by hand)."""

import numpy as np
import pytest

gguf = pytest.importorskip("gguf")

from mlroundup.models import gguf_weights  # noqa: E402


def test_round_trip_f32_and_f16(tmp_path):
    path = tmp_path / "t.gguf"
    rng = np.random.default_rng(0)
    w32 = rng.standard_normal((3, 5)).astype(np.float32)
    w16 = rng.standard_normal((4, 2)).astype(np.float16)
    writer = gguf.GGUFWriter(str(path), "test")
    writer.add_tensor("a.weight", w32)
    writer.add_tensor("b.weight", w16)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    assert gguf_weights.tensor_names(path) == ["a.weight", "b.weight"]
    np.testing.assert_array_equal(gguf_weights.read_tensor(path, "a.weight"), w32)
    got = gguf_weights.read_tensor(path, "b.weight")
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, w16.astype(np.float32))
    with pytest.raises(KeyError, match="no tensor 'c'"):
        gguf_weights.read_tensor(path, "c")


def test_smollm2_q4_1_block_dequantized_by_hand():
    from mlroundup.models.smollm2 import ModelUnavailableError, gguf_path

    try:
        path = gguf_path()
    except ModelUnavailableError as exc:
        pytest.skip(str(exc))
    w = gguf_weights.read_tensor(path, "blk.0.attn_k.weight")
    assert w.shape == (192, 576)  # (out_features = 3 KV heads x 64, in_features = hidden 576)
    # Q4_1 block of 32 weights: f16 scale d, f16 min m, 16 bytes of nibbles; x = d*q + m, low
    # nibbles hold elements 0..15 and high nibbles 16..31 (ggml's layout)
    raw = {t.name: t for t in gguf_weights._reader(str(path)).tensors}["blk.0.attn_k.weight"]
    block = np.asarray(raw.data[0, :20], dtype=np.uint8)
    d = block[0:2].view(np.float16)[0].astype(np.float32)
    m = block[2:4].view(np.float16)[0].astype(np.float32)
    q = np.concatenate([block[4:20] & 0x0F, block[4:20] >> 4]).astype(np.float32)
    np.testing.assert_allclose(w[0, :32], d * q + m, rtol=1e-6)
