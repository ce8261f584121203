"""``run.summary``: one value per key, the last logged unless the script wrote its own."""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from typing import Any


class Summary(MutableMapping[str, Any]):
    """A live view of the run's summary.

    ``log()`` updates the backing dict directly (no record: the store derives the same values from
    history); explicit writes are journaled as ``summary`` records so they survive a crash.
    """

    def __init__(
        self,
        data: dict[str, Any],
        on_write: Callable[[dict[str, Any], list[str]], dict[str, Any]] | None = None,
    ) -> None:
        self._data = data
        self._on_write = on_write

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def __delitem__(self, key: str) -> None:
        del self._data[key]
        if self._on_write is not None:
            self._on_write({}, [key])

    def update(self, other: Any = (), /, **kwargs: Any) -> None:
        """Write keys; the callback journals them and returns the values as they will be stored."""
        values = dict(other, **kwargs)
        if self._on_write is not None:
            values = self._on_write(values, [])
        self._data.update(values)

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):
            raise AttributeError(key)
        try:
            return self._data[key]
        except KeyError:
            raise AttributeError(f"summary has no key {key!r}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def as_dict(self) -> dict[str, Any]:
        return dict(self._data)

    def __repr__(self) -> str:
        return f"Summary({self._data!r})"
