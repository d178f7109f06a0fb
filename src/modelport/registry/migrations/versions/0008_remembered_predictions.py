"""Predictions feedback can judge on any server process, each judged once.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "remembered_predictions",
        sa.Column("endpoint", sa.String(128), nullable=False),
        sa.Column("request_id", sa.String(256), nullable=False),
        sa.Column("variant", sa.String(300), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("dtype", sa.String(32), nullable=False),
        sa.Column("shape", sa.JSON(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("judged", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("endpoint", "request_id", name="pk_remembered_predictions"),
    )
    op.create_index(
        "ix_remembered_predictions_endpoint_created", "remembered_predictions", ["endpoint", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_remembered_predictions_endpoint_created", table_name="remembered_predictions")
    op.drop_table("remembered_predictions")
