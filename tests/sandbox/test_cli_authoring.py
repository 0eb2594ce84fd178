"""``switchyard plugin new|build|test|pack`` in sequence with the real compiler and sandbox,
then the package installs. One zig run fills its cache (~20 s the first time on a machine);
later builds in the same test are quick."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.sandbox.cli_support import fails, listed, ok, run

pytest.importorskip("ziglang")
pytestmark = pytest.mark.usefixtures("sandbox_entry_point", "fast_discovery")


def test_a_new_plugin_builds_passes_its_test_packs_and_installs(
    capsys: Any, tmp_path: Path
) -> None:
    out = ok(capsys, "plugin", "new", "word-guard", "--dir", str(tmp_path))
    folder = tmp_path / "word-guard"
    assert f"created {folder}" in out
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) == [
        ".gitignore",
        "README.md",
        "plugin.toml",
        "src/plugin.c",
        "tests/cases.json",
    ]
    assert fails(capsys, "plugin", "new", "word-guard", "--dir", str(tmp_path)) == (
        f"{folder} already exists and is not empty; choose another name or --dir"
    )
    assert fails(capsys, "plugin", "new", "Word_Guard", "--dir", str(tmp_path)).startswith(
        "NAME: 'Word_Guard' must be 2-40 characters of a-z, 0-9 and '-'"
    )
    assert fails(capsys, "plugin", "test", str(folder)) == (
        f"{folder / 'plugin.wasm'}: missing; build it first with `switchyard plugin build {folder}`"
    )

    assert re.fullmatch(
        rf"built {re.escape(str(folder))}/plugin.wasm \(\d+ bytes\)\n",
        ok(capsys, "plugin", "build", str(folder)),
    )
    wasm = (folder / "plugin.wasm").read_bytes()
    assert wasm.startswith(b"\0asm")

    report = ok(capsys, "plugin", "test", str(folder))
    assert "ok   a prompt with the blocked word is refused (on_request," in report
    assert report.endswith("3 passed, 0 failed\n")
    results = json.loads(ok(capsys, "plugin", "test", str(folder), "--json"))
    assert [r["answer"] for r in results][:2] == [
        {},
        {
            "reject": {
                "message": "this request mentions a word this gateway does not accept",
                "status": 400,
            }
        },
    ]

    # A wrong expectation fails the run and says what came back.
    cases_path = folder / "tests" / "cases.json"
    cases = json.loads(cases_path.read_text())
    cases["cases"][0]["expect"] = {"reject": {"message": "nope", "status": 400}}
    cases_path.write_text(json.dumps(cases))
    code, out, err = run(capsys, "plugin", "test", str(folder))
    assert code == 2 and err.strip() == "switchyard: error: 1 of 3 cases failed"
    assert "FAIL an ordinary prompt passes unchanged" in out
    assert 'expected {"reject":{"message":"nope","status":400}}, got {}' in out

    # A compile error is one line, and the last good plugin.wasm stays.
    source = folder / "src" / "plugin.c"
    good_source = source.read_text()
    source.write_text(
        good_source.replace("return sy_none(); /* nothing", "return sy_nothing(); /* nothing")
    )
    error = fails(capsys, "plugin", "build", str(folder))
    assert "plugin.c" in error and "error:" in error and "sy_nothing" in error
    assert (folder / "plugin.wasm").read_bytes() == wasm
    source.write_text(good_source)

    # A hook in the manifest that the module does not export is caught at build time.
    manifest = folder / "plugin.toml"
    good_manifest = manifest.read_text()
    manifest.write_text(
        good_manifest.replace('hooks = ["on_request"]', 'hooks = ["on_request", "route"]')
    )
    assert fails(capsys, "plugin", "build", str(folder)) == (
        f"{folder / 'plugin.wasm'}: plugin.toml lists route but the module exports no sy_route; "
        "write SY_HOOK(route) or remove it from hooks"
    )
    manifest.write_text(good_manifest)

    dist = tmp_path / "dist"
    packed = ok(capsys, "plugin", "pack", str(folder), "--out", str(dist))
    syp = dist / "word-guard-0.1.0.syp"
    digest = hashlib.sha256(syp.read_bytes()).hexdigest()
    assert packed == f"packed {syp}\nsha256 {digest}\n"
    again = json.loads(ok(capsys, "plugin", "pack", str(folder), "--out", str(dist), "--json"))
    assert again["sha256"] == digest  # same sources, same bytes

    ok(capsys, "db", "upgrade")
    assert "installed word-guard 0.1.0 (unsigned)" in ok(
        capsys, "plugin", "install", str(syp), "--allow-unsigned", "--yes"
    )
    [row] = listed(capsys)
    assert (row["name"], row["granted"], row["enabled"]) == ("word-guard", ["config", "log"], True)
