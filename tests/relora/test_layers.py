"""ReLoRALinear, wrapping, merge-and-reinit, unwrap, save/load.

Oracles: the model's own outputs before a merge (a merge must not change the function; PEFT's key
test), linear algebra (rank of a sum of generic rank-r products is min(k r, n)), and the formulas of
Kaiming-uniform bounds and ``scaling = lora_alpha / r``.
"""

import math

import pytest
import torch
from torch import nn

from mlroundup.relora.layers import (
    NonFiniteMergeError,
    ReLoRALinear,
    effective_weights,
    lora_parameters,
    merge_and_reinit,
    relora_modules,
    unwrap_relora,
    wrap_relora,
)
from mlroundup.relora.rank import numerical_rank


class Toy(nn.Module):
    """Attention- and MLP-named linears, an embedding, a norm and a tied head."""

    def __init__(self, vocab=11, d=12, ff=20):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.attn = nn.ModuleDict({"qkv": nn.Linear(d, 3 * d), "proj": nn.Linear(d, d, bias=False)})
        self.mlp = nn.Sequential(nn.Linear(d, ff), nn.GELU(), nn.Linear(ff, d))
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)
        self.head.weight = self.emb.weight

    def forward(self, idx):
        x = self.emb(idx)  # (B, T, d)
        q, k, v = self.attn["qkv"](x).chunk(3, dim=-1)
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), dim=-1) @ v
        x = x + self.attn["proj"](a)
        x = x + self.mlp(self.norm(x))
        return self.head(x)


def _perturb_adapters(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in relora_modules(model).values():
            m.lora_B.weight.copy_(
                torch.randn(m.lora_B.weight.shape, generator=g, dtype=m.lora_B.weight.dtype)
            )


def test_wrap_selects_attention_and_mlp_and_keeps_the_rest_trainable():
    torch.manual_seed(0)
    model = Toy()
    names = wrap_relora(model, r=4, lora_alpha=8)
    assert names == ["attn.qkv", "attn.proj", "mlp.0", "mlp.2"]
    m = model.attn["qkv"]
    assert isinstance(m, ReLoRALinear) and m.r == 4 and m.scaling == 2.0
    assert not m.base_layer.weight.requires_grad
    assert m.base_layer.bias.requires_grad  # a full-rank vector: stays trainable
    for p in (model.emb.weight, model.norm.weight, model.norm.bias):
        assert p.requires_grad
    assert len(lora_parameters(model)) == 8
    assert torch.all(m.lora_B.weight == 0)
    bound = 1.0 / math.sqrt(12)  # kaiming_uniform(a=sqrt(5)) bound = 1 / sqrt(fan_in)
    assert m.lora_A.weight.abs().max() <= bound


def test_wrapping_and_merging_leave_the_function_unchanged_float64():
    torch.manual_seed(0)
    model = Toy().double()
    idx = torch.randint(0, 11, (3, 7))
    y0 = model(idx)
    wrap_relora(model, r=3, lora_alpha=6)
    assert torch.equal(model(idx), y0)  # B = 0: wrapping is exact
    for cycle in range(3):
        _perturb_adapters(model, seed=cycle)
        before = model(idx)
        merge_and_reinit(model)
        after = model(idx)
        assert (after - before).abs().max().item() < 1e-6
        assert all(torch.all(m.lora_B.weight == 0) for m in relora_modules(model).values())
    assert all(int(m.merge_count) == 3 for m in relora_modules(model).values())


def test_update_rank_grows_past_r_over_restarts_and_stays_below_r_without():
    torch.manual_seed(0)
    layer = ReLoRALinear(nn.Linear(24, 32, bias=False).double(), r=2, lora_alpha=2)
    w0 = layer.base_layer.weight.detach().clone()
    g = torch.Generator().manual_seed(1)
    layer.lora_B.weight.data = torch.randn(32, 2, generator=g, dtype=torch.float64)
    assert numerical_rank(layer.merged_weight() - w0) == 2  # one LoRA update: rank r
    for k in range(1, 6):
        layer.lora_B.weight.data = torch.randn(32, 2, generator=g, dtype=torch.float64)
        layer.merge_and_reinit()
        assert numerical_rank(layer.base_layer.weight - w0) == min(2 * k, 24)


def test_non_finite_merge_raises_and_changes_nothing():
    torch.manual_seed(0)
    model = Toy()
    wrap_relora(model, r=2)
    _perturb_adapters(model)
    bad = model.mlp[2]
    bad.lora_B.weight.data[0, 0] = float("inf")
    weights = {n: m.base_layer.weight.clone() for n, m in relora_modules(model).items()}
    factors = {n: m.lora_A.weight.clone() for n, m in relora_modules(model).items()}
    with pytest.raises(NonFiniteMergeError, match="mlp.2"):
        merge_and_reinit(model)
    for n, m in relora_modules(model).items():  # all or nothing: no layer was merged
        assert torch.equal(m.base_layer.weight, weights[n])
        assert torch.equal(m.lora_A.weight, factors[n])
    with pytest.raises(NonFiniteMergeError):
        bad.merge_and_reinit()
    assert torch.equal(bad.base_layer.weight, weights["mlp.2"])


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(TypeError, match="base_layer"):
        ReLoRALinear(nn.Conv1d(2, 2, 1), r=1)
    with pytest.raises(ValueError, match="r=0"):
        ReLoRALinear(nn.Linear(2, 2), r=0)
    with pytest.raises(ValueError, match="lora_alpha"):
        ReLoRALinear(nn.Linear(2, 2), r=1, lora_alpha=-1)
    with pytest.raises(ValueError, match="no nn.Linear"):
        wrap_relora(Toy(), targets=("nothing",))
    with pytest.raises(ValueError, match="tied"):
        wrap_relora(Toy(), targets=("head",))


def test_a_wrapped_model_trains_saves_loads_and_unwraps(tmp_path):
    torch.manual_seed(0)
    model = Toy()
    wrap_relora(model, r=4, lora_alpha=8)
    frozen = {n: m.base_layer.weight.clone() for n, m in relora_modules(model).items()}
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    idx = torch.randint(0, 11, (8, 9))
    losses = []
    for step in range(30):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(idx[:, :-1]).flatten(0, 1), idx[:, 1:].flatten())
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if step == 14:
            merge_and_reinit(model)
    assert losses[-1] < 0.7 * losses[0]
    for n, m in relora_modules(model).items():  # frozen between merges, changed by the merge
        assert not torch.equal(m.base_layer.weight, frozen[n])
    path = tmp_path / "wrapped.pt"
    torch.save(model.state_dict(), path)
    fresh = Toy()
    wrap_relora(fresh, r=4, lora_alpha=8)
    fresh.load_state_dict(torch.load(path))
    assert torch.equal(fresh(idx), model(idx))
    y = model(idx)
    eff = effective_weights(model)
    unwrap_relora(model)
    assert not relora_modules(model)
    assert torch.allclose(model(idx), y, atol=1e-5)
    plain = Toy()
    plain.load_state_dict(model.state_dict())  # the original structure and keys
    assert torch.allclose(plain(idx), y, atol=1e-5)
    assert torch.allclose(plain.mlp[0].weight, eff["mlp.0"], atol=1e-6)
    assert plain.mlp[0].weight.requires_grad
