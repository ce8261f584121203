"""Runs-table filters and ordering: a MongoDB-style dict (as wandb's ``Api.runs`` takes) to SQL.

Field vocabulary: run columns (``id``, ``name``/``display_name``, ``state``, ``group``,
``job_type``, ``notes``, ``created_at``, ``started_at``, ``finished_at``, ``heartbeat_at``,
``exit_code``, ``last_seq``), ``tags``, ``config.<path>``, ``summary.<path>`` (alias
``summary_metrics.<path>``) and ``metrics.<key>.<stat>`` with stat in
last/min/max/count/last_step. A ``config.``/``summary.`` path has at most ``MAX_FIELD_DEPTH``
segments (see there).

JSON values are compared by the type of the filter value: a number is compared with the numeric
values only (cast, so ``10 > 9`` on both databases), a string with the strings, a bool with the
booleans. A value of another type never matches ``$gt``/``$eq``..., and matches ``$ne``/``$nin``
(as in MongoDB). This is the only module besides the engine set-up that speaks per dialect: JSON
path extraction and typing have no portable SQL spelling.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
from collections.abc import Callable, Sequence
from typing import Any

import msgspec
from sqlalchemy import (
    ColumnElement,
    Connection,
    DateTime,
    Float,
    String,
    Text,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
    type_coerce,
)
from sqlalchemy.sql.elements import UnaryExpression

from labbook.errors import ValidationError
from labbook.limits import MAX_DEPTH
from labbook.store import jsoncodec
from labbook.store.schema import metric_keys, run_tags, runs

OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists")
METRIC_STATS = ("last", "min", "max", "count", "last_step")
_STR_COLUMNS = {
    "id": "run_id",
    "name": "name",
    "display_name": "name",
    "displayName": "name",
    "group": "group_name",
    "job_type": "job_type",
    "jobType": "job_type",
    "notes": "notes",
}
_TIME_COLUMNS = {
    "created_at": "created_at",
    "createdAt": "created_at",
    "started_at": "started_at",
    "finished_at": "finished_at",
    "heartbeat_at": "heartbeat_at",
    "updated_at": "updated_at",
}
_INT_COLUMNS = {"exit_code": "exit_code", "last_seq": "last_seq"}
_JSON_ROOTS = {"config": "config", "summary": "summary", "summary_metrics": "summary"}
MAX_FIELD_DEPTH = MAX_DEPTH
"""Most segments in a ``config.``/``summary.`` field path (``config.a.b.c`` has 3).

