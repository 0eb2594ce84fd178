"""Build the example and hostile plugins from source once, cached by a hash of their sources."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from sandbox.sdk.build import FLAGS, SDK_DIR, build_c

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
CACHE = Path(
    os.environ.get(
        "SWITCHYARD_TEST_WASM_CACHE", Path(tempfile.gettempdir()) / "switchyard-test-wasm"
    )
)


def source_hash(plugin_dir: Path) -> str:
    digest = hashlib.sha256(" ".join(FLAGS).encode())
    for path in sorted(
        [*plugin_dir.rglob("*.c"), *plugin_dir.rglob("*.h"), *SDK_DIR.glob("*.[ch]")]
    ):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:20]


def built(plugin_dir: Path) -> Path:
    """The plugin's wasm, compiled now only if its sources (or the SDK) changed."""
    out = CACHE / f"{plugin_dir.name}-{source_hash(plugin_dir)}.wasm"
    if not out.exists():
        tmp = out.with_suffix(f".{os.getpid()}.tmp")
        build_c(plugin_dir, tmp)
        os.replace(tmp, out)
    return out


def example(name: str) -> tuple[Path, Path]:
    """(plugin.toml, built wasm) of ``examples/<name>`` (``hostile/trap`` for a hostile one)."""
    folder = EXAMPLES / name
    return folder / "plugin.toml", built(folder)


def build_source(
    name: str, source: str, manifest: str, root: Path | None = None
) -> tuple[Path, Path]:
    """A plugin written inline in a test: its folder under the cache, built once per source."""
    folder = (root or CACHE / "inline") / name
    (folder / "src").mkdir(parents=True, exist_ok=True)
    (folder / "src" / f"{name}.c").write_text(source)
    (folder / "plugin.toml").write_text(manifest)
    return folder / "plugin.toml", built(folder)


def manifest(
    name: str, hooks: str = '["on_request"]', capabilities: str = "[]", extra: str = ""
) -> str:
    return (
        f'name = "{name}"\nversion = "0.1.0"\nsummary = "test plugin {name}"\n'
        'license = "Apache-2.0"\ncategory = "other"\nabi = 1\nmin_host_version = "0.1.0"\n'
        f"hooks = {hooks}\ncapabilities = {capabilities}\n{extra}"
    )
