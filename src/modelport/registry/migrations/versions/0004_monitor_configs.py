"""Monitor configs: each model's or endpoint's payload-log sampling rate and redaction rules.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "monitor_configs",
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("sample_rate", sa.Float(), nullable=False),
        sa.Column("redact", sa.JSON(), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_monitor_configs"),
    )


def downgrade() -> None:
    op.drop_table("monitor_configs")
