"""The store's tables (SQLAlchemy Core), portable between SQLite and PostgreSQL.

These definitions are what the code queries; the database itself is created and evolved only by the
Alembic migrations in ``labbook/store/migrations``. A test compares the two, so a table changed here
without a migration fails.

Surrogate integer keys link the tables: history blocks and values hang off a ``metric_keys`` row, so
the hot indexes are on small integers instead of (entity, project, run id, key) strings.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from sqlalchemy import (
    DDL,
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.types import TypeDecorator, TypeEngine

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)


class JsonType(TypeDecorator[Any]):
    """JSON, as JSONB on PostgreSQL: typed extraction (jsonb_typeof) for filters, and indexable
    later.

    A decorator rather than ``JSON().with_variant(JSONB(), ...)`` so that the PostgreSQL dialect
    (~0.1 s of imports) loads only where it is used, not in every training process on SQLite.
    """

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())


# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on both databases.

    SQLite has no time zone type and would hand back naive values; storing naive UTC there and
    re-attaching UTC on read gives callers the same aware datetimes PostgreSQL's timestamptz does.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        value = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class NanFloat(TypeDecorator[float]):
    """A double where NaN is stored as NULL and read back as NaN.

    SQLite turns NaN into NULL anyway while PostgreSQL stores it and sorts it above every number;
    mapping it to NULL on both makes ``metrics.loss.min > 1`` and ``ORDER BY`` behave the same on
    either database (NaN never matches a comparison and sorts with the missing values).
    """

    impl = Float(53)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        value = float(value)
        return None if math.isnan(value) else value

    def process_result_value(self, value: Any, dialect: Dialect) -> float:
        return math.nan if value is None else float(value)


projects = Table(
    "projects",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("entity", String(128), nullable=False),
    Column("name", String(128), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    # "private" | "public"; ``entity`` is a user's or a team's name (see ``accounts``).
    Column("visibility", String(16), nullable=False, server_default="private"),
    UniqueConstraint("entity", "name"),
)

runs = Table(
    "runs",
    metadata,
    Column("pk", BigId, primary_key=True, autoincrement=True),
    Column(
        "project_id",
        BigInteger,
        ForeignKey("projects.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("run_id", String(128), nullable=False),
    Column("name", String(256), nullable=True),
    Column("state", String(16), nullable=False),
    Column("exit_code", Integer, nullable=True),
    Column("config", JsonType(), nullable=False),
    Column("summary", JsonType(), nullable=False),
    Column("tags", JsonType(), nullable=False),
    Column("notes", Text, nullable=True),
    Column("group_name", String(256), nullable=True),
    Column("job_type", String(256), nullable=True),
    Column("meta", JsonType(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("started_at", UTCDateTime(), nullable=True),
    Column("finished_at", UTCDateTime(), nullable=True),
    Column("heartbeat_at", UTCDateTime(), nullable=True),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("last_seq", BigInteger, nullable=False),
    UniqueConstraint("project_id", "run_id"),
    Index(None, "project_id", "created_at"),
)

# Tags again, one row each, so "has tag x" is an indexed EXISTS on both databases instead of
# dialect-specific JSON array containment. ``runs.tags`` keeps their order for display.
run_tags = Table(
    "run_tags",
    metadata,
    Column("run_pk", BigInteger, ForeignKey("runs.pk", ondelete="CASCADE"), primary_key=True),
    Column("tag", String(256), primary_key=True),
    Index(None, "tag"),
)

metric_keys = Table(
    "metric_keys",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("run_pk", BigInteger, ForeignKey("runs.pk", ondelete="CASCADE"), nullable=False),
    Column("key", String(512), nullable=False),
    # "float" | "int" | "bool" once any scalar was logged; None for text/object-only keys.
    Column("scalar_dtype", String(8), nullable=True),
    # "text" | "object" once any non-scalar (str/None/dict) was logged.
    Column("other_dtype", String(8), nullable=True),
    Column("count", BigInteger, nullable=False),
    Column("scalar_count", BigInteger, nullable=False),
    Column("last", NanFloat(), nullable=True),
    Column("last_is_scalar", Boolean, nullable=False),
    Column("last_json", JsonType(), nullable=True),
    Column("last_step", BigInteger, nullable=True),
    Column("min", NanFloat(), nullable=True),
    Column("max", NanFloat(), nullable=True),
    Column("first_step", BigInteger, nullable=True),
    Column("max_step", BigInteger, nullable=True),
    # The newest block, kept small-block-aware so a live run's tiny batches grow it in place.
    Column("tail_block_id", BigInteger, nullable=True),
    Column("tail_count", Integer, nullable=True),
    UniqueConstraint("run_pk", "key"),
)

history_blocks = Table(
    "history_blocks",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("key_id", BigInteger, ForeignKey("metric_keys.id", ondelete="CASCADE"), nullable=False),
    Column("step_lo", BigInteger, nullable=False),
    Column("step_hi", BigInteger, nullable=False),
    # Steps lo, lo+stride, ... are not stored (empty ``steps``) when stride > 0; 0 = explicit.
    Column("stride", BigInteger, nullable=False),
    Column("count", Integer, nullable=False),
    Column("dtype", String(8), nullable=False),
    Column("min", NanFloat(), nullable=True),
    Column("max", NanFloat(), nullable=True),
    Column("sum", NanFloat(), nullable=True),
    Column("first", NanFloat(), nullable=True),
    Column("last", NanFloat(), nullable=True),
    Column("steps", LargeBinary, nullable=False),
    Column("vals", LargeBinary, nullable=False),
    Column("times", LargeBinary, nullable=False),
    Index(None, "key_id", "step_lo"),
)

# Sub-block statistics of each block (``history.block_stats_row``): what lets a chart's envelope
# answer without decoding the blocks that cross its bucket edges. A table of its own, with rows of a
# few KB, so reading them never walks a block's large blobs (SQLite keeps a column added to
# ``history_blocks`` after them); on PostgreSQL they stay inline and uncompressed (the
# ``toast_tuple_target`` below). Blocks written before revision 0003 have no row until an envelope
# has read them once.
history_block_stats = Table(
    "history_block_stats",
    metadata,
    Column(
        "block_id",
        BigId,
        ForeignKey("history_blocks.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("t_first", NanFloat(), nullable=True),
    Column("t_last", NanFloat(), nullable=True),
    Column("sub", LargeBinary, nullable=False),
)
INLINE_STATS = "ALTER TABLE history_block_stats SET (toast_tuple_target = 8160)"  # PostgreSQL only
event.listen(
    history_block_stats, "after_create", DDL(INLINE_STATS).execute_if(dialect="postgresql")
)

history_values = Table(
    "history_values",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("key_id", BigInteger, ForeignKey("metric_keys.id", ondelete="CASCADE"), nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("ts", Float(53), nullable=True),
    Column("value", JsonType(), nullable=True),
    Index(None, "key_id", "step"),
)

files = Table(
    "files",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("run_pk", BigInteger, ForeignKey("runs.pk", ondelete="CASCADE"), nullable=False),
    Column("path", String(1024), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("run_pk", "path"),
)


# ----------------------------------------------------------------------------------- accounts
# Users and teams share one namespace: the ``entity`` of a project names one or the other.

users = Table(
    "users",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False),
    Column("password_hash", String(256), nullable=True),
    Column("admin", Boolean, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("name"),
)

teams = Table(
    "teams",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("name"),
)

memberships = Table(
    "memberships",
    metadata,
    Column("team_id", BigInteger, ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("role", String(16), nullable=False),
    Index(None, "user_id"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("user_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False),
    Column("name", String(128), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("last_used_at", UTCDateTime(), nullable=True),
    Column("revoked_at", UTCDateTime(), nullable=True),
    UniqueConstraint("prefix"),
    Index(None, "user_id"),
)

sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Index(None, "user_id"),
)


# ---------------------------------------------------------------------------------- artifacts
# A collection is one (project, name); its versions are numbered 0, 1, ... in commit order and
# identified by their manifest digest (``labbook.manifests``), so identical content is one row.

artifact_collections = Table(
    "artifact_collections",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column(
        "project_id",
        BigInteger,
        ForeignKey("projects.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("name", String(128), nullable=False),
    Column("type", String(128), nullable=False),
    Column("description", Text, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    UniqueConstraint("project_id", "name"),
)

artifact_versions = Table(
    "artifact_versions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column(
        "collection_id",
        BigInteger,
        ForeignKey("artifact_collections.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("idx", Integer, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("description", Text, nullable=True),
    Column("metadata", JsonType(), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("file_count", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    # The run that first logged it; a deleted run leaves the version (and says so: null).
    Column("logged_by", BigInteger, ForeignKey("runs.pk", ondelete="SET NULL"), nullable=True),
    UniqueConstraint("collection_id", "idx"),
    UniqueConstraint("collection_id", "digest"),
)

artifact_entries = Table(
    "artifact_entries",
    metadata,
    Column(
        "version_id",
        BigInteger,
        ForeignKey("artifact_versions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("path", String(1024), primary_key=True),
    Column("digest", String(256), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("ref", Text, nullable=True),
)

artifact_aliases = Table(
    "artifact_aliases",
    metadata,
    Column(
        "collection_id",
        BigInteger,
        ForeignKey("artifact_collections.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("alias", String(128), primary_key=True),
    Column(
        "version_id",
        BigInteger,
        ForeignKey("artifact_versions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Index(None, "version_id"),
)

# Lineage: which run logged ("logged") or used ("used") which version.
artifact_usage = Table(
    "artifact_usage",
    metadata,
    Column("run_pk", BigInteger, ForeignKey("runs.pk", ondelete="CASCADE"), primary_key=True),
    Column(
        "version_id",
        BigInteger,
        ForeignKey("artifact_versions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("kind", String(8), primary_key=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Index(None, "version_id"),
)

# The blobs a project has shown it holds (uploaded, or committed in a version). A version may
# only name blobs of its own project: content addressing must not let a caller who learnt a
# hash read another project's file by naming it in a manifest.
project_blobs = Table(
    "project_blobs",
    metadata,
    Column(
        "project_id",
        BigInteger,
        ForeignKey("projects.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("sha256", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
)

# The model registry: per entity (a user or a team), models that link artifact versions under
# versions of their own (idx) and aliases (``staging``, ``production``).
registered_models = Table(
    "registered_models",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("entity", String(128), nullable=False),
    Column("name", String(128), nullable=False),
    Column("description", Text, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("entity", "name"),
)

registry_links = Table(
    "registry_links",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column(
        "model_id",
        BigInteger,
        ForeignKey("registered_models.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("idx", Integer, nullable=False),
    Column(
        "version_id",
        BigInteger,
        ForeignKey("artifact_versions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("linked_at", UTCDateTime(), nullable=False),
    UniqueConstraint("model_id", "idx"),
    UniqueConstraint("model_id", "version_id"),
)

registry_aliases = Table(
    "registry_aliases",
    metadata,
    Column(
        "model_id",
        BigInteger,
        ForeignKey("registered_models.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("alias", String(128), primary_key=True),
    Column(
        "link_id",
        BigInteger,
        ForeignKey("registry_links.id", ondelete="CASCADE"),
        nullable=False,
    ),
)
