"""One TOML value at a time: each check returns the value typed, or raises a `LayoutError`
that names the file and the key path."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from pathlib import PurePosixPath
from types import MappingProxyType
from typing import NoReturn

from agentmux.errors import LayoutError

ENV_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
PLACEHOLDER_RE = re.compile(r"\{([^{}]*)\}")
DURATION_RE = re.compile(r"([0-9]+(?:\.[0-9]+)?)(s|m|h)")


def _show(value: object) -> str:
    if isinstance(value, dict):
        return "a table"
    return repr(value)


class Checker:
    def __init__(self, file: str) -> None:
        self.file = file

    def fail(self, key: str, message: str) -> NoReturn:
        raise LayoutError(self.file, key, message)

    def expected(self, key: str, what: str, got: object) -> NoReturn:
        self.fail(key, f"expected {what}; got {_show(got)}")

    def known(self, table: Mapping[str, object], allowed: tuple[str, ...], prefix: str) -> None:
        for key in table:
            if key in allowed:
                continue
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = (f"did you mean '{close[0]}'?" if close
                    else "expected one of " + ", ".join(sorted(allowed)))
            self.fail(prefix + key, f"unknown key; {hint}")

    def string(self, key: str, value: object, *, empty: bool = True) -> str:
        if not isinstance(value, str) or (not empty and not value):
            self.expected(key, "a string" if empty else "a non-empty string", value)
        if "\0" in value:
            self.fail(key, "contains a NUL byte")
        return value

    def strings(self, key: str, value: object, what: str) -> list[str]:
        """A list of non-empty strings; `what` names the list in the error."""
        if not isinstance(value, list):
            self.expected(key, what, value)
        return [self.string(f"{key}[{k}]", v, empty=False) for k, v in enumerate(value, 1)]

    def flag(self, key: str, value: object) -> bool:
        if not isinstance(value, bool):
            self.expected(key, "true or false", value)
        return value

    def env(self, key: str, value: object) -> Mapping[str, str]:
        if not isinstance(value, dict):
            self.expected(key, "a table of NAME = \"value\"", value)
        out: dict[str, str] = {}
        for name, v in value.items():
            if not ENV_RE.fullmatch(name):
                self.fail(key, f"invalid variable name {name!r}; expected a name matching "
                          f"^{ENV_RE.pattern}$")
            out[name] = self.string(f"{key}.{name}", v)
        return MappingProxyType(out)

    def template(self, key: str, value: str, allowed: tuple[str, ...]) -> str:
        for m in PLACEHOLDER_RE.finditer(value):
            if m[1] not in allowed:
                only = " and ".join("{" + a + "}" for a in allowed)
                self.fail(key, f"unknown placeholder {m[0]!r}; only {only} may be used")
        return value

    def duration(self, key: str, value: object) -> float:
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return float(value)
        m = DURATION_RE.fullmatch(value) if isinstance(value, str) else None
        if not m or float(m[1]) <= 0:
            self.expected(key, "a duration such as \"90s\", \"45m\", \"2h\" or a number of "
                          "seconds > 0", value)
        return float(m[1]) * {"s": 1, "m": 60, "h": 3600}[m[2]]

    def patterns(self, key: str, value: object) -> tuple[str, ...]:
        if not isinstance(value, list):
            self.expected(key, "a list of regular expressions", value)
        out = []
        for i, item in enumerate(value, 1):
            text = self.string(f"{key}[{i}]", item, empty=False)
            try:
                re.compile(text)
            except re.error as e:
                self.fail(f"{key}[{i}]", f"not a valid regular expression: {e}")
            out.append(text)
        return tuple(out)

    def relative(self, key: str, value: str) -> str:
        p = PurePosixPath(value)
        if p.is_absolute() or "\\" in value:
            self.expected(key, "a relative path", value)
        if ".." in p.parts:
            self.fail(key, f"{value!r} must not contain a '..' component")
        return "" if str(p) == "." else str(p)
