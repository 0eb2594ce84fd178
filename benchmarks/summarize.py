#!/usr/bin/env python3
"""Pool the runs of several run.py result files into one median table.

Why: on a shared machine one session of 3 runs can land in a burst of someone
else's load. Pooling sessions (same commands, different times) gives medians over
more runs and shows how often a bad tail or an error recurs, which a single median
hides. Rows are grouped by request path, target name and connection count.

  python benchmarks/summarize.py benchmarks/out/*server-choice*.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any


def pool(files: list[Path]) -> dict[tuple[str, str, int], list[dict[str, Any]]]:
    groups: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for f in files:
        doc = json.loads(f.read_text())
        path = doc["options"]["request"]["path"]
        for row in doc["results"]:
            key = (path, row["target"], row["connections"])
            groups.setdefault(key, []).extend(row["runs"])
    return groups


def table(groups: dict[tuple[str, str, int], list[dict[str, Any]]]) -> str:
    head = ["path", "target", "conns", "runs", "req/s", "p50 ms", "p99 ms", "p99.9 ms",
            "errors (runs with errors)", "CPU ms/req", "peak RSS MB", "other load on server core %"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (path, target, conns), runs in sorted(groups.items()):
        def med(key: str, runs: list[dict[str, Any]] = runs) -> float:
            return statistics.median(r[key] for r in runs)

        errors = sum(r["errors"] for r in runs)
        bad = sum(1 for r in runs if r["errors"])
        lines.append("| " + " | ".join([
            f"`{path}`", target, str(conns), str(len(runs)), f"{med('rps'):,.0f}",
            f"{med('p50_ms'):.2f}", f"{med('p99_ms'):.1f}", f"{med('p999_ms'):.1f}",
            f"{errors} ({bad})", f"{med('cpu_ms_per_req'):.3f}",
            f"{max(r['rss_hwm_mb'] for r in runs):.0f}", f"{med('server_core_other_pct'):.0f}",
        ]) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", type=Path, help="JSON files written by run.py")
    p.add_argument("--target", action="append", help="only these target names (repeatable)")
    args = p.parse_args(argv)
    groups = pool(args.files)
    if args.target:
        groups = {k: v for k, v in groups.items() if k[1] in args.target}
    print(table(groups))
    return 0


if __name__ == "__main__":
    sys.exit(main())
