"""Name-keyed registries (rules, objectives): names are case-insensitive, registered once."""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(dict[str, T], Generic[T]):
    """A dict from lower-case names to registered items, with errors that say what to fix."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def key(self, name: str) -> str:
        key = str(name).strip().lower()
        if not key:
            raise ValueError(f"a {self.kind} needs a name")
        return key

    def add(self, name: str, item: T, replace: bool = False) -> T:
        """Register ``item`` under ``name``; an existing name needs ``replace=True``."""
        key = self.key(name)
        if key in self and not replace:
            raise ValueError(f"{self.kind} {key!r} is already registered (pass replace=True to override)")
        self[key] = item
        return item

    def lookup(self, name: str) -> T:
        """The item registered under ``name``, or ValueError listing the known names."""
        key = str(name).strip().lower()
        if key not in self:
            raise ValueError(f"unknown {self.kind} {name!r}; known {self.kind}s: {', '.join(sorted(self))}")
        return self[key]
