"""Support for the index, publish and client tests: real packages (the pii-redactor example's
wasm, built from source), real Sigstore bundles (the offline test root), the app served over
real HTTP (uvicorn in a thread) and a static file host for hand-made indexes."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from core import migrate
from core.app import app_from_registry, build_registry
from core.settings import Settings, load_settings
from sandbox.package import pack
from tests.identity_plugin import ADMIN, WORKSPACE, identity_plugin
from tests.marketplace.sigstore_testing import GITHUB_ISSUER, default_root
from tests.sandbox.wasm_build import example

PUBLISHER = "https://github.com/example/pii-redactor/.github/workflows/release.yml@refs/heads/main"
OTHER = "https://github.com/mallory/fork/.github/workflows/release.yml@refs/heads/main"
VIEWER = "vic@example.com"
PUBLISHER_USER = "pat@example.com"
API = {"x-api-key": "test"}  # CSRF-exempt like a real key; the test identity plugin says who


def package(
    root: Path, version: str = "0.1.0", *, edit: Any = None, name: str = "pii-redactor"
) -> Path:
    """``pii-redactor-VERSION.syp`` from the example's real wasm; ``edit(text)`` changes the manifest."""
    manifest, wasm = example("pii-redactor")
    text = re.sub(r'(?m)^version = "[^"]*"', f'version = "{version}"', manifest.read_text())
    if edit is not None:
        text = edit(text)
    folder = root / f"src-{name}-{version}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "plugin.toml").write_text(text)
    (folder / "plugin.wasm").write_bytes(wasm.read_bytes())
    return pack(folder, root / "dist" / version)


def sign(path: Path, identity: str = PUBLISHER, issuer: str = GITHUB_ISSUER) -> Path:
    return default_root().sign(path, identity, issuer)


def settings_for(home: Path, db_url: str | None = None, extra: str = "") -> Settings:
    root = default_root()
    toml = f'[marketplace.trust]\ntrusted_root = "{root.trusted_root_path}"\n'
    if db_url:
        toml = f'[database]\nurl = "{db_url}"\n' + toml
    path = home.parent / "switchyard.toml"
    home.mkdir(parents=True, exist_ok=True)
    path.write_text(extra + "\n" + toml if extra else toml)
    return load_settings(path, env={}, home=str(home))


def build_app(settings: Settings, grants: Any = ()) -> Any:
    import marketplace
    import plugins.routing
    import sandbox

    registry = build_registry(
        settings,
        plugins=[
            ("routing", plugins.routing.includeme),
            ("sandbox", sandbox.includeme),
            ("marketplace", marketplace.includeme),
            identity_plugin(ADMIN, [(ADMIN, "admin", WORKSPACE), *grants]),
        ],
    )
    migrate.upgrade(settings.database_url, [migrate.kernel_source(), *registry.migration_sources])
    return app_from_registry(registry)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served(app: Any) -> Iterator[str]:
    """The app on a real port (uvicorn in a thread); yields its base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def static_host(folder: Path) -> Iterator[str]:
    """A plain static file host serving ``folder`` (what a marketplace on a CDN looks like)."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def static_index(
    folder: Path,
    entries: list[tuple[Path, Path | None]],
    *,
    publisher: tuple[str, str] = (PUBLISHER, GITHUB_ISSUER),
    sha256: str | None = None,
    size: int | None = None,
) -> Path:
    """Write ``folder/index.json`` listing the given (package, bundle or None) files, copied in."""
    from sandbox.package import open_package

    versions: dict[str, list[dict[str, Any]]] = {}
    for syp, bundle in entries:
        data = syp.read_bytes()
        try:
            found = open_package(syp)
            name, version = found.manifest.name, found.manifest.version
        except Exception:  # noqa: BLE001 - hostile packages are listed by their file name
            name, version = syp.name[: -len(".syp")].rsplit("-", 1)
        target = folder / "packages" / name / version
        target.mkdir(parents=True, exist_ok=True)
        (target / syp.name).write_bytes(data)
        entry = {
            "version": version,
            "sha256": sha256 or hashlib.sha256(data).hexdigest(),
            "size": size if size is not None else len(data),
            "download_url": f"packages/{name}/{version}/{syp.name}",
            "bundle_url": None,
        }
        if bundle is not None:
            (target / f"{syp.name}.sigstore.json").write_bytes(bundle.read_bytes())
            entry["bundle_url"] = f"packages/{name}/{version}/{syp.name}.sigstore.json"
        versions.setdefault(name, []).append(entry)
    document = {
        "schema": 1,
        "name": "static",
        "plugins": [
            {
                "name": name,
                "summary": "static",
                "category": "security",
                "publisher": {"identity": publisher[0], "issuer": publisher[1]},
                "versions": found,
            }
            for name, found in versions.items()
        ],
    }
    path = folder / "index.json"
    path.write_text(json.dumps(document))
    return path
