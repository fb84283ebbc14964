"""Trainer qualities (oracles: an uninterrupted run for resume; the previous file's bytes for the
atomic checkpoint; the step at which a NaN was injected; a one-process run with the same global
batch for DDP)."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mlroundup.budgeted_training import methods as M
from mlroundup.data.tokens import TokenStream
from mlroundup.training import Budget, BudgetSchedule, NonFiniteLossError, TrainConfig, train
from mlroundup.training.checkpoint import load_checkpoint, save_checkpoint

from .training_helpers import linear_table, tiny_model

SCHED = BudgetSchedule(3e-3, warmup=0.1)


def _cfg(**kw):
    return TrainConfig(**{"batch_size": 4, "seq_len": 8, **kw})


def test_same_seed_same_losses_different_seed_different(data):
    budget = Budget(0.6, linear_table())
    a = train(tiny_model(), data, budget, SCHED, config=_cfg())
    b = train(tiny_model(), data, budget, SCHED, config=_cfg())
    c = train(tiny_model(), data, budget, SCHED, config=_cfg(seed=1))
    assert a.losses == b.losses and a.final.loss == b.final.loss
    assert a.losses != c.losses


@pytest.mark.parametrize(
    "method, layers",
    [(lambda: M.Baseline(), 2), (lambda: M.LayerStacking(), 1), (lambda: M.SelectiveBackprop(), 2),
     (lambda: M.SophiaMethod(k=3), 2)],
    ids=["baseline", "layer-stacking", "selective-backprop", "sophia"],
)  # fmt: skip
def test_resume_reproduces_the_uninterrupted_run(data, tmp_path, method, layers):
    budget = Budget(1.0, linear_table())
    full = train(tiny_model(layers), data, budget, SCHED, method=method(), config=_cfg())
    # Interrupted after 4 steps (checkpoint every 2), then resumed by a fresh process-like call.
    cut = _cfg(checkpoint_dir=tmp_path, checkpoint_every=2, max_steps=4)
    part = train(tiny_model(layers), data, budget, SCHED, method=method(), config=cut)
    assert part.steps == 4 < full.steps
    resumed = train(
        tiny_model(layers, seed=99), data, budget, SCHED, method=method(),
        config=_cfg(checkpoint_dir=tmp_path, checkpoint_every=2), resume=True,
    )  # fmt: skip
    assert resumed.losses == full.losses
    assert resumed.final.loss == full.final.loss
    for p, q in zip(resumed.model.parameters(), full.model.parameters(), strict=True):
        assert torch.equal(p, q)


def test_resume_refuses_a_different_run(data, tmp_path):
    budget = Budget(1.0, linear_table())
    train(tiny_model(), data, budget, SCHED, config=_cfg(checkpoint_dir=tmp_path, max_steps=2))
    with pytest.raises(ValueError, match="different run: budget_s"):
        train(tiny_model(), data, Budget(2.0, linear_table()), SCHED,
              config=_cfg(checkpoint_dir=tmp_path), resume=True)  # fmt: skip


def test_checkpoint_is_atomic_under_an_injected_failure(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"step": 1, "w": torch.ones(3)})
    before = path.read_bytes()

    def torn_save(obj, f):
        f.write(b"half a checkpoint")
        raise OSError("disk full (injected)")

    monkeypatch.setattr(torch, "save", torn_save)
    with pytest.raises(OSError, match="injected"):
        save_checkpoint(path, {"step": 2, "w": torch.zeros(3)})
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temporary file left
    # Killed between write and rename: only the temporary file exists, the checkpoint is intact.
    import mlroundup.utils.files as files_mod  # where the atomic rename happens

    monkeypatch.setattr(
        files_mod.os, "replace", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt)
    )
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"step": 3})
    assert load_checkpoint(path)["step"] == 1


def test_nan_loss_stops_reports_the_step_and_keeps_the_last_good_checkpoint(data, tmp_path):
    def poison(trainer, record):
        if record["step"] == 4:  # after step 4's update the weights are NaN; step 5's loss is NaN
            with torch.no_grad():
                trainer.model.tok_emb.weight.fill_(float("nan"))

    cfg = _cfg(checkpoint_dir=tmp_path, checkpoint_every=1)
    with pytest.raises(NonFiniteLossError, match="at step 5") as err:
        train(tiny_model(), data, Budget(5.0, linear_table()), SCHED, config=cfg, on_step=poison)
    assert err.value.step == 5
    assert err.value.checkpoint == tmp_path / "last.pt"
    good = load_checkpoint(tmp_path / "last.pt")
    # Written after step 3: the weights poisoned after step 4 are never checkpointed.
    assert good["trainer"]["step"] == 4
    assert all(torch.isfinite(v).all() for v in good["model"].values())


def test_corpus_too_small_and_bad_config_are_clear_errors(data):
    tiny = TokenStream(np.arange(8, dtype=np.uint16), 8, "tiny")
    budget = Budget(1.0, linear_table())
    with pytest.raises(ValueError, match=r"training corpus has 8 tokens, too few for seq_len=8"):
        train(tiny_model(), (tiny, data[1]), budget, SCHED, config=_cfg())
    with pytest.raises(ValueError, match="validation corpus has 8 tokens"):
        train(tiny_model(), (data[0], tiny), budget, SCHED, config=_cfg())
    with pytest.raises(ValueError, match="block_size=16"):
        train(tiny_model(), data, budget, SCHED, config=_cfg(seq_len=32))
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="seq_len=16, this run uses 8"):
        table = linear_table()
        table.meta["seq_len"] = 16
        train(tiny_model(), data, Budget(1.0, table), SCHED, config=_cfg())


def test_progress_bar_runs(data, capsys):
    r = train(tiny_model(), data, Budget(0.3, linear_table()), SCHED, config=_cfg(progress=True))
    assert r.steps == 3


def test_two_process_ddp_matches_one_process(tmp_path, monkeypatch):
    worker = Path(__file__).with_name("ddp_worker.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(worker.parent)}
    for var in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        env.pop(var, None)
    out = tmp_path / "ddp.json"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(worker), str(out), "layer-drop"]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ddp = json.loads(out.read_text())
    # The reference: the same script, one process, the same global batch of 8.
    monkeypatch.syspath_prepend(str(worker.parent))
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    spec = importlib.util.spec_from_file_location("ddp_worker", worker)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    single = module.run("layer-drop")
    assert ddp["steps"] == single["steps"] >= 10
    np.testing.assert_allclose(ddp["losses"], single["losses"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ddp["params"], single["params"], rtol=1e-4, atol=1e-5)
    assert ddp["val"] == pytest.approx(single["val"], rel=1e-5)
