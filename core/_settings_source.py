"""Where a setting came from, so that every settings error can point at a file line or a variable.

Private helper of :mod:`core.settings` (import ``SettingsError`` and ``SettingsSource`` from
there): the source that maps keys to lines, and the strict msgspec conversion that reports a
ValidationError at that place. The TOML scanner only locates keys: ``tomllib`` keeps no
positions, but it has already validated the text, so a light scan of the same text is enough.
"""

from __future__ import annotations

import bisect
import copy
import difflib
import json
import re
import tomllib
from collections.abc import Callable
from typing import Any, Literal, TypeVar

import msgspec

T = TypeVar("T")
Key = tuple[str | int, ...]
"""A path into the settings document: table keys are str, array positions are int."""

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_MSGSPEC_PATH = re.compile(r"\.([^.\[]+)|\[(\d+)\]|\[\.\.\.\]")
_SCALAR_END = re.compile(r"[,\]}#\n]")


class SettingsError(Exception):
    """A configuration problem, located by file and line (or environment variable) and key."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        key: str | None = None,
    ) -> None:
        super().__init__(message)
        self.path = path
        self.line = line
        self.key = key


def dotted(key: Key) -> str:
    """Render a key path as users write it: ``routing.providers[0]."odd key"``."""
    out = ""
    for part in key:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        name = part if _BARE_KEY.fullmatch(part) else json.dumps(part)
        out += f".{name}" if out else name
    return out


def split_validation_error(text: str) -> tuple[str, Key]:
    """Split msgspec's ``"Expected `int`, got `str` - at `$.server.port`"`` into message and key.

    Dict keys show up as ``[...]`` in msgspec paths; the path stops there (the parent is named).
    Unknown and missing fields are folded into the key so the error names the offending key.
    """
    message, sep, where = text.rpartition(" - at `")
    if not sep:  # errors at the root carry no path
        message, where = text, "$"
    key: list[str | int] = []
    for match in _MSGSPEC_PATH.finditer(where.rstrip("`").removeprefix("$")):
        if match[0] == "[...]":
            break
        key.append(match[1] if match[1] is not None else int(match[2]))
    field = re.fullmatch(r"Object (contains unknown|missing required) field `(.+)`", message)
    if field:
        key.append(field[2])
    return message, tuple(key)


class SettingsSource:
    """Remembers where settings were read from and maps key paths back to lines or variables."""

    def __init__(
        self, path: str | None = None, text: str = "", *, kind: Literal["toml", "json"] = "toml"
    ) -> None:
        self.path = path
        self.kind = kind
        self.env_vars: dict[Key, str] = {}
        """Key path set by an environment override -> the variable's name."""
        self.env_strings: dict[Key, str] = {}
        """Raw text of overrides read as non-string scalars, to retry where a str is wanted."""
        self._text = text
        self._lines: dict[Key, int] | None = None

    def line_of(self, key: Key) -> int | None:
        """Line (1-based) defining ``key``, else that of its nearest located parent, else None."""
        if self.kind == "json":
            return _json_line(self._text, key)
        if self._lines is None:
            self._lines = _TomlLines(self._text).scan()
        for end in range(len(key), 0, -1):
            line = self._lines.get(tuple(key[:end]))
            if line is not None:
                return line
        return None

    def env_var_of(self, key: Key) -> str | None:
        """Name of the environment variable that set ``key`` or one of its parents."""
        for end in range(len(key), 0, -1):
            name = self.env_vars.get(tuple(key[:end]))
            if name is not None:
                return name
        return None

    def error(self, key: Key, message: str) -> SettingsError:
        """Build ``"file:line: dotted.key: message"`` (or ``"environment VAR: ..."``)."""
        name = dotted(key)
        variable = self.env_var_of(key)
        if variable is not None:
            if message.startswith("Expected `"):
                message += " (environment values are read as TOML values, e.g. 8080, true, "
                message += '\'"text"\' or \'["a", "b"]\')'
            return SettingsError(f"environment {variable}: {name}: {message}", key=name)
        line = self.line_of(key) if self.path else None
        where = f"{self.path}:{line}: " if line else f"{self.path}: " if self.path else ""
        return SettingsError(f"{where}{name}: {message}", path=self.path, line=line, key=name)


