"""booths: halls, zones, exhibitors, booths, products, applications, search index

Revision ID: bo0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cloudexpo.db

revision = "bo0001"
down_revision = None
branch_labels = ("booths",)
depends_on = "cx0001"


def upgrade() -> None:
    op.create_table(
        "halls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=8), nullable=False),
        sa.Column("name", sa.JSON(), nullable=False),
        sa.Column("description", sa.JSON(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("map_x", sa.Integer(), nullable=False),
        sa.Column("map_y", sa.Integer(), nullable=False),
        sa.Column("map_w", sa.Integer(), nullable=False),
        sa.Column("map_h", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_halls")),
        sa.UniqueConstraint("code", name=op.f("uq_halls_code")),
    )
    op.create_table(
        "zones",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hall_id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=40), nullable=False),
        sa.Column("code", sa.String(length=8), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("name", sa.JSON(), nullable=False),
        sa.Column("description", sa.JSON(), nullable=False),
        sa.Column("color", sa.String(length=9), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("map_x", sa.Integer(), nullable=False),
        sa.Column("map_y", sa.Integer(), nullable=False),
        sa.Column("map_w", sa.Integer(), nullable=False),
        sa.Column("map_h", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["hall_id"], ["halls.id"], name=op.f("fk_zones_hall_id_halls"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_zones")),
        sa.UniqueConstraint("slug", name=op.f("uq_zones_slug")),
        sa.UniqueConstraint("code", name=op.f("uq_zones_code")),
    )
    op.create_index(op.f("ix_zones_hall_id"), "zones", ["hall_id"], unique=False)
    op.create_table(
        "exhibitors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.JSON(), nullable=False),
        sa.Column("region", sa.String(length=40), nullable=False),
        sa.Column("industry", sa.String(length=40), nullable=False),
        sa.Column("website", sa.String(length=300), nullable=False),
        sa.Column("created_at", cloudexpo.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exhibitors")),
    )
    op.create_index(op.f("ix_exhibitors_region"), "exhibitors", ["region"], unique=False)
    op.create_index(op.f("ix_exhibitors_industry"), "exhibitors", ["industry"], unique=False)
    op.create_table(
        "booths",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=16), nullable=False),
        sa.Column("zone_id", sa.Integer(), nullable=False),
        sa.Column("exhibitor_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.JSON(), nullable=False),
        sa.Column("tagline", sa.JSON(), nullable=False),
        sa.Column("description", sa.JSON(), nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("hidden", sa.Boolean(), nullable=False),
        sa.Column("hidden_reason", sa.String(length=500), nullable=False),
        sa.Column("featured", sa.Boolean(), nullable=False),
        sa.Column("has_video", sa.Boolean(), nullable=False),
        sa.Column("map_x", sa.Integer(), nullable=False),
        sa.Column("map_y", sa.Integer(), nullable=False),
        sa.Column("created_at", cloudexpo.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", cloudexpo.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["zone_id"], ["zones.id"], name=op.f("fk_booths_zone_id_zones")),
        sa.ForeignKeyConstraint(["exhibitor_id"], ["exhibitors.id"], name=op.f("fk_booths_exhibitor_id_exhibitors"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_booths")),
        sa.UniqueConstraint("number", name=op.f("uq_booths_number")),
    )
    op.create_index(op.f("ix_booths_zone_id"), "booths", ["zone_id"], unique=False)
    op.create_index(op.f("ix_booths_exhibitor_id"), "booths", ["exhibitor_id"], unique=False)
    op.create_table(
        "products",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("booth_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.JSON(), nullable=False),
        sa.Column("description", sa.JSON(), nullable=False),
        sa.Column("specifications", sa.JSON(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", cloudexpo.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["booth_id"], ["booths.id"], name=op.f("fk_products_booth_id_booths"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
    )
    op.create_index(op.f("ix_products_booth_id"), "products", ["booth_id"], unique=False)
    op.create_table(
        "applications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("organisation", sa.String(length=200), nullable=False),
        sa.Column("organisation_en", sa.String(length=200), nullable=False),
        sa.Column("region", sa.String(length=40), nullable=False),
        sa.Column("industry", sa.String(length=40), nullable=False),
        sa.Column("zone_id", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("contact_name", sa.String(length=120), nullable=False),
        sa.Column("contact_phone", sa.String(length=40), nullable=False),
        sa.Column("contact_email", sa.String(length=254), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("decided_at", cloudexpo.db.UTCDateTime(), nullable=True),
        sa.Column("exhibitor_id", sa.Integer(), nullable=True),
        sa.Column("booth_id", sa.Integer(), nullable=True),
        sa.Column("created_at", cloudexpo.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_applications_user_id_users"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["zone_id"], ["zones.id"], name=op.f("fk_applications_zone_id_zones")),
        sa.ForeignKeyConstraint(["decided_by"], ["users.id"], name=op.f("fk_applications_decided_by_users"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["exhibitor_id"], ["exhibitors.id"], name=op.f("fk_applications_exhibitor_id_exhibitors"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["booth_id"], ["booths.id"], name=op.f("fk_applications_booth_id_booths"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_applications")),
    )
    op.create_index(op.f("ix_applications_user_id"), "applications", ["user_id"], unique=False)
    op.create_index(op.f("ix_applications_state"), "applications", ["state"], unique=False)
    op.create_table(
        "search_docs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("booth_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["booth_id"], ["booths.id"], name=op.f("fk_search_docs_booth_id_booths"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"], name=op.f("fk_search_docs_product_id_products"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_search_docs")),
        sa.UniqueConstraint("product_id", name=op.f("uq_search_docs_product_id")),
    )
    op.create_index(op.f("ix_search_docs_booth_id"), "search_docs", ["booth_id"], unique=False)
    op.create_table(
        "search_grams",
        sa.Column("gram", sa.String(length=8), nullable=False),
        sa.Column("doc_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["doc_id"], ["search_docs.id"], name=op.f("fk_search_grams_doc_id_search_docs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("gram", "doc_id", name=op.f("pk_search_grams")),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_search_grams_doc_id", "search_grams", ["doc_id"], unique=False)

    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        # Substring search for queries of three characters or more; kept in
        # step with search_docs by triggers (external content table).
        op.execute(
            "CREATE VIRTUAL TABLE search_fts USING fts5("
            "body, content='search_docs', content_rowid='id', tokenize='trigram')"
        )
        op.execute(
            "CREATE TRIGGER search_docs_ai AFTER INSERT ON search_docs BEGIN "
            "INSERT INTO search_fts(rowid, body) VALUES (new.id, new.body); END"
        )
        op.execute(
            "CREATE TRIGGER search_docs_ad AFTER DELETE ON search_docs BEGIN "
            "INSERT INTO search_fts(search_fts, rowid, body) VALUES ('delete', old.id, old.body); END"
        )
        op.execute(
            "CREATE TRIGGER search_docs_au AFTER UPDATE ON search_docs BEGIN "
            "INSERT INTO search_fts(search_fts, rowid, body) VALUES ('delete', old.id, old.body); "
            "INSERT INTO search_fts(rowid, body) VALUES (new.id, new.body); END"
        )
    elif dialect == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute("CREATE INDEX ix_search_docs_body_trgm ON search_docs USING gin (body gin_trgm_ops)")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for trigger in ("search_docs_ai", "search_docs_ad", "search_docs_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS search_fts")
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_search_docs_body_trgm")
    op.drop_index("ix_search_grams_doc_id", table_name="search_grams")
    op.drop_table("search_grams")
    op.drop_index(op.f("ix_search_docs_booth_id"), table_name="search_docs")
    op.drop_table("search_docs")
    op.drop_index(op.f("ix_applications_state"), table_name="applications")
    op.drop_index(op.f("ix_applications_user_id"), table_name="applications")
    op.drop_table("applications")
    op.drop_index(op.f("ix_products_booth_id"), table_name="products")
    op.drop_table("products")
    op.drop_index(op.f("ix_booths_exhibitor_id"), table_name="booths")
    op.drop_index(op.f("ix_booths_zone_id"), table_name="booths")
    op.drop_table("booths")
    op.drop_index(op.f("ix_exhibitors_industry"), table_name="exhibitors")
    op.drop_index(op.f("ix_exhibitors_region"), table_name="exhibitors")
    op.drop_table("exhibitors")
    op.drop_index(op.f("ix_zones_hall_id"), table_name="zones")
    op.drop_table("zones")
    op.drop_table("halls")
