"""core.settings: typed settings from TOML or claude-code-router's config.json, errors located."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import msgspec
import pytest

from core.settings import (
    Settings,
    SettingsError,
    SettingsSource,
    default_home,
    load_settings,
    validate_section,
)


def write(tmp_path: Path, text: str, name: str = "switchyard.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def line_with(path: Path, needle: str) -> int:
    """1-based number of the only line of the file containing ``needle``."""
    found = [n for n, line in enumerate(path.read_text().splitlines(), 1) if needle in line]
    assert len(found) == 1, found
    return found[0]


def load_error(path: Path | None, env: dict[str, str] | None = None) -> SettingsError:
    with pytest.raises(SettingsError) as info:
        load_settings(path, env=env or {})
    return info.value


class RoutingSchema(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    timeout_ms: int = 1000
    api_key: str = ""
    providers: list[dict[str, str]] = []


# --- defaults and a full file -------------------------------------------------------------


def test_no_file_gives_embedded_defaults(tmp_path: Path) -> None:
    settings = load_settings(None, env={}, home=str(tmp_path))
    assert settings.home == str(tmp_path)
    assert (settings.server.host, settings.server.port) == ("127.0.0.1", 3456)
    assert (settings.server.workers, settings.server.graceful_timeout) == (1, 30.0)
    assert settings.database.url is None and settings.database.echo is False
    assert settings.redis.url is None
    assert settings.plugins.enabled is None
    assert settings.plugins.disabled == [] and settings.plugins.required == []
    assert settings.logging.level == "INFO" and settings.logging.access_log is False
    assert settings.web.templates_dir is None and settings.web.secure_cookies is None
    assert settings.sections == {} and settings.ccr is None and settings.warnings == []
    assert settings.database_url == f"sqlite:///{tmp_path}/switchyard.db"


def test_full_valid_toml(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [server]
        host = "0.0.0.0"
        port = 8000
        workers = 4
        graceful_timeout = 5   # int is fine for a float

        [database]
        url = "postgresql+psycopg://db/switchyard"
        echo = true

        [redis]
        url = "redis://localhost:6379/0"

        [plugins]
        enabled = ["routing", "auth"]
        disabled = ["billing"]
        required = ["auth"]

        [logging]
        level = "DEBUG"
        access_log = true

        [web]
        templates_dir = "/srv/templates"
        secure_cookies = false

        [routing]
        timeout_ms = 250
        [routing.cache]
        ttl = 60
        """,
    )
    settings = load_settings(path, env={})
    assert settings.server == settings.server.__class__(
        host="0.0.0.0", port=8000, workers=4, graceful_timeout=5.0
    )
    assert settings.database_url == "postgresql+psycopg://db/switchyard"
    assert settings.database.echo is True
    assert settings.redis.url == "redis://localhost:6379/0"
    assert settings.plugins.enabled == ["routing", "auth"]
    assert settings.plugins.disabled == ["billing"] and settings.plugins.required == ["auth"]
    assert settings.logging.level == "DEBUG" and settings.logging.access_log is True
    assert settings.web.templates_dir == "/srv/templates" and settings.web.secure_cookies is False
    assert settings.sections == {"routing": {"timeout_ms": 250, "cache": {"ttl": 60}}}
    assert settings.source is not None and settings.source.path == str(path)


# --- validation errors name key and line ------------------------------------------------


def test_wrong_type_names_file_line_and_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        # Switchyard
        [server]
        host = "127.0.0.1"

        port = "80"
        """,
    )
    error = load_error(path)
    line = line_with(path, "port =")
    assert f"switchyard.toml:{line}: server.port: Expected `int`, got `str`" in str(error)
    assert (error.path, error.line, error.key) == (str(path), line, "server.port")


def test_out_of_range_port_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nport = 70000\n")
    error = load_error(path)
    assert str(error) == f"{path}:2: server.port: Expected `int` <= 65535"


def test_unknown_key_in_kernel_section_names_key_and_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [server]
        host = "127.0.0.1"
        prot = 8080
        """,
    )
    error = load_error(path)
    assert str(error).startswith(f"{path}:3: server.prot: unknown key 'prot'")
    assert "did you mean 'port'?" in str(error)
    assert "graceful_timeout, host, port, workers" in str(error)
    assert error.line == 3 and error.key == "server.prot"


