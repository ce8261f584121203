"""Rich values for ``log()``: :class:`Image`, :class:`Table`, :class:`Histogram` and :class:`Plot`.

A history row holds only small values. A media value reports itself through
``_to_history(key, step)``, which returns the dict stored in the row (a *reference*) and the files
the run must keep::

    {"_type": "image", "path": "media/image/<key>_<step>_<sha8>.png", "sha256": ..., "size": ...,
     "format": "png", "width": ..., "height": ..., "caption": ...}

``log()`` calls it on the training thread: validation, PNG/JSON encoding and hashing are CPU work
done there, so a bad value raises where it was logged. Writing the bytes to the run's files folder
is left to the journal writer thread (the file record carries the bytes until the writer has
written them), and the sink uploads the file like any run file: content-addressed by its SHA-256,
so the same image logged twice is stored once.

A :class:`Histogram` is small and stored inline, without a file:
``{"_type": "histogram", "bins": [edges...], "values": [counts...]}``.

Encoding rules, in one place:

* **Images** become PNG. ``uint8`` arrays are used as is. Float arrays whose finite values all lie
  in ``[0, 1]`` are scaled by 255 and rounded to the nearest integer; any other float range is
  min-max normalised to ``0..255`` (a constant array becomes 0). NaN pixels become 0. Integer
  arrays within ``0..255`` are used as is, other integer ranges are min-max normalised like
  floats; ``bool`` arrays become 0/255. Shapes: ``HxW`` (grayscale), ``HxWx1`` (grayscale),
  ``HxWx3`` (RGB), ``HxWx4`` (RGBA); a torch tensor of shape ``CxHxW`` (C = 1, 3 or 4) is
  transposed to ``HxWxC`` first.
* **Tables** become JSON ``{"columns": [...], "data": [[...], ...]}``. JSON has no NaN or
  infinities, so non-finite floats are written as the strings ``"NaN"``, ``"Infinity"`` and
  ``"-Infinity"``; string cells that happen to be spelled like one of those are listed (as
  ``[row, column]``) under ``"str_cells"`` so :meth:`Table.from_json` restores every cell exactly.
* **Histograms** count only finite values: NaN and ±Inf are left out of the counts.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from labbook.data.values import scalar

if TYPE_CHECKING:
    import pandas as pd
    from PIL import Image as PILImage

__all__ = [
    "MAX_HISTOGRAM_BINS",
    "MAX_TABLE_ROWS",
    "Histogram",
    "Image",
    "MediaFile",
    "Plot",
    "Table",
    "media_path",
]

MAX_TABLE_ROWS = 100_000
MAX_HISTOGRAM_BINS = 512

# (path relative to the run's files folder, sha256 hex, bytes)
MediaFile = tuple[str, str, bytes]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_NONFINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def media_path(kind: str, key: str, step: int, sha256: str, ext: str) -> str:
    """``media/<kind>/<key>_<step>_<sha8>.<ext>``, with ``/`` and other unsafe characters in the
    key replaced by ``_`` (so a key can never escape the folder)."""
    safe = _UNSAFE.sub("_", key).strip(".") or "_"
    return f"media/{kind}/{safe}_{step}_{sha256[:8]}.{ext}"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ----------------------------------------------------------------------------------- images


class Image:
    """An image to log: a numpy array, a PIL image, or the path of an image file.

    Stored as PNG (see the module docstring for how arrays are scaled). ``mode`` converts to a PIL
    mode (``"L"``, ``"RGB"``, ``"RGBA"``, ...) before encoding. A path is read when the Image is
    created; nothing is read or written during ``log()``.
    """

    _type = "image"

    def __init__(
        self,
        data_or_path: Any,
        caption: str | None = None,
        mode: str | None = None,
    ) -> None:
        from PIL import Image as PILImage

        self.caption = None if caption is None else str(caption)
        if isinstance(data_or_path, PILImage.Image):
            img = data_or_path
        elif isinstance(data_or_path, str | os.PathLike):
            with PILImage.open(os.fspath(data_or_path)) as f:
                f.load()
                img = f.copy()
        else:
            img = PILImage.fromarray(_to_uint8(_as_array(data_or_path)))
        if mode is not None and img.mode != mode:
            img = img.convert(mode)
        elif img.mode not in _PNG_MODES:
            img = img.convert("RGBA" if "A" in img.getbands() else "RGB")
        self._image = img
        self._png: bytes | None = None

    @property
    def width(self) -> int:
        return int(self._image.width)

    @property
    def height(self) -> int:
        return int(self._image.height)

    @property
    def mode(self) -> str:
        return str(self._image.mode)

    @property
    def image(self) -> PILImage.Image:
        """The PIL image that will be (or was) encoded."""
        return self._image

    def png(self) -> bytes:
        """The PNG bytes (encoded once, then cached)."""
        if self._png is None:
            buf = io.BytesIO()
            self._image.save(buf, format="PNG")
            self._png = buf.getvalue()
        return self._png

    def _to_history(self, key: str, step: int) -> tuple[dict[str, Any], list[MediaFile]]:
        data = self.png()
        sha = _sha(data)
        path = media_path("image", key, step, sha, "png")
        ref = {
            "_type": "image",
            "path": path,
            "sha256": sha,
            "size": len(data),
            "format": "png",
            "width": self.width,
            "height": self.height,
            "mode": self.mode,
            "caption": self.caption,
        }
        return ref, [(path, sha, data)]

    def __repr__(self) -> str:
        return f"<labbook.Image {self.width}x{self.height} {self.mode}>"


_PNG_MODES = frozenset({"1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"})


def _as_array(data: Any) -> np.ndarray[Any, Any]:
    """numpy array of an image; torch tensors are taken as CxHxW (their convention) when the
    first of three dimensions has 1, 3 or 4 channels and the last does not."""
    if type(data).__module__.startswith("torch") and hasattr(data, "detach"):
        arr = np.asarray(data.detach().cpu().numpy())
        if arr.ndim == 3 and arr.shape[0] in (1, 3, 4) and arr.shape[2] not in (1, 3, 4):
            arr = np.moveaxis(arr, 0, -1)
        return arr
    return np.asarray(data)


def _to_uint8(arr: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """An HxW, HxWx3 or HxWx4 uint8 array for PIL, scaled as the module docstring says."""
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (3, 4))):
        raise ValueError(
            f"labbook.Image needs an HxW, HxWx1, HxWx3 or HxWx4 array, got shape {arr.shape}"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"labbook.Image got an empty array of shape {arr.shape}")
    kind = arr.dtype.kind
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    if kind == "b":
        return arr.astype(np.uint8) * np.uint8(255)
    if kind in "iu":
        imin, imax = int(arr.min()), int(arr.max())
        if imin >= 0 and imax <= 255:
            return arr.astype(np.uint8)
        return _minmax(arr.astype(np.float64), float(imin), float(imax))
    if kind == "f":
        a = arr.astype(np.float64)
        finite = np.isfinite(a)
        if not finite.any():
            return np.zeros(a.shape, dtype=np.uint8)
        lo, hi = float(a[finite].min()), float(a[finite].max())
        if lo >= 0.0 and hi <= 1.0:
            out = np.rint(np.where(finite, a, 0.0) * 255.0)
            return out.astype(np.uint8)
        return _minmax(a, lo, hi)
    raise TypeError(f"labbook.Image cannot use an array of dtype {arr.dtype}")


def _minmax(a: np.ndarray[Any, Any], lo: float, hi: float) -> np.ndarray[Any, Any]:
    """Min-max normalise to 0..255 (rounded); non-finite pixels and constant arrays become 0."""
    span = hi - lo
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = (a - lo) / span * 255.0 if span > 0 else np.zeros_like(a)
    scaled = np.where(np.isfinite(scaled), scaled, 0.0)
    return np.rint(np.clip(scaled, 0.0, 255.0)).astype(np.uint8)


# ----------------------------------------------------------------------------------- tables


def _cell(column: str, row: int, value: Any) -> Any:
    tv = type(value)
    if tv is float or tv is str or tv is int or tv is bool or value is None or tv is Image:
        return value
    try:
        return scalar(column, value)
    except TypeError:
        raise TypeError(
            f"labbook.Table cell (row {row}, column {column!r}) must be a number, string, bool, "
            f"None or labbook.Image, not {type(value).__name__}"
        ) from None


def _check_rows(n: int) -> None:
    if n > MAX_TABLE_ROWS:
        raise ValueError(
            f"labbook.Table holds at most {MAX_TABLE_ROWS:,} rows (MAX_TABLE_ROWS); got {n:,}. "
            "Log a sample, or split the data over several tables"
        )


class Table:
    """Rows of scalars (numbers, strings, bools, None) under named columns, like ``wandb.Table``.

    At most :data:`MAX_TABLE_ROWS` (100,000) rows. Logged as a JSON file (see the module
    docstring for how NaN and infinities are kept). A cell may also hold a :class:`Image` (a
    prediction table shows the input beside the guess): logged, each image is stored like a
    logged image and the cell holds its reference, which :meth:`from_json` returns as a dict.
    """

    _type = "table"

    def __init__(
        self,
        columns: Sequence[Any] | None = None,
        data: Any = None,
        dataframe: pd.DataFrame | None = None,
        rows: Any = None,
    ) -> None:
        if dataframe is not None:
            if data is not None or rows is not None:
                raise ValueError("labbook.Table takes either data or dataframe, not both")
            _check_rows(len(dataframe))
            columns = [str(c) for c in dataframe.columns] if columns is None else columns
            data = list(
                zip(
                    *(_frame_column(dataframe.iloc[:, i]) for i in range(dataframe.shape[1])),
                    strict=True,
                )
            )
        if data is None:
            data = rows
        if isinstance(data, np.ndarray):
            if data.ndim != 2:
                raise ValueError(f"labbook.Table data must be 2-D, got shape {data.shape}")
            data = data.tolist()
        rows_in = [] if data is None else list(data)
        _check_rows(len(rows_in))
        if columns is None:
            width = len(rows_in[0]) if rows_in else 0
            columns = [f"col{i}" for i in range(width)]
        self.columns: list[str] = [str(c) for c in columns]
        if len(set(self.columns)) != len(self.columns):
            raise ValueError(f"labbook.Table column names must be unique: {self.columns}")
        self.data: list[list[Any]] = []
        for row in rows_in:
            self._append(row)

    @classmethod
    def _trusted(cls, columns: list[str], data: list[list[Any]]) -> Table:
        """A table from cells already known to be plain python scalars (built by labbook)."""
        _check_rows(len(data))
        t = cls.__new__(cls)
        t.columns = list(columns)
        t.data = data
        return t

    def _append(self, row: Any) -> None:
        row = list(row)
        if len(row) != len(self.columns):
            raise ValueError(
                f"labbook.Table row has {len(row)} values but the table has "
                f"{len(self.columns)} columns {self.columns}"
            )
        n = len(self.data)
        self.data.append([_cell(c, n, v) for c, v in zip(self.columns, row, strict=True)])

    def add_data(self, *row: Any) -> None:
        """Append one row: one value per column."""
        _check_rows(len(self.data) + 1)
        self._append(row)

    def add_column(self, name: str, data: Sequence[Any]) -> None:
        """Append a column; ``data`` has one value per row (or creates the rows of an empty
        table)."""
        name = str(name)
        if name in self.columns:
            raise ValueError(f"labbook.Table already has a column {name!r}")
        values = list(data)
        if self.data and len(values) != len(self.data):
            raise ValueError(
                f"column {name!r} has {len(values)} values but the table has {len(self.data)} rows"
            )
        if not self.data and self.columns and values:
            raise ValueError(f"column {name!r} has values but the table's other columns have none")
        _check_rows(len(values))
        cells = [_cell(name, i, v) for i, v in enumerate(values)]
        if not self.data:
            self.data = [[] for _ in cells]
        for row, v in zip(self.data, cells, strict=True):
            row.append(v)
        self.columns.append(name)

    def get_column(self, name: str, convert_to: str | None = None) -> Any:
        """The values of one column, as a list (or a numpy array with ``convert_to="numpy"``)."""
        try:
            i = self.columns.index(name)
        except ValueError:
            raise KeyError(
                f"labbook.Table has no column {name!r} (columns: {self.columns})"
            ) from None
        values = [row[i] for row in self.data]
        if convert_to == "numpy":
            return np.array(values)
        if convert_to is not None:
            raise ValueError(f"convert_to must be None or 'numpy', not {convert_to!r}")
        return values

    def get_index(self) -> list[int]:
        return list(range(len(self.data)))

    @property
    def nrows(self) -> int:
        return len(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def to_pandas(self) -> pd.DataFrame:
        import pandas as pd

        cols = {c: [row[i] for row in self.data] for i, c in enumerate(self.columns)}
        return pd.DataFrame(cols, columns=self.columns)

    # ----- JSON
    def _json_obj(self) -> dict[str, Any]:
        data: list[list[Any]] = []
        str_cells: list[list[int]] = []
        for r, row in enumerate(self.data):
            out = row
            for c, v in enumerate(row):
                if type(v) is float and not math.isfinite(v):
                    if out is row:
                        out = list(row)
                    out[c] = "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")
                elif type(v) is str and v in _NONFINITE:
                    str_cells.append([r, c])
            data.append(out)
        obj: dict[str, Any] = {"columns": self.columns, "data": data}
        if str_cells:
            obj["str_cells"] = str_cells
        return obj

    def to_json(self) -> bytes:
        """The table as compact UTF-8 JSON (the bytes ``log()`` stores)."""
        return _dumps(self._json_obj())

    @classmethod
    def from_json(cls, text: str | bytes | Mapping[str, Any]) -> Table:
        """A table from :meth:`to_json` output (or the JSON of a logged table or plot)."""
        obj = json.loads(text) if isinstance(text, str | bytes) else dict(text)
        keep = {(int(r), int(c)) for r, c in obj.get("str_cells", [])}
        data: list[list[Any]] = []
        for r, row in enumerate(obj["data"]):
            out = list(row)
            for c, v in enumerate(out):
                if type(v) is str and v in _NONFINITE and (r, c) not in keep:
                    out[c] = _NONFINITE[v]
            data.append(out)
        return cls._trusted([str(c) for c in obj["columns"]], data)

    def _with_image_refs(self, key: str, step: int) -> tuple[Table, list[MediaFile]]:
        """This table with each image cell replaced by its reference, and the images' files."""
        files: list[MediaFile] = []
        rows = self.data
        if Image not in set(map(type, itertools.chain.from_iterable(rows))):  # one pass in C
            return self, files
        for r, row in enumerate(self.data):
            if not any(type(v) is Image for v in row):
                continue
            if rows is self.data:
                rows = list(self.data)
            out = list(row)
            for c, v in enumerate(row):
                if type(v) is Image:
                    out[c], image_files = v._to_history(key, step)
                    files.extend(image_files)
            rows[r] = out
        return (self if rows is self.data else Table._trusted(self.columns, rows)), files

    def _to_history(self, key: str, step: int) -> tuple[dict[str, Any], list[MediaFile]]:
        table, files = self._with_image_refs(key, step)
        data = table.to_json()
        sha = _sha(data)
        path = media_path("table", key, step, sha, "json")
        ref = {
            "_type": "table",
            "path": path,
            "sha256": sha,
            "size": len(data),
            "format": "json",
            "columns": list(self.columns),
            "nrows": len(self.data),
        }
        return ref, [*files, (path, sha, data)]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Table):
            return NotImplemented
        return self.columns == other.columns and _rows_equal(self.data, other.data)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<labbook.Table {len(self.data)} rows x {self.columns}>"


