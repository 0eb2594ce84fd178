"""The Configurator: conflicts, overrides, include scoping, hook ordering, failing plugins."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar import get

from core.actions import ConfigurationConflictError, ConfigurationError
from core.app import build_registry
from core.configurator import Configurator
from core.discovery import PluginLoadError, PluginSpec
from core.settings import SettingsError

HERE = Path(__file__).resolve()


def line_of(marker: str) -> int:
    """The line in this file that carries ``marker`` in a comment."""
    for number, text in enumerate(HERE.read_text().splitlines(), start=1):
        if text.rstrip().endswith(f"# {marker}"):
            return number
    raise AssertionError(marker)


@get("/things", sync_to_thread=False)
def things_a() -> dict[str, str]:
    return {"from": "a"}


@get("/things", sync_to_thread=False)
def things_b() -> dict[str, str]:
    return {"from": "b"}


def plugin_a(config: Configurator) -> None:
    config.add_route(things_a)  # claim-a


def plugin_b(config: Configurator) -> None:
    config.add_route(things_b)  # claim-b


def test_two_plugins_claiming_one_route_name_both_origins(settings_for: Any) -> None:
    with pytest.raises(ConfigurationConflictError) as caught:
        build_registry(settings_for(), plugins=[("a", plugin_a), ("b", plugin_b)])
    message = str(caught.value)
    assert "('route', 'GET', '/things')" in message
    assert f"{HERE}:{line_of('claim-a')}" in message
    assert f"{HERE}:{line_of('claim-b')}" in message
    assert "plugin 'a'" in message and "plugin 'b'" in message


def test_includer_overrides_what_it_included(settings_for: Any, client_for: Any) -> None:
    def outer(config: Configurator) -> None:
        config.include(plugin_b)  # b's claim is nested under outer's
        config.add_route(things_a)

    client = client_for([("outer", outer)])
    assert client.get("/things").json() == {"from": "a"}


def test_same_plugin_claiming_twice_at_one_level_conflicts(settings_for: Any) -> None:
    def twice(config: Configurator) -> None:
        config.add_route(things_a)
        config.add_route(things_b)

    with pytest.raises(ConfigurationConflictError):
        build_registry(settings_for(), plugins=[("twice", twice)])


def test_view_and_route_on_the_same_path_conflict(settings_for: Any) -> None:
    @get("/ui/hello", sync_to_thread=False)
    def raw() -> str:
        return "raw"

    def one(config: Configurator) -> None:
        config.add_view("/hello", lambda request: {}, template="x.html")

    def two(config: Configurator) -> None:
        config.add_route(raw)

    with pytest.raises(ConfigurationConflictError, match="/ui/hello"):
        build_registry(settings_for(), plugins=[("one", one), ("two", two)])


class GreeterSettings(msgspec.Struct, forbid_unknown_fields=True):
    greeting: str = "hello"
    times: int = 1


def test_include_is_scoped_to_the_plugin(settings_for: Any, tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    def child(config: Configurator) -> None:
        seen["child_plugin"] = config.plugin
        seen["child_path"] = config.includepath

    def greeter(config: Configurator) -> None:
        seen["plugin"] = config.plugin
        seen["raw"] = config.plugin_settings
        seen["typed"] = config.add_settings_schema(GreeterSettings)
        config.include(child)

    settings = settings_for('[greeter]\ngreeting = "hi"\ntimes = 3\n[other]\nx = 1\n')
    build_registry(settings, plugins=[("greeter", greeter)])
    assert seen["plugin"] == "greeter"
    assert seen["raw"] == {"greeting": "hi", "times": 3}
    assert seen["typed"] == GreeterSettings(greeting="hi", times=3)
    assert seen["child_plugin"] == "greeter"
    assert seen["child_path"][0] == "greeter" and len(seen["child_path"]) == 2


def test_plugin_settings_error_names_key_and_line(settings_for: Any) -> None:
    def greeter(config: Configurator) -> None:
        config.add_settings_schema(GreeterSettings)

    settings = settings_for('[greeter]\ngreeting = "hi"\ntimes = "three"\n')
    spec = PluginSpec("greeter", greeter, required=True)
    with pytest.raises(PluginLoadError) as caught:
        build_registry(settings, plugins=[spec])
    assert "switchyard.toml:3" in str(caught.value)
    assert "greeter.times" in str(caught.value)


def test_plugin_template_dir_is_found_automatically(settings_for: Any) -> None:
    registry = build_registry(settings_for(), plugins=[("web", "web:includeme")])
    dirs = [d for plugin, d in registry.template_dirs if plugin == "web"]
    assert dirs and dirs[0].endswith("web/templates")
    assert any(s.prefix == "web" for s in registry.static)


def test_include_by_dotted_name(settings_for: Any) -> None:
    registry = build_registry(settings_for(), plugins=[PluginSpec("web", "web")])
    assert "/ui/plugins" in [v.path for v in registry.views]
    with pytest.raises(PluginLoadError, match="no_such_module"):
        build_registry(settings_for(), plugins=[PluginSpec("bad", "no_such_module:x", required=True)])


# -- hooks ------------------------------------------------------------------------------------


def ordering_plugins(calls: list[str]) -> list[Any]:
    def declarer(config: Configurator) -> None:
        config.add_hook_point("on_thing", "called for every thing")
        config.add_hook("on_thing", lambda **kw: calls.append("declarer"), name="declarer")

    def early(config: Configurator) -> None:
        config.add_hook("on_thing", lambda **kw: calls.append("early"), name="early", before="declarer")

    def late(config: Configurator) -> None:
        config.add_hook("on_thing", lambda **kw: calls.append("late"), name="late", after=["early", "middle"])

    def middle(config: Configurator) -> None:
        config.add_hook("on_thing", lambda **kw: calls.append("middle"), name="middle", after="declarer")

    return [("late", late), ("declarer", declarer), ("middle", middle), ("early", early)]


def test_hooks_follow_before_and_after_not_registration_order(settings_for: Any) -> None:
    calls: list[str] = []
    registry = build_registry(settings_for(), plugins=ordering_plugins(calls))
    registry.hooks.call("on_thing")
    assert calls == ["early", "declarer", "middle", "late"]


def test_hook_order_may_name_a_whole_plugin(settings_for: Any) -> None:
    calls: list[str] = []

    def first(config: Configurator) -> None:
        config.add_hook_point("p", "doc")
        config.add_hook("p", lambda: calls.append("first-1"), name="one")
        config.add_hook("p", lambda: calls.append("first-2"), name="two")

    def second(config: Configurator) -> None:
        config.add_hook("p", lambda: calls.append("second"), before="first")

    registry = build_registry(settings_for(), plugins=[("first", first), ("second", second)])
    registry.hooks.call("p")
    assert calls == ["second", "first-1", "first-2"]


def test_hook_cycle_is_an_error_naming_the_hooks(settings_for: Any) -> None:
    def cyclic(config: Configurator) -> None:
        config.add_hook_point("p", "doc")
        config.add_hook("p", lambda: None, name="x", before="y")
        config.add_hook("p", lambda: None, name="y", before="x")

    with pytest.raises(ConfigurationError, match="cycle among 'x', 'y'"):
        build_registry(settings_for(), plugins=[("cyclic", cyclic)])


def test_hook_on_an_undeclared_point_is_an_error(settings_for: Any) -> None:
    def typo(config: Configurator) -> None:
        config.add_hook("on_reqest", lambda: None)

    with pytest.raises(ConfigurationError, match="'on_reqest', which no plugin declares"):
        build_registry(settings_for(), plugins=[("typo", typo)])


async def test_async_hooks_are_awaited_in_order(settings_for: Any) -> None:
    calls: list[str] = []

    async def slow(**kw: Any) -> str:
        calls.append("async")
        return "a"

    def plugin(config: Configurator) -> None:
        config.add_hook_point("p", "doc")
        config.add_hook("p", slow, name="slow")
        config.add_hook("p", lambda **kw: calls.append("sync") or "b", name="sync", after="slow")

    registry = build_registry(settings_for(), plugins=[("plugin", plugin)])
    assert await registry.hooks.acall("p") == ["a", "b"]
    assert calls == ["async", "sync"]


# -- failing plugins --------------------------------------------------------------------------


def exploding(config: Configurator) -> None:
    config.add_nav_item("Boom", "/ui/boom")
    raise RuntimeError("kaboom in includeme")


def test_failing_plugin_is_reported_and_the_rest_start(settings_for: Any) -> None:
    registry = build_registry(settings_for(), plugins=[("boom", exploding), ("web", "web:includeme")])
    report = registry.plugins["boom"]
    assert report.status == "failed"
    assert "RuntimeError: kaboom in includeme" in (report.error or "")
    assert "exploding" in (report.error or "")  # the traceback, not only the message
    assert registry.plugins["web"].status == "ok"
    assert "/ui/boom" not in [item.href for item in registry.nav]  # its actions were dropped


def test_required_plugin_failure_stops_the_app(settings_for: Any) -> None:
    settings = settings_for('[plugins]\nrequired = ["boom"]\n')
    with pytest.raises(PluginLoadError, match="required plugin 'boom'"):
        build_registry(settings, plugins=[("boom", exploding)])


def test_registering_after_commit_is_refused(settings_for: Any) -> None:
    kept: list[Configurator] = []
    build_registry(settings_for(), plugins=[("keeper", kept.append)])
    with pytest.raises(ConfigurationError, match="after commit"):
        kept[0].add_nav_item("Late", "/ui/late")


def test_bad_settings_file_is_a_settings_error(settings_for: Any) -> None:
    with pytest.raises(SettingsError, match="switchyard.toml:2"):
        settings_for("[server]\nport = 'x'\n")
