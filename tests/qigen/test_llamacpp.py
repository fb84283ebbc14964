"""The random-weight GGUF that llama.cpp's side of ``mlroundup bench qigen`` quantizes. Oracles:
the tensor list of a LLaMA decoder of the given shapes (names and dims from the GGUF naming
scheme), and the same generator's draws, in the order the tensors are listed."""

import numpy as np
import pytest

gguf = pytest.importorskip("gguf")

from mlroundup.models import ModelUnavailableError, gguf_path  # noqa: E402
from mlroundup.qigen.llamacpp import LlamaShape, write_random_gguf  # noqa: E402


def test_random_gguf_lists_every_tensor_and_streams_the_draws(tmp_path):
    try:
        gguf_path()  # the tokenizer fields are copied from the shipped GGUF
    except ModelUnavailableError as exc:
        pytest.skip(str(exc))
    shape = LlamaShape("tiny", hidden=64, ffn=96, layers=2, heads=4, kv_heads=2)
    path = write_random_gguf(tmp_path / "tiny.gguf", shape, seed=3)
    got = {t.name: t for t in gguf.GGUFReader(str(path)).tensors}
    h, f, kv, v = 64, 96, 32, shape.vocab
    want = {"token_embd.weight": (v, h), "output_norm.weight": (h,), "output.weight": (v, h)}
    for i in range(2):
        b = f"blk.{i}."
        want |= {b + "attn_norm.weight": (h,), b + "ffn_norm.weight": (h,),
                 b + "attn_q.weight": (h, h), b + "attn_k.weight": (kv, h),
                 b + "attn_v.weight": (kv, h), b + "attn_output.weight": (h, h),
                 b + "ffn_gate.weight": (f, h), b + "ffn_up.weight": (f, h),
                 b + "ffn_down.weight": (h, f)}  # fmt: skip
    assert set(got) == set(want)
    for name, dims in want.items():  # GGUF lists dims fastest first
        assert tuple(int(d) for d in got[name].shape) == dims[::-1], name
    rng = np.random.default_rng(3)
    for name in want:  # the draws, in the writer's order (norms are ones and draw nothing)
        data = np.asarray(got[name].data).reshape(want[name])
        if name.endswith("norm.weight"):
            np.testing.assert_array_equal(data, np.ones(want[name], np.float32))
        else:
            ref = (rng.standard_normal(want[name], dtype=np.float32) * 0.02).astype(np.float16)
            np.testing.assert_array_equal(data, ref, err_msg=name)


def test_decode_weight_bytes_counts_every_tensor_but_the_looked_up_embedding(tmp_path):
    """Oracle: float16 weights are 2 bytes per element, float32 norms 4 (from the shapes)."""
    from mlroundup.qigen.llamacpp import decode_weight_bytes

    try:
        gguf_path()
    except ModelUnavailableError as exc:
        pytest.skip(str(exc))
    shape = LlamaShape("tiny", hidden=64, ffn=96, layers=2, heads=4, kv_heads=2)
    path = write_random_gguf(tmp_path / "tiny.gguf", shape)
    h, f, kv, v, n_layers = 64, 96, 32, shape.vocab, 2
    per_layer = 2 * h * h + 2 * kv * h + 3 * f * h  # q, o; k, v; gate, up, down
    want = 2 * (n_layers * per_layer + v * h) + 4 * (2 * n_layers + 1) * h
    assert decode_weight_bytes(path) == want


def test_decode_weight_bytes_reads_a_tied_embedding_whole(tmp_path):
    from mlroundup.qigen.llamacpp import decode_weight_bytes

    path = tmp_path / "tied.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_tensor("token_embd.weight", np.zeros((10, 8), np.float16))
    w.add_tensor("output_norm.weight", np.ones(8, np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    assert decode_weight_bytes(path) == 10 * 8 * 2 + 8 * 4
    with pytest.raises(FileNotFoundError, match="no GGUF"):
        decode_weight_bytes(tmp_path / "missing.gguf")
    (tmp_path / "text.gguf").write_text("not a GGUF")
    with pytest.raises(ValueError, match="text.gguf is not a readable GGUF"):
        decode_weight_bytes(tmp_path / "text.gguf")
