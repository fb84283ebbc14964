"""The read-bandwidth probe's pass (oracle: the sum of an array of ones is its length) and the
probe as a harness side (bytes per call from the array it reads)."""

import pytest

from mlroundup.kernels.bandwidth import read_pass


def test_read_pass_sums_the_whole_array_it_reports():
    call, nread = read_pass(4096 + 100, threads=2)  # rounded down to whole 32-float blocks
    assert nread == 4096
    assert call() == pytest.approx(4096 / 4)  # 1024 ones
    with pytest.raises(ValueError, match="nbytes"):
        read_pass(64, threads=1)
    with pytest.raises(ValueError, match="threads"):
        read_pass(4096, threads=0)


def test_read_probe_workload(monkeypatch):
    from mlroundup.benchmarks import common
    from mlroundup.kernels import bandwidth

    monkeypatch.setattr(bandwidth, "last_level_cache_bytes", lambda: 1 << 16)
    work = common.read_probe(threads=1, where="dram")
    assert work.info == {"read_bytes": 8 << 16, "llc_bytes": 1 << 16}
    assert work.step() == pytest.approx((8 << 16) / 4)
    assert common.read_probe(threads=1, where="cache").info["read_bytes"] == (1 << 16) // 8
    with pytest.raises(ValueError, match="where"):
        common.read_probe(threads=1, where="l2")
    three = common.read_probe(threads=1, where="dram", passes=3)  # one call: three passes
    assert three.units == 3 and three.info["read_bytes"] == 8 << 16
    assert three.step() == pytest.approx(3 * (8 << 16) / 4)
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="passes"):
            common.read_probe(threads=1, passes=bad)
