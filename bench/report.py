#!/usr/bin/env python3
"""Markdown tables from the JSON lines that ``bench/run.py --json FILE`` writes.

    python3 bench/report.py results.jsonl [more.jsonl ...]
"""

from __future__ import annotations

import json
import sys

COLUMNS = ("backend", "attempts", "learners", "exams", "scenario", "req/s", "p50 ms", "p99 ms", "errors",
           "peak RSS MiB", "SQL/req", "server CPU ms/req", "DB CPU ms/req", "others (% of a core)")


def row(r: dict) -> list[str]:
    cpu = r["cpu_ms_per_request"]
    rps = f"{r['rps']:,.0f}"
    if "flows_per_s" in r:
        rps += f" ({r['flows_per_s']:,.0f} flows/s)"
    return [r["backend"], f"{r['attempts']:,}", f"{r['learners']:,}", f"{r['exams']:,}", r["scenario"], rps,
            f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}", str(r["errors"]), f"{r['peak_rss_mib']:.0f}",
            "" if r.get("statements") is None else str(r["statements"]), f"{cpu['server']:.2f}",
            f"{cpu.get('postgresql', 0):.2f}" if r["backend"] == "postgresql" else "(in server)",
            f"{r['other_cpu_pct']:.0f}"]


def main(paths: list[str]) -> int:
    if not paths:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    for path in paths:
        with open(path) as fh:
            for line in fh:
                if line.strip():
                    print("| " + " | ".join(row(json.loads(line))) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