def convert(data: Any, schema: type[T], source: SettingsSource, base: Key) -> T:
    """Strict msgspec conversion; an env override failing as a number is retried as text."""
    retried: set[Key] = set()
    while True:
        try:
            return msgspec.convert(data, schema)
        except msgspec.ValidationError as exc:
            message, rel = split_validation_error(str(exc))
            key = base + rel
            retry = _env_retry(key, source.env_strings, retried)
            if retry is None:
                raise source.error(key, _explain(message, schema, rel)) from None
            retried.add(retry)
            data = copy.deepcopy(data)
            _set_at(data, retry[len(base) :], source.env_strings[retry])


def _env_retry(key: Key, env_strings: dict[Key, str], retried: set[Key]) -> Key | None:
    for end in range(len(key), 0, -1):
        if key[:end] in env_strings and key[:end] not in retried:
            return key[:end]
    return None


def _set_at(data: Any, key: Key, value: Any) -> None:
    for part in key[:-1]:
        data = data[part]
    data[key[-1]] = value


def _explain(message: str, schema: type, rel: Key) -> str:
    """Reword msgspec's unknown/missing field messages to list what is allowed."""
    unknown = re.fullmatch(r"Object contains unknown field `(.+)`", message)
    missing = re.fullmatch(r"Object missing required field `(.+)`", message)
    if missing:
        return f"required key {missing[1]!r} is missing"
    if not unknown:
        return message
    allowed = _fields_at(schema, rel[:-1])
    text = f"unknown key {unknown[1]!r}"
    if allowed:
        close = difflib.get_close_matches(unknown[1], allowed, n=1)
        text += f" (did you mean {close[0]!r}?)" if close else ""
        text += f"; allowed keys: {', '.join(allowed)}"
    return text


def _fields_at(schema: Any, rel: Key) -> list[str]:
    """Field names of the Struct found by walking ``rel`` through nested Struct types."""
    for part in rel:
        schema = _struct_fields(schema).get(part)
    return sorted(_struct_fields(schema))


def _struct_fields(schema: Any) -> dict[str | int, Any]:
    if isinstance(schema, type) and issubclass(schema, msgspec.Struct):
        return {f.encode_name: f.type for f in msgspec.structs.fields(schema)}
    return {}


def _json_line(text: str, key: Key) -> int | None:
    """Find each key of the path in turn after the previous one; good enough for config.json."""
    pos, line = 0, None
    for part in key:
        if isinstance(part, int):
            continue
        pattern = rf"""(?<![\w$])(["']?){re.escape(part)}\1\s*:"""  # "k":, 'k': or k:
        match = re.compile(pattern).search(text, pos)
        if match is None:
            break
        pos, line = match.end(), text.count("\n", 0, match.start()) + 1
    return line


