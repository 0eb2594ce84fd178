"""Policy lines, recorded changes and decisions, and the validation every written line passes.

Kept apart from the service (core.permissions) so the CLI, the API and the editor can check
input the same way without touching the database.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from casbin.util import key_match2

__all__ = [
    "ACTIONS",
    "DEFAULT_POLICY",
    "FIELDS",
    "MODEL",
    "Change",
    "Decision",
    "PolicyError",
    "Rule",
    "check_consistent",
    "check_value",
    "is_permission_name",
    "parse_policy_csv",
    "validate_rule",
]

POLICIES = Path(__file__).resolve().parent.parent / "policies"
MODEL = POLICIES / "model.conf"
DEFAULT_POLICY = POLICIES / "default_policy.csv"

# What each value of a line means; error messages and the API name fields with these.
FIELDS: dict[str, tuple[str, ...]] = {
    "p": ("role", "workspace", "object", "action"),
    "g": ("subject", "role", "workspace"),
    "g2": ("pattern", "permission"),
}
ACTIONS = ("read", "write", "use", "*")
_PTYPE_ORDER = {"p": 0, "g": 1, "g2": 2}
_SLUG = re.compile(r"[a-z0-9-]{2,40}")
_NAME = re.compile(r"[a-z_]+")
_ROLE = re.compile(r"[a-z][a-z0-9_-]{0,39}")
_SEGMENT = re.compile(r"[A-Za-z0-9._~-]+|:[A-Za-z_][A-Za-z0-9_]*|\*")
_MAX_VALUE = 255


class PolicyError(ValueError):
    """A rule or change the policy refuses; ``field`` names the offending value."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class Rule:
    """One policy line, e.g. ``Rule("g", ("bob@example.com", "viewer", "team-a"))``."""

    ptype: str
    values: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", tuple(self.values))

    def as_list(self) -> list[str]:
        return [self.ptype, *self.values]

    @classmethod
    def from_list(cls, line: Sequence[str]) -> Rule:
        return cls(str(line[0]), tuple(str(v) for v in line[1:]))

    def field(self, name: str) -> str:
        """The value called ``name`` (see FIELDS), e.g. ``rule.field("workspace")``."""
        return self.values[FIELDS[self.ptype].index(name)]

    @property
    def workspace(self) -> str:
        """The workspace a line concerns; ``*`` for every workspace (g2 lines are global)."""
        return "*" if self.ptype == "g2" else self.field("workspace")

    def sort_key(self) -> tuple[int, tuple[str, ...]]:
        return (_PTYPE_ORDER.get(self.ptype, 9), self.values)

    def __str__(self) -> str:
        return ", ".join(self.as_list())


@dataclass(frozen=True, slots=True)
class Change:
    """A recorded policy change: the lines it removed (``before``) and added (``after``).

    ``set_roles`` records a subject's whole role set before and after. ``id`` 0 means the
    call changed nothing and nothing was recorded.
    """

    id: int
    at: datetime
    actor: str
    workspace: str
    action: str  # seed | add | remove | set_roles | revert
    before: tuple[Rule, ...]
    after: tuple[Rule, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "workspace": self.workspace,
            "action": self.action,
            "before": [r.as_list() for r in self.before],
            "after": [r.as_list() for r in self.after],
        }


@dataclass(frozen=True, slots=True)
class Decision:
    """What ``explain`` found: the answer, the p line that allowed it, and why."""

    allowed: bool
    subject: str
    workspace: str
    object: str
    action: str
    roles: tuple[str, ...]  # the roles the subject holds in the workspace
    rule: Rule | None = None  # the p line that matched
    via: Rule | None = None  # the g2 line that mapped the object to the rule's permission
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "subject": self.subject,
            "workspace": self.workspace,
            "object": self.object,
            "action": self.action,
            "roles": list(self.roles),
            "rule": self.rule.as_list() if self.rule else None,
            "via": self.via.as_list() if self.via else None,
            "reason": self.reason,
        }


# -- validation -----------------------------------------------------------------------------


def is_permission_name(value: str) -> bool:
    return bool(_NAME.fullmatch(value))


def _check_path(name: str, value: str) -> None:
    """A keyMatch2 pattern that means what it looks like (keyMatch2 compiles it as a regex)."""
    if not value.startswith("/"):
        raise PolicyError(name, f"{value!r} must start with /")
    if "//" in value:
        raise PolicyError(name, f"{value!r} contains an empty segment (//)")
    if "{" in value or "}" in value:
        raise PolicyError(
            name, f"{value!r}: write path parameters as :name (keyMatch2), not {{name}}"
        )
    segments = value[1:].split("/")
    for index, segment in enumerate(segments):
        if segment == "" and index == len(segments) - 1:
            continue  # a trailing slash, e.g. /ui/
        if not _SEGMENT.fullmatch(segment):
            if "*" in segment:
                raise PolicyError(
                    name,
                    f"{value!r}: * must be a whole segment (/api/v1/keys/*); keyMatch2 would "
                    f"read {segment!r} as a regular expression",
                )
            raise PolicyError(
                name,
                f"{value!r}: segment {segment!r} may hold letters, digits and . _ ~ - only, "
                "or be a :name parameter or *",
            )
    try:
        key_match2("/", value)
    except re.error as exc:  # pragma: no cover - the grammar above keeps patterns valid
        raise PolicyError(name, f"{value!r} is not a valid keyMatch2 pattern: {exc}") from None


