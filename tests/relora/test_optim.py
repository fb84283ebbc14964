"""Optimizer-state reset and pruning of the adapters' moments.

Oracles: counting (``ceil(p n)`` entries pruned, ties included), a brute-force sort of the
magnitudes, and the untouched state of every non-adapter parameter.
"""

import math

import numpy as np
import pytest
import torch
from torch import nn

from mlroundup.relora.layers import lora_parameters, relora_modules, wrap_relora
from mlroundup.relora.optim import (
    JaggedCosineLR,
    n_pruned,
    optimizer_state_bytes,
    prune_,
    reset_optimizer_state,
)


@pytest.mark.parametrize("p", [0.0, 0.1, 0.3, 0.5, 0.9, 0.99, 1.0])
@pytest.mark.parametrize("method", ["magnitude", "random"])
def test_pruning_zeroes_at_least_the_fraction_even_with_ties(p, method):
    # 1000 entries taking only 4 distinct magnitudes (heavy ties), none zero beforehand.
    base = torch.tensor([0.5, -0.5, 1.0, 2.0]).repeat(250)
    t = base.clone().view(10, 100)
    k = prune_(t, p, method, generator=torch.Generator().manual_seed(0))
    zeros = int((t == 0).sum())
    assert k == math.ceil(round(p * 1000, 9)) == zeros  # exactly the requested count
    assert zeros >= p * t.numel()
    if method == "magnitude" and 0 < zeros < 1000:
        kept = base.view(10, 100)[t != 0].abs()
        pruned = base.view(10, 100)[t == 0].abs()
        assert kept.min() >= pruned.max()  # the smallest magnitudes went first


def test_magnitude_pruning_matches_a_brute_force_sort():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(257).astype(np.float32)
    t = torch.from_numpy(x.copy())
    prune_(t, 0.37, "magnitude")
    order = np.argsort(np.abs(x), kind="stable")
    expect = x.copy()
    expect[order[: math.ceil(0.37 * 257)]] = 0
    np.testing.assert_array_equal(t.numpy(), expect)


def test_n_pruned_is_not_fooled_by_float_rounding():
    assert n_pruned(10, 0.3) == 3  # 0.3 * 10 = 3.0000000000000004
    assert n_pruned(7, 0.5) == 4
    assert n_pruned(5, 1.0) == 5


def _trained_wrapped_model():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Embedding(10, 8), nn.Linear(8, 8), nn.LayerNorm(8), nn.Linear(8, 10))
    wrap_relora(model, r=2, targets=("1",))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    idx = torch.randint(0, 10, (16,))
    for _ in range(3):
        opt.zero_grad()
        nn.functional.cross_entropy(model(idx), idx).backward()
        opt.step()
    return model, opt


@pytest.mark.parametrize("mode", ["reset", "random", "magnitude"])
def test_reset_touches_the_adapter_state_only(mode):
    model, opt = _trained_wrapped_model()
    lora = lora_parameters(model)
    others = [p for p in model.parameters() if p.requires_grad and all(p is not q for q in lora)]
    assert others  # embedding, norm, head, bias
    before = {id(p): {k: v.clone() for k, v in opt.state[p].items()} for p in others}
    steps = {id(p): opt.state[p]["step"].clone() for p in lora}
    stats = reset_optimizer_state(opt, lora, mode, 0.9, generator=torch.Generator().manual_seed(0))
    assert stats["tensors"] == 2 * len(lora)  # exp_avg and exp_avg_sq of each factor
    for p in others:
        for k, v in opt.state[p].items():
            assert torch.equal(v, before[id(p)][k])
    for p in lora:
        assert torch.equal(
            opt.state[p]["step"], steps[id(p)]
        )  # scalar state kept, as the code does
        for key in ("exp_avg", "exp_avg_sq"):
            z = int((opt.state[p][key] == 0).sum())
            need = opt.state[p][key].numel() if mode == "reset" else 0.9 * opt.state[p][key].numel()
            assert z >= need


def test_reset_rejects_bad_input():
    model, opt = _trained_wrapped_model()
    with pytest.raises(ValueError, match="mode"):
        reset_optimizer_state(opt, lora_parameters(model), "zero")
    with pytest.raises(ValueError, match="fraction"):
        reset_optimizer_state(opt, lora_parameters(model), "random", 1.5)
    with pytest.raises(ValueError, match="not held"):
        reset_optimizer_state(opt, [nn.Parameter(torch.zeros(2))])
    with pytest.raises(ValueError, match="no key 'momentum_buffer'"):
        reset_optimizer_state(opt, lora_parameters(model), keys=["momentum_buffer"])
    with pytest.raises(ValueError, match="fraction"):
        prune_(torch.ones(3), -0.1)


def test_optimizer_state_bytes_counts_adam_moments_of_trainable_params_only():
    model, opt = _trained_wrapped_model()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    # AdamW: exp_avg + exp_avg_sq (float32) per entry, plus a float32 scalar step per tensor.
    n_tensors = sum(1 for p in model.parameters() if p.requires_grad)
    assert optimizer_state_bytes(opt) == 2 * 4 * trainable + 4 * n_tensors
    frozen = relora_modules(model)["1"].base_layer.weight
    assert frozen not in opt.state


def test_jagged_cosine_lr_drives_the_optimizer():
    opt = torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=1.0)
    sched = JaggedCosineLR(opt, 100, warmup_steps=10, reset_every=40, restart_warmup_steps=5)
    assert sched.resets == (40, 80)
    lrs = []
    for _ in range(100):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == 0.0 and lrs[10] == 1.0 and lrs[40] == 0.0 and lrs[80] == 0.0