def _frame_column(col: pd.Series[Any]) -> list[Any]:
    """A DataFrame column as python values: in a float column NaN stays a float, in any other
    column pandas' missing markers (NaN, None, pd.NA, NaT) become None."""
    if col.dtype.kind == "f":
        return [float(v) for v in col.to_numpy()]
    values = col.to_numpy(dtype=object)
    missing = col.isna().to_numpy()
    return [
        None if m else (v.item() if isinstance(v, np.generic) else v)
        for v, m in zip(values, missing, strict=True)
    ]


def _rows_equal(a: list[list[Any]], b: list[list[Any]]) -> bool:
    if len(a) != len(b):
        return False
    for ra, rb in zip(a, b, strict=True):
        if len(ra) != len(rb):
            return False
        for x, y in zip(ra, rb, strict=True):
            if x == y and type(x) is type(y):
                continue
            if type(x) is float and type(y) is float and math.isnan(x) and math.isnan(y):
                continue
            return False
    return True


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False, ensure_ascii=False).encode()


# ----------------------------------------------------------------------------------- histograms


class Histogram:
    """A histogram logged inline in the history row (no file), like ``wandb.Histogram``.

    ``Histogram(sequence, num_bins=64)`` bins the finite values of ``sequence`` with
    ``numpy.histogram`` (NaN and ±Inf are left out of the counts);
    ``Histogram(np_histogram=np.histogram(...))`` keeps precomputed ``(counts, edges)``.
    At most :data:`MAX_HISTOGRAM_BINS` (512) bins.
    """

    _type = "histogram"

    def __init__(
        self,
        sequence: Any = None,
        np_histogram: tuple[Any, Any] | None = None,
        num_bins: int = 64,
    ) -> None:
        if (sequence is None) == (np_histogram is None):
            raise ValueError("labbook.Histogram takes either a sequence or np_histogram")
        if np_histogram is not None:
            counts = np.asarray(np_histogram[0])
            edges = np.asarray(np_histogram[1], dtype=np.float64)
            if counts.ndim != 1 or edges.ndim != 1 or len(edges) != len(counts) + 1:
                raise ValueError(
                    "np_histogram must be (counts, edges) with len(edges) == len(counts) + 1"
                )
            _check_bins(len(counts))
            if not np.all(np.isfinite(edges)) or np.any(np.diff(edges) < 0):
                raise ValueError("np_histogram edges must be finite and increasing")
        else:
            if type(num_bins) is not int and not isinstance(num_bins, np.integer):
                raise TypeError(f"num_bins must be an int, got {num_bins!r}")
            if num_bins < 1:
                raise ValueError(f"num_bins must be at least 1, got {num_bins}")
            _check_bins(int(num_bins))
            values = np.asarray(sequence, dtype=np.float64).ravel()
            counts, edges = np.histogram(values[np.isfinite(values)], bins=int(num_bins))
        self.histogram: list[int | float] = counts.tolist()
        self.bins: list[float] = edges.tolist()

    @property
    def num_bins(self) -> int:
        return len(self.histogram)

    def _to_history(self, key: str, step: int) -> tuple[dict[str, Any], list[MediaFile]]:
        values = [v if type(v) is int or math.isfinite(v) else None for v in self.histogram]
        return {"_type": "histogram", "bins": list(self.bins), "values": values}, []

    def __repr__(self) -> str:
        return f"<labbook.Histogram {self.num_bins} bins>"


