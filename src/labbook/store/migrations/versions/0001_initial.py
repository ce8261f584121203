"""Initial schema: projects, runs, tags, metric keys, history blocks and values, files.

Revision ID: 0001
Revises:
Create Date: 2025-11-26

Written out by hand instead of importing ``labbook.store.schema``: a migration must describe the
schema as it was at this revision, whatever the code's tables become later.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts(name: str, nullable: bool) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _f(name: str) -> sa.Column:
    return sa.Column(name, sa.Float(53), nullable=True)


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("entity", sa.String(128), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        _ts("created_at", False),
        sa.PrimaryKeyConstraint("id", name="pk_projects"),
        sa.UniqueConstraint("entity", "name", name="uq_projects_entity_name"),
    )
    op.create_table(
        "runs",
        sa.Column("pk", BIGID, autoincrement=True, nullable=False),
        sa.Column("project_id", sa.BigInteger(), nullable=False),
        sa.Column("run_id", sa.String(128), nullable=False),
        sa.Column("name", sa.String(256), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("config", JSON, nullable=False),
        sa.Column("summary", JSON, nullable=False),
        sa.Column("tags", JSON, nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("group_name", sa.String(256), nullable=True),
        sa.Column("job_type", sa.String(256), nullable=True),
        sa.Column("meta", JSON, nullable=False),
        _ts("created_at", False),
        _ts("started_at", True),
        _ts("finished_at", True),
        _ts("heartbeat_at", True),
        _ts("updated_at", False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("pk", name="pk_runs"),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name="fk_runs_project_id_projects", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("project_id", "run_id", name="uq_runs_project_id_run_id"),
    )
    op.create_index("ix_runs_project_id_created_at", "runs", ["project_id", "created_at"])
    op.create_table(
        "run_tags",
        sa.Column("run_pk", sa.BigInteger(), nullable=False),
        sa.Column("tag", sa.String(256), nullable=False),
        sa.PrimaryKeyConstraint("run_pk", "tag", name="pk_run_tags"),
        sa.ForeignKeyConstraint(
            ["run_pk"], ["runs.pk"], name="fk_run_tags_run_pk_runs", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_run_tags_tag", "run_tags", ["tag"])
    op.create_table(
        "metric_keys",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("run_pk", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.String(512), nullable=False),
        sa.Column("scalar_dtype", sa.String(8), nullable=True),
        sa.Column("other_dtype", sa.String(8), nullable=True),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("scalar_count", sa.BigInteger(), nullable=False),
        _f("last"),
        sa.Column("last_is_scalar", sa.Boolean(), nullable=False),
        sa.Column("last_json", JSON, nullable=True),
        sa.Column("last_step", sa.BigInteger(), nullable=True),
        _f("min"),
        _f("max"),
        sa.Column("first_step", sa.BigInteger(), nullable=True),
        sa.Column("max_step", sa.BigInteger(), nullable=True),
        sa.Column("tail_block_id", sa.BigInteger(), nullable=True),
        sa.Column("tail_count", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_metric_keys"),
        sa.ForeignKeyConstraint(
            ["run_pk"], ["runs.pk"], name="fk_metric_keys_run_pk_runs", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("run_pk", "key", name="uq_metric_keys_run_pk_key"),
    )
    op.create_table(
        "history_blocks",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("key_id", sa.BigInteger(), nullable=False),
        sa.Column("step_lo", sa.BigInteger(), nullable=False),
        sa.Column("step_hi", sa.BigInteger(), nullable=False),
        sa.Column("stride", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("dtype", sa.String(8), nullable=False),
        _f("min"),
        _f("max"),
        _f("sum"),
        _f("first"),
        _f("last"),
        sa.Column("steps", sa.LargeBinary(), nullable=False),
        sa.Column("vals", sa.LargeBinary(), nullable=False),
        sa.Column("times", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_history_blocks"),
        sa.ForeignKeyConstraint(
            ["key_id"],
            ["metric_keys.id"],
            name="fk_history_blocks_key_id_metric_keys",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_history_blocks_key_id_step_lo", "history_blocks", ["key_id", "step_lo"])
    op.create_table(
        "history_values",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("key_id", sa.BigInteger(), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("ts", sa.Float(53), nullable=True),
        sa.Column("value", JSON, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_history_values"),
        sa.ForeignKeyConstraint(
            ["key_id"],
            ["metric_keys.id"],
            name="fk_history_values_key_id_metric_keys",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_history_values_key_id_step", "history_values", ["key_id", "step"])
    op.create_table(
        "files",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("run_pk", sa.BigInteger(), nullable=False),
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        _ts("updated_at", False),
        sa.PrimaryKeyConstraint("id", name="pk_files"),
        sa.ForeignKeyConstraint(
            ["run_pk"], ["runs.pk"], name="fk_files_run_pk_runs", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("run_pk", "path", name="uq_files_run_pk_path"),
    )


def downgrade() -> None:
    for table in (
        "files",
        "history_values",
        "history_blocks",
        "metric_keys",
        "run_tags",
        "runs",
        "projects",
    ):
        op.drop_table(table)
