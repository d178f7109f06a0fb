"""Each model remembers the highest version number it ever gave, so that a deleted version's
number is never given again.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("models") as batch:
        batch.add_column(sa.Column("last_number", sa.Integer(), nullable=False, server_default="0"))
    op.execute(
        "UPDATE models SET last_number = COALESCE("
        "(SELECT MAX(number) FROM model_versions WHERE model_versions.model_id = models.id), 0)"
    )


def downgrade() -> None:
    with op.batch_alter_table("models") as batch:
        batch.drop_column("last_number")
