"""Iterate on the QIGen GEMV kernels from DRAM: each kernel and the read-bandwidth probe in its
own process on the fair harness (:mod:`mlroundup.benchmarks.harness`), passes interleaved, so
every fraction compares a kernel with the probe measured in the same rounds.

Usage::

    .venv/bin/python scripts/qigen_gemv_dram.py --shape 4096x4096 \\
        --spec gemv:1:2:avx512vnni --spec gemv_i8:2:2:avx512vnni --repeats 7

A ``--spec`` is ``kind:nv:nacc:isa[:prefetch]`` (4-bit, group 128, float32 scales; prefetch
``none`` or ``4096l2+1024l3``: bytes ahead and locality per software prefetch); ``--tuned KIND`` adds
the autotuner's choice for KIND. Prints per kernel: the median ms per product, GB/s of weights,
and the fraction of the probe's median GB/s; also the median of the per-round fractions.

Compare variants in both orders (``--spec A --spec B``, then ``--spec B --spec A``): on the
shared 2-core Xeon this was written on, of identical kernels in one case the one whose process
was started first measured 3-7% slower, whatever order the rounds ran in.
"""

from __future__ import annotations

import argparse
import os
import statistics

from mlroundup.benchmarks.harness import Case, System, measure


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0].replace(":mod:", ""),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    ap.add_argument("--shape", default="4096x4096", help="NxK")
    ap.add_argument(
        "--spec",
        action="append",
        default=[],
        help="kind:nv:nacc:isa[:prefetch], prefetch 'none' or e.g. '4096l2+1024l3'",
    )
    ap.add_argument("--tuned", action="append", default=[], help="gemv or gemv_i8")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--cache", action="store_true", help="weights in cache, not DRAM")
    args = ap.parse_args()
    n, k = (int(v) for v in args.shape.split("x"))
    where = "cache" if args.cache else "dram"
    systems = [System("read", "mlroundup.benchmarks.common:read_probe", {"where": where})]
    base = {"n": n, "k": k, "dram": not args.cache}
    for kind in args.tuned:
        systems.append(System(f"tuned {kind}", "mlroundup.qigen.bench:gemv_setup",
                              {**base, "kind": kind}, ours=True))  # fmt: skip
    for text in args.spec:
        kind, nv, nacc, isa, *pf = text.split(":")
        spec = {"kind": kind, "bits": 4, "group_size": 128, "nv": int(nv), "nacc": int(nacc),
                "isa": isa}  # fmt: skip
        if pf:  # "none" or e.g. "4096l2+512l3": (bytes ahead, locality) pairs
            spec["prefetch"] = tuple(
                tuple(int(v) for v in p.split("l")) for p in pf[0].split("+") if p != "none"
            )
        systems.append(System(text, "mlroundup.qigen.bench:gemv_setup",
                              {**base, "kind": kind, "spec": spec}, ours=True))  # fmt: skip
    print(f"load before: {os.getloadavg()}")
    res = measure(Case(f"{args.shape} ({where})", systems, threads=args.threads,
                       repeats=args.repeats))  # fmt: skip
    print(f"load after: {os.getloadavg()}")
    probe = res["read"]
    if not probe.ok:
        raise SystemExit(f"probe failed: {probe.status} {probe.reason}")
    nread = probe.info["read_bytes"]
    bw = nread / probe.median / 1e9
    print(f"read probe: {bw:.1f} GB/s (passes {[round(nread / t / 1e9, 1) for t in probe.wall_s]})")
    for s in systems[1:]:
        r = res[s.name]
        if not r.ok:
            print(f"{s.name}: {r.status} {r.reason[-800:]}")
            continue
        wb = r.info["weight_bytes"]
        per_round = [wb / t / (nread / p) for t, p in zip(r.wall_s, probe.wall_s, strict=False)]
        print(f"{s.name:28s} {r.info['kernel']:48s} {1e3 * r.median:7.3f} ms "
              f"{wb / r.median / 1e9:5.1f} GB/s  fraction {wb / r.median / 1e9 / bw:.3f} "
              f"(per round median {statistics.median(per_round):.3f}, "
              f"min {min(per_round):.3f} max {max(per_round):.3f})")  # fmt: skip


if __name__ == "__main__":
    main()