def test_kernel_section_that_is_not_a_table(tmp_path: Path) -> None:
    path = write(tmp_path, 'title = "x"\nserver = 5\n')
    error = load_error(path)
    assert str(error).startswith(f"{path}:1: title: top-level settings must be tables")


def test_kernel_section_of_wrong_shape(tmp_path: Path) -> None:
    path = write(tmp_path, "[plugins]\nenabled = 5\n")
    error = load_error(path)
    assert str(error) == f"{path}:2: plugins.enabled: Expected `array | null`, got `int`"


def test_toml_syntax_error_has_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[server]\nhost = "a"\nport = \n')
    error = load_error(path)
    assert str(error).startswith(f"{path}:3: invalid TOML")
    assert error.line == 3 and error.path == str(path)


def test_missing_file(tmp_path: Path) -> None:
    error = load_error(tmp_path / "nope.toml")
    assert "nope.toml: config file not found" in str(error)


# --- line lookup ------------------------------------------------------------------------


LOOKUP_TOML = """
[routing]
timeout_ms = 5
cache.ttl = 60
"quoted key" = 1
notes = '''
fake = "not a key"
[not_a_table]
'''
quotes = '''say 'hi'''''
inline = { model = "m", limits = { rpm = 3 } }
list = [
  "a",
  { name = "b" },
]

[routing.rules.long]   # nested header
threshold = 60000

[[routing.providers]]
name = "one"

[[routing.providers]]
name = "two"
[routing.providers.auth]
key = "k"

[after]
x = 1

[late.child]
y = 2
[late]
z = 3
"""


@pytest.mark.parametrize(
    ("key", "needle"),
    [
        (("routing",), "[routing]"),
        (("routing", "timeout_ms"), "timeout_ms"),
        (("routing", "cache"), "cache.ttl"),
        (("routing", "cache", "ttl"), "cache.ttl"),
        (("routing", "quoted key"), '"quoted key"'),
        (("routing", "notes"), "notes ="),
        (("routing", "inline"), "inline ="),
        (("routing", "inline", "limits", "rpm"), "inline ="),
        (("routing", "list", 0), '"a"'),
        (("routing", "list", 1, "name"), '"b"'),
        (("routing", "rules", "long"), "[routing.rules.long]"),
        (("routing", "rules", "long", "threshold"), "threshold"),
        (("routing", "providers", 0), '[[routing.providers]]\nname = "one"'),
        (("routing", "providers", 0, "name"), '"one"'),
        (("routing", "providers", 1, "name"), '"two"'),
        (("routing", "providers", 1, "auth", "key"), 'key = "k"'),
        (("routing", "missing"), "[routing]"),
        (("routing", "rules", "long", "missing"), "[routing.rules.long]"),
        (("after", "x"), "x = 1"),
        (("late", "child", "y"), "y = 2"),
        (("late",), "[late]"),
        (("late", "missing"), "[late]"),
    ],
)
def test_line_of(tmp_path: Path, key: tuple, needle: str) -> None:
    path = write(tmp_path, LOOKUP_TOML)
    settings = load_settings(path, env={})
    text = path.read_text()
    expected = text[: text.index(needle)].count("\n") + 1
    assert settings.source is not None
    assert settings.source.line_of(key) == expected


def test_line_of_never_hangs_on_text_it_cannot_scan() -> None:
    source = SettingsSource("x.toml", "a = 1\nb = 'unterminated\n")
    assert source.line_of(("a",)) == 1
    assert source.line_of(("b",)) == 2


def test_line_of_ignores_look_alikes_in_multiline_strings(tmp_path: Path) -> None:
    path = write(tmp_path, LOOKUP_TOML)
    source = load_settings(path, env={}).source
    assert source is not None
    assert source.line_of(("not_a_table",)) is None
    assert source.line_of(("routing", "fake")) == line_with(path, "[routing]")
    assert source.line_of(("nowhere", "at", "all")) is None


