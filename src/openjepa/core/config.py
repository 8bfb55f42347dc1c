"""Typed configs: dataclasses built from YAML dicts, overridden by ``key.sub=value``.

Every section is a dataclass; :func:`from_dict` builds one from a plain dict and
rejects unknown keys with the nearest valid key in the message. A field annotated
``Annotated[Any, Registered(REGISTRY, tag)]`` is a tagged union over a registry: the
value of its ``tag`` key names the entry whose config dataclass builds it (the method
section is chosen by ``name``, the data section by ``modality``).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from openjepa.core.errors import ConfigError, suggest
from openjepa.core.registry import Registry

TAG_KEYS = ("name", "modality")  # keys that choose a section's dataclass: changing one drops the section's old keys


@dataclasses.dataclass(frozen=True)
class Registered:
    """Annotation of a section chosen by its ``tag`` key among the entries of ``registry``: ``config_of(entry)`` is
    the dataclass that builds it; ``default``: the tag of a mapping that names none."""

    registry: Registry
    tag: str
    config_of: typing.Callable[[Any], type]
    default: str | None = None

    def dataclass_for(self, value: Any, where: str) -> type:
        if not isinstance(value, dict) or (self.tag not in value and self.default is None):
            raise ConfigError(f"{where}: expected a mapping with a '{self.tag}' key, got {value!r}")
        name = value.get(self.tag, self.default)
        if name not in self.registry:
            raise ConfigError(f"{where}.{self.tag}: unknown '{name}'"
                              f"{suggest(str(name), self.registry.names(), f'{self.registry.kind}s')}")
        return self.config_of(self.registry.get(name))


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Convert ``value`` to the annotated type ``tp`` or raise a ConfigError naming ``where``."""
    if tp is Any:
        return value
    if typing.get_origin(tp) is typing.Annotated:
        chooser = next((m for m in tp.__metadata__ if isinstance(m, Registered)), None)
        if chooser is None:
            return _coerce(value, typing.get_args(tp)[0], where)
        cls = chooser.dataclass_for(value, where)
        return value if isinstance(value, cls) else from_dict(cls, value, where)
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return from_dict(tp, value, where)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arg, where)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(f"{where}: {value!r} fits none of {tp}")
    if origin in (tuple, list):
        if isinstance(value, str):
            value = yaml.safe_load(value)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f"{where}: expected {len(args)} values, got {len(value)}: {value!r}")
            return tuple(_coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        item = args[0] if args else Any
        out = [_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(out) if origin is tuple else out
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where}: expected one of {list(args)}, got {value!r}")
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(float(value)) if float(value).is_integer() else int(value)
            except ValueError:
                pass
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: expected a number, got {value!r}") from None
    if tp is str:
        if isinstance(value, (dict, list)):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return str(value)
    raise ConfigError(f"{where}: unsupported field type {tp}")


def from_dict(cls: type, data: dict, where: str = "config") -> Any:
    """Build dataclass ``cls`` from ``data``; unknown keys raise ConfigError with a suggestion."""
    hints = typing.get_type_hints(cls, include_extras=True)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [k for k in data if k not in fields]
    if unknown:
        prefix = "" if where == "config" else f"{where.removeprefix('config.')}."
        raise ConfigError(f"unknown config key '{prefix}{unknown[0]}'"
                          f"{suggest(f'{prefix}{unknown[0]}', [prefix + name for name in fields])}")
    kwargs = {name: _coerce(value, hints[name], f"{where}.{name}") for name, value in data.items()}
    try:
        obj = cls(**kwargs)
    except TypeError as err:
        raise ConfigError(f"{where}: {err}") from None
    check = getattr(obj, "validate", None)
    if check is not None:
        try:
            check()
        except ValueError as err:
            raise ConfigError(f"{where}: {err}") from None
    return obj


def check_minimums(section: str, obj: Any, **minimums: float) -> None:
    """Raise ``ValueError`` naming ``section.field`` for a set field below its minimum (None fields pass)."""
    for name, low in minimums.items():
        value = getattr(obj, name)
        if value is not None and value < low:
            raise ValueError(f"{section}.{name} must be >= {low}, got {value}")


def absolute_if_exists(value: str | None) -> str | None:
    """A path a run reads, made absolute when it names something that exists (so the run folder works from any
    directory); anything else (a built-in name, nothing) as given."""
    if value and not Path(value).is_absolute() and Path(value).expanduser().exists():
        return str(Path(value).expanduser().resolve())
    return value


def to_dict(obj: Any) -> Any:
    """Plain nested dicts/lists (tuples become lists), ready for YAML or JSON."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def parse_overrides(items: list[str]) -> dict:
    """``["optim.lr=1e-3", "method.mask.num_targets=2"]`` -> nested dict of YAML-parsed values."""
    out: dict = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"override '{item}' is not of the form key.sub=value")
        key, raw = item.split("=", 1)
        parts = key.strip().split(".")
        if not all(parts):
            raise ConfigError(f"override '{item}' has an empty key part")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override '{item}' conflicts with another override")
        try:
            node[parts[-1]] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as err:
            problem = getattr(err, "problem", None) or "unreadable"
            raise ConfigError(f"override '{item}': the value is not valid YAML ({problem}); quote it or fix the "
                              f"brackets, e.g. {key}='[1, 2]'") from None
    return out


def merge(base: dict, update: dict) -> dict:
    """Recursive dict merge; ``update`` wins. Changing a section's tag (``method.name``, ``data.modality``) drops
    the old section's keys."""
    out = dict(base)
    for key, value in update.items():
        old = out.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            if any(tag in value and tag in old and value[tag] != old[tag] for tag in TAG_KEYS):
                out[key] = dict(value)
            else:
                out[key] = merge(old, value)
        else:
            out[key] = value
    return out


def load_yaml(path: str | Path) -> dict:
    """Read a YAML mapping, with a clear error for a missing, unreadable or non-mapping file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {path} is not valid YAML: {err}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping, got {type(data).__name__}")
    return data
