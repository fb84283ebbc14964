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


def test_layerwise_gptq_of_the_first_layer_matches_per_linear_gptq():
    """Oracle: the first decoder layer's inputs do not depend on any quantization, so each of
    its linears must come out as quantize_gptq(its weight, X^T X) with X captured from the
    untouched model by plain forward hooks (q/k/v and gate/up are fused inside
    gptq_layerwise; GPTQ's rows are independent given the Hessian)."""
    import numpy as np

    from mlroundup.qigen.nn import gptq_layerwise
    from mlroundup.qigen.quant import quantize_gptq

    model = _tiny_llama()
    calib = [torch.randint(0, 64, (16,)) for _ in range(3)]
    layer0 = model.model.layers[0]
    names = {"q": layer0.self_attn.q_proj, "k": layer0.self_attn.k_proj,
             "v": layer0.self_attn.v_proj, "gate": layer0.mlp.gate_proj,
             "down": layer0.mlp.down_proj}  # fmt: skip
    seen = {}
    hooks = [m.register_forward_pre_hook(lambda mod, a, n=n: seen.setdefault(n, a[0].clone()))
             for n, m in names.items()]  # fmt: skip
    with torch.no_grad():
        model(torch.stack(calib), use_cache=False)
    for h in hooks:
        h.remove()
    expect = {}
    for n, m in names.items():
        x = seen[n].reshape(-1, m.in_features).double()
        expect[n] = quantize_gptq(m.weight.detach().numpy(), (x.T @ x).numpy(), 4, 32)
    qws = gptq_layerwise(model, calib, 4, 32, threads=2)
    full = {"q": "self_attn.q_proj", "k": "self_attn.k_proj", "v": "self_attn.v_proj",
            "gate": "mlp.gate_proj", "down": "mlp.down_proj"}  # fmt: skip
    for n, suffix in full.items():
        got, ref = qws[f"model.layers.0.{suffix}"], expect[n]
        assert got.q.shape == ref.q.shape
        assert np.mean(got.q == ref.q) > 0.995, n  # float32 x^T x sums may flip a rare tie
        np.testing.assert_allclose(got.scales, ref.scales, rtol=1e-3, atol=1e-6)


def test_module_casts_keep_the_packed_format_and_checkpoints_are_checked():
    """model.float() / .half() must not convert the packed scales (the kernels read one
    format); a checkpoint of another scale dtype is refused, not silently rounded; a deep
    copy (kernels rebound by spec) computes the same; outputs follow the input's dtype."""
    import copy

    torch.manual_seed(0)
    lin = torch.nn.Linear(64, 24)
    q16 = QuantLinear.from_linear(lin, 4, 32, scale_dtype="float16")
    q32 = QuantLinear.from_linear(lin, 4, 32)
    x = torch.randn(3, 64)
    ref16, ref32 = q16(x), q32(x)
    q16.float()
    q32.half()
    assert q16.scales.dtype == torch.float16 and q32.scales.dtype == torch.float32
    assert q32.bias.dtype == torch.float16  # the bias follows the cast, like nn.Linear's
    torch.testing.assert_close(q16(x), ref16)
    out = q32(x.half())
    assert out.dtype == torch.float16
    torch.testing.assert_close(out.float(), ref32, atol=1e-2, rtol=1e-2)
    with pytest.raises(RuntimeError, match="scale_dtype=float16"):
        q16.load_state_dict(QuantLinear.from_linear(lin, 4, 32).state_dict())
    twin = copy.deepcopy(q16)
    torch.testing.assert_close(twin(x), ref16)


def test_layer_level_mistakes_are_named():
    with pytest.raises(ValueError, match="QuantLinear.from_linear"):
        quantize_model(torch.nn.Linear(64, 16), 4, 32)
    with pytest.raises(ValueError, match="packing unit"):
        QuantLinear.from_linear(torch.nn.Linear(64, 16), 4, 12)


def test_int8_activations_route_prompts_through_the_integer_gemm():
    """With int8_activations, several rows go through gemm_i8 where the format allows it (oracle:
    the int8 GEMV reference per row) and through the float GEMM where it does not (3 bits)."""
    import numpy as np

    from mlroundup.qigen.kernels import INT8_ISAS, best_isa
    from mlroundup.qigen.quant import reference_gemv_int8

    if best_isa() not in INT8_ISAS:
        pytest.skip("no integer-kernel ISA on this CPU")
    torch.manual_seed(0)
    lin = torch.nn.Linear(96, 40, bias=False)
    q = QuantLinear.from_linear(lin, 4, 32, int8_activations=True)
    assert q.gemm.spec.kind == "gemm_i8"
    x = torch.randn(7, 96)
    qw = quantize_rtn(lin.weight.detach().numpy(), 4, 32)
    ref = np.stack([reference_gemv_int8(row, qw) for row in x.numpy()])
    np.testing.assert_allclose(q(x).numpy(), ref, atol=1e-4, rtol=1e-5)
    assert QuantLinear.from_linear(lin, 3, 32, int8_activations=True).gemm.spec.kind == "gemm"


def test_quantizing_twice_is_refused():
    model = _tiny_llama()
    quantize_model(model, 4, 32)
    with pytest.raises(ValueError, match="already quantized"):
        quantize_model(model, 8, 32)
