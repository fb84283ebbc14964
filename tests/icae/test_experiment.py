"""The registered ``icae`` experiment, end to end at shrunken settings (slow), and its declaration.

Oracles: the paper's numbers travelling beside ours (Llama-2-7B, 512 tokens vs 128 slots), the
schema (every declared metric gets a value), the KV-cache closed form at 4x."""

import dataclasses
import math

import pytest

from mlroundup.experiments.registry import select
from mlroundup.experiments.runner import RunContext
from mlroundup.icae import experiment as ex
from mlroundup.icae import read_checkpoint


def test_registered_with_the_papers_values():
    (exp,) = select(["icae"])
    assert exp is ex.EXPERIMENT
    assert exp.metric("continuation_ppl_ratio_4x").paper_value == pytest.approx(
        9.18 / 8.81, abs=1e-4
    )
    assert exp.metric("kv_reduction_longest").paper_value is None  # ours, beyond the paper
    assert exp.settings["quick"].base == "tiny" and exp.settings["paper"].base == "smollm2"


@pytest.mark.slow
def test_shrunken_quick_run_measures_every_metric(tmp_path):
    small = dataclasses.replace(
        ex.SETTINGS["quick"], base_steps=3, slots=4, ratios=(2, 4), train_steps=3, batch_size=4,
        continuation_tokens=8, leave_tokens=2, eval_contexts=4, cost_lengths=(16, 32),
        cost_prompt_tokens=4, cost_new_tokens=2, cost_repeats=1,
    )  # fmt: skip
    out = ex.run(RunContext(scale="quick", seed=0, settings=small, cache_dir=tmp_path))
    assert set(out.values) == set(ex.EXPERIMENT.metric_names)
    for name, v in out.values.items():
        assert v is not None, name
    assert math.isfinite(out.values["continuation_ppl_ratio_4x"])
    # 32 context + 4 prompt positions against 8 slots + 4: (36 / 12) = 3
    assert out.values["kv_reduction_longest"] == pytest.approx(3.0)
    ratios, paper, cost = out.tables
    assert [r[0] for r in ratios.rows] == ["2x", "4x"]
    assert [r[1] for r in ratios.rows] == [8, 16]
    assert all(0.0 <= r[3] <= 1.0 and 0.0 <= r[4] <= 100.0 for r in ratios.rows)
    assert paper.rows[0][1] == 8.81 and paper.rows[1][1] == 9.18
    assert [r[0] for r in cost.rows] == [16, 32]
    assert len(out.figures) == 2
    saved = read_checkpoint(out.config["checkpoint"])
    assert saved["base"]["source"]["kind"] == "tiny"