def check_value(ptype: str, name: str, value: str) -> str:
    if not isinstance(value, str):
        raise PolicyError(name, f"must be a string, got {type(value).__name__}")
    value = value.strip()
    if not value:
        raise PolicyError(name, "must not be empty")
    if len(value) > _MAX_VALUE:
        raise PolicyError(name, f"is longer than {_MAX_VALUE} characters")
    if "," in value or any(c.isspace() for c in value) or not value.isprintable():
        raise PolicyError(name, f"{value!r} must not contain spaces, commas or control characters")
    if name == "workspace":
        if value == "*" and ptype == "p":
            return value
        if not _SLUG.fullmatch(value):
            every = " or * (every workspace)" if ptype == "p" else ""
            raise PolicyError(
                name, f"{value!r} is not a workspace: use 2-40 lower-case letters, digits and -{every}"
            )
    elif name == "role":
        if not _ROLE.fullmatch(value):
            raise PolicyError(name, f"{value!r} is not a role name: lower-case letters, digits, _ and -")
    elif name == "permission":
        if not _NAME.fullmatch(value):
            raise PolicyError(name, f"{value!r} is not a permission name: lower-case letters and _")
    elif name == "pattern":
        _check_path(name, value)
    elif name == "object":
        if value.startswith("/"):
            _check_path(name, value)
        elif value != "*" and not _NAME.fullmatch(value):
            raise PolicyError(
                name,
                f"{value!r} must be *, a permission name (lower-case letters and _) or a path "
                "pattern starting with /",
            )
    elif name == "action":
        if value not in ACTIONS:
            raise PolicyError(name, f"{value!r} is not an action: use one of {', '.join(ACTIONS)}")
    elif name == "subject":
        value = value.lower()
    return value


def validate_rule(rule: Rule) -> Rule:
    """The rule with its values checked and normalised (trimmed; subjects lower-case).

    Checks one line on its own; whether a role exists or the line is a duplicate depends on
    the rest of the policy and is checked when it is written.
    """
    if not isinstance(rule.ptype, str) or rule.ptype not in FIELDS:
        raise PolicyError(
            "ptype",
            f"unknown rule type {rule.ptype!r}: use p (a role's permission), g (a role held in "
            "a workspace) or g2 (a resource pattern a permission covers)",
        )
    names = FIELDS[rule.ptype]
    if len(rule.values) != len(names):
        raise PolicyError(
            "values",
            f"a {rule.ptype} line has {len(names)} values ({', '.join(names)}), "
            f"got {len(rule.values)}",
        )
    return Rule(rule.ptype, tuple(check_value(rule.ptype, n, v) for n, v in zip(names, rule.values)))


def check_consistent(final: set[Rule], removed: Iterable[Rule], added: Iterable[Rule]) -> None:
    """Every role assigned (by an added g line, or one whose p lines were removed) is defined."""
    defined = {r.values[0] for r in final if r.ptype == "p"}
    for rule in added:
        if rule.ptype == "g" and rule.values[1] not in defined:
            raise PolicyError(
                "role",
                f"unknown role {rule.values[1]!r}: no p line defines it (known roles: "
                f"{', '.join(sorted(defined)) or 'none'})",
            )
    for rule in removed:
        role = rule.values[0]
        if rule.ptype != "p" or role in defined:
            continue
        holders = sorted(f"{g.values[0]} in {g.values[2]}" for g in final if g.ptype == "g" and g.values[1] == role)
        if holders:
            raise PolicyError(
                "role",
                f"{role!r} is still held by {', '.join(holders[:5])}"
                f"{' and others' if len(holders) > 5 else ''}; remove those assignments first",
            )


def parse_policy_csv(text_: str) -> list[Rule]:
    """The lines of a Casbin policy CSV (comments and blank lines skipped), validated."""
    rules: list[Rule] = []
    for number, line in enumerate(text_.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        ptype, *values = (part.strip() for part in line.split(","))
        try:
            rules.append(validate_rule(Rule(ptype, tuple(values))))
        except PolicyError as exc:
            raise PolicyError(exc.field, f"line {number}: {exc.message}") from None
    return rules
