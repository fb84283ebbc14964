"""Decoder inputs and targets of each objective, laid out by hand from Ge et al. (2023, Sec. 3.2)
and the official code's label rules (``leave_tokens_for_lm``)."""

import math

import pytest
import torch

from mlroundup.icae import ICAE, ICAEConfig, Mix
from mlroundup.icae.model import AE, FT
from mlroundup.icae.objectives import (
    IGNORE,
    ae_inputs,
    ft_inputs,
    lm_inputs,
    next_token_loss,
    plain_lm_inputs,
    pretrain_loss,
)

X = IGNORE


@pytest.fixture
def icae(lm_pair, tok):
    return ICAE(lm_pair[0], ICAEConfig(num_memory_slots=2, lora_dropout=0.0), tok)


def test_autoencoding_predicts_the_context_after_the_ae_token(icae):
    slots = torch.randn(1, 2, 32)
    ctx = torch.tensor([[5, 6, 7]])
    embeds, targets = ae_inputs(icae, slots, ctx)
    assert targets.tolist() == [[X, X, 5, 6, 7, X]]  # [z1 z2 AE c1 c2 c3]
    torch.testing.assert_close(embeds[0, :2], slots[0])
    torch.testing.assert_close(embeds[0, 2], icae.special[AE])
    torch.testing.assert_close(embeds[0, 3:], icae.embed(ctx)[0])
    _, with_eos = ae_inputs(icae, slots, ctx, eos_id=9)
    assert with_eos.tolist() == [[X, X, 5, 6, 7, 9]]


def test_language_modelling_leaves_the_first_tokens_unsupervised(icae):
    slots = torch.randn(1, 2, 32)
    cont = torch.tensor([[1, 2, 3, 4]])
    _, t0 = lm_inputs(icae, slots, cont, leave_tokens=0)
    assert t0.tolist() == [[X, 1, 2, 3, 4, X]]  # the last slot predicts y1
    _, t1 = lm_inputs(icae, slots, cont, leave_tokens=1)
    assert t1.tolist() == [[X, X, 2, 3, 4, X]]
    with pytest.raises(ValueError, match="leaves nothing"):
        lm_inputs(icae, slots, cont, leave_tokens=4)


def test_baselines_score_the_same_continuation_tokens(icae):
    cont = torch.tensor([[1, 2, 3, 4]])
    _, none = plain_lm_inputs(icae, None, cont, leave_tokens=1)
    assert none.tolist() == [[2, 3, 4, X]]
    _, full = plain_lm_inputs(icae, torch.tensor([[7, 8, 9]]), cont, leave_tokens=1)
    assert full.tolist() == [[X, X, X, 2, 3, 4, X]]


def test_finetuning_predicts_only_the_answer_and_pads_on_the_right(icae):
    slots = torch.randn(2, 2, 32)
    embeds, targets = ft_inputs(icae, slots, [[10, 11], [12]], [[3], [4, 5]], eos_id=9)
    # row 0: z z FT p p a -> a then EOS; row 1: z z FT p a a -> a a EOS, one position shorter pad
    assert targets.tolist() == [[X, X, X, X, 3, 9], [X, X, X, 4, 5, 9]]
    torch.testing.assert_close(embeds[0, 2], icae.special[FT])
    _, wrapped = ft_inputs(icae, slots[:1], [[10]], [[3]], chat_wrap=([20, 21], [22]))
    assert wrapped.tolist() == [[X, X, X, X, X, X, 3, X]]  # before(2) z z FT p after a
    with pytest.raises(ValueError, match="empty"):
        ft_inputs(icae, slots[:1], [[1]], [[]])


def test_next_token_loss_is_mean_cross_entropy_over_scored_positions():
    logits = torch.zeros(1, 3, 4)
    logits[0, 1, 2] = math.log(3.0)  # p(2) = 3 / 6 at position 1
    targets = torch.tensor([[X, 2, 0]])  # position 2 uniform: p = 1/4
    want = (-math.log(0.5) - math.log(0.25)) / 2
    assert float(next_token_loss(logits, targets)) == pytest.approx(want)


def test_mix_weights_the_two_objectives(icae):
    torch.manual_seed(0)
    ctx, cont = torch.randint(0, 20, (2, 6)), torch.randint(0, 20, (2, 10))
    both, parts = pretrain_loss(icae, ctx, cont, Mix(lm_weight=0.25, leave_tokens=2))
    assert float(both.detach()) == pytest.approx(0.75 * parts["ae"] + 0.25 * parts["lm"], rel=1e-6)
    ae_only, p = pretrain_loss(icae, ctx, None, Mix(lm_weight=0.0))
    assert math.isnan(p["lm"]) and float(ae_only.detach()) == pytest.approx(parts["ae"], rel=1e-6)
    with pytest.raises(ValueError, match="continuation"):
        pretrain_loss(icae, ctx, None, Mix(lm_weight=0.5))
    with pytest.raises(ValueError, match="lm_weight"):
        Mix(lm_weight=1.5)
