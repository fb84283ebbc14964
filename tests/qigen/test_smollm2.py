"""SmolLM2 end to end (slow): our 4-bit kernels inside transformers.

Oracles: (1) the shipped weights are Q4_1 (4-bit codes with a scale and a minimum per block of 32
input channels, llama.cpp's format), so 4-bit group-32 RTN must reproduce them exactly and the
quantized model must score the fp32 perplexity; (2) the fp32 model's perplexity bounds the
group-128 model's (stated margin: at most 1.8x on this 135M model, which loses more to
re-quantization on a grid misaligned with the shipped one than a 7B model would); (3) a factual
question the fp32 model answers."""

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def test_group32_rtn_reproduces_the_shipped_q4_1_weights(lm):
    from mlroundup.qigen.quant import quantize_rtn

    for name in ("model.layers.0.self_attn.q_proj", "model.layers.29.mlp.down_proj"):
        w = lm.model.get_submodule(name).weight.detach().numpy()
        np.testing.assert_allclose(quantize_rtn(w, 4, 32).dequantize(), w, atol=1e-6)


def test_quantized_smollm2_perplexity_and_text(lm):
    import copy

    from mlroundup.qigen.evaluate import generate, help_text, perplexity, token_windows
    from mlroundup.qigen.nn import QuantLinear, quantize_model

    windows = token_windows(lm.tokenizer, help_text("eval"), 128, 2)
    ppl_fp32 = perplexity(lm.model, windows)
    q32 = quantize_model(copy.deepcopy(lm.model), 4, 32, "rtn")
    assert sum(isinstance(m, QuantLinear) for m in q32.modules()) == 30 * 7
    assert perplexity(q32, windows) == pytest.approx(ppl_fp32, rel=1e-3)
    text, n, _ = generate(q32, lm.tokenizer, "What is the capital of France?", 12)
    assert "Paris" in text and n > 0
    del q32
    q128 = quantize_model(copy.deepcopy(lm.model), 4, 128, "rtn")
    assert perplexity(q128, windows) < 1.8 * ppl_fp32


def test_quantized_llama_decodes_like_transformers(lm):
    """Oracle: transformers' greedy ``generate`` over the same QuantLinear model (fp32 output
    layer on both sides), token for token."""
    import copy

    import torch

    from mlroundup.qigen.decode import QuantizedLlama
    from mlroundup.qigen.nn import quantize_model

    model = quantize_model(copy.deepcopy(lm.model), 4, 32, "rtn")
    dec = QuantizedLlama.from_model(model, lm_head_bits=None, max_seq_len=64, autotune=False)
    msgs = [{"role": "user", "content": "Name a primary colour."}]
    ids = lm.tokenizer.apply_chat_template(msgs, add_generation_prompt=True, return_tensors="pt")
    ids = ids if torch.is_tensor(ids) else ids["input_ids"]
    ref = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=10,
                         do_sample=False, pad_token_id=lm.tokenizer.pad_token_id)  # fmt: skip
    ref = ref[0, ids.shape[1] :].tolist()
    got, _ = dec.generate(ids[0].tolist(), 10, eos_token_id=lm.tokenizer.eos_token_id)
    assert got == ref[: len(got)] and len(got) == len(ref)


def test_generate_cli_answers(capsys):
    pytest.importorskip("transformers")
    from mlroundup.cli import main

    assert main(["qigen", "generate", "What is the capital of France?", "--group-size", "32",
                 "--max-new-tokens", "12"]) == 0  # fmt: skip
    assert "Paris" in capsys.readouterr().out
