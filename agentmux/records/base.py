"""What every ledger record shares: the version rule, typed key access, the two errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, TypeVar

from agentmux.errors import EnvironmentProblem, WorkFailed

VERSION = 1
JSON = dict[str, object]
R = TypeVar("R", bound="Record")


class DamagedRecord(WorkFailed):
    """A ledger file that is not the record it should be: names the key and what was expected."""


class NewerRecord(EnvironmentProblem):
    """A ledger file written by a newer agentmux, with a schema this one cannot read."""


class Record:
    """What every record has: its kind (for messages), `from_json` and `to_json`."""

    KIND: ClassVar[str] = "record"
    NESTED: ClassVar[bool] = False    # a part of another record's file: no version of its own

    @classmethod
    def from_json(cls: type[R], data: Mapping[str, object]) -> R:
        """The record in data (a parsed JSON object); DamagedRecord or NewerRecord if not."""
        f = Fields(cls.KIND, data)
        if not cls.NESTED:
            f.version()
        return cls._read(f)

    @classmethod
    def _read(cls: type[R], f: Fields) -> R:
        raise NotImplementedError

    def to_json(self) -> JSON:
        """The JSON object to write: `version` first (unless NESTED), then the schema's keys."""
        raise NotImplementedError


class Fields:
    """Typed access to one JSON object's keys, with messages that name the key."""

    def __init__(self, kind: str, data: Mapping[str, object], prefix: str = "") -> None:
        self.kind, self.data, self.prefix, self.used = kind, data, prefix, {"version"}

    def fail(self, key: str, want: str) -> DamagedRecord:
        return DamagedRecord(f"{self.kind}: {self.prefix}{key}: expected {want}, "
                             f"got {self.data.get(key)!r}")

    def version(self) -> None:
        v = self.data.get("version")
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise self.fail("version", "a schema version (an integer >= 1)")
        if v > VERSION:
            raise NewerRecord(f"{self.kind} has schema version {v}, written by a newer agentmux; "
                              f"this one reads version {VERSION}: upgrade agentmux")

    def get(self, key: str) -> object:
        self.used.add(key)
        return self.data.get(key)

    def text(self, key: str, default: str | None = None) -> str:
        v = self.get(key)
        if v is None and default is not None:
            return default
        if not isinstance(v, str):
            raise self.fail(key, "a string")
        return v

    def opt_text(self, key: str) -> str | None:
        v = self.get(key)
        if v is not None and not isinstance(v, str):
            raise self.fail(key, "a string or null")
        return v

    def opt_integer(self, key: str) -> int | None:
        v = self.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
            raise self.fail(key, "an integer or null")
        return v

    def integer(self, key: str, default: int | None = None) -> int:
        v = self.opt_integer(key)
        if v is None:
            if default is None:
                raise self.fail(key, "an integer")
            return default
        return v

    def opt_number(self, key: str) -> float | None:
        v = self.get(key)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise self.fail(key, "a number or null")
        return float(v)

    def flag(self, key: str) -> bool:
        v = self.get(key)
        if v is None:
            return False
        if not isinstance(v, bool):
            raise self.fail(key, "true or false")
        return v

    def texts(self, key: str) -> tuple[str, ...]:
        v = self.get(key)
        if v is None:
            return ()
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise self.fail(key, "a list of strings")
        return tuple(v)

    def text_map(self, key: str) -> dict[str, str]:
        v = self.get(key)
        if v is None:
            return {}
        if not isinstance(v, dict) or not all(isinstance(k, str) and isinstance(x, str)
                                              for k, x in v.items()):
            raise self.fail(key, "an object of strings")
        return dict(v)

    def objects(self, key: str) -> list[Mapping[str, object]]:
        v = self.get(key)
        if v is None:
            return []
        if not isinstance(v, list) or not all(isinstance(x, dict) for x in v):
            raise self.fail(key, "a list of objects")
        return v

    def sub(self, data: Mapping[str, object], at: str) -> Fields:
        return Fields(self.kind, data, f"{self.prefix}{at}.")

    def extra(self) -> dict[str, object]:
        """The keys no reader asked for: kept, and written back as they were."""
        return {k: v for k, v in self.data.items() if k not in self.used}