# --- environment overrides ---------------------------------------------------------------


def test_env_overrides_coerce_ints_and_lists(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nport = 9000\n[routing]\ntimeout_ms = 1\n")
    env = {
        "SWITCHYARD_SERVER__PORT": "8080",
        "SWITCHYARD_PLUGINS__DISABLED": '["x", "y"]',
        "SWITCHYARD_ROUTING__TIMEOUT_MS": "5",
        "SWITCHYARD_AUDIT__CHAIN__ENABLED": "true",
        "SWITCHYARD_SERVER__HOST": "10.0.0.1",
        "switchyard_logging__level": "WARNING",
        "SWITCHYARD_HOME": str(tmp_path),
        "SWITCHYARD_TEST_POSTGRES_URL": "postgresql://ignored",
    }
    settings = load_settings(path, env=env)
    assert settings.server.port == 8080
    assert settings.server.host == "10.0.0.1"
    assert settings.plugins.disabled == ["x", "y"]
    assert settings.logging.level == "WARNING"
    assert settings.sections == {
        "routing": {"timeout_ms": 5},
        "audit": {"chain": {"enabled": True}},
    }
    assert settings.home == str(tmp_path)


def test_env_overrides_apply_parents_before_children() -> None:
    env = {"SWITCHYARD_ROUTING__CACHE__SIZE": "5", "SWITCHYARD_ROUTING__CACHE": "{ ttl = 1 }"}
    settings = load_settings(None, env=env)
    assert settings.sections == {"routing": {"cache": {"ttl": 1, "size": 5}}}


def test_env_numeric_text_stays_text_where_a_string_is_wanted(tmp_path: Path) -> None:
    env = {"SWITCHYARD_ROUTING__API_KEY": "123456", "SWITCHYARD_WEB__TEMPLATES_DIR": "2024"}
    settings = load_settings(None, env=env)
    assert settings.web.templates_dir == "2024"
    assert validate_section(settings, "routing", RoutingSchema).api_key == "123456"


def test_env_override_error_names_the_variable(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nport = 9000\n")
    error = load_error(path, {"SWITCHYARD_SERVER__PORT": "eighty"})
    assert str(error).startswith(
        "environment SWITCHYARD_SERVER__PORT: server.port: Expected `int`, got `str`"
    )
    assert error.line is None and error.key == "server.port"
    assert "read as TOML values" in str(error)  # teaches how to write the value


def test_env_override_unknown_kernel_key_names_the_variable() -> None:
    error = load_error(None, {"SWITCHYARD_SERVER__BOGUS": "1"})
    assert str(error).startswith("environment SWITCHYARD_SERVER__BOGUS: server.bogus: unknown key")


def test_env_override_into_a_scalar_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "[routing]\ntimeout_ms = 1\n")
    error = load_error(path, {"SWITCHYARD_ROUTING__TIMEOUT_MS__X": "1"})
    assert "SWITCHYARD_ROUTING__TIMEOUT_MS__X" in str(error)
    assert "routing.timeout_ms is not a table" in str(error)


# --- env: secrets ------------------------------------------------------------------------


def test_env_secrets_resolved_everywhere(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [database]
        url = "env:DB_URL"

        [routing]
        api_key = "env:OPENAI_KEY"
        literal = "env: not a reference"
        providers = [{ name = "a", api_key = "env:A_KEY" }, "env:B_KEY"]
        [routing.nested.deeper]
        token = "env:TOKEN"
        """,
    )
    env = {
        "DB_URL": "sqlite:////tmp/x.db",
        "OPENAI_KEY": "sk-1",
        "A_KEY": "a-secret",
        "B_KEY": "b-secret",
        "TOKEN": "t",
    }
    settings = load_settings(path, env=env)
    assert settings.database_url == "sqlite:////tmp/x.db"
    routing = settings.sections["routing"]
    assert routing["api_key"] == "sk-1"
    assert routing["literal"] == "env: not a reference"
    assert routing["providers"] == [{"name": "a", "api_key": "a-secret"}, "b-secret"]
    assert routing["nested"] == {"deeper": {"token": "t"}}


def test_missing_env_secret_names_key_and_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [server]
        port = 3456

        [routing]
        timeout_ms = 5
        [[routing.providers]]
        name = "openai"
        api_key = "env:OPENAI_KEY"
        """,
    )
    error = load_error(path, {"PATH": "/bin"})
    line = line_with(path, "api_key")
    assert str(error) == (
        f"{path}:{line}: routing.providers[0].api_key: environment variable 'OPENAI_KEY' is not set"
    )
    assert error.line == line


# --- claude-code-router config.json ------------------------------------------------------


CCR_CONFIG = """
{
  // claude-code-router config, JSON5
  "LOG": true,
  "HOST": "0.0.0.0",
  "PORT": 3457,
  "Providers": [
    {
      "name": "openrouter",
      "api_base_url": "https://openrouter.ai/api/v1/chat/completions",
      "api_key": "$OPENROUTER_KEY",
      "models": ["anthropic/claude-sonnet-4",],
    },
  ],
  "Router": { "default": "openrouter,anthropic/claude-sonnet-4", },
}
"""


def test_ccr_config_without_apikey_binds_loopback(tmp_path: Path) -> None:
    path = write(tmp_path, CCR_CONFIG, name="config.json")
    settings = load_settings(path, env={"OPENROUTER_KEY": "secret"})
    assert settings.ccr is not None
    assert settings.ccr["Router"] == {"default": "openrouter,anthropic/claude-sonnet-4"}
    assert settings.ccr["Providers"][0]["api_key"] == "$OPENROUTER_KEY"  # routing interpolates
    assert settings.server.port == 3457
    assert settings.server.host == "127.0.0.1"
    assert len(settings.warnings) == 1
    assert "APIKEY" in settings.warnings[0] and "0.0.0.0" in settings.warnings[0]
    assert settings.sections == {}


def test_ccr_config_with_apikey_keeps_host(tmp_path: Path) -> None:
    text = CCR_CONFIG.replace('"LOG": true,', '"APIKEY": "my-key",')
    path = write(tmp_path, text, name="config.json")
    settings = load_settings(path, env={})
    assert settings.server.host == "0.0.0.0" and settings.server.port == 3457
    assert settings.warnings == []


def test_ccr_loopback_host_without_apikey_needs_no_warning(tmp_path: Path) -> None:
    path = write(tmp_path, '{"Router": {}, "HOST": "127.0.0.1"}', name="config.json")
    settings = load_settings(path, env={})
    assert settings.server.host == "127.0.0.1" and settings.warnings == []


def test_ccr_detected_by_content_and_env_applies_on_top(tmp_path: Path) -> None:
    path = write(tmp_path, '{ Router: {}, PORT: "4000" }', name="ccr.conf")
    settings = load_settings(path, env={"SWITCHYARD_SERVER__WORKERS": "3"})
    assert settings.ccr == {"Router": {}, "PORT": "4000"}
    assert (settings.server.port, settings.server.workers) == (4000, 3)
    overridden = load_settings(path, env={"SWITCHYARD_SERVER__PORT": "5000"})
    assert overridden.server.port == 5000


def test_ccr_bad_port_names_key_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, '{\n  "Router": {},\n  "PORT": "abc",\n}\n', name="config.json")
    error = load_error(path)
    assert str(error).startswith(f"{path}:3: PORT: Expected `int`")


