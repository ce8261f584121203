"""Artifacts: collections, versions, entries, aliases, lineage, project blobs; the model registry.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03

Written out by hand (see 0001): the schema as it is at this revision. Only new tables: no
existing row is read or changed, so the upgrade is instant on any size of database.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _fk(table: str, col: str, target: str, ondelete: str = "CASCADE") -> sa.ForeignKeyConstraint:
    ttable = target.split(".")[0]
    return sa.ForeignKeyConstraint(
        [col], [target], name=f"fk_{table}_{col}_{ttable}", ondelete=ondelete
    )


def upgrade() -> None:
    op.create_table(
        "artifact_collections",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("project_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("type", sa.String(128), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        _fk("artifact_collections", "project_id", "projects.id"),
        sa.PrimaryKeyConstraint("id", name="pk_artifact_collections"),
        sa.UniqueConstraint("project_id", "name", name="uq_artifact_collections_project_id_name"),
    )
    op.create_table(
        "artifact_versions",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("collection_id", sa.BigInteger(), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("metadata", JSON, nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("file_count", sa.Integer(), nullable=False),
        _ts("created_at"),
        sa.Column("logged_by", sa.BigInteger(), nullable=True),
        _fk("artifact_versions", "collection_id", "artifact_collections.id"),
        _fk("artifact_versions", "logged_by", "runs.pk", ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name="pk_artifact_versions"),
        sa.UniqueConstraint("collection_id", "idx", name="uq_artifact_versions_collection_id_idx"),
        sa.UniqueConstraint(
            "collection_id", "digest", name="uq_artifact_versions_collection_id_digest"
        ),
    )
    op.create_table(
        "artifact_entries",
        sa.Column("version_id", sa.BigInteger(), nullable=False),
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("digest", sa.String(256), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("ref", sa.Text(), nullable=True),
        _fk("artifact_entries", "version_id", "artifact_versions.id"),
        sa.PrimaryKeyConstraint("version_id", "path", name="pk_artifact_entries"),
    )
    op.create_table(
        "artifact_aliases",
        sa.Column("collection_id", sa.BigInteger(), nullable=False),
        sa.Column("alias", sa.String(128), nullable=False),
        sa.Column("version_id", sa.BigInteger(), nullable=False),
        _fk("artifact_aliases", "collection_id", "artifact_collections.id"),
        _fk("artifact_aliases", "version_id", "artifact_versions.id"),
        sa.PrimaryKeyConstraint("collection_id", "alias", name="pk_artifact_aliases"),
    )
    op.create_index("ix_artifact_aliases_version_id", "artifact_aliases", ["version_id"])
    op.create_table(
        "artifact_usage",
        sa.Column("run_pk", sa.BigInteger(), nullable=False),
        sa.Column("version_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        _ts("created_at"),
        _fk("artifact_usage", "run_pk", "runs.pk"),
        _fk("artifact_usage", "version_id", "artifact_versions.id"),
        sa.PrimaryKeyConstraint("run_pk", "version_id", "kind", name="pk_artifact_usage"),
    )
    op.create_index("ix_artifact_usage_version_id", "artifact_usage", ["version_id"])
    op.create_table(
        "project_blobs",
        sa.Column("project_id", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        _fk("project_blobs", "project_id", "projects.id"),
        sa.PrimaryKeyConstraint("project_id", "sha256", name="pk_project_blobs"),
    )
    op.create_table(
        "registered_models",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("entity", sa.String(128), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_registered_models"),
        sa.UniqueConstraint("entity", "name", name="uq_registered_models_entity_name"),
    )
    op.create_table(
        "registry_links",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("model_id", sa.BigInteger(), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.BigInteger(), nullable=False),
        _ts("linked_at"),
        _fk("registry_links", "model_id", "registered_models.id"),
        _fk("registry_links", "version_id", "artifact_versions.id"),
        sa.PrimaryKeyConstraint("id", name="pk_registry_links"),
        sa.UniqueConstraint("model_id", "idx", name="uq_registry_links_model_id_idx"),
        sa.UniqueConstraint("model_id", "version_id", name="uq_registry_links_model_id_version_id"),
    )
    op.create_table(
        "registry_aliases",
        sa.Column("model_id", sa.BigInteger(), nullable=False),
        sa.Column("alias", sa.String(128), nullable=False),
        sa.Column("link_id", sa.BigInteger(), nullable=False),
        _fk("registry_aliases", "model_id", "registered_models.id"),
        _fk("registry_aliases", "link_id", "registry_links.id"),
        sa.PrimaryKeyConstraint("model_id", "alias", name="pk_registry_aliases"),
    )


def downgrade() -> None:
    for table in (
        "registry_aliases",
        "registry_links",
        "registered_models",
        "project_blobs",
        "artifact_usage",
        "artifact_aliases",
        "artifact_entries",
        "artifact_versions",
        "artifact_collections",
    ):
        op.drop_table(table)
