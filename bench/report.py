#!/usr/bin/env python3
"""Markdown tables from the JSON lines that ``bench/run.py --json FILE`` writes: the service/floor ratios,
then every measurement.

    python3 bench/report.py results.jsonl [more.jsonl ...]
"""

from __future__ import annotations

import json
import sys

COLUMNS = ("backend", "attempts", "learners", "exams", "scenario", "req/s", "p50 ms", "p99 ms", "errors",
           "peak RSS MiB", "SQL/req", "server CPU ms/req", "DB CPU ms/req", "others (% of a core)", "load avg")
RATIO_COLUMNS = ("backend", "attempts", "scenario", "req/s service / floor", "ratio", "server CPU ms/req service / floor",
                 "ratio", "DB CPU ms/req", "p99 ms service (floor)", "errors", "load avg")


def row(r: dict) -> list[str]:
    cpu = r["cpu_ms_per_request"]
    rps = f"{r['rps']:,.0f}"
    if "flows_per_s" in r:
        rps += f" ({r['flows_per_s']:,.0f} flows/s)"
    return [r["backend"], f"{r['attempts']:,}", f"{r['learners']:,}", f"{r['exams']:,}", r["scenario"], rps,
            f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}", str(r["errors"]), f"{r['peak_rss_mib']:.0f}",
            "" if r.get("statements") is None else str(r["statements"]), f"{cpu['server']:.2f}",
            f"{cpu.get('postgresql', 0):.2f}" if r["backend"] == "postgresql" else "-",
            f"{r['other_cpu_pct']:.0f}", f"{r.get('load_average', 0):.1f}"]


def ratio_row(r: dict) -> list[str]:
    return [r["backend"], f"{r['attempts']:,}", r["scenario"], f"{r['service_rps']:,.0f} / {r['floor_rps']:,.0f}",
            f"**{r['rps_ratio']:.2f}x**", f"{r['service_cpu_ms']:.3f} / {r['floor_cpu_ms']:.3f}",
            f"**{r['cpu_ratio']:.2f}x**", f"{r['service_db_cpu_ms']:.3f}" if r["backend"] == "postgresql" else "-",
            f"{r['service_p99_ms']:.1f} ({r['floor_p99_ms']:.1f})", str(r["errors"]), f"{r['load_average']:.1f}"]


def table(columns, rows) -> None:
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for r in rows:
        print("| " + " | ".join(r) + " |")


def main(paths: list[str]) -> int:
    if not paths:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    records = [json.loads(line) for path in paths for line in open(path) if line.strip()]
    ratios = [r for r in records if r.get("kind") == "ratio"]
    if ratios:
        table(RATIO_COLUMNS, [ratio_row(r) for r in ratios])
        print()
    table(COLUMNS, [row(r) for r in records if r.get("kind") != "ratio"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
