#!/usr/bin/env python3
"""Start ``switchyard serve`` routed to the benchmark's fake provider (a target for run.py).

Why a wrapper: run.py substitutes {port} and {upstream} into a command line, while
Switchyard reads its providers from a config file; this writes that file into a fresh
state folder and then replaces itself with the server, so run.py measures the server's
own process.

  python benchmarks/run.py --path /v1/messages --body benchmarks/bodies/anthropic_claude_code.json \\
      --target ".venv/bin/python benchmarks/gateway_server.py --port {port} --upstream {upstream}"
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

CONFIG = """
[server]
host = "127.0.0.1"
port = {port}

[logging]
level = "WARNING"
access_log = false

[routing]
retries = 0

[[routing.providers]]
name = "fake"
api = "{api}"
base_url = "{upstream}{path}"
api_keys = ["bench-key"]
models = ["fake-model"]

[routing.router]
default = "fake,fake-model"
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="base URL of the fake provider")
    parser.add_argument("--api", choices=["openai", "anthropic"], default="openai",
                        help="which API the fake provider is called in (default openai: the translating path)")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="switchyard-bench-"))
    path = "/v1/chat/completions" if args.api == "openai" else "/v1/messages"
    config = home / "switchyard.toml"
    config.write_text(CONFIG.format(port=args.port, upstream=args.upstream, api=args.api, path=path))
    os.environ["SWITCHYARD_HOME"] = str(home / "state")
    switchyard = Path(sys.executable).with_name("switchyard")
    os.execv(str(switchyard), [str(switchyard), "serve", "--config", str(config)])


if __name__ == "__main__":
    main()
