"""booths: search without joins — visibility, rank and filters copied into the search tables

Revision ID: bo0004
Revises: bo0003
Create Date: 2026-11-26

``search_docs`` gets what search ranks and filters by (``visible``,
``sort_key``, ``zone_id``, ``industry``, ``region``, ``has_video``,
``has_products``) and ``search_grams`` the ``sort_key`` of its document, so a
two-character query reads its postings in result order and stops after one
page. Triggers keep the copies in step with ``booths``, ``exhibitors`` and
``products`` whatever code changes them; ``booths.exhibition.search.refresh_booths`` sets
them when it (re)builds a booth's rows.

``sort_key`` is ``'0'`` (booth), ``'1'`` (product) or ``'9'`` (not visible:
unpublished or hidden), then ``'0'`` (featured) or ``'1'``, then the booth
number: ordering by (sort_key, id) is the old "booths first, featured first, by
number" order, and a gram's visible postings are the index range
``sort_key < '2'`` (counted without reading search_docs).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "bo0004"
down_revision = "bo0003"
branch_labels = None
depends_on = None

SORT_KEY = (
    "(CASE WHEN NOT ({b}.published AND NOT {b}.hidden) THEN '9' WHEN search_docs.kind = 'booth' THEN '0' ELSE '1' END)"
    " || (CASE WHEN {b}.featured THEN '0' ELSE '1' END) || {b}.number"
)
GRAM_KEY = (
    "UPDATE search_grams SET sort_key = (SELECT d.sort_key FROM search_docs d WHERE d.id = search_grams.doc_id)"
    " WHERE doc_id IN (SELECT id FROM search_docs WHERE booth_id = {booth})"
)
BOOTH_COPY = (
    "UPDATE search_docs SET visible = ({b}.published AND NOT {b}.hidden), "
    "zone_id = {b}.zone_id, has_video = {b}.has_video, sort_key = " + SORT_KEY + " WHERE booth_id = {b}.id"
)
HAS_PRODUCTS = (
    "UPDATE search_docs SET has_products = EXISTS (SELECT 1 FROM products p WHERE p.booth_id = {booth})"
    " WHERE booth_id = {booth}"
)
EXHIBITOR_COPY = (
    "UPDATE search_docs SET industry = {e}.industry, region = {e}.region"
    " WHERE booth_id IN (SELECT id FROM booths WHERE exhibitor_id = {e}.id)"
)


def _booth_copy(b: str) -> str:
    return BOOTH_COPY.format(b=b)


def upgrade() -> None:
    op.add_column("search_docs", sa.Column("visible", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("search_docs", sa.Column("sort_key", sa.String(length=24), nullable=False, server_default=""))
    op.add_column("search_docs", sa.Column("zone_id", sa.Integer(), nullable=True))
    op.add_column("search_docs", sa.Column("industry", sa.String(length=40), nullable=False, server_default=""))
    op.add_column("search_docs", sa.Column("region", sa.String(length=40), nullable=False, server_default=""))
    op.add_column("search_docs", sa.Column("has_video", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("search_docs", sa.Column("has_products", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("search_grams", sa.Column("sort_key", sa.String(length=24), nullable=False, server_default=""))

    # Backfill from the tables the copies come from.
    op.execute(
        "UPDATE search_docs SET "
        "visible = (SELECT b.published AND NOT b.hidden FROM booths b WHERE b.id = search_docs.booth_id), "
        "zone_id = (SELECT b.zone_id FROM booths b WHERE b.id = search_docs.booth_id), "
        "has_video = (SELECT b.has_video FROM booths b WHERE b.id = search_docs.booth_id), "
        "sort_key = (SELECT " + SORT_KEY.format(b="b") + " FROM booths b WHERE b.id = search_docs.booth_id), "
        "industry = (SELECT e.industry FROM booths b JOIN exhibitors e ON e.id = b.exhibitor_id WHERE b.id = search_docs.booth_id), "
        "region = (SELECT e.region FROM booths b JOIN exhibitors e ON e.id = b.exhibitor_id WHERE b.id = search_docs.booth_id), "
        "has_products = EXISTS (SELECT 1 FROM products p WHERE p.booth_id = search_docs.booth_id)"
    )
    op.execute("UPDATE search_grams SET sort_key = (SELECT d.sort_key FROM search_docs d WHERE d.id = search_grams.doc_id)")

    op.create_index("ix_search_docs_rank", "search_docs", ["sort_key", "id"])
    op.create_index("ix_search_grams_rank", "search_grams", ["gram", "sort_key", "doc_id"])

    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        # Only a change of the text touches the FTS index (not the copied flags).
        op.execute("DROP TRIGGER IF EXISTS search_docs_au")
        op.execute(
            "CREATE TRIGGER search_docs_au AFTER UPDATE OF body ON search_docs BEGIN "
            "INSERT INTO search_fts(search_fts, rowid, body) VALUES ('delete', old.id, old.body); "
            "INSERT INTO search_fts(rowid, body) VALUES (new.id, new.body); END"
        )
        op.execute(
            "CREATE TRIGGER booths_search_au AFTER UPDATE OF published, hidden, featured, has_video, zone_id, number "
            "ON booths WHEN old.published IS NOT new.published OR old.hidden IS NOT new.hidden "
            "OR old.featured IS NOT new.featured OR old.has_video IS NOT new.has_video "
            "OR old.zone_id IS NOT new.zone_id OR old.number IS NOT new.number BEGIN "
            + _booth_copy("new") + "; "
            + GRAM_KEY.format(booth="new.id") + "; END"
        )
        op.execute(
            "CREATE TRIGGER exhibitors_search_au AFTER UPDATE OF industry, region ON exhibitors BEGIN "
            + EXHIBITOR_COPY.format(e="new") + "; END"
        )
        op.execute("CREATE TRIGGER products_search_ai AFTER INSERT ON products BEGIN " + HAS_PRODUCTS.format(booth="new.booth_id") + "; END")
        op.execute("CREATE TRIGGER products_search_ad AFTER DELETE ON products BEGIN " + HAS_PRODUCTS.format(booth="old.booth_id") + "; END")
        op.execute(
            "CREATE TRIGGER products_search_au AFTER UPDATE OF booth_id ON products BEGIN "
            + HAS_PRODUCTS.format(booth="old.booth_id") + "; " + HAS_PRODUCTS.format(booth="new.booth_id") + "; END"
        )
    elif dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION booths_search_copy() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF (OLD.published, OLD.hidden, OLD.featured, OLD.has_video, OLD.zone_id, OLD.number) IS DISTINCT FROM "
            "(NEW.published, NEW.hidden, NEW.featured, NEW.has_video, NEW.zone_id, NEW.number) THEN "
            + _booth_copy("NEW") + "; "
            "IF (OLD.published, OLD.hidden, OLD.featured, OLD.number) IS DISTINCT FROM "
            "(NEW.published, NEW.hidden, NEW.featured, NEW.number) THEN "
            + GRAM_KEY.format(booth="NEW.id") + "; END IF; "
            "END IF; RETURN NULL; END $$"
        )
        op.execute(
            "CREATE TRIGGER booths_search_au AFTER UPDATE OF published, hidden, featured, has_video, zone_id, number "
            "ON booths FOR EACH ROW EXECUTE FUNCTION booths_search_copy()"
        )
        op.execute(
            "CREATE FUNCTION exhibitors_search_copy() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF (OLD.industry, OLD.region) IS DISTINCT FROM (NEW.industry, NEW.region) THEN "
            + EXHIBITOR_COPY.format(e="NEW") + "; END IF; RETURN NULL; END $$"
        )
        op.execute(
            "CREATE TRIGGER exhibitors_search_au AFTER UPDATE OF industry, region ON exhibitors "
            "FOR EACH ROW EXECUTE FUNCTION exhibitors_search_copy()"
        )
        op.execute(
            "CREATE FUNCTION products_search_copy() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF TG_OP <> 'INSERT' THEN " + HAS_PRODUCTS.format(booth="OLD.booth_id") + "; END IF; "
            "IF TG_OP <> 'DELETE' THEN " + HAS_PRODUCTS.format(booth="NEW.booth_id") + "; END IF; "
            "RETURN NULL; END $$"
        )
        op.execute(
            "CREATE TRIGGER products_search_aiud AFTER INSERT OR DELETE OR UPDATE OF booth_id ON products "
            "FOR EACH ROW EXECUTE FUNCTION products_search_copy()"
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for trigger in ("booths_search_au", "exhibitors_search_au", "products_search_ai", "products_search_ad",
                        "products_search_au", "search_docs_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute(
            "CREATE TRIGGER search_docs_au AFTER UPDATE ON search_docs BEGIN "
            "INSERT INTO search_fts(search_fts, rowid, body) VALUES ('delete', old.id, old.body); "
            "INSERT INTO search_fts(rowid, body) VALUES (new.id, new.body); END"
        )
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS booths_search_au ON booths")
        op.execute("DROP TRIGGER IF EXISTS exhibitors_search_au ON exhibitors")
        op.execute("DROP TRIGGER IF EXISTS products_search_aiud ON products")
        for function in ("booths_search_copy", "exhibitors_search_copy", "products_search_copy"):
            op.execute(f"DROP FUNCTION IF EXISTS {function}()")
    op.drop_index("ix_search_grams_rank", table_name="search_grams")
    op.drop_index("ix_search_docs_rank", table_name="search_docs")
    # Plain ALTER TABLE ... DROP COLUMN (SQLite ≥ 3.35): rebuilding search_docs would lose its FTS triggers.
    op.drop_column("search_grams", "sort_key")
    for column in ("has_products", "has_video", "region", "industry", "zone_id", "sort_key", "visible"):
        op.drop_column("search_docs", column)
