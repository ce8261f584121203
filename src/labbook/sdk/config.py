"""``run.config``: the run's hyper-parameters, wandb-compatible.

Every change is journaled as a ``config`` record, so the store keeps the config as of every seq
(versioned) and a crash never loses a parameter the script already set.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from labbook.errors import ConfigValueChangeError, UsageError

_MISSING = object()


def config_input(value: Any) -> dict[str, Any]:
    """A plain dict from what ``init(config=...)``/``update`` accept: dict, Namespace, YAML path."""
    if value is None:
        return {}
    if isinstance(value, Config):
        return value.as_dict()
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, argparse.Namespace):
        return dict(vars(value))
    if isinstance(value, str | Path) and str(value).endswith((".yaml", ".yml")):
        import yaml  # only for a config given as a YAML file

        path = Path(value)
        try:
            data = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise UsageError(f"cannot read config file {path}: {exc}") from exc
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise UsageError(f"config file {path} must hold a mapping, not {type(data).__name__}")
        # wandb's config-defaults.yaml style: {key: {value: x, desc: ...}}
        return {
            k: v["value"]
            if isinstance(v, dict) and "value" in v and set(v) <= {"value", "desc"}
            else v
            for k, v in data.items()
            if k != "wandb_version"
        }
    raise UsageError(
        "config must be a dict, an argparse.Namespace or a YAML file path, "
        f"not {type(value).__name__}"
    )


class Config:
    """Attribute- and item-access mapping of hyper-parameters."""

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        on_change: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        object.__setattr__(self, "_data", dict(data or {}))
        object.__setattr__(self, "_on_change", on_change)
        object.__setattr__(self, "_allow_all", False)

    def allow_val_changes(self) -> None:
        """Let every later write change existing values: ``init(allow_val_change=True)``."""
        object.__setattr__(self, "_allow_all", True)

    # ----- writes ------------------------------------------------------------------------------
    def update(self, d: Any = None, allow_val_change: bool = False, **kwargs: Any) -> None:
        changes = config_input(d)
        changes.update(kwargs)
        self._apply(changes, allow_val_change)

    def setdefaults(self, d: Any) -> None:
        """Set only keys not yet present (a sweep's values win over the script's defaults)."""
        new = {k: v for k, v in config_input(d).items() if k not in self._data}
        self._apply(new, False)

    def _apply(self, changes: dict[str, Any], allow_val_change: bool) -> None:
        data: dict[str, Any] = self._data
        changed: dict[str, Any] = {}
        for key, value in changes.items():
            if not isinstance(key, str):
                raise UsageError(f"config keys must be strings, got {key!r}")
            old = data.get(key, _MISSING)
            if old is _MISSING or old == value:
                if old is _MISSING:
                    changed[key] = value
                continue
            if not (allow_val_change or self._allow_all):
                raise ConfigValueChangeError(
                    f"config key {key!r} is already {old!r}; refusing to change it to {value!r}. "
                    "Pass allow_val_change=True to change it."
                )
            changed[key] = value
        if not changed:
            return
        if self._on_change is not None:
            self._on_change(changed)  # validates encodability before anything is kept
        data.update(changed)

    def __setitem__(self, key: str, value: Any) -> None:
        self._apply({key: value}, False)

    def __setattr__(self, key: str, value: Any) -> None:
        self._apply({key: value}, False)

    def __delitem__(self, key: str) -> None:
        raise UsageError("config keys cannot be deleted; they record what the run was given")

    # ----- reads -------------------------------------------------------------------------------
    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__"):
            raise AttributeError(key)
        try:
            return self._data[key]
        except KeyError:
            raise AttributeError(f"config has no key {key!r}") from None

    def get(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    def keys(self) -> Any:
        return self._data.keys()

    def items(self) -> Any:
        return self._data.items()

    def values(self) -> Any:
        return self._data.values()

    def as_dict(self) -> dict[str, Any]:
        return dict(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Config):
            return bool(self._data == other._data)
        return bool(self._data == other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Config({self._data!r})"
