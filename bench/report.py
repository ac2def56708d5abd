"""Markdown tables from benchmark JSON lines (the ``--out`` files of ``bench/run.py``).

python bench/report.py docs/bench/aggregators_cpu.jsonl [--suite aggregators]
"""

import argparse
import json
import sys


def aggregators_table(rows):
    """per_task_grads x k x aggregator: ms/step, spread, ratio to sum."""
    lines = ["| per-task grads | k | aggregator | ms/step (median) | spread | × sum |", "|---|---:|---|---:|---:|---:|"]
    for r in sorted(
        rows, key=lambda r: (r["params"]["per_task_grads"], r["params"]["k"], r["name"] != "sum", r["name"])
    ):
        p = r["params"]
        lines.append(
            f"| {p['per_task_grads']} | {p['k']} | {r['name']} | {1e3 * r['median']:.2f} | {100 * r['spread']:.0f}% | {r['ratio_to_sum']:.2f} |"
        )
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file")
    p.add_argument("--suite", default="aggregators")
    args = p.parse_args(argv)
    with open(args.file) as f:
        rows = [r for r in map(json.loads, filter(str.strip, f)) if r.get("suite") == args.suite]
    if not rows:
        print(f"error: no rows of suite {args.suite!r} in {args.file}", file=sys.stderr)
        return 2
    latest = max(r["time"] for r in rows)
    rows = [r for r in rows if r["time"] == latest]
    print(f"{rows[0]['device']}; {rows[0]['versions']}; run at {latest}\n")
    print({"aggregators": aggregators_table}[args.suite](rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
