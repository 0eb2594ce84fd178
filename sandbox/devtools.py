"""``plugin build`` and ``plugin test``: compile a plugin folder and run it in the real sandbox.

``build`` checks the manifest before the (slow) compiler runs and the result after: a
module that does not export a hook its manifest lists would only fail later, at install
or on live traffic. ``test`` loads the module into a :class:`~sandbox.host.SandboxHost`
with the manifest's own limits and every capability it asks for, feeds it the sample
inputs in ``tests/cases.json`` and compares each answer with the one expected.

``tests/cases.json``::

    {"cases": [{"name": "...", "hook": "on_request",
                "input": {"request": {"body": {...}}},   # the hook's payload (ABI.md)
                "config": {...},                         # optional: settings for this case
                "expect": {...}}]}                       # the answer; or "expect_fault": true

A ``request`` is completed with the fields a live request carries (client_api, path,
model from the body, ...), so cases only spell out what matters to them.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from sandbox.manifest import HOOKS, Manifest, ManifestError, load_manifest
from sandbox.package import MANIFEST, WASM, PackageError, check_wasm

__all__ = ["CASES", "CaseResult", "DevError", "build", "run_cases"]

CASES = "tests/cases.json"


class DevError(Exception):
    """Building or testing a plugin folder failed; the message says what to fix."""


class Case(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: str
    hook: str
    input: dict[str, Any] = {}
    config: dict[str, Any] | None = None
    expect: dict[str, Any] | None = None
    expect_fault: bool = False


class Cases(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    cases: list[Case]


@dataclass(frozen=True)
class CaseResult:
    name: str
    hook: str
    passed: bool
    problem: str | None
    answer: dict[str, Any] | None
    elapsed_ms: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "hook": self.hook,
            "passed": self.passed,
            "problem": self.problem,
            "answer": self.answer,
            "elapsed_ms": round(self.elapsed_ms, 3),
        }


def build(folder: Path) -> Path:
    """Compile ``folder/src/*.c`` into ``folder/plugin.wasm``; returns its path."""
    from sandbox.sdk.build import BuildError, build_c

    manifest = _manifest(folder)
    out = folder / WASM
    fd, tmp_name = tempfile.mkstemp(prefix=".plugin.", suffix=".wasm", dir=folder)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        build_c(folder, tmp)  # a failed build leaves the previous plugin.wasm in place
        wasm = tmp.read_bytes()
        check_wasm(wasm, str(out))
        _check_exports(wasm, manifest, out)
        os.replace(tmp, out)
    except BuildError as exc:
        raise DevError(_one_line(str(exc))) from None
    except PackageError as exc:
        raise DevError(str(exc)) from None
    finally:
        tmp.unlink(missing_ok=True)
    return out


def run_cases(folder: Path) -> list[CaseResult]:
    """Run every case of ``folder/tests/cases.json`` against ``folder/plugin.wasm``."""
    manifest = _manifest(folder)
    wasm_path = folder / WASM
    if not wasm_path.is_file():
        raise DevError(
            f"{wasm_path}: missing; build it first with `switchyard plugin build {folder}`"
        )
    cases = _cases(folder, manifest)
    return asyncio.run(_run(manifest, wasm_path.read_bytes(), cases))


async def _run(manifest: Manifest, wasm: bytes, cases: list[Case]) -> list[CaseResult]:
    from sandbox.capabilities import LoadError, MemoryKv
    from sandbox.faults import PluginFault
    from sandbox.host import SandboxHost, SandboxSettings

    # Every limit as the manifest asks (up to the defaults' maxima); faults never disable here.
    host = SandboxHost(SandboxSettings(fault_threshold=1_000_000), kv=MemoryKv())
    await host.start()
    results: list[CaseResult] = []
    loaded_config: object = ...
    try:
        for index, case in enumerate(cases):
            if case.config != loaded_config:  # settings reach the guest at load
                try:
                    host.load(manifest=manifest, wasm=wasm, settings=case.config or {})
                except (LoadError, ValueError) as exc:
                    raise DevError(f"{WASM}: the sandbox refuses to load it: {exc}") from None
                loaded_config = case.config
            payload = _complete(case, index)
            started = time.perf_counter()
            answer: dict[str, Any] | None = None
            problem: str | None = None
            try:
                answer = await host.call(manifest.name, case.hook, payload)
            except PluginFault as fault:
                if not case.expect_fault:
                    problem = f"fault ({fault.kind}): {fault.message}"
            else:
                if case.expect_fault:
                    problem = f"expected a fault, got {_json(answer)}"
                elif answer != case.expect:
                    problem = f"expected {_json(case.expect)}, got {_json(answer)}"
            elapsed = (time.perf_counter() - started) * 1000
            results.append(
                CaseResult(case.name, case.hook, problem is None, problem, answer, elapsed)
            )
    finally:
        await host.close()
    return results


def _complete(case: Case, index: int) -> dict[str, Any]:
    """The case's payload with a request filled in as a live one would be (abi.request_view)."""
    payload = dict(case.input)
    request = payload.get("request")
    if isinstance(request, dict):
        body = request.get("body") if isinstance(request.get("body"), dict) else {}
        defaults = {
            "client_api": "anthropic",
            "path": "/v1/messages",
            "request_id": f"case-{index + 1}",
            "model": body.get("model"),
            "stream": bool(body.get("stream", False)),
            "token_estimate": 0,
            "session_id": None,
            "user": None,
            "workspace": "default",
            "key_id": None,
            "body": body,
        }
        payload["request"] = {**defaults, **request}
    return payload


def _cases(folder: Path, manifest: Manifest) -> list[Case]:
    path = folder / CASES
    try:
        parsed = msgspec.json.decode(path.read_bytes(), type=Cases)
    except FileNotFoundError:
        raise DevError(f"{path}: missing; write sample inputs and expected answers there") from None
    except msgspec.ValidationError as exc:
        raise DevError(f"{path}: {exc}") from None
    except msgspec.DecodeError as exc:
        raise DevError(f"{path}: not valid JSON ({exc})") from None
    if not parsed.cases:
        raise DevError(f"{path}: no cases; add at least one")
    for i, case in enumerate(parsed.cases):
        where = f"{path}: cases[{i}]"
        if case.hook not in HOOKS:
            raise DevError(
                f"{where}.hook: unknown hook {case.hook!r}; expected one of {', '.join(HOOKS)}"
            )
        if case.hook not in manifest.hooks:
            raise DevError(
                f"{where}.hook: {case.hook!r} is not among the manifest's hooks ({', '.join(manifest.hooks)})"
            )
        if (case.expect is None) == (not case.expect_fault):
            raise DevError(
                f'{where}: give exactly one of "expect" (the answer) or "expect_fault": true'
            )
    return parsed.cases


def _manifest(folder: Path) -> Manifest:
    if not folder.is_dir():
        raise DevError(f"{folder}: not a folder")
    path = folder / MANIFEST
    if not path.is_file():
        raise DevError(f"{path}: missing; create a plugin with `switchyard plugin new NAME`")
    try:
        return load_manifest(path)
    except ManifestError as exc:
        raise DevError(str(exc)) from None


def _check_exports(wasm: bytes, manifest: Manifest, where: Path) -> None:
    import wasmtime

    from sandbox.abi import HOOK_EXPORTS

    module = wasmtime.Module(wasmtime.Engine(), wasm)
    exported = {e.name for e in module.exports}
    missing = [h for h in manifest.hooks if HOOK_EXPORTS[h] not in exported]
    if missing:
        raise DevError(
            f"{where}: plugin.toml lists {', '.join(missing)} but the module exports no "
            f"{', '.join(HOOK_EXPORTS[h] for h in missing)}; write SY_HOOK({missing[0]}) or remove it from hooks"
        )


def _one_line(text: str) -> str:
    """A compiler's first error, with the rest summarised: the CLI prints one line."""
    lines = [line for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if "error:" in line]
    first = errors[0] if errors else (lines[0] if lines else "build failed")
    more = len(errors) - 1
    return f"{first.strip()}" + (f" (and {more} more errors)" if more > 0 else "")


def _json(value: Any) -> str:
    return msgspec.json.encode(value).decode()
