"""Strict readers for Australis JSON: every field is checked before it becomes a record.

A wrong type, a missing required field or an unknown enumeration value raises
``InvalidResponse`` naming the field's path (ids and paths only: never personal data).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, TypeVar

from connectors.errors import InvalidResponse
from connectors.models import Money

T = TypeVar("T")

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
CURRENCY = re.compile(r"^[A-Z]{3}$")


def invalid(where: str, problem: str) -> InvalidResponse:
    return InvalidResponse(f"australis: {where} {problem}")


class Obj:
    """A JSON object read field by field, with its path for error messages."""

    __slots__ = ("data", "where")

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, dict):
            raise invalid(where, "is not an object")
        self.data: dict[str, Any] = data
        self.where = where

    def _path(self, key: str) -> str:
        return f"{self.where}.{key}"

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def _get(self, key: str, kind: type[T] | tuple[type, ...], required: bool) -> Any:
        value = self.data.get(key)
        if value is None:
            if required:
                raise invalid(self._path(key), "is missing")
            return None
        if isinstance(value, bool) and kind is not bool:  # bool is an int in Python, not in JSON
            raise invalid(self._path(key), "has the wrong type")
        if not isinstance(value, kind):
            raise invalid(self._path(key), "has the wrong type")
        return value

    def text(self, key: str) -> str:
        value: str = self._get(key, str, True)
        if not value.strip():
            raise invalid(self._path(key), "is empty")
        return value

    def opt_text(self, key: str) -> str | None:
        value: str | None = self._get(key, str, False)
        return value if value and value.strip() else None

    def whole(self, key: str, minimum: int | None = None) -> int:
        value: int = self._get(key, int, True)
        if minimum is not None and value < minimum:
            raise invalid(self._path(key), f"is below {minimum}")
        return value

    def opt_whole(self, key: str) -> int | None:
        value: int | None = self._get(key, int, False)
        return value

    def flag(self, key: str, default: bool | None = None) -> bool:
        value: bool | None = self._get(key, bool, default is None)
        return default if value is None else value  # type: ignore[return-value]

    def obj(self, key: str) -> Obj:
        return Obj(self._get(key, dict, True), self._path(key))

    def opt_obj(self, key: str) -> Obj | None:
        value = self._get(key, dict, False)
        return None if value is None else Obj(value, self._path(key))

    def array(self, key: str, required: bool = True) -> list[Any]:
        value: list[Any] | None = self._get(key, list, required)
        return [] if value is None else value

    def objs(self, key: str, required: bool = True) -> list[Obj]:
        return [Obj(item, f"{self.where}.{key}[{i}]") for i, item in enumerate(self.array(key, required))]

    def texts(self, key: str) -> tuple[str, ...]:
        items = self.array(key, required=False)
        if not all(isinstance(s, str) and s.strip() for s in items):
            raise invalid(self._path(key), "must hold text only")
        return tuple(items)

    def money(self, key: str) -> Money:
        found = self.opt_money(key)
        if found is None:
            raise invalid(self._path(key), "is missing")
        return found

    def opt_money(self, key: str) -> Money | None:
        """``{"amount_cents": int >= 0, "currency": "ARS"}`` → Money (exact: cents / 100)."""
        raw = self.opt_obj(key)
        if raw is None:
            return None
        cents = raw.whole("amount_cents", minimum=0)
        currency = raw.text("currency")
        if not CURRENCY.match(currency):
            raise invalid(raw._path("currency"), "is not an ISO 4217 code")
        return Money.from_cents(cents, currency)

    def stamp(self, key: str) -> datetime:
        found = self.opt_stamp(key)
        if found is None:
            raise invalid(self._path(key), "is missing")
        return found

    def opt_stamp(self, key: str) -> datetime | None:
        """An RFC 3339 timestamp with its offset → aware datetime (the offset is kept, not converted)."""
        raw = self.opt_text(key)
        if raw is None:
            return None
        if not RFC3339.match(raw):
            raise invalid(self._path(key), "is not an RFC 3339 timestamp with an offset")
        try:
            return datetime.fromisoformat(raw)
        except ValueError as exc:
            raise invalid(self._path(key), "is not a valid timestamp") from exc

    def local_date(self, key: str) -> date:
        """The calendar day of a timestamp where it was written (its own offset), not in UTC."""
        return self.stamp(key).date()

    def opt_local_date(self, key: str) -> date | None:
        found = self.opt_stamp(key)
        return None if found is None else found.date()

    def opt_date(self, key: str) -> date | None:
        raw = self.opt_text(key)
        if raw is None:
            return None
        if not ISO_DATE.match(raw):
            raise invalid(self._path(key), "is not an ISO 8601 date")
        try:
            return date.fromisoformat(raw)
        except ValueError as exc:
            raise invalid(self._path(key), "is not a valid date") from exc

    def enum(self, key: str, mapping: Mapping[str, T]) -> tuple[T, str]:
        """A value from a closed vocabulary: (the canonical value, the insurer's own word)."""
        raw = self.text(key)
        if raw not in mapping:
            raise invalid(self._path(key), "holds an unknown value")
        return mapping[raw], raw
