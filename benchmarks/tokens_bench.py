#!/usr/bin/env python3
"""How fast the offline token estimator is (plugins/routing/TOKENS.md, "Speed").

Process CPU time, best of N runs, over the test corpus in tests/plugins/routing/token_corpus.
Run it after touching plugins/routing/tokens.py: the estimator is on the request path whenever
long-context routing is on. It replaced a per-word loop at ~200 µs/KB; today ~18-19 µs/KB.

    .venv/bin/python benchmarks/tokens_bench.py [--runs 40]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from plugins.routing.tokens import count_request_tokens, count_text_tokens

CORPUS = REPO / "tests" / "plugins" / "routing" / "token_corpus"
REQUEST = "claude_code_request.json"


def best(fn: object, arg: object, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.process_time()
        fn(arg)  # type: ignore[operator]
        times.append(time.process_time() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    texts = {p.name: p.read_text() for p in sorted(CORPUS.iterdir()) if p.name != REQUEST}
    whole = "\n".join(texts.values())
    kilobytes = len(whole.encode()) / 1024
    print(f"whole corpus, {kilobytes:.0f} KB: {best(count_text_tokens, whole, args.runs) / kilobytes * 1e6:.1f} µs/KB")
    request_path = CORPUS / REQUEST
    if request_path.exists():
        body = json.loads(request_path.read_text())
        size = len(request_path.read_bytes()) / 1024
        print(f"count_request_tokens, {size:.0f} KB request: {best(count_request_tokens, body, args.runs) * 1e3:.2f} ms")
    print(f"one short string: {best(count_text_tokens, 'hello', args.runs * 50) * 1e6:.1f} µs/call")


if __name__ == "__main__":
    main()
