"""Benchmarks: one entry point for every suite.

    python bench/run.py [--suite NAME ...] [--quick] [--out FILE] [--baseline FILE]

Each suite prints a table and returns rows (name, params, median and spread over
repeats, unit); rows are appended as JSON lines to ``--out`` with the device and
versions. ``--baseline FILE`` compares each row's median with the same row of an
earlier output and flags rows more than 10% slower. Timings are medians over
repeats taken within one run; compare ratios, not absolute numbers, on shared machines.
"""

import argparse
import importlib
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

SUITES = {
    "aggregators": "bench.aggregators",
    "sharing": "bench.sharing",
    "roofline": "bench.roofline",
    "pipeline": "bench.pipeline",
    "serving": "bench.serving",
    "simulator": "bench.simulator",
    "trainer": "bench.trainer",
    "files_scale": "bench.files_scale",
    "affinity": "bench.affinity_cost",
}


def _key(r):
    return (r["suite"], r["name"], json.dumps(r["params"], sort_keys=True))


def compare(rows, baseline_path, threshold=0.10):
    """Prints the ratio of each row's median to the baseline's; returns the rows > threshold slower."""
    with open(baseline_path) as f:
        base = {_key(r): r for r in map(json.loads, filter(str.strip, f))}
    slower = []
    print(f"\ncompared with {baseline_path}:")
    for r in rows:
        b = base.get(_key(r))
        if b is None or not b.get("median"):
            continue
        ratio = r["median"] / b["median"]
        flag = "  SLOWER" if ratio > 1 + threshold else ""
        print(f"  {r['suite']:12s} {r['name']:24s} {json.dumps(r['params'], sort_keys=True):50s} {ratio:6.2f}x{flag}")
        if flag:
            slower.append(r)
    return slower


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suite", action="append", choices=sorted(SUITES), help="suite to run (repeatable; default: all)")
    p.add_argument("--quick", action="store_true", help="fewer steps and repeats (a smoke run)")
    p.add_argument("--out", help="append the rows as JSON lines to this file")
    p.add_argument("--baseline", help="JSON-lines file of an earlier run to compare with")
    args = p.parse_args(argv)
    if args.baseline and not os.path.isfile(args.baseline):
        print(f"error: baseline file {args.baseline} does not exist", file=sys.stderr)
        return 2
    from bench.common import device, versions

    facts = {"device": device(), "versions": versions(), "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
    all_rows = []
    for name in args.suite or sorted(SUITES):
        try:
            module = importlib.import_module(SUITES[name])
        except ModuleNotFoundError as e:
            print(f"suite {name}: not available ({e})", file=sys.stderr)
            continue
        print(f"\n== suite {name} ({facts['device']}) ==")
        rows = module.run(quick=args.quick)
        for r in rows:
            r.setdefault("suite", name)
            r.update(facts)
        all_rows += rows
    if args.out:
        with open(args.out, "a") as f:
            for r in all_rows:
                f.write(json.dumps(r, sort_keys=True) + "\n")
    if args.baseline:
        compare(all_rows, args.baseline)
    return 0


if __name__ == "__main__":
    sys.exit(main())