PostgreSQL passes each segment as one argument of ``jsonb_extract_path`` (plus the column and
the ``$float`` tag of a non-finite number), and a function takes at most 100 arguments: a deeper
path was a 500 there while SQLite took it. One limit on both databases, far above any real
config (nested dicts a handful of levels deep) and far below PostgreSQL's, keeps every query
portable and its SQL small. It is ``labbook.limits.MAX_DEPTH``: no stored value nests deeper than
a filter can reach."""
_SHOW_FIELD = 80

Expr = ColumnElement[Any]


def computed_state(cutoff: dt.datetime) -> Expr:
    """The state as read: a running run whose heartbeat is older than ``cutoff`` has crashed."""
    return case(
        (
            and_(
                runs.c.state == "running",
                or_(runs.c.heartbeat_at.is_(None), runs.c.heartbeat_at < cutoff),
            ),
            literal("crashed"),
        ),
        else_=runs.c.state,
    )


def _shown(name: str) -> str:
    """``name`` quoted for an error message, its middle cut when long (a hostile field can be
    megabytes)."""
    if len(name) <= _SHOW_FIELD:
        return repr(name)
    half = _SHOW_FIELD // 2
    return repr(name[:half] + "..." + name[-half:])


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


class _Field:
    """How to compare and order one field; ``kind`` picks the typed comparisons."""

    def __init__(
        self, name: str, kind: str, expr: Expr | None = None, json: _JsonPath | None = None
    ) -> None:
        self.name = name
        self.kind = kind  # "str" | "time" | "int" | "num" | "json" | "tags"
        self.expr = expr
        self.json = json


class _JsonPath:
    """Typed views of one path inside a JSON column, spelled per dialect."""

    def __init__(self, dialect: str, column: Any, path: list[str]) -> None:
        self.dialect = dialect
        self.column = column
        self.path = path
        if dialect == "sqlite":
            for p in path:
                if '"' in p:
                    raise ValidationError(f"field path element {p!r} may not contain '\"'")
            self._sqlite_path = "$" + "".join(f'."{p}"' for p in path)
        elif dialect != "postgresql":
            raise ValidationError(f"JSON filters are not supported on {dialect}")

    def _typeof(self, sub: str | None = None) -> Expr:
        if self.dialect == "sqlite":
            p = self._sqlite_path + (f'."{sub}"' if sub else "")
            return func.json_type(self.column, p)
        args = [*self.path, *([sub] if sub else [])]
        return func.jsonb_typeof(func.jsonb_extract_path(self.column, *args))

    def _text(self, sub: str | None = None) -> Expr:
        if self.dialect == "sqlite":
            p = self._sqlite_path + (f'."{sub}"' if sub else "")
            return func.json_extract(self.column, p)
        args = [*self.path, *([sub] if sub else [])]
        return func.jsonb_extract_path_text(self.column, *args)

    def exists(self) -> Expr:
        return self._typeof().is_not(None)

    def is_null_or_missing(self) -> Expr:
        t = self._typeof()
        return or_(t.is_(None), t == "null")

    def number(self) -> Expr:
        """The value as a double when it is a number (the tagged ±Inf included), else NULL."""
        t = self._typeof()
        ftag = self._text("$float")
        if self.dialect == "sqlite":
            num: Expr = cast(func.json_extract(self.column, self._sqlite_path), Float)
            is_num: Expr = t.in_(["integer", "real"])
        else:
            num = cast(self._text(), Float)
            is_num = t == "number"
        return case(
            (is_num, num),
            (and_(t == "object", ftag == "inf"), literal(math.inf, Float)),
            (and_(t == "object", ftag == "-inf"), literal(-math.inf, Float)),
            else_=None,
        )

    def string(self) -> Expr:
        t = self._typeof()
        return case(
            (t == ("text" if self.dialect == "sqlite" else "string"), self._text()), else_=None
        )

    def boolean_is(self, value: bool) -> Expr:
        t = self._typeof()
        if self.dialect == "sqlite":
            return t == ("true" if value else "false")
        return and_(t == "boolean", self._text() == ("true" if value else "false"))

    def value_parts(self) -> list[Expr]:
        """Expressions that read the value back with its JSON type (see :func:`json_value`).

        SQLite's ``json_extract`` hands out SQL values (a bool as 1, an object as its text), so
        the type travels beside it; PostgreSQL's ``jsonb`` comes back decoded.
        """
        if self.dialect == "sqlite":
            return [self._typeof(), func.json_extract(self.column, self._sqlite_path)]
        return [json_text(self.dialect, func.jsonb_extract_path(self.column, *self.path))]


_decode_json = msgspec.json.Decoder().decode


def json_loads(text: Any) -> Any:
    """A :func:`json_text` value decoded, tagged non-finite floats included; one C call for the
    usual value (the engine's ``jsoncodec.loads`` costs several times more per value, which a
    10,000-run table pays tens of thousands of times). SQLite's numeric affinity has already
    turned a bare number into one."""
    if not isinstance(text, str):
        return text
    if jsoncodec.TAG in text:
        return jsoncodec.loads(text)
    try:
        return _decode_json(text)
    except msgspec.DecodeError:  # a number past float64 or int64, which json reads as ±inf
        return jsoncodec.loads(text)


def json_text(dialect: str, expr: Any) -> Expr:
    """A JSON column as its undecoded text (decoding many small values in one C call later is
    cheaper than the driver's per-value ``json.loads``)."""
    if dialect == "sqlite":
        return type_coerce(expr, Text)  # stored as text
    return cast(expr, Text)


def raw_time(dialect: str, column: Any) -> Expr:
    """A time column without the per-value Python conversion of ``UTCDateTime``: SQLite's
    stored text (naive UTC), PostgreSQL's aware datetime; :func:`naive_utc` reads either."""
    if dialect == "sqlite":
        return type_coerce(column, String)
    return type_coerce(column, DateTime(timezone=True))


def naive_utc(v: Any) -> dt.datetime | None:
    """A :func:`raw_time` value as a naive UTC datetime."""
    if v is None:
        return None
    if isinstance(v, str):
        return dt.datetime.fromisoformat(v)
    if v.tzinfo is not None:
        v = v.astimezone(dt.UTC).replace(tzinfo=None)
    return v


def json_value(dialect: str, parts: Sequence[Any]) -> Any:
    """The Python value of one ``_JsonPath.value_parts`` read (None when the path is missing);
    tagged non-finite floats become floats again."""
    if dialect != "sqlite":
        return json_loads(parts[0])
    kind, raw = parts
    if kind is None or kind == "null":
        return None
    if kind == "true":
        return True
    if kind == "false":
        return False
    if kind in ("object", "array"):
        return json_loads(raw)
    return raw


class QueryBuilder:
    """Translates filters and orders against ``runs`` for one dialect and one crash cutoff."""

    def __init__(self, dialect: str, cutoff: dt.datetime) -> None:
        self.dialect = dialect
        self.state = computed_state(cutoff)

    # ----------------------------------------------------------------------------- fields
    def field(self, name: Any) -> _Field:
        if not isinstance(name, str) or not name or "\x00" in name:
            raise ValidationError(f"invalid field {name!r}")
        if name == "state":
            return _Field(name, "str", self.state)
        if name == "tags":
            return _Field(name, "tags")
        if name in _STR_COLUMNS:
            return _Field(name, "str", runs.c[_STR_COLUMNS[name]])
        if name in _TIME_COLUMNS:
            return _Field(name, "time", runs.c[_TIME_COLUMNS[name]])
        if name in _INT_COLUMNS:
            return _Field(name, "int", runs.c[_INT_COLUMNS[name]])
        root, _, rest = name.partition(".")
        if root in _JSON_ROOTS and rest:
            path = rest.split(".")
            if len(path) > MAX_FIELD_DEPTH:
                raise ValidationError(
                    f"field {_shown(name)} is {len(path)} levels deep, deeper than the "
                    f"{MAX_FIELD_DEPTH} a {root}.<path> filter or order takes"
                )
            if any(not p for p in path):
                raise ValidationError(f"invalid field {_shown(name)}: empty path element")
            return _Field(
                name, "json", json=_JsonPath(self.dialect, runs.c[_JSON_ROOTS[root]], path)
            )
        if root == "metrics" and rest:
            key, _, stat = rest.rpartition(".")
            if not key or stat not in METRIC_STATS:
                raise ValidationError(
                    f"invalid field {name!r}: use metrics.<key>.<stat> with stat one of "
                    + ", ".join(METRIC_STATS)
                )
            mk = metric_keys.alias("mk")
            sub = (
                select(mk.c[stat])
                .where(mk.c.run_pk == runs.c.pk, mk.c.key == key)
                .scalar_subquery()
            )
            return _Field(name, "int" if stat in ("count", "last_step") else "num", sub)
        raise ValidationError(
            f"unknown field {name!r}: use a run attribute (state, name, tags, group, job_type, "
            "created_at, ...), config.<key>, summary.<key> or metrics.<key>.<stat>"
        )

    # ---------------------------------------------------------------------------- filters
    def where(self, filters: dict[str, Any] | None) -> Expr:
        if filters is None:
            return true()
        if not isinstance(filters, dict):
            raise ValidationError("filters must be an object")
        clauses: list[Expr] = []
        for key, value in filters.items():
            if key in ("$and", "$or"):
                if not isinstance(value, list | tuple) or not value:
                    raise ValidationError(f"{key} takes a non-empty list of filters")
                subs = [self.where(v) for v in value]
                clauses.append(and_(*subs) if key == "$and" else or_(*subs))
            elif isinstance(key, str) and key.startswith("$"):
                raise ValidationError(f"unknown operator {key!r} at the top level of filters")
            else:
                clauses.append(self._field_clause(self.field(key), value))
        return and_(true(), *clauses)

    def _field_clause(self, f: _Field, spec: Any) -> Expr:
        if (
            isinstance(spec, dict)
            and spec
            and all(isinstance(k, str) and k.startswith("$") for k in spec)
        ):
            parts = []
            for op, v in spec.items():
                if op not in OPERATORS:
                    raise ValidationError(
                        f"unknown operator {op!r} for field {f.name!r}; use one of "
                        + ", ".join(OPERATORS)
                    )
                parts.append(self._op(f, op, v))
            return and_(*parts)
        if isinstance(spec, dict):
            raise ValidationError(
                f"filter for {f.name!r} must be a value or an object of operators ($eq, $gt, ...)"
            )
        return self._op(f, "$eq", spec)

    def _op(self, f: _Field, op: str, v: Any) -> Expr:
        if op == "$exists":
            if not isinstance(v, bool):
                raise ValidationError(f"$exists for {f.name!r} takes true or false")
            e = self._exists(f)
            return e if v else not_(e)
        if op in ("$in", "$nin"):
            if not isinstance(v, list | tuple):
                raise ValidationError(f"{op} for {f.name!r} takes a list")
            any_eq = or_(false(), *(self._eq(f, x) for x in v))
            return any_eq if op == "$in" else not_(any_eq)
        if op == "$eq":
            return self._eq(f, v)
        if op == "$ne":
            return not_(self._eq(f, v))
        return self._compare(f, op, v)

    def _exists(self, f: _Field) -> Expr:
        if f.kind == "tags":
            return exists().where(run_tags.c.run_pk == runs.c.pk)
        if f.kind == "json":
            assert f.json is not None
            return f.json.exists()
        assert f.expr is not None
        return f.expr.is_not(None)

    def _eq(self, f: _Field, v: Any) -> Expr:
        """Equality that is never NULL, so NOT (...) means 'does not equal' for missing values."""
        if f.kind == "tags":
            if not isinstance(v, str):
                raise ValidationError(f"tags filters take strings, got {v!r}")
            return exists().where(run_tags.c.run_pk == runs.c.pk, run_tags.c.tag == v)
        if f.kind == "json":
            j = f.json
            assert j is not None
            if v is None:
                return j.is_null_or_missing()
            if isinstance(v, bool):
                return j.boolean_is(v)
            if _is_number(v):
                if isinstance(v, float) and math.isnan(v):
                    return false()
                n = j.number()
                return and_(n.is_not(None), n == float(v))
            if isinstance(v, str):
                s = j.string()
                return and_(s.is_not(None), s == v)
            raise ValidationError(f"cannot compare {f.name!r} with {type(v).__name__} {v!r}")
        assert f.expr is not None
        if v is None:
            return f.expr.is_(None)
        val = self._coerce(f, v)
        return and_(f.expr.is_not(None), f.expr == val)

    def _compare(self, f: _Field, op: str, v: Any) -> Expr:
        if f.kind == "tags":
            raise ValidationError(f"{op} does not apply to tags (use $in, $nin, $exists)")
        if v is None or isinstance(v, bool):
            raise ValidationError(f"{op} for {f.name!r} needs a number, string or time")
        if f.kind == "json":
            assert f.json is not None
            if _is_number(v):
                expr = f.json.number()
                val: Any = float(v)
            elif isinstance(v, str):
                expr, val = f.json.string(), v
            else:
                raise ValidationError(f"cannot compare {f.name!r} with {type(v).__name__} {v!r}")
        else:
            assert f.expr is not None
            expr, val = f.expr, self._coerce(f, v)
        ops: dict[str, Callable[[Any, Any], Expr]] = {
            "$gt": lambda a, b: a > b,
            "$gte": lambda a, b: a >= b,
            "$lt": lambda a, b: a < b,
            "$lte": lambda a, b: a <= b,
        }
        return and_(expr.is_not(None), ops[op](expr, val))

    def _coerce(self, f: _Field, v: Any) -> Any:
        if f.kind == "str":
            if not isinstance(v, str):
                raise ValidationError(f"{f.name!r} is a string field; got {v!r}")
            return v
        if f.kind == "time":
            return parse_time(v, f.name)
        if f.kind in ("int", "num"):
            if not _is_number(v):
                raise ValidationError(f"{f.name!r} is a numeric field; got {v!r}")
            return v
        raise ValidationError(f"cannot compare {f.name!r}")  # pragma: no cover

    # ------------------------------------------------------------------------------ order
    def order(self, order: str | Sequence[str] | None) -> list[UnaryExpression[Any]]:
        items = ["-created_at"] if order is None else [order] if isinstance(order, str) else order
        if isinstance(items, str) or not isinstance(items, Sequence):
            raise ValidationError("order must be a field name or a list of them")
        out: list[UnaryExpression[Any]] = []
        for item in items:
            if not isinstance(item, str) or not item.strip("+-"):
                raise ValidationError(f"invalid order field {item!r}")
            desc = item.startswith("-")
            f = self.field(item.lstrip("+-"))
            if f.kind == "tags":
                raise ValidationError("cannot order by tags")
            if f.kind == "json":
                assert f.json is not None
                exprs = [f.json.number(), f.json.string()]
            else:
                assert f.expr is not None
                exprs = [f.expr]
            for e in exprs:
                out.append((e.desc() if desc else e.asc()).nulls_last())
        out.append(runs.c.run_id.asc())
        return out


def parse_time(v: Any, name: str = "time") -> dt.datetime:
    """A datetime from a datetime, an ISO 8601 string or unix seconds; naive means UTC."""
    if isinstance(v, dt.datetime):
        return v if v.tzinfo else v.replace(tzinfo=dt.UTC)
    if _is_number(v):
        return dt.datetime.fromtimestamp(float(v), dt.UTC)
    if isinstance(v, str):
        try:
            t = dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError(f"{name!r}: {v!r} is not an ISO 8601 time") from None
        return t if t.tzinfo else t.replace(tzinfo=dt.UTC)
    raise ValidationError(f"{name!r} takes a datetime, ISO string or unix seconds; got {v!r}")


# ----------------------------------------------------------------------- fields no run has
def fields_of(filters: Any, order: str | Sequence[str] | None) -> list[str]:
    """The field names ``filters`` and ``order`` refer to, each once, in order of appearance."""
    out: dict[str, None] = {}

    def walk(flt: Any) -> None:
        if not isinstance(flt, dict):
            return
        for key, value in flt.items():
            if key in ("$and", "$or") and isinstance(value, list | tuple):
                for sub in value:
                    walk(sub)
            elif isinstance(key, str) and not key.startswith("$"):
                out[key] = None

    walk(filters)
    items = [] if order is None else [order] if isinstance(order, str) else list(order)
    for item in items:
        if isinstance(item, str) and item.strip("+-"):
            out[item.lstrip("+-")] = None
    return list(out)


SAMPLE_RUNS = 500
"""How many of a project's newest runs the key suggestions are drawn from."""


def absent_field_notes(
    conn: Connection, dialect: str, project_id: int, where: str, names: Sequence[str]
) -> list[str]:
    """One message per ``config.*``/``summary.*``/``metrics.*`` field of ``names`` that no run of
    the project has, naming the keys that do exist (closest first).

    A filter on such a field matches nothing (or everything, for ``$ne``), and an order on it
    orders nothing: without this the user sees an empty or unsorted table and no reason.
    Run attributes (``state``, ``name``, ...) always exist and are never reported.
    """
    notes: list[str] = []
    known: dict[str, list[str]] = {}
    cutoff = dt.datetime.now(dt.UTC)
    for name in names:
        root, _, rest = name.partition(".")
        if root in _JSON_ROOTS and rest:
            f = QueryBuilder(dialect, cutoff).field(name)
            assert f.json is not None
            hit = exists().where(runs.c.project_id == project_id, f.json.exists())
            if conn.execute(select(hit)).scalar():
                continue
            label = _JSON_ROOTS[root]
            if label not in known:
                known[label] = _json_keys(conn, project_id, label)
            notes.append(_note(where, name, [f"{label}.{k}" for k in known[label]], label))
        elif root == "metrics" and rest:
            key = rest.rpartition(".")[0]
            mk = metric_keys.alias("mk")
            hit = exists().where(
                mk.c.run_pk == runs.c.pk, runs.c.project_id == project_id, mk.c.key == key
            )
            if conn.execute(select(hit)).scalar():
                continue
            if "metrics" not in known:
                keys = conn.execute(
                    select(mk.c.key)
                    .distinct()
                    .join(runs, runs.c.pk == mk.c.run_pk)
                    .where(runs.c.project_id == project_id)
                    .order_by(mk.c.key)
                    .limit(2000)
                ).scalars()
                known["metrics"] = list(keys)
            stat = rest.rpartition(".")[2]
            notes.append(
                _note(where, name, [f"metrics.{k}.{stat}" for k in known["metrics"]], "metric")
            )
    return notes


def _json_keys(conn: Connection, project_id: int, column: str) -> list[str]:
    """The leaf paths of ``column`` across the project's newest runs (media values are leaves)."""
    rows = conn.execute(
        select(runs.c[column])
        .where(runs.c.project_id == project_id)
        .order_by(runs.c.created_at.desc())
        .limit(SAMPLE_RUNS)
    ).scalars()
    keys: dict[str, None] = {}

    def walk(d: dict[str, Any], prefix: str) -> None:
        for k, v in d.items():
            if isinstance(v, dict) and v and "_type" not in v:
                walk(v, f"{prefix}{k}.")
            else:
                keys[f"{prefix}{k}"] = None

    for value in rows:
        if isinstance(value, dict):
            walk(value, "")
    return sorted(keys)


def _note(where: str, name: str, existing: list[str], kind: str) -> str:
    msg = f"no run in {where} has {name}"
    # Compared without the shared "config."/"summary." prefix, which would make every key close.
    root = name.partition(".")[0] + "."
    tails = {k.removeprefix(root): k for k in existing}
    close = [
        tails[t]
        for t in difflib.get_close_matches(name.removeprefix(root), list(tails), n=3, cutoff=0.7)
    ]
    if close:
        msg += f"; did you mean {' or '.join(close)}?"
    if not existing:
        return msg + f" (no run there has any {kind} keys)"
    rest = [k for k in existing if k not in close]
    shown = rest[:12]
    more = f", ... ({len(rest) - len(shown)} more)" if len(rest) > len(shown) else ""
    if shown:
        msg += f" ({'other ' if close else ''}{kind} keys: {', '.join(shown)}{more})"
    return msg
