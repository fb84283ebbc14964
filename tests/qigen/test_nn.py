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


def test_state_dict_holds_the_documented_canonical_layout():
    """Oracle: the layout the module docstring documents, decoded here by hand (4-bit codes,
    eight per 32-bit word, least significant first), against the RTN codes of the weight."""
    import json

    import numpy as np

    torch.manual_seed(0)
    lin = torch.nn.Linear(64, 16, bias=False)
    q = QuantLinear.from_linear(lin, 4, 32)
    sd = q.state_dict()
    assert set(sd) == {"qweight", "scales", "mins", "qformat"}
    assert sd["qweight"].shape == (16, 64 * 4 // 32)  # 4 bits per weight, no tile padding
    assert sd["scales"].shape == sd["mins"].shape == (16, 2)
    words = sd["qweight"].numpy().view(np.uint32).astype(np.int64)
    codes = np.stack([(words >> (4 * i)) & 15 for i in range(8)], axis=-1).reshape(16, 64)
    ref = quantize_rtn(lin.weight.detach().numpy(), 4, 32)
    np.testing.assert_array_equal(codes, ref.q)
    np.testing.assert_array_equal(sd["scales"].numpy(), ref.scales)
    np.testing.assert_array_equal(sd["mins"].numpy(), ref.mins)
    fmt = json.loads(bytes(sd["qformat"].numpy()).decode())
    assert fmt == {"format": "mlroundup.qigen.rows/1", "bits": 4, "group_size": 32,
                   "in_features": 64, "out_features": 16, "scale_dtype": "float32"}  # fmt: skip


def _specs_of_two_tile_widths(bits, group, scale_dtype):
    """Two GEMV specs of different tile widths that this CPU runs (portable always runs)."""
    from mlroundup.qigen.codegen import KernelSpec
    from mlroundup.qigen.kernels import available_isas

    wide = KernelSpec("gemv", bits, group, 4, 2, available_isas()[0], scale_dtype)
    narrow = KernelSpec("gemv", bits, group, 1, 2, "portable", scale_dtype)
    assert wide.nr != narrow.nr
    return narrow, wide


@pytest.mark.parametrize(
    "bits,group_size,scale_dtype", [(4, 32, "float32"), (3, None, "float16"), (2, 64, "float32")]
)
def test_checkpoint_round_trip_across_tile_widths(bits, group_size, scale_dtype, tmp_path):
    """A checkpoint saved by a layer on one kernel (tile width / ISA) loads into a layer on
    another and computes the same function. Oracle: the source layer's dequantized weight and
    nn.Linear on it."""
    from mlroundup.qigen.kernels import spec_group

    torch.manual_seed(1)
    n, k = 37, 100  # rows off every tile width, K off the packing unit
    src_lin, dst_lin = torch.nn.Linear(k, n), torch.nn.Linear(k, n)
    g = spec_group(group_size or k, k, bits)
    for a, b in [_specs_of_two_tile_widths(bits, g, scale_dtype),
                 _specs_of_two_tile_widths(bits, g, scale_dtype)[::-1]]:  # fmt: skip
        src = QuantLinear.from_linear(src_lin, bits, group_size, scale_dtype=scale_dtype, spec=a)
        dst = QuantLinear.from_linear(dst_lin, bits, group_size, scale_dtype=scale_dtype, spec=b)
        assert src.qweight.shape != dst.qweight.shape  # the tiles differ
        torch.save(src.state_dict(), tmp_path / "q.pt")
        dst.load_state_dict(torch.load(tmp_path / "q.pt"))
        assert dst.gemv.spec == b  # still its own kernel
        w = src.dequantized_weight()
        assert torch.equal(dst.dequantized_weight(), w)
        ref = torch.nn.Linear(k, n)
        with torch.no_grad():
            ref.weight.copy_(w)
            ref.bias.copy_(src_lin.bias)
        x = torch.randn(5, k)
        for rows in (x[:1], x):  # the GEMV and the GEMM
            torch.testing.assert_close(dst(rows), ref(rows), atol=1e-4, rtol=1e-4)


def test_checkpoint_round_trip_through_safetensors(tmp_path):
    safetensors = pytest.importorskip("safetensors.torch")
    torch.manual_seed(2)
    lin = torch.nn.Linear(64, 24)
    narrow, wide = _specs_of_two_tile_widths(4, 32, "float16")
    src = QuantLinear.from_linear(lin, 4, 32, scale_dtype="float16", spec=wide)
    safetensors.save_file(src.state_dict(), tmp_path / "q.safetensors")
    dst = QuantLinear.from_linear(torch.nn.Linear(64, 24), 4, 32, scale_dtype="float16",
                                  spec=narrow)  # fmt: skip
    dst.load_state_dict(safetensors.load_file(tmp_path / "q.safetensors"))
    x = torch.randn(3, 64)
    torch.testing.assert_close(dst(x), src(x), atol=1e-5, rtol=1e-5)


def test_checkpoint_of_another_format_is_refused_and_leaves_the_layer():
    torch.manual_seed(3)
    lin = torch.nn.Linear(64, 16)
    q = QuantLinear.from_linear(lin, 4, 32)
    before = q.dequantized_weight()
    for other, needle in [
        (QuantLinear.from_linear(lin, 8, 32), "bits=8"),
        (QuantLinear.from_linear(lin, 4, 64), "group_size=64"),
        (QuantLinear.from_linear(lin, 4, None), "group_size=64"),
    ]:
        with pytest.raises(RuntimeError, match=needle):
            q.load_state_dict(other.state_dict())
        assert torch.equal(q.dequantized_weight(), before)
    sd = q.state_dict()
    sd["qformat"] = torch.frombuffer(bytearray(b'{"format": "gptq"}'), dtype=torch.uint8)
    with pytest.raises(RuntimeError, match="unknown checkpoint format 'gptq'"):
        q.load_state_dict(sd)
    with pytest.raises(RuntimeError, match="Missing key"):
        q.load_state_dict({"bias": lin.bias.detach()})


def test_checkpoint_of_the_earlier_tiled_layout_still_loads():
    """Earlier versions saved the saving CPU's tiles (qweight of shape (N_tiles, K_units, W, NR),
    no qformat). Oracle: nn.Linear on the RTN dequantized weight."""
    import numpy as np

    from mlroundup.qigen.layout import pack

    torch.manual_seed(4)
    lin = torch.nn.Linear(72, 21, bias=False)
    qw = quantize_rtn(lin.weight.detach().numpy(), 4, 32)
    old = pack(qw, 16)
    sd = {"qweight": torch.from_numpy(old.words.view(np.int32)),
          "scales": torch.from_numpy(old.scales), "mins": torch.from_numpy(old.mins)}  # fmt: skip
    narrow, wide = _specs_of_two_tile_widths(4, 32, "float32")
    dst = QuantLinear(quantize_rtn(np.zeros((21, 72)), 4, 32), spec=wide)
    dst.load_state_dict(sd)
    assert torch.equal(dst.dequantized_weight(), torch.from_numpy(qw.dequantize()))


def test_spec_and_isa_mistakes_are_named(monkeypatch):
    from mlroundup.qigen.codegen import KernelSpec

    lin = torch.nn.Linear(64, 16)
    with pytest.raises(ValueError, match="does not fit"):
        QuantLinear.from_linear(lin, 4, 32, spec=KernelSpec("gemv", 8, 32, 1, 2, "portable"))
    with pytest.raises(ValueError, match="not both"):
        QuantLinear.from_linear(lin, 4, 32, isa="portable",
                                spec=KernelSpec("gemv", 4, 32, 1, 2, "portable"))  # fmt: skip
    with pytest.raises(ValueError, match="invalid isa"):
        QuantLinear.from_linear(lin, 4, 32, isa="neon")
    import mlroundup.qigen.nn as qnn

    monkeypatch.setattr(qnn, "isa_supported", lambda isa: isa == "portable")
    with pytest.raises(ValueError, match="lacks"):
        QuantLinear.from_linear(lin, 4, 32, isa="avx2")


def test_quantized_model_checkpoint_loads_under_another_isa():
    """A model quantized on one kernel path and saved loads into a model quantized on another
    (the portable C path against this CPU's best one): same logits as the source."""
    src, dst = _tiny_llama(), _tiny_llama()
    with torch.no_grad():
        for p in dst.parameters():
            p.add_(1.0)  # another model, so loading must change every quantized layer
    quantize_model(src, 4, 32, isa="portable")
    quantize_model(dst, 4, 32)
    dst.load_state_dict(src.state_dict())
    ids = torch.randint(0, 64, (1, 12))
    with torch.no_grad():
        torch.testing.assert_close(dst(ids).logits, src(ids).logits, atol=1e-4, rtol=1e-4)


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


@pytest.mark.parametrize("isa", ["avx2", "avx512vnni"])
def test_int8_activations_route_prompts_through_the_integer_gemm(isa):
    """With int8_activations, several rows go through gemm_i8 where the format allows it (oracle:
    the int8 GEMV reference per row) and through the float GEMM where it does not (3 bits).
    Every integer ISA path this CPU runs is tested (an AVX-512 VNNI CPU runs the AVX2 one too)."""
    import numpy as np

    from mlroundup.qigen.kernels import INT8_ISAS, isa_supported
    from mlroundup.qigen.quant import reference_gemv_int8

    assert isa in INT8_ISAS
    if not isa_supported(isa):
        pytest.skip(f"this CPU does not run the {isa} integer kernels")
    torch.manual_seed(0)
    lin = torch.nn.Linear(96, 40, bias=False)
    q = QuantLinear.from_linear(lin, 4, 32, int8_activations=True, isa=isa)
    assert q.gemm.spec.kind == "gemm_i8" and q.gemm.spec.isa == isa
    x = torch.randn(7, 96)
    qw = quantize_rtn(lin.weight.detach().numpy(), 4, 32)
    ref = np.stack([reference_gemv_int8(row, qw) for row in x.numpy()])
    np.testing.assert_allclose(q(x).numpy(), ref, atol=1e-4, rtol=1e-5)
    q3 = QuantLinear.from_linear(lin, 3, 32, int8_activations=True, isa=isa)
    assert q3.gemm.spec.kind == "gemm"


def test_quantizing_twice_is_refused():
    model = _tiny_llama()
    quantize_model(model, 4, 32)
    with pytest.raises(ValueError, match="already quantized"):
        quantize_model(model, 8, 32)
