"""One registry pattern for every pluggable part: methods, modalities, datasets, maskers, evaluation tasks,
environments and planners.

    @METHODS.register("ijepa")
    class IJepa(Method): ...

    METHODS.get("ijepa")          # the class; an unknown name is a ConfigError naming the nearest one
    METHODS.names()               # every registered name

A registry fills itself on first use by importing its home package, whose ``__init__`` imports its modules
(:func:`import_submodules`, so adding a file is enough), and the modules named by installed packages under the
``openjepa.plugins`` entry-point group. Code outside the package registers by being imported first (a recipe's
``plugins:`` list does that for ``openjepa train`` and for every later command on the run).
An entry can be lazy, ``register_lazy(name, "module:attribute", extra=...)``: its module is imported only when the
entry is asked for, and a missing third-party package then names the pip extra that brings it.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from openjepa.core.errors import ConfigError, MissingExtraError, suggest

T = TypeVar("T")
PLUGIN_GROUP = "openjepa.plugins"


@dataclass
class Entry(Generic[T]):
    """A registered object with the facts it was registered with (``info``), or a lazy ``module:attribute``."""

    name: str
    obj: T | None = None
    target: str = ""
    extra: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    def load(self) -> T:
        if self.obj is not None:
            return self.obj
        module, _, attribute = self.target.partition(":")
        try:  # each time: Python's module cache makes it cheap, and an extra installed later is found
            return getattr(importlib.import_module(module), attribute)
        except ModuleNotFoundError as err:
            if (err.name or "").split(".")[0] == "openjepa":
                raise
            raise MissingExtraError(f"'{self.name}' needs packages that are not installed (no module "
                                    f"'{err.name}'): pip install 'openjepa[{self.extra}]'") from err


class Registry(Generic[T]):
    """Name -> object for one kind of part; see the module docstring."""

    def __init__(self, kind: str, home: str):
        self.kind, self.home = kind, home
        self._entries: dict[str, Entry[T]] = {}
        self._discovered = False

    def register(self, name: str, **info: Any) -> Callable[[T], T]:
        """Decorator: record ``obj`` under ``name`` (with ``info``, read back by :meth:`info`)."""

        def add(obj: T) -> T:
            self._add(Entry(name, obj=obj, info=info))
            return obj

        return add

    def register_lazy(self, name: str, target: str, *, extra: str = "", **info: Any) -> None:
        """Record ``module:attribute``, imported when first asked for (``extra``: the pip extra it needs)."""
        self._add(Entry(name, target=target, extra=extra, info=info))

    def _add(self, entry: Entry[T]) -> None:
        old = self._entries.get(entry.name)
        if old is not None and (old.obj is not entry.obj or old.target != entry.target):
            raise ConfigError(f"{self.kind} '{entry.name}' is registered twice "
                              f"({_where(old)} and {_where(entry)})")
        self._entries[entry.name] = entry

    def _discover(self) -> None:
        if self._discovered:
            return
        self._discovered = True
        importlib.import_module(self.home)
        for plugin in entry_points(group=PLUGIN_GROUP):
            plugin.load()

    def get(self, name: str) -> T:
        """The object registered as ``name``; a ConfigError naming the nearest name and all names if none is."""
        return self._entry(name).load()

    def info(self, name: str) -> dict[str, Any]:
        """What ``name`` was registered with (e.g. a dataset's modality)."""
        return self._entry(name).info

    def _entry(self, name: str) -> Entry[T]:
        self._discover()
        if name not in self._entries:
            raise ConfigError(f"unknown {self.kind} '{name}'{suggest(str(name), self.names(), f'{self.kind}s')}")
        return self._entries[name]

    def names(self) -> list[str]:
        self._discover()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        self._discover()
        return name in self._entries


def _where(entry: Entry) -> str:
    obj = entry.obj
    return entry.target or f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


def import_submodules(package: str) -> None:
    """Import every module of ``package`` (recursively), so that each registers what it defines: a new file is
    found without a list naming it."""
    root = importlib.import_module(package)
    for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
        importlib.import_module(info.name)
