"""Running ``switchyard`` in-process for the CLI tests: exit code, stdout, stderr."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from core.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str, stdin: str = "") -> tuple[int, str, str]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sys.stdin", io.StringIO(stdin))
        try:
            main(list(argv))
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def ok(capsys: pytest.CaptureFixture[str], *argv: str, stdin: str = "") -> str:
    code, out, err = run(capsys, *argv, stdin=stdin)
    assert code == 0, err
    return out


def fails(capsys: pytest.CaptureFixture[str], *argv: str, stdin: str = "") -> str:
    """The one error line (without the 'switchyard: error: ' prefix)."""
    code, out, err = run(capsys, *argv, stdin=stdin)
    assert code == 2, (code, out, err)
    lines = [line for line in err.splitlines() if line.startswith("switchyard: error: ")]
    assert len(lines) == 1, err
    return lines[0].removeprefix("switchyard: error: ")


def listed(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return json.loads(ok(capsys, "plugin", "list", "--json"))
