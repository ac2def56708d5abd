"""bench/run.py --baseline: per-row ratios, rows more than 10% slower flagged."""

import json

from bench.run import compare


def _row(name, median, k=4):
    return {"suite": "aggregators", "name": name, "params": {"k": k}, "median": median}


def test_compare_flags_rows_more_than_ten_percent_slower(tmp_path, capsys):
    base = tmp_path / "base.jsonl"
    base.write_text("\n".join(json.dumps(r) for r in [_row("sum", 1.0), _row("pcgrad", 2.0), _row("mgda", 3.0)]) + "\n")
    now = [_row("sum", 1.05), _row("pcgrad", 2.4), _row("mgda", 2.0), _row("cagrad", 9.0)]
    slower = compare(now, str(base))
    assert [r["name"] for r in slower] == ["pcgrad"]  # 1.20x; sum at 1.05x is within 10%
    out = capsys.readouterr().out
    assert "1.20x  SLOWER" in out and "0.67x" in out and "cagrad" not in out  # no baseline row: skipped