def _check_bins(n: int) -> None:
    if n > MAX_HISTOGRAM_BINS:
        raise ValueError(
            f"labbook.Histogram allows at most {MAX_HISTOGRAM_BINS} bins "
            f"(MAX_HISTOGRAM_BINS); got {n}"
        )


# ----------------------------------------------------------------------------------- plots


class Plot:
    """A chart to log: a :class:`Table` of points, a chart kind and which columns it draws.

    Made by the functions of :mod:`labbook.plot`. ``fields`` maps a chart role (``x``, ``y``,
    ``stroke``, ``label``, ``value``, ...) to a column of :attr:`table`; ``meta`` holds small
    chart-specific extras (class names, AUC per class, axis names) that go into the history
    reference too. ``to_matplotlib()`` draws it; ``to_pandas()`` gives the points.
    """

    _type = "plot"

    def __init__(
        self,
        table: Table,
        chart: str,
        fields: Mapping[str, str | None],
        title: str | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(table, Table):
            raise TypeError(f"a labbook plot needs a labbook.Table, not {type(table).__name__}")
        clean = {str(k): str(v) for k, v in fields.items() if v is not None}
        for role, col in clean.items():
            if col not in table.columns:
                raise ValueError(
                    f"{chart} plot: {role}={col!r} is not a column of the table {table.columns}"
                )
        self.table = table
        self.chart = chart
        self.fields = clean
        self.title = None if title is None else str(title)
        self.meta: dict[str, Any] = dict(meta or {})

    def to_pandas(self) -> pd.DataFrame:
        return self.table.to_pandas()

    def to_json(self) -> bytes:
        """The points and the chart description as JSON (what ``log()`` stores)."""
        obj = self.table._json_obj()
        obj.update(
            {"chart": self.chart, "fields": self.fields, "title": self.title, "meta": self.meta}
        )
        return _dumps(_jsonable(obj))

    @classmethod
    def from_json(cls, text: str | bytes) -> Plot:
        obj = json.loads(text)
        meta = _unjsonable(obj.get("meta") or {})
        return cls(Table.from_json(obj), obj["chart"], obj["fields"], obj.get("title"), meta)

    def _to_history(self, key: str, step: int) -> tuple[dict[str, Any], list[MediaFile]]:
        data = self.to_json()
        sha = _sha(data)
        path = media_path("plot", key, step, sha, "json")
        ref: dict[str, Any] = {
            "_type": "plot",
            "path": path,
            "sha256": sha,
            "size": len(data),
            "format": "json",
            "chart": self.chart,
            "fields": dict(self.fields),
            "title": self.title,
            "columns": list(self.table.columns),
            "nrows": len(self.table.data),
        }
        if self.meta:
            ref["meta"] = dict(self.meta)
        return ref, [(path, sha, data)]

    def to_matplotlib(self, ax: Any = None) -> Any:
        """Draw the chart on ``ax`` (a new figure's axes by default) and return the axes.

        Needs matplotlib, imported only here.
        """
        return _draw(self, ax)

    def __repr__(self) -> str:
        return f"<labbook.Plot {self.chart} ({len(self.table.data)} points)>"


def _jsonable(obj: Any) -> Any:
    """Non-finite floats in plot metadata as the same strings tables use."""
    if type(obj) is float and not math.isfinite(obj):
        return "NaN" if math.isnan(obj) else ("Infinity" if obj > 0 else "-Infinity")
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    return obj


def _unjsonable(obj: Any) -> Any:
    if type(obj) is str and obj in _NONFINITE:
        return _NONFINITE[obj]
    if isinstance(obj, dict):
        return {k: _unjsonable(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_unjsonable(v) for v in obj]
    return obj


def columns_table(columns: Mapping[str, Iterable[Any]]) -> Table:
    """A table from equal-length columns of plain values (numpy arrays are converted)."""
    names = list(columns)
    cols = [
        np.asarray(v).tolist() if isinstance(v, np.ndarray) else list(v) for v in columns.values()
    ]
    n = len(cols[0]) if cols else 0
    if any(len(c) != n for c in cols):
        raise ValueError("columns must have the same length")
    return Table._trusted(names, [list(r) for r in zip(*cols, strict=True)])


# ----------------------------------------------------------------------------------- drawing


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "Plot.to_matplotlib() needs matplotlib, which is not installed: pip install matplotlib"
        ) from exc
    return plt


def _groups(plot: Plot, x: str, y: str) -> list[tuple[str | None, list[Any], list[Any]]]:
    """(series name, xs, ys) per value of the ``stroke`` column (one series without it)."""
    xs = plot.table.get_column(x)
    ys = plot.table.get_column(y)
    stroke = plot.fields.get("stroke")
    if stroke is None:
        return [(None, xs, ys)]
    keys = plot.table.get_column(stroke)
    out: dict[Any, tuple[list[Any], list[Any]]] = {}
    for k, a, b in zip(keys, xs, ys, strict=True):
        gx, gy = out.setdefault(k, ([], []))
        gx.append(a)
        gy.append(b)
    return [(str(k), gx, gy) for k, (gx, gy) in out.items()]


def _draw(plot: Plot, ax: Any) -> Any:
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots()
    f = plot.fields
    chart = plot.chart
    if chart in ("line", "roc_curve", "pr_curve", "scatter"):
        scores: dict[str, Any] = plot.meta.get("auc") or plot.meta.get("average_precision") or {}
        score_name = "AUC" if chart == "roc_curve" else "AP"
        for name, xs, ys in _groups(plot, f["x"], f["y"]):
            label = name
            if name is not None and name in scores:
                label = f"{name} ({score_name}={scores[name]:.3f})"
            if chart == "scatter":
                ax.scatter(xs, ys, label=label, s=12)
            else:
                ax.plot(
                    xs, ys, label=label, drawstyle="steps-post" if chart == "pr_curve" else None
                )
        if chart == "roc_curve":
            ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
        if f.get("stroke") is not None:
            ax.legend(loc="best")
        ax.set_xlabel(plot.meta.get("xname") or f["x"])
        ax.set_ylabel(f["y"])
    elif chart == "bar":
        labels = [str(v) for v in plot.table.get_column(f["label"])]
        ax.bar(labels, plot.table.get_column(f["value"]))
        ax.set_xlabel(f["label"])
        ax.set_ylabel(f["value"])
    elif chart == "histogram":
        vals = np.asarray(
            [v for v in plot.table.get_column(f["value"]) if v is not None], dtype=np.float64
        )
        ax.hist(vals[np.isfinite(vals)], bins=int(plot.meta.get("bins", 64)))
        ax.set_xlabel(f["value"])
        ax.set_ylabel("count")
    elif chart == "confusion_matrix":
        names = [str(n) for n in plot.meta.get("class_names", [])]
        index = {n: i for i, n in enumerate(names)}
        cm = np.zeros((len(names), len(names)))
        for a, p, v in zip(
            plot.table.get_column(f["actual"]),
            plot.table.get_column(f["predicted"]),
            plot.table.get_column(f["value"]),
            strict=True,
        ):
            cm[index[str(a)], index[str(p)]] = v
        ax.imshow(cm, cmap="Blues")
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
        ax.set_yticks(range(len(names)), names)
        ax.set_xlabel("Predicted")
        ax.set_ylabel("Actual")
        if len(names) <= 30:
            top = cm.max() if cm.size else 0
            for i in range(len(names)):
                for j in range(len(names)):
                    ax.text(
                        j,
                        i,
                        f"{cm[i, j]:g}",
                        ha="center",
                        va="center",
                        color="white" if cm[i, j] > top / 2 else "black",
                    )
    else:
        raise ValueError(f"cannot draw a {chart!r} plot")
    if plot.title:
        ax.set_title(plot.title)
    return ax
