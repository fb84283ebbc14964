"""The ICAE model: the frozen decoder is the plain LM, slot shapes, multi-span order, checkpoints,
errors. Oracles: the plain model's own outputs (an untouched copy), transformers' own hidden states,
segment bounds computed by hand from the official rule, and a model built from another seed."""

import copy

import pytest
import torch

from mlroundup.icae import (
    ICAE,
    BaseModelMismatchError,
    ContextTooLongError,
    ContextTooShortError,
    ICAEConfig,
)

from .conftest import make_lm

TEXT = "to be, or not to be, that is the question.\nwhether tis nobler in the mind"


def _perturb_lora(icae):
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in icae.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)


def test_adapter_disabled_is_the_plain_model(lm_pair, tok):
    lm, plain = lm_pair
    icae = ICAE(lm, ICAEConfig(num_memory_slots=4, lora_dropout=0.0), tok)
    _perturb_lora(icae)  # LoRA's B starts at zero: make the adapter change something
    ids = torch.as_tensor(tok.encode(TEXT[:40]))[None]
    embeds = plain.get_input_embeddings()(ids)
    with torch.no_grad():
        ref = plain(inputs_embeds=embeds).logits
        dec = icae.decoder_logits(embeds)
        on = icae.base(inputs_embeds=embeds).logits  # adapter enabled
    assert torch.equal(dec, ref)
    assert not torch.allclose(on, ref)
    assert all(not p.requires_grad for n, p in icae.named_parameters() if "lora_" not in n
               and n not in ("memory", "special"))  # fmt: skip


def test_slots_have_shape_k_by_d_and_are_last_layer_states_at_memory_positions(lm_pair, tok):
    lm, _ = lm_pair
    icae = ICAE(lm, ICAEConfig(num_memory_slots=6, lora_dropout=0.0), tok)
    _perturb_lora(icae)
    slots = icae.compress(TEXT[:30])
    assert slots.shape == (6, 32)
    ids = torch.as_tensor(tok.encode(TEXT[:30]))[None]
    x = torch.cat([icae.embed(ids), icae.memory[None]], dim=1)  # context, then memory tokens
    with torch.no_grad():
        hidden = icae.lm(inputs_embeds=x, output_hidden_states=True).hidden_states[-1]
    torch.testing.assert_close(slots, hidden[0, 30:])
    batch = icae.encode(torch.stack([ids[0], ids[0].flip(0)]))
    assert batch.shape == (2, 6, 32)


def test_multi_span_splits_as_the_official_code_and_concatenates_in_order(lm_pair, tok):
    lm, _ = lm_pair
    icae = ICAE(lm, ICAEConfig(num_memory_slots=4, segment_tokens=20, lora_dropout=0.0), tok)
    _perturb_lora(icae)
    ids = tok.encode(TEXT[:70])
    # official rule: n = ceil(70 / 20) = 4 segments of ceil(70 / 4) = 18 tokens, the last 16
    assert icae.segment_bounds(70) == [(0, 18), (18, 36), (36, 54), (54, 70)]
    slots = icae.encode_ids(ids, multi_span=True)
    assert slots.shape == (16, 32)
    t = torch.as_tensor(ids)
    with torch.no_grad():
        parts = [icae.encode(t[None, s:e])[0] for s, e in ((0, 18), (18, 36), (36, 54), (54, 70))]
    torch.testing.assert_close(slots, torch.cat(parts))
    assert not torch.allclose(slots[:4], slots[4:8])  # different spans, different slots


def test_errors_name_the_problem(lm_pair, tok):
    lm, _ = lm_pair
    icae = ICAE(lm, ICAEConfig(num_memory_slots=8), tok)  # window 64
    with pytest.raises(ContextTooShortError, match="fewer than the k=8"):
        icae.compress("short")
    long_text = (TEXT * 2)[:100]
    with pytest.raises(ContextTooLongError, match="multi_span=True"):
        icae.compress(long_text)
    assert icae.compress(long_text, multi_span=True).shape == (32, 32)  # 4 spans of 25 tokens
    slots = icae.compress(TEXT[:20])
    with pytest.raises(ContextTooLongError, match="window of 64"):
        icae.generate(slots, task="lm", max_new_tokens=60)
    with pytest.raises(ValueError, match="invalid task"):
        icae.generate(slots, task="qa")
    with pytest.raises(ValueError, match="give no prompt"):
        icae.generate(slots, "abc", task="ae")
    with pytest.raises(ValueError, match="slots must be"):
        icae.generate(slots[:, :5])
    with pytest.raises(ValueError, match="segment_tokens"):
        ICAEConfig(num_memory_slots=8, segment_tokens=4)
    with pytest.raises(ValueError, match="num_memory_slots"):
        ICAEConfig(num_memory_slots=0)
    with pytest.raises(ValueError, match="alphabet"):
        icae.compress("UPPER CASE IS NOT IN THE ALPHABET")


def test_generate_is_greedy_decoding_of_the_frozen_decoder(lm_pair, tok):
    lm, plain = lm_pair
    icae = ICAE(lm, ICAEConfig(num_memory_slots=4, lora_dropout=0.0), tok)
    slots = icae.compress(TEXT[:16])
    got = icae.generate_ids(slots, tok.encode("the"), task="lm", max_new_tokens=5)
    # reference: argmax step by step over the whole sequence, no cache, on the plain model
    emb = torch.cat([slots, plain.get_input_embeddings()(torch.as_tensor(tok.encode("the")))])
    ref = []
    with torch.no_grad():
        for _ in range(5):
            nxt = int(plain(inputs_embeds=emb[None]).logits[0, -1].argmax())
            ref.append(nxt)
            emb = torch.cat([emb, plain.get_input_embeddings()(torch.tensor([nxt]))])
    assert got == ref


def test_save_load_round_trips_the_slots(lm_pair, tok, tmp_path):
    lm, plain = lm_pair
    icae = ICAE(lm, ICAEConfig(num_memory_slots=4, lora_dropout=0.0), tok, "tiny-test")
    _perturb_lora(icae)
    with torch.no_grad():
        icae.memory.add_(1.0)
    path = icae.save(tmp_path / "a.icae.pt")
    with pytest.raises(FileExistsError):
        icae.save(path)
    again = ICAE.load(path, copy.deepcopy(plain), tok)
    torch.testing.assert_close(again.compress(TEXT[:20]), icae.compress(TEXT[:20]), rtol=0, atol=0)
    assert again.base_name == "tiny-test" and again.config == icae.config
    stored = torch.load(path, weights_only=True)["state"]
    assert set(stored) == {n for n, p in icae.named_parameters() if p.requires_grad}


def test_load_refuses_another_base_model(lm_pair, tok, tmp_path):
    lm, _ = lm_pair
    icae = ICAE(lm, ICAEConfig(num_memory_slots=4), tok, "model-a")
    path = icae.save(tmp_path / "a.icae.pt")
    with pytest.raises(BaseModelMismatchError, match="model-a.*fingerprint"):
        ICAE.load(path, make_lm(seed=1), tok, base_name="model-b")


def test_load_refuses_a_file_that_is_not_an_icae(tmp_path, lm_pair):
    bad = tmp_path / "x.pt"
    torch.save({"hello": torch.zeros(1)}, bad)
    with pytest.raises(ValueError, match="not an ICAE checkpoint"):
        ICAE.load(bad, lm_pair[0])
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="not an ICAE checkpoint"):
        ICAE.load(junk, lm_pair[0])
    with pytest.raises(FileNotFoundError):
        ICAE.load(tmp_path / "missing.pt", lm_pair[0])
