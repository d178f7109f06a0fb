"""Initial registry schema: models, versions, aliases, registry_state.

Revision ID: 0001
Revises:
Create Date: 2026-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    utc = sa.DateTime(timezone=True)
    op.create_table(
        "models",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("version_policy", sa.JSON(), nullable=False),
        sa.Column("created_at", utc, nullable=False),
        sa.Column("updated_at", utc, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_models"),
        sa.UniqueConstraint("name", name="uq_models_name"),
    )
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("framework", sa.String(64), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("signature", sa.JSON(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("lineage", sa.JSON(), nullable=False),
        sa.Column("trusted", sa.Boolean(), nullable=False),
        sa.Column("reference_digest", sa.String(64), nullable=True),
        sa.Column("created_at", utc, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_model_versions"),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name="fk_model_versions_model_id_models", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("model_id", "number", name="uq_model_versions_model_id_number"),
    )
    op.create_table(
        "model_aliases",
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("version_number", sa.Integer(), nullable=False),
        sa.Column("updated_at", utc, nullable=False),
        sa.PrimaryKeyConstraint("model_id", "name", name="pk_model_aliases"),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name="fk_model_aliases_model_id_models", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["model_id", "version_number"],
            ["model_versions.model_id", "model_versions.number"],
            name="fk_model_aliases_model_id_version_number_model_versions",
            ondelete="CASCADE",
        ),
    )
    state = op.create_table(
        "registry_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_registry_state"),
        sa.CheckConstraint("id = 1", name="ck_registry_state_single_row"),
    )
    op.bulk_insert(state, [{"id": 1, "revision": 0}])


def downgrade() -> None:
    op.drop_table("registry_state")
    op.drop_table("model_aliases")
    op.drop_table("model_versions")
    op.drop_table("models")
