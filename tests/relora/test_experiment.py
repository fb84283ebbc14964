"""The registered ReLoRA experiment, end to end at a shrunken quick scale (slow).

Oracles: the schema (every value is for a declared metric, tables are well-formed), the rank bound of
LoRA (a mathematical fact the measurement must show), and the paper's Table 2 values travelling
beside ours.
"""

import dataclasses
import math

import pytest

from mlroundup.experiments.registry import select
from mlroundup.experiments.runner import RunContext
from mlroundup.relora import experiment as ex


def test_registered_with_the_papers_values():
    (exp,) = select(["relora"])
    assert exp is ex.RELORA
    gap = exp.metric("relora_ppl_gap_vs_full")
    assert gap.paper_value == pytest.approx(22.48 / 22.39 - 1)  # Table 2, 250M: ReLoRA / full


@pytest.mark.slow
def test_quick_run_produces_every_metric(tmp_path):
    small = dataclasses.replace(ex.SETTINGS["quick"], preset="tiny", seq_len=32, batch_size=8, steps=24,
                 r=4, lora_alpha=1.0, eval_sequences=16, cost_rounds=1, cost_steps=1)  # fmt: skip
    out = ex.run(RunContext(scale="quick", seed=0, settings=small))
    assert set(out.values) == set(ex.RELORA.metric_names)
    assert out.values["lora_update_rank_at_most_r"] is True
    assert out.values["ablation_all_four_beats_no_warm_start"] is None  # paper scale only
    assert math.isfinite(out.values["relora_ppl_gap_vs_full"])
    arms = out.tables[0]
    assert [row[0] for row in arms.rows] == [ex.ARM_TITLES[a] for a in ex.ARMS]
    assert arms.rows[-1][9] >= 1  # ReLoRA merged at least once
    assert len(out.figures) == 2


@pytest.mark.slow
def test_paper_scale_ablation_path():
    small = dataclasses.replace(ex.SETTINGS["paper"], preset="tiny", seq_len=32, batch_size=8, steps=24,
                 r=4, lora_alpha=1.0, eval_sequences=16, cost_rounds=1, cost_steps=1)  # fmt: skip
    out = ex.run(RunContext(scale="paper", seed=0, settings=small))
    assert out.values["ablation_all_four_beats_no_warm_start"] in (True, False)
    assert out.values["ablation_reset_without_jagged_diverges"] in (True, False)
    ablation = out.tables[-1]
    assert [row[0] for row in ablation.rows[:-1]] == [label for label, _, _ in ex.PAPER_ABLATION]
    assert ablation.rows[2][5] == "diverged"  # the paper's value travels beside ours
