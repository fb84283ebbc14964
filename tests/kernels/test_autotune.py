"""Autotuner (oracle: candidates with known relative cost; call counting)."""

import json
import time

import pytest

from mlroundup.kernels import autotune


def _sleeper(seconds, calls, label):
    def run():
        calls.append(label)
        time.sleep(seconds)

    return run


def test_time_callable_counts_warmup_and_repeats():
    calls = []
    times = autotune.time_callable(lambda: calls.append(1), warmup=2, repeats=3)
    assert len(calls) == 5 and len(times) == 3
    with pytest.raises(ValueError, match="warmup"):
        autotune.time_callable(lambda: None, warmup=0)
    with pytest.raises(ValueError, match="repeats"):
        autotune.time_callable(lambda: None, repeats=0)


def test_warmup_is_not_timed():
    state = {"first": True}

    def lazy():  # the first call "compiles" (slow), later calls are fast
        if state["first"]:
            state["first"] = False
            time.sleep(0.2)

    assert autotune.median_time(lazy, warmup=1, repeats=3) < 0.05


def test_autotune_picks_fastest_and_persists(tmp_path):
    calls = []
    cands = {
        "slow": _sleeper(0.02, calls, "slow"),
        "fast": _sleeper(0.0, calls, "fast"),
    }
    res = autotune.autotune("k", (8, 4, 2), "f32", cands, repeats=3, cache_dir=tmp_path)
    assert res.best == "fast" and not res.from_cache
    assert res.times_s["slow"] > res.times_s["fast"]
    doc = json.loads((tmp_path / "kernels" / autotune.TUNE_FILE).read_text())
    (key,) = doc
    assert "8x4x2" in key and "| k |" in key and key.endswith("f32")
    assert doc[key]["best"] == "fast"

    calls.clear()
    again = autotune.autotune("k", (8, 4, 2), "f32", cands, cache_dir=tmp_path)
    assert again.best == "fast" and again.from_cache and calls == []  # nothing timed

    other = autotune.autotune("k", (8, 4, 3), "f32", cands, repeats=1, cache_dir=tmp_path)
    assert not other.from_cache
    doc = json.loads((tmp_path / "kernels" / autotune.TUNE_FILE).read_text())
    assert len(doc) == 2


def test_stale_or_corrupt_tuning_file(tmp_path):
    path = tmp_path / "kernels" / autotune.TUNE_FILE
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    cands = {"a": lambda: None}
    assert autotune.autotune("k", (1,), "f", cands, repeats=1, cache_dir=tmp_path).best == "a"
    # a stored winner that is no longer a candidate is re-tuned
    res = autotune.autotune("k", (1,), "f", {"b": lambda: None}, repeats=1, cache_dir=tmp_path)
    assert res.best == "b" and not res.from_cache
    with pytest.raises(ValueError, match="empty"):
        autotune.autotune("k", (1,), "f", {}, cache_dir=tmp_path)


def test_custom_clock():
    ticks = iter(range(100))
    times = autotune.time_callable(lambda: None, repeats=3, clock=lambda: float(next(ticks)))
    assert times == [1.0, 1.0, 1.0]  # each timed call spans exactly one tick of the fake clock
