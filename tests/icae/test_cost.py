"""The cost model: KV-cache bytes against the closed form, break-even points by hand."""

import math

import pytest
import torch

from mlroundup.icae import ICAE, CostPoint, ICAEConfig, measure_point
from mlroundup.icae.cost import kv_bytes_per_position, kv_cache_bytes

from .conftest import make_lm


def test_kv_cache_bytes_match_the_closed_form():
    lm = make_lm(window=128)
    # 2 (keys, values) x 2 layers x 2 kv heads x 8 head dims x 4 bytes
    assert kv_bytes_per_position(lm.config) == 2 * 2 * 2 * 8 * 4
    with torch.no_grad():
        out = lm(input_ids=torch.zeros(1, 37, dtype=torch.long), use_cache=True)
    assert kv_cache_bytes(out.past_key_values) == 37 * 256


def test_measured_point_holds_k_plus_p_positions_against_l_plus_p():
    icae = ICAE(make_lm(window=128), ICAEConfig(num_memory_slots=8))
    p = measure_point(icae, 32, prompt_tokens=4, new_tokens=3, repeats=1)
    assert (p.kv_full_bytes, p.kv_slots_bytes) == (36 * 256, 12 * 256)
    assert p.kv_reduction == pytest.approx(3.0)
    assert min(p.encode_s, p.prefill_full_s, p.prefill_slots_s) > 0
    with pytest.raises(ValueError, match="exceed the window"):
        measure_point(icae, 120, prompt_tokens=4, new_tokens=8)


def test_break_even_points_by_hand():
    p = CostPoint(1000, 250, 10, 20, encode_s=1.0, prefill_full_s=1.0, prefill_slots_s=0.3,
                  decode_full_s=0.05, decode_slots_s=0.03, kv_full_bytes=1010,
                  kv_slots_bytes=260)  # fmt: skip
    # one query: 1.0 + 0.3 + n 0.03 = 1.0 + n 0.05  ->  n = 0.3 / 0.02 = 15 tokens
    assert p.break_even_tokens == pytest.approx(15.0)
    # shared slots: full query 1.0 + 20 * 0.05 = 2.0; slots query 0.3 + 20 * 0.03 = 0.9
    assert p.break_even_queries == pytest.approx(1.0 / 1.1)
    assert p.speedup_one_query == pytest.approx(2.0 / 1.9)
    assert p.speedup_precompressed == pytest.approx(2.0 / 0.9)
    slow = CostPoint(1000, 250, 10, 20, 1.0, 1.0, 0.3, 0.03, 0.03, 1, 1)
    assert math.isinf(slow.break_even_tokens)  # decoding is no faster: never pays alone
    cheap = CostPoint(1000, 250, 10, 20, 0.1, 1.0, 0.3, 0.05, 0.03, 1, 1)
    assert cheap.break_even_tokens == 0.0
