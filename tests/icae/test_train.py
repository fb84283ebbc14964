"""Training an ICAE on the project's trainer: the autoencoding loss falls, only the adapter and the
memory / task embeddings change, fine-tuning runs. Oracles: the loss before training, and the base
model's weights before training."""

import numpy as np
import pytest
import torch

from mlroundup.icae import (
    ICAE,
    FinetuneMethod,
    ICAEConfig,
    Mix,
    PretrainMethod,
    QAExample,
    train_icae,
)
from mlroundup.icae.objectives import pretrain_loss

from .conftest import pattern_stream

_stream = pattern_stream


def _ae_loss(icae, ctx):
    with torch.no_grad():
        return float(pretrain_loss(icae, ctx, None, Mix(lm_weight=0.0))[0])


def test_training_reduces_the_autoencoding_loss_and_touches_only_the_adapter(pattern_lm):
    lm, plain = pattern_lm
    torch.manual_seed(0)
    icae = ICAE(lm, ICAEConfig(num_memory_slots=4, lora_dropout=0.0))
    train, val = _stream(3000, 0), _stream(600, 1)
    ctx = torch.from_numpy(
        np.asarray(val.tokens[np.arange(8)[:, None] * 50 + np.arange(8)], dtype=np.int64)
    )
    before = _ae_loss(icae, ctx)
    method = PretrainMethod(context_tokens=(8,), continuation_tokens=8, mix=Mix(0.0, 2),
                            eval_context_tokens=8)  # fmt: skip
    res = train_icae(icae, train, val, method, steps=40, batch_size=8, lr=1e-2, eval_sequences=8)
    after = _ae_loss(icae, ctx)
    assert res.steps == 40
    assert after < 0.8 * before, (before, after)
    assert res.final.loss == pytest.approx(after, rel=0.2)  # evaluate() is the AE loss too
    now = {
        n.replace(".base_layer", ""): p for n, p in icae.base.named_parameters() if "lora_" not in n
    }
    for name, q in plain.named_parameters():
        assert torch.equal(now[name], q), name


def test_pretraining_with_both_objectives_and_a_resumable_checkpoint(lm_pair, tmp_path):
    torch.manual_seed(0)
    icae = ICAE(lm_pair[0], ICAEConfig(num_memory_slots=4))
    method = PretrainMethod(context_tokens=(8, 16), continuation_tokens=8, mix=Mix(0.5, 2),
                            eval_context_tokens=8)  # fmt: skip
    res = train_icae(icae, _stream(3000, 0), _stream(600, 1), method, steps=3, batch_size=4,
                     lr=1e-3, eval_sequences=4, checkpoint_dir=tmp_path)  # fmt: skip
    assert (tmp_path / "last.pt").is_file() and np.isfinite(res.losses).all()
    with pytest.raises(ValueError, match="leave_tokens"):
        PretrainMethod(continuation_tokens=4, mix=Mix(0.5, 4))


def test_finetuning_on_prompt_with_context_examples(lm_pair):
    torch.manual_seed(0)
    icae = ICAE(lm_pair[0], ICAEConfig(num_memory_slots=4, lora_dropout=0.0))
    ex = [QAExample(tuple(range(i, i + 8)), (1, 2), (i % 5 + 3,)) for i in range(6)]
    method = FinetuneMethod(train_examples=ex)
    first = method._loss(icae, ex, "cpu").item()
    res = train_icae(icae, _stream(600, 0), _stream(600, 1), method, steps=30, batch_size=6,
                     lr=1e-2, seq_len=8)  # fmt: skip
    assert res.final.loss < first
    with pytest.raises(ValueError, match="one context length"):
        FinetuneMethod(train_examples=[ex[0], QAExample((1, 2, 3, 4, 5), (1,), (2,))])
