"""Typed YAML configs: nested dataclasses built from YAML plus `a.b=value` overrides.

Every config in the project is a dataclass tree. `load_config` rejects unknown keys and
wrong types with one sentence naming the file and the dotted key, then calls each
dataclass's optional `validate()` so range checks live beside the fields they check.
"""
from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """A config value a user must fix; the message says which file and key."""


def parse_overrides(overrides: list[str] | None) -> dict[str, Any]:
    """`["train.lr=3e-4", "model=tiny"]` -> nested dict; values are parsed as YAML scalars."""
    nested: dict[str, Any] = {}
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key=value")
        key, raw = item.split("=", 1)
        value = yaml.safe_load(raw) if raw != "" else ""
        node = nested
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {part!r} is not a section")
        node[parts[-1]] = value
    return nested


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge `extra` into a copy of `base` (sections merge, scalars replace)."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys to values")
    return data


def load_config(cls: type[T], path: str | Path | None = None, overrides: list[str] | None = None,
                data: dict[str, Any] | None = None) -> T:
    """Build `cls` from a YAML file (or `data`) with command-line overrides applied."""
    source = str(path) if path is not None else "<config>"
    raw = read_yaml(path) if path is not None else {}
    raw = expand_includes(cls, raw, Path(path).parent if path is not None else Path("."))
    if data:
        raw = merge(raw, data)
    raw = merge(raw, parse_overrides(overrides))
    return from_dict(cls, raw, source)


def expand_includes(cls: type, raw: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """A section given as a string is a path to a YAML file holding it: `model: ../model/tiny.yaml`.

    Paths are tried relative to the including file, then to the working directory.
    """
    hints = typing.get_type_hints(cls)
    out = dict(raw)
    for name, value in raw.items():
        tp = hints.get(name)
        if tp is None or not dataclasses.is_dataclass(tp):
            continue
        if isinstance(value, str):
            candidates = [base_dir / value, Path(value)]
            found = next((c for c in candidates if c.is_file()), None)
            if found is None:
                raise ConfigError(f"{name}: included file {value!r} not found (looked in {base_dir} and .)")
            value = read_yaml(found)
            base = found.parent
        else:
            base = base_dir
        if isinstance(value, dict):
            out[name] = expand_includes(tp, value, base)
    return out


def from_dict(cls: type[T], raw: dict[str, Any], source: str = "<config>", prefix: str = "") -> T:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: {prefix.rstrip('.') or 'config'} must be a mapping, got {raw!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [k for k in raw if k not in fields]
    if unknown:
        key = unknown[0]
        hint = difflib.get_close_matches(key, fields, n=1)
        extra = f" (did you mean '{prefix}{hint[0]}'?)" if hint else f" (known: {', '.join(fields)})"
        raise ConfigError(f"{source}: unknown key '{prefix}{key}'{extra}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in raw.items():
        kwargs[name] = _coerce(hints[name], value, source, f"{prefix}{name}")
    try:
        obj = cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{source}: {prefix.rstrip('.') or 'config'}: {exc}") from None
    validate = getattr(obj, "validate", None)
    if callable(validate):
        try:
            validate()
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None
    return obj


def _coerce(tp: Any, value: Any, source: str, key: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, source, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{source}: {key}: bad value {value!r}")
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value or {}, source, key + ".")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{source}: {key} must be a list, got {value!r}")
        args = typing.get_args(tp)
        item_tp = args[0] if args else Any
        items = [_coerce(item_tp, v, source, f"{key}[{i}]") for i, v in enumerate(value)]
        return items if origin is list else tuple(items)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: {key} must be a mapping, got {value!r}")
        return dict(value)
    if origin is typing.Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            raise ConfigError(f"{source}: {key} must be one of {list(choices)}, got {value!r}")
        return value
    if tp is Any:
        return value
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    if tp in (int, str, bool, float):
        if isinstance(value, bool) and tp is not bool:
            raise ConfigError(f"{source}: {key} must be {tp.__name__}, got {value!r}")
        if not isinstance(value, tp):
            raise ConfigError(f"{source}: {key} must be {tp.__name__}, got {value!r}")
        return value
    return value


def to_dict(obj: Any) -> dict[str, Any]:
    return dataclasses.asdict(obj)


def config_hash(obj: Any) -> str:
    """Stable short hash of a config: same settings -> same hash, whatever the YAML layout."""
    text = json.dumps(to_dict(obj), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def dump_yaml(obj: Any) -> str:
    return yaml.safe_dump(to_dict(obj), sort_keys=False, allow_unicode=True)