class _TomlLines:
    """Scan valid TOML text, recording the line where each table, key and array item starts."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.newlines = [i for i, ch in enumerate(text) if ch == "\n"]
        self.explicit: dict[Key, int] = {}
        self.implicit: dict[Key, int] = {}
        self.array_tables: dict[Key, int] = {}

    def scan(self) -> dict[Key, int]:
        """Return key path -> line; on anything unexpected, return what was found so far."""
        table: Key = ()
        try:
            while self._skip(newlines=True):
                start = self.pos
                table = self._header() if self.text[self.pos] == "[" else self._keyval(table)
                self.pos = max(self.pos, start + 1)
        except (IndexError, ValueError, tomllib.TOMLDecodeError):
            pass
        return {**self.implicit, **self.explicit}

    def _line(self) -> int:
        return bisect.bisect_right(self.newlines, self.pos - 1) + 1

    def _skip(self, *, newlines: bool) -> bool:
        """Skip blanks and comments (and newlines if asked); False at end of text."""
        text = self.text
        while self.pos < len(text):
            ch = text[self.pos]
            if ch in " \t\r" or (newlines and ch == "\n"):
                self.pos += 1
            elif ch == "#":
                end = text.find("\n", self.pos)
                self.pos = len(text) if end < 0 else end
            else:
                return True
        return False

    def _resolve(self, parts: list[str], line: int) -> Key:
        """Turn header/dotted parts into a path, descending into the latest ``[[array]]`` item."""
        path: Key = ()
        for part in parts:
            path += (part,)
            self.implicit.setdefault(path, line)
            if path in self.array_tables:
                path += (self.array_tables[path],)
        return path

    def _header(self) -> Key:
        line, double = self._line(), self.text.startswith("[[", self.pos)
        self.pos += 2 if double else 1
        parts = self._key()
        self.pos = self.text.index("]", self.pos) + (2 if double else 1)
        if not double:
            table = self._resolve(parts, line)
            self.explicit[table] = line
            return table
        array = self._resolve(parts[:-1], line) + (parts[-1],)
        self.explicit.setdefault(array, line)
        index = self.array_tables.get(array, -1) + 1
        self.array_tables[array] = index
        self.explicit[array + (index,)] = line
        return array + (index,)

    def _keyval(self, table: Key) -> Key:
        line = self._line()
        parts = self._key()
        for end in range(1, len(parts)):
            self.implicit.setdefault(table + tuple(parts[:end]), line)
        path = table + tuple(parts)
        self.explicit[path] = line
        self._skip(newlines=False)
        self.pos += 1  # "="
        self._skip(newlines=False)
        self._value(path)
        return table

    def _key(self) -> list[str]:
        parts: list[str] = []
        while True:
            self._skip(newlines=False)
            parts.append(self._simple_key())
            self._skip(newlines=False)
            if self.text[self.pos] != ".":
                return parts
            self.pos += 1

    def _simple_key(self) -> str:
        ch = self.text[self.pos]
        if ch in "\"'":
            raw = self._string(ch)
            return raw[1:-1] if ch == "'" else tomllib.loads(f"k = {raw}")["k"]
        match = _BARE_KEY.match(self.text, self.pos)
        if match is None:
            raise ValueError(f"no key at offset {self.pos}")
        self.pos = match.end()
        return match[0]

    def _string(self, quote: str) -> str:
        """Consume a one-line or multi-line string starting at pos; return its source text."""
        text, start = self.text, self.pos
        delim = quote * 3 if text.startswith(quote * 3, start) else quote
        i = start + len(delim)
        while not text.startswith(delim, i):
            if i >= len(text):
                raise ValueError("unterminated string")
            i += 2 if quote == '"' and text[i] == "\\" else 1
        end = i + len(delim)
        while len(delim) == 3 and end < len(text) and end - i < 5 and text[end] == quote:
            end += 1  # up to two quotes may sit right before a closing delimiter
        self.pos = end
        return text[start:end]

    def _value(self, path: Key) -> None:
        ch = self.text[self.pos]
        if ch in "\"'":
            self._string(ch)
        elif ch == "[":
            self._array(path)
        elif ch == "{":
            self._inline_table(path)
        else:
            match = _SCALAR_END.search(self.text, self.pos)
            self.pos = match.start() if match else len(self.text)

    def _array(self, path: Key) -> None:
        self.pos += 1
        index = 0
        while self._skip(newlines=True) and self.text[self.pos] != "]":
            if self.text[self.pos] == ",":
                self.pos += 1
                index += 1
                continue
            self.explicit[path + (index,)] = self._line()
            self._step(self._value, path + (index,))
        self.pos += 1

    def _inline_table(self, path: Key) -> None:
        self.pos += 1
        while self._skip(newlines=True) and self.text[self.pos] != "}":
            if self.text[self.pos] == ",":
                self.pos += 1
                continue
            self._step(self._keyval, path)
        self.pos += 1

    def _step(self, parse: Callable[[Key], object], path: Key) -> None:
        """Run one item parser; give up rather than loop if it consumed nothing."""
        start = self.pos
        parse(path)
        if self.pos == start:
            raise ValueError(f"scanner stuck at offset {start}")
