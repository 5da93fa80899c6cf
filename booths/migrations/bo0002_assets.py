"""booths: media assets and browser uploads in flight

Revision ID: bo0002
Revises: bo0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cloudexpo.db

revision = "bo0002"
down_revision = "bo0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "assets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("exhibitor_id", sa.Integer(), nullable=False),
        sa.Column("booth_id", sa.Integer(), nullable=True),
        sa.Column("product_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=512), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("problem", sa.Text(), nullable=True),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("hidden", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("title", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", cloudexpo.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", cloudexpo.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["booth_id"], ["booths.id"], name=op.f("fk_assets_booth_id_booths"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_assets_product_id_products"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assets")),
    )
    op.create_index(op.f("ix_assets_exhibitor_id"), "assets", ["exhibitor_id"], unique=False)
    op.create_index(op.f("ix_assets_booth_id"), "assets", ["booth_id"], unique=False)
    op.create_index(op.f("ix_assets_product_id"), "assets", ["product_id"], unique=False)
    op.create_index(op.f("ix_assets_state"), "assets", ["state"], unique=False)
    op.create_table(
        "uploads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("asset_id", sa.Integer(), nullable=False),
        sa.Column("upload_id", sa.String(length=1024), nullable=True),
        sa.Column("part_size", sa.Integer(), nullable=False),
        sa.Column("part_count", sa.Integer(), nullable=False),
        sa.Column("total_size", sa.BigInteger(), nullable=False),
        sa.Column("parts_done", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", cloudexpo.db.UTCDateTime(), nullable=False),
        sa.Column("completed_at", cloudexpo.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["assets.id"], name=op.f("fk_uploads_asset_id_assets"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_uploads")),
    )
    op.create_index(op.f("ix_uploads_asset_id"), "uploads", ["asset_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_uploads_asset_id"), table_name="uploads")
    op.drop_table("uploads")
    op.drop_index(op.f("ix_assets_state"), table_name="assets")
    op.drop_index(op.f("ix_assets_product_id"), table_name="assets")
    op.drop_index(op.f("ix_assets_booth_id"), table_name="assets")
    op.drop_index(op.f("ix_assets_exhibitor_id"), table_name="assets")
    op.drop_table("assets")
