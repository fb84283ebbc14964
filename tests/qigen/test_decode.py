"""Batch-1 decoding over the kernels (:mod:`mlroundup.qigen.decode`).

Oracle: transformers' own ``LlamaForCausalLM`` forward over the same quantized model (its
linears are QuantLinear after ``quantize_model``), i.e. an independent implementation of the
norms, rotary embedding, grouped-query attention and MLP, run on a small random LLaMA whose
odd sizes (hidden 72, 3 KV heads of 6 query heads, MLP width 100) exercise every kernel tail.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from mlroundup.qigen.codegen import ISAS  # noqa: E402
from mlroundup.qigen.decode import LlamaDims, QuantizedLlama  # noqa: E402
from mlroundup.qigen.kernels import isa_supported  # noqa: E402
from mlroundup.qigen.nn import quantize_model  # noqa: E402

ISA_PATHS = [None, *ISAS]  # None: the default choice; then every ISA (skipped where not run)


def _tiny_llama(tie: bool = False, seed: int = 0):
    torch.manual_seed(seed)
    cfg = transformers.LlamaConfig(
        vocab_size=97, hidden_size=72, intermediate_size=100, num_hidden_layers=2,
        num_attention_heads=6, num_key_value_heads=3, head_dim=12, max_position_embeddings=64,
        rms_norm_eps=1e-5, tie_word_embeddings=tie, rope_parameters={"rope_type": "default",
        "rope_theta": 500.0},
    )  # fmt: skip
    model = transformers.LlamaForCausalLM(cfg).eval()
    with torch.no_grad():  # visible norms, so that a wrong norm weight shows
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(1 + 0.3 * torch.randn_like(p))
    return model


def _hf_logits(model, ids):
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].numpy()


@pytest.mark.parametrize(
    "bits,group,isa,scale_dtype",
    [(3, None, None, "float32"), (8, 64, None, "float32")]
    + [(4, 32, isa, sd) for isa in ISA_PATHS for sd in ("float32", "float16")],
)  # fmt: skip
def test_prompt_then_decode_matches_transformers(bits, group, isa, scale_dtype):
    """Prompt: NumPy around the GEMM kernels; later tokens: the C decode step (built for the
    ISA's flags, or none for the portable path) around the GEMV kernels. Every ISA path this CPU
    runs is tested (the others skip)."""
    if isa is not None and not isa_supported(isa):
        pytest.skip(f"this CPU does not run the {isa} path")
    model = quantize_model(_tiny_llama(), bits, group, "rtn", threads=2, scale_dtype=scale_dtype)
    dec = QuantizedLlama.from_model(
        model, max_seq_len=32, lm_head_bits=None, threads=2, autotune=False, isa=isa
    )
    ids = [5, 17, 3, 90, 44, 8, 61]
    ref = _hf_logits(model, ids)  # (T, V): row t predicts token t + 1
    np.testing.assert_allclose(dec.forward(ids[:4]), ref[3], rtol=2e-4, atol=2e-4)
    for t in range(4, len(ids)):  # one token at a time after a 4-token prompt
        np.testing.assert_allclose(dec.forward([ids[t]]), ref[t], rtol=2e-4, atol=2e-4)
    assert dec.position == len(ids)
    dec.reset()  # the whole sequence one token at a time gives the same logits
    for t in range(len(ids)):
        got = dec.forward([ids[t]])
    np.testing.assert_allclose(got, ref[-1], rtol=2e-4, atol=2e-4)


def test_quantized_head_and_greedy_generation():
    model = quantize_model(_tiny_llama(tie=True, seed=1), 4, 32, "rtn", threads=2)
    dec = QuantizedLlama.from_model(
        model, max_seq_len=40, lm_head_bits=8, threads=2, autotune=False
    )
    # oracle for the head: transformers with the head replaced by its 8-bit RTN dequantization
    from mlroundup.qigen.quant import quantize_rtn

    w = model.lm_head.weight.detach().numpy()
    head = torch.nn.Linear(72, 97, bias=False)
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(quantize_rtn(w, 8, 32).dequantize()))
    model.lm_head = head
    ids = [1, 2, 3]
    toks, timing = dec.generate(ids, 6)
    seq = list(ids)
    for _ in range(6):  # greedy reference decode through transformers
        seq.append(int(np.argmax(_hf_logits(model, seq)[-1])))
    assert toks == seq[3:]
    assert timing["decode_s"] > 0 and timing["tokens_per_s"] > 0


def test_bad_input_is_rejected():
    model = _tiny_llama()
    with pytest.raises(ValueError, match="quantize the model first"):
        QuantizedLlama.from_model(model)
    model = quantize_model(model, 4, 32, "rtn", threads=1)
    dec = QuantizedLlama.from_model(model, max_seq_len=4, threads=1, autotune=False)
    with pytest.raises(ValueError, match="empty"):
        dec.forward([])
    with pytest.raises(ValueError, match="token ids"):
        dec.forward([97])
    with pytest.raises(ValueError, match="integers"):
        dec.forward([3.9])
    with pytest.raises(ValueError, match="1-D"):
        dec.forward([[1, 2], [3, 4]])
    with pytest.raises(ValueError, match="need max_seq_len >= 5"):  # refused before any work
        dec.generate([1, 2, 3], 3)
    assert dec.position == 0
    with pytest.raises(ValueError, match="max_seq_len"):
        dec.forward([1, 2, 3, 4, 5])
    with pytest.raises(ValueError, match="max_new_tokens"):
        dec.generate([1], 0)
    with pytest.raises(ValueError, match="max_seq_len"):
        QuantizedLlama.from_model(model, max_seq_len=0)
    with pytest.raises(ValueError, match="kv_heads"):
        LlamaDims(6, 4, 12)


def test_random_model_has_the_shapes_asked_for():
    from mlroundup.qigen.llamacpp import LlamaShape

    shape = LlamaShape("tiny", hidden=64, ffn=96, layers=2, heads=4, kv_heads=2, vocab=50)
    dec = QuantizedLlama.random(shape, 4, 32, max_seq_len=8, threads=1, autotune=False)
    assert [lay["qkv"].out.shape[0] for lay in dec.layers] == [64 + 2 * 32] * 2
    assert dec.forward([1, 2]).shape == (50,)
    assert dec.forward([3]).shape == (50,) and dec.position == 3


def test_weight_bytes_are_the_products_and_head_a_step_reads():
    """Oracle: a packed product of n x k b-bit codes is n k b / 8 bytes, plus a float32 scale
    and minimum per group of each row (shapes chosen so no tile or group padding applies)."""
    from mlroundup.qigen.llamacpp import LlamaShape

    def packed(n, k, bits, g):
        return n * k * bits // 8 + 2 * n * (k // g) * 4

    shape = LlamaShape("tiny", hidden=64, ffn=96, layers=2, heads=4, kv_heads=2, vocab=64)
    dec = QuantizedLlama.random(shape, 4, 32, max_seq_len=8, threads=1, autotune=False)
    h, f, kv = 64, 96, 32
    layer = (packed(h + 2 * kv, h, 4, 32) + packed(h, h, 4, 32) + packed(2 * f, h, 4, 32)
             + packed(h, f, 4, 32))  # fmt: skip
    assert dec.weight_bytes == 2 * layer + packed(64, h, 8, 32)  # head: 8-bit, group 32


def test_speed_measurement_runs_prompt_then_tokens():
    """Oracle: the definition (best of the passes; the cache holds prompt + decoded tokens)."""
    import math

    from mlroundup.qigen.llamacpp import LlamaShape, interleaved_speed

    shape = LlamaShape("tiny", hidden=64, ffn=96, layers=1, heads=4, kv_heads=2, vocab=5000)
    dec = QuantizedLlama.random(shape, 4, 32, max_seq_len=16, threads=1, autotune=False)
    speed = interleaved_speed({"ours": (dec.reset, dec.forward)}, 8, 4, passes=2)
    t_tok, tps = speed["ours"]
    assert dec.position == 8 + 4
    assert math.isfinite(t_tok) and t_tok > 0 and math.isfinite(tps) and tps > 0


@pytest.mark.parametrize("isa", ["avx2", "avx512vnni"])
def test_int8_activation_prompts_stay_close_to_transformers(isa):
    """With int8_activations the prompt's products round activations to int8 per block of 32
    (about 1% error per product, llama.cpp's Q8_0 activations); the logits stay within a few
    percent of transformers' on the same quantized weights. hidden 96 (a multiple of 32)."""
    if not isa_supported(isa):
        pytest.skip(f"this CPU does not run the {isa} integer kernels")
    torch.manual_seed(2)
    cfg = transformers.LlamaConfig(
        vocab_size=97, hidden_size=96, intermediate_size=160, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=24, max_position_embeddings=64,
    )  # fmt: skip
    model = quantize_model(transformers.LlamaForCausalLM(cfg).eval(), 4, 32, "rtn", threads=2)
    dec = QuantizedLlama.from_model(model, max_seq_len=32, lm_head_bits=None, threads=2,
                                    autotune=False, int8_activations=True, isa=isa)  # fmt: skip
    assert {lay["qkv"].layer.gemm.spec.kind for lay in dec.layers} == {"gemm_i8"}
    ids = [5, 17, 3, 90, 44, 8, 61, 2]
    ref = _hf_logits(model, ids)[-1]
    got = dec.forward(ids)
    assert np.abs(got - ref).max() <= 0.05 * np.abs(ref).max()
