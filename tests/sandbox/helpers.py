"""Helpers for the sandbox tests: plugin folders and packages built without a compiler."""

from __future__ import annotations

from pathlib import Path

from sandbox.package import pack

# The smallest valid core module (magic + version 1, no sections): enough for packaging and
# store tests, which never run the plugin.
EMPTY_WASM = b"\0asm\x01\x00\x00\x00"


def manifest_text(
    name: str = "pii-redactor",
    version: str = "0.1.0",
    capabilities: tuple[str, ...] = ("log",),
    hosts: tuple[str, ...] = ("hooks.example.com",),
    config: str = 'mask = "[redacted]"\n',
) -> str:
    text = (
        f'name = "{name}"\nversion = "{version}"\n'
        'summary = "Masks emails, phone and card numbers in prompts"\n'
        'license = "Apache-2.0"\ncategory = "security"\nabi = 1\nmin_host_version = "0.1.0"\n'
        f'hooks = ["on_request"]\ncapabilities = {list(capabilities)!r}\n'.replace("'", '"')
        + "[limits]\nmemory_mb = 16\ntimeout_ms = 50\n"
    )
    if "http" in capabilities:
        text += f"[http]\nallowed_hosts = {list(hosts)!r}\n".replace("'", '"')
    return text + "[config]\n" + config


def plugin_folder(
    root: Path, wasm: bytes = EMPTY_WASM, readme: str | None = "# PII\n", **kwargs: object
) -> Path:
    folder = root / f"src-{kwargs.get('name', 'pii-redactor')}-{kwargs.get('version', '0.1.0')}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "plugin.toml").write_text(manifest_text(**kwargs))  # type: ignore[arg-type]
    (folder / "plugin.wasm").write_bytes(wasm)
    if readme is not None:
        (folder / "README.md").write_text(readme)
    return folder


def make_package(root: Path, **kwargs: object) -> Path:
    out = root / "dist"
    return pack(plugin_folder(root, **kwargs), out)
