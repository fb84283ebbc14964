"""QuantLinear and quantize_model. Oracle: ``nn.Linear`` holding the dequantized weight (PEFT-style
invariance: the same function before and after the swap)."""

import pytest

torch = pytest.importorskip("torch")

from mlroundup.qigen.nn import QuantLinear, quantize_model  # noqa: E402
from mlroundup.qigen.quant import quantize_rtn  # noqa: E402


@pytest.mark.parametrize(
    "bits,group_size,scale_dtype",
    [(4, 32, "float32"), (3, None, "float32"), (8, 64, "float32"), (4, 32, "float16")],
)
def test_quantlinear_matches_linear_on_dequantized_weights(bits, group_size, scale_dtype):
    torch.manual_seed(0)
    lin = torch.nn.Linear(96, 19, bias=True)
    q = QuantLinear.from_linear(lin, bits, group_size, threads=2, scale_dtype=scale_dtype)
    assert q.scales.dtype == getattr(torch, scale_dtype)
    ref = torch.nn.Linear(96, 19)
    with torch.no_grad():
        w = lin.weight.detach().numpy()
        ref.weight.copy_(
            torch.from_numpy(
                quantize_rtn(w, bits, group_size, scale_dtype=scale_dtype).dequantize()
            )
        )
        ref.bias.copy_(lin.bias)
    assert torch.equal(q.dequantized_weight(), ref.weight.detach())
    for shape in [(1, 96), (3, 96), (2, 5, 96), (96,)]:
        x = torch.randn(*shape)
        torch.testing.assert_close(q(x), ref(x), atol=1e-4, rtol=1e-4)


def test_quantlinear_state_dict_holds_packed_buffers():
    q = QuantLinear.from_linear(torch.nn.Linear(64, 16, bias=False), 4, 32)
    sd = q.state_dict()
    assert set(sd) == {"qweight", "scales", "mins"}
    assert sd["qweight"].numel() * 4 == 16 * 64 // 2  # 4 bits per weight, no padding here


def test_quantlinear_rejects_wrong_input_and_method():
    q = QuantLinear.from_linear(torch.nn.Linear(32, 8), 4, 32)
    with pytest.raises(ValueError, match="32"):
        q(torch.randn(2, 31))
    with pytest.raises(ValueError, match="method"):
        QuantLinear.from_linear(torch.nn.Linear(32, 8), 4, 32, method="awq")
    with pytest.raises(ValueError, match="hessian"):
        QuantLinear.from_linear(torch.nn.Linear(32, 8), 4, 32, method="gptq")


def _tiny_llama():
    transformers = pytest.importorskip("transformers")
    cfg = transformers.LlamaConfig(
        vocab_size=64, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
    )  # fmt: skip
    torch.manual_seed(0)
    return transformers.LlamaForCausalLM(cfg).eval()


@pytest.mark.parametrize(
    "method,scale_dtype", [("rtn", "float32"), ("gptq", "float32"), ("gptq", "float16")]
)
def test_quantize_model_swaps_linears_and_stays_close(method, scale_dtype):
    model = _tiny_llama()
    ids = torch.randint(0, 64, (1, 12))
    with torch.no_grad():
        ref = model(ids).logits
    calib = [torch.randint(0, 64, (16,)) for _ in range(4)]
    quantize_model(model, 8, 32, method, calibration=calib, scale_dtype=scale_dtype)
    swapped = [n for n, m in model.named_modules() if isinstance(m, QuantLinear)]
    assert len(swapped) == 2 * 7 and "lm_head" not in swapped
    assert {m.scale_dtype for m in model.modules() if isinstance(m, QuantLinear)} == {scale_dtype}
    assert isinstance(model.lm_head, torch.nn.Linear)
    with torch.no_grad():
        got = model(ids).logits
    assert float((got - ref).abs().max()) < 0.05 * float(ref.abs().max())


def test_gptq_needs_calibration():
    with pytest.raises(ValueError, match="calibration"):
        quantize_model(_tiny_llama(), 4, 32, "gptq")