def test_ccr_line_lookup_accepts_json5_key_styles(tmp_path: Path) -> None:
    path = write(tmp_path, "{\n  Router: {},\n  'HOST': 5,\n  PORT: 4000,\n}\n", name="c.json5")
    error = load_error(path)
    assert str(error).startswith(f"{path}:3: HOST: Expected `str`, got `int`")
    source = SettingsSource(str(path), path.read_text(), kind="json")
    assert (source.line_of(("Router",)), source.line_of(("PORT",))) == (2, 4)
    assert source.line_of(("nope",)) is None


def test_json5_syntax_error_has_line(tmp_path: Path) -> None:
    path = write(tmp_path, '{\n  "Router": {},\n  "PORT": ,\n}\n', name="config.json")
    error = load_error(path)
    assert str(error).startswith(f"{path}:3: invalid JSON5")
    assert error.line == 3


def test_non_ccr_json_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, '{"server": {"port": 8080}}', name="settings.json")
    error = load_error(path)
    assert "claude-code-router" in str(error) and "TOML" in str(error)
    assert error.path == str(path)


# --- plugin sections ---------------------------------------------------------------------


def test_validate_section_happy_path(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [routing]
        timeout_ms = 250
        providers = [{ name = "a" }]
        """,
    )
    settings = load_settings(path, env={})
    routing = validate_section(settings, "routing", RoutingSchema)
    assert routing == RoutingSchema(timeout_ms=250, providers=[{"name": "a"}])
    assert validate_section(settings, "absent", RoutingSchema) == RoutingSchema()


def test_validate_section_error_names_section_key_and_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [server]
        port = 3456

        [routing]
        api_key = "k"
        timeout_ms = "slow"
        """,
    )
    settings = load_settings(path, env={})
    with pytest.raises(SettingsError) as info:
        validate_section(settings, "routing", RoutingSchema)
    line = line_with(path, "timeout_ms")
    assert str(info.value) == f"{path}:{line}: routing.timeout_ms: Expected `int`, got `str`"
    assert info.value.key == "routing.timeout_ms"


