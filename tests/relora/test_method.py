"""ReLoRA on the budgeted trainer: switch, restarts, jagged learning rate, update rank.

Oracles: the step arithmetic of a 20-step budget (switch at 25%, restarts every 25%), the schedule's
closed form (zero at each restart, x2 once adapters train), and the rank bound of a LoRA update.
"""

import numpy as np
import pytest
import torch

from mlroundup.data.tokens import TokenStream
from mlroundup.relora.experiment import step_budget
from mlroundup.relora.layers import effective_weights, relora_modules
from mlroundup.relora.method import ReLoRAMethod
from mlroundup.relora.rank import numerical_rank
from mlroundup.training import GPT, GPTConfig, TrainConfig, train


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    text = np.tile(rng.integers(0, 16, 300), 20).astype(np.uint16)  # learnable: a repeated sequence
    return TokenStream(text, len(text), "train"), TokenStream(text[:400], 400, "validation")


def _run(data, method, steps=20, peak=3e-3):
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=16, block_size=16, n_layer=2, n_head=2, d_model=32))
    schedule = method.schedule(peak, warmup=0.1, floor=0.1)
    cfg = TrainConfig(
        batch_size=4, seq_len=16, eval_sequences=8, eval_batch_size=8, weight_decay=0.0
    )
    return model, train(model, data, step_budget(steps), schedule, method=method, config=cfg)


def test_relora_switches_restarts_and_jags_the_learning_rate(data):
    m = ReLoRAMethod(r=2, lora_alpha=2, warm_start=0.25, reset_every=0.25, restart_warmup=0.1)
    assert m.restart_fractions() == (0.5, 0.75)
    _, res = _run(data, m)
    assert res.steps == 20 and m.switch_step == 5 and m.restarts_done == 2
    assert [log["step"] for log in m.reset_log] == [10, 15]
    assert all(log["zero_fraction"] == 1.0 for log in m.reset_log)  # full reset of the moments
    lr = [h["lr"] for h in res.history]
    assert lr[5] == lr[10] == lr[15] == 0.0
    sched = m.schedule(3e-3, warmup=0.1, floor=0.1)
    assert lr[3] == pytest.approx(sched.lr(3 / 20))  # full-rank phase: x1
    assert lr[8] == pytest.approx(2 * sched.lr(8 / 20))  # adapters: x lora_lr_ratio
    mods = relora_modules(res.model)
    assert len(mods) == 8 and all(int(x.merge_count) == 2 for x in mods.values())
    end = effective_weights(res.model)
    ranks = [numerical_rank(end[n] - m.start_weights[n]) for n in mods]
    assert min(ranks) > 2  # three rank-2 cycles merged
    assert np.isfinite(res.final.loss)


def test_lora_without_restarts_stays_within_rank_r(data):
    m = ReLoRAMethod(r=2, lora_alpha=2, warm_start=0.0, reset_every=None, jagged=False)
    assert m.schedule(1e-3).resets == ()
    model, res = _run(data, m, steps=10)
    end = effective_weights(res.model)
    assert all(numerical_rank(end[n] - m.start_weights[n]) <= 2 for n in end)
    trainable = sum(p.numel() for p in res.model.parameters() if p.requires_grad)
    assert trainable < sum(p.numel() for p in res.model.parameters())


def test_method_rejects_bad_settings():
    with pytest.raises(ValueError, match="warm_start"):
        ReLoRAMethod(warm_start=1.0)
    with pytest.raises(ValueError, match="optimizer_reset"):
        ReLoRAMethod(optimizer_reset="zero")
    with pytest.raises(ValueError, match="reset_every"):
        ReLoRAMethod(reset_every=0.0)
    with pytest.raises(NotImplementedError, match="resuming"):
        ReLoRAMethod().load_state_dict({"wrapped": True, "restarts_done": 1, "switch_step": 3})
