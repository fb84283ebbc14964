"""The registered QIGen experiment, end to end at quick scale through the CLI (slow, ~100 s).

Oracles, independent of the experiment's code:
(1) the shipped SmolLM2 weights are Q4_1 (4-bit codes, a scale and a minimum per 32 input
    channels), so 4-bit group-32 RTN re-creates them and must score the fp32 perplexity
    (``test_smollm2.py`` checks the weights themselves);
(2) closed-form sizes: SmolLM2's 30 decoder layers hold q/o (576x576), k/v (192x576), gate/up
    (1536x576) and down (576x1536) linears; 4-bit codes take half a byte per weight and each
    (row, group) adds a float32 scale and minimum (8 bytes), with ceil(K / g) groups per row;
(3) 8-bit RTN moves each weight by at most 1/510 of its group's range, so its perplexity stays
    within 1% of fp32 (stated margin);
(4) structure: status ok, every declared metric measured, the fp32 reference row present.
"""

import json
import math

import pytest

pytestmark = pytest.mark.slow

#: (out_features, in_features) of one decoder layer's linears, times 30 layers.
LAYER_SHAPES = [(576, 576), (192, 576), (192, 576), (576, 576), (1536, 576), (1536, 576),
                (576, 1536)]  # fmt: skip
N_LAYERS = 30


def packed_mb(bits: int, group: int) -> float:
    """Closed-form MB of codes + float32 scales/minimums of every quantized SmolLM2 linear."""
    per_layer = sum(n * k * bits / 8 + n * math.ceil(k / group) * 8 for n, k in LAYER_SHAPES)
    return N_LAYERS * per_layer / 1e6


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    pytest.importorskip("transformers")
    from mlroundup.cli import main
    from mlroundup.models import ModelUnavailableError, gguf_path

    try:
        gguf_path()
    except ModelUnavailableError as exc:
        pytest.skip(str(exc))
    out = tmp_path_factory.mktemp("qigen-run")
    code = main(["reproduce", "qigen-smollm2", "--out", str(out), "--no-progress"])
    (path,) = [p for p in out.glob("*/results.json") if p.parent.name != "latest"]
    doc = json.loads(path.read_text())
    return code, doc


def test_quick_run_succeeds_with_every_metric(result):
    from mlroundup.qigen.experiment import QIGEN_SMOLLM2

    code, doc = result
    assert code == 0
    (exp,) = doc["experiments"]
    assert exp["name"] == "qigen-smollm2" and exp["status"] == "ok", exp["error"]
    ours = {m["name"]: m["ours"] for m in exp["metrics"]}
    assert set(ours) == set(QIGEN_SMOLLM2.metric_names)
    claims = ("gptq_beats_rtn_4bit_g128", "smaller_groups_lower_ppl", "smaller_groups_slower")
    for name, value in ours.items():
        if name in claims:
            assert isinstance(value, bool), name  # a yes/no finding
        else:
            assert value is not None and math.isfinite(value), name
    assert 0.0 <= ours["three_bit_dominated_fraction"] <= 1.0
    assert ours["gemv_dram_bandwidth_fraction"] > 0.0


def test_perplexity_table_against_independent_facts(result):
    _code, doc = result
    table = doc["experiments"][0]["tables"][0]
    rows = {(r[0], r[1], r[2]): dict(zip(table["columns"], r, strict=True)) for r in table["rows"]}
    fp32 = rows[("fp32", 32, "-")]["perplexity"]
    assert 1.0 < fp32 < 100.0
    # (1) the shipped grid: 4-bit group-32 RTN is the fp32 model
    assert rows[("rtn", 4, "32")]["perplexity"] == pytest.approx(fp32, rel=1e-3)
    # (3) 8-bit is nearly lossless
    assert rows[("rtn", 8, "128")]["perplexity"] == pytest.approx(fp32, rel=0.01)
    # (2) closed-form sizes; GPTQ stores the same format as RTN
    assert rows[("rtn", 4, "32")]["linear MB"] == pytest.approx(packed_mb(4, 32), rel=1e-9)
    assert rows[("rtn", 4, "128")]["linear MB"] == pytest.approx(packed_mb(4, 128), rel=1e-9)
    assert rows[("gptq", 4, "128")]["linear MB"] == rows[("rtn", 4, "128")]["linear MB"]
    for key, row in rows.items():
        if key[0] != "fp32":
            assert row["perplexity"] > 0 and row["layer tokens/s"] > 0, key