def test_validate_section_unknown_key_and_env_error(tmp_path: Path) -> None:
    path = write(tmp_path, "[routing]\ntimeout = 5\n")
    settings = load_settings(path, env={})
    with pytest.raises(SettingsError, match=rf"^{path}:2: routing.timeout: unknown key 'timeout'"):
        validate_section(settings, "routing", RoutingSchema)
    settings = load_settings(None, env={"SWITCHYARD_ROUTING__TIMEOUT_MS": "soon"})
    with pytest.raises(SettingsError, match=r"^environment SWITCHYARD_ROUTING__TIMEOUT_MS: "):
        validate_section(settings, "routing", RoutingSchema)


def test_validate_section_without_source() -> None:
    settings = Settings(home="/h", sections={"routing": {"timeout_ms": "x"}})
    with pytest.raises(SettingsError, match=r"^routing.timeout_ms: Expected `int`"):
        validate_section(settings, "routing", RoutingSchema)


# --- home ----------------------------------------------------------------------------------


def test_home_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    env = {"SWITCHYARD_HOME": "relative/home"}
    assert default_home({}) == os.path.expanduser("~/.switchyard")
    assert default_home(env) == str(tmp_path / "relative" / "home")
    assert default_home({"SWITCHYARD_HOME": "~/sy"}) == os.path.expanduser("~/sy")
    assert load_settings(None, env=env).home == str(tmp_path / "relative" / "home")
    assert load_settings(None, env=env, home="explicit").home == str(tmp_path / "explicit")
    assert load_settings(None, env={}).home == os.path.expanduser("~/.switchyard")
    assert not (tmp_path / "relative").exists()


def test_validate_section_missing_required_key(tmp_path: Path) -> None:
    class Needs(msgspec.Struct, kw_only=True):
        api_key: str

    path = write(tmp_path, "[server]\nport = 1\n\n[billing]\ncurrency = 'EUR'\n")
    settings = load_settings(path, env={})
    with pytest.raises(SettingsError) as info:
        validate_section(settings, "billing", Needs)
    assert str(info.value) == f"{path}:4: billing.api_key: required key 'api_key' is missing"


def test_validate_section_error_inside_a_dict_names_its_parent(tmp_path: Path) -> None:
    path = write(tmp_path, "[routing]\nproviders = [\n  { name = 1 },\n]\n")
    settings = load_settings(path, env={})
    with pytest.raises(SettingsError) as info:
        validate_section(settings, "routing", RoutingSchema)
    assert str(info.value) == f"{path}:3: routing.providers[0]: Expected `str`, got `int`"
