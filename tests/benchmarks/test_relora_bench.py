"""Bookkeeping of ``mlroundup bench relora``: the table from planted timings (oracle: hand
arithmetic) and what a training step reports (oracle: AdamW keeps two float32 moments per
trainable parameter and one float32 step counter per trainable tensor)."""

import pytest

import mlroundup.relora.bench as rb

from .fakes import PlantedContext

MIB = 2**20


def _plant(case, system):
    relora = system.params["relora"]
    return {"wall": [0.4, 0.5, 0.9] if relora else [1.0, 0.6, 0.8],
            "info": {"total_params": 1000, "trainable_params": 100 if relora else 1000,
                     "optimizer_state_bytes": MIB if relora else 4 * MIB}}  # fmt: skip


def test_table_from_planted_timings(monkeypatch):
    monkeypatch.setattr(rb, "SHAPES", {"quick": [("1m", 16, 4, 32)]})
    ctx = PlantedContext(_plant)
    rb.run(ctx)
    (case,) = ctx.cases
    assert [s.name for s in case.systems] == ["full-rank", "ReLoRA"]
    assert [s.ours for s in case.systems] == [False, True]
    (row,) = ctx.report.tables[0].rows
    got = dict(zip(rb.COLUMNS, row, strict=True))
    assert got["batch"] == "4x32" and got["params"] == 1000 and got["r"] == 16
    assert got["full state (MiB)"] == 4.0 and got["ReLoRA state (MiB)"] == 1.0
    assert got["state ratio"] == 0.25
    assert got["full s/step (median)"] == 0.8 and got["ReLoRA s/step (median)"] == 0.5
    assert got["full s/step (fastest)"] == 0.6 and got["ReLoRA s/step (fastest)"] == 0.4
    assert got["speed-up"] == pytest.approx(0.8 / 0.5 - 1)


def test_a_side_without_numbers_leaves_empty_cells(monkeypatch):
    monkeypatch.setattr(rb, "SHAPES", {"quick": [("1m", 16, 4, 32)]})
    ctx = PlantedContext(lambda c, s: {"status": "crashed", "reason": "x"}
                         if s.params["relora"] else _plant(c, s))  # fmt: skip
    rb.run(ctx)
    got = dict(zip(rb.COLUMNS, ctx.report.tables[0].rows[0], strict=True))
    assert got["ReLoRA s/step (median)"] is None and got["speed-up"] is None
    assert got["state ratio"] is None and got["full state (MiB)"] == 4.0
    assert any("ReLoRA crashed" in n for n in ctx.report.notes)


@pytest.mark.parametrize("relora", [False, True])
def test_train_step_reports_adamw_state(relora):
    torch = pytest.importorskip("torch")
    work = rb.train_step(threads=1, preset="1m", r=4, batch=2, seq=8, relora=relora)
    info = work.info
    # count the trainable tensors independently, on a fresh model built the same way
    from mlroundup.relora.layers import wrap_relora
    from mlroundup.training import GPT, PRESETS, GPTConfig

    model = GPT(GPTConfig(vocab_size=rb.VOCAB, block_size=8, **PRESETS["1m"]))
    if relora:
        wrap_relora(model, r=4, lora_alpha=1.0)
    trainable = [p for p in model.parameters() if p.requires_grad]
    n = sum(p.numel() for p in trainable)
    assert info["trainable_params"] == n
    assert info["optimizer_state_bytes"] == 8 * n + 4 * len(trainable)
    assert (info["trainable_params"] < info["total_params"]) == relora
    work.step()  # a further step runs
    assert torch.get_num_threads() >= 1
