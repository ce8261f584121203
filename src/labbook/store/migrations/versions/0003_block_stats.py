"""Sub-block statistics of history blocks, for envelopes that decode nothing.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03

Written out by hand (see 0001): the schema as it is at this revision. Only the table is created:
the statistics of blocks written before it are computed by the first envelope that reads those
blocks (which decodes them anyway) and stored then, so upgrading a large database does not read
its whole history first (``labbook server`` and a training process's first open run this).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "history_block_stats",
        sa.Column("block_id", BIGID, autoincrement=False, nullable=False),
        sa.Column("t_first", sa.Float(53), nullable=True),
        sa.Column("t_last", sa.Float(53), nullable=True),
        sa.Column("sub", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("block_id", name="pk_history_block_stats"),
        sa.ForeignKeyConstraint(
            ["block_id"],
            ["history_blocks.id"],
            name="fk_history_block_stats_block_id_history_blocks",
            ondelete="CASCADE",
        ),
    )
    if op.get_bind().dialect.name == "postgresql":
        # Rows of a few KB stay inline and uncompressed: read without a TOAST lookup each.
        op.execute("ALTER TABLE history_block_stats SET (toast_tuple_target = 8160)")


def downgrade() -> None:
    op.drop_table("history_block_stats")
