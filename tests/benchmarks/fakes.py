"""A bench context that plants results instead of starting processes (bookkeeping tests).

:class:`PlantedContext` answers ``measure(case)`` with a :class:`CaseResult` whose per-pass
seconds, info, returned value and status come from a function the test writes, so the tables a
bench builds can be checked against values computed by hand from the planted ones.
"""

from mlroundup.benchmarks import BenchContext, BenchReport
from mlroundup.benchmarks.harness import CaseResult, SystemResult


class PlantedContext(BenchContext):
    """``plant(case, system) -> dict`` with optional keys ``wall``, ``cpu`` (lists of seconds),
    ``info``, ``result``, ``status``; every case measured is kept in :attr:`cases`."""

    def __init__(self, plant, scale="quick", threads=2, bandwidth=(None, None)):
        super().__init__(scale, threads, BenchReport("planted", "planted", scale, threads))
        self.plant = plant
        self.cases = []
        self.bandwidth = bandwidth

    def measure(self, case):
        self.cases.append(case)
        results = {}
        for s in case.systems:
            p = self.plant(case, s)
            wall = list(p.get("wall", []))
            results[s.name] = SystemResult(
                s.name, s.ours, p.get("status", "ok"), reason=p.get("reason", ""),
                wall_s=wall, cpu_s=list(p.get("cpu", wall)), info=dict(p.get("info", {})),
                result=p.get("result"),
            )  # fmt: skip
        res = CaseResult(case, results, [])
        self.report.measurements.append(res)
        self.report.notes += res.problems()
        return res

    def read_bandwidth(self, where="dram"):
        return self.bandwidth
