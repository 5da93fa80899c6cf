"""booths: two-character postings in result order with their document's facets

Revision ID: bo0005
Revises: bo0004
Create Date: 2026-11-25

A filtered two-character query ("汽车" in Sichuan, with video) used to walk
its gram's postings and look each document up in ``search_docs`` to test the
filters: ten thousand random lookups for a common gram. ``search_grams`` now
carries the document's facets (zone, industry, region, has video, has
products) and is keyed (gram, sort_key, doc_id): on SQLite a WITHOUT ROWID
table, so a gram's postings lie together in result order with the facets
inline; on PostgreSQL the key's index INCLUDEs the facets (index-only scans).
The index on (doc_id, gram) serves "does this document hold this gram" and
deletes by document.

A trigger on ``search_docs`` copies its ``sort_key`` and facets to the
document's postings whenever they change, so the bo0004 triggers (which keep
``search_docs`` in step with booths, exhibitors and products) reach the
postings too; the booth trigger no longer updates postings itself.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "bo0005"
down_revision = "bo0004"
branch_labels = None
depends_on = None

FACETS = ("zone_id", "industry", "region", "has_video", "has_products")
COPIED = ("sort_key", *FACETS)

# bo0004's copies into search_docs, unchanged.
SORT_KEY = (
    "(CASE WHEN NOT ({b}.published AND NOT {b}.hidden) THEN '9' WHEN search_docs.kind = 'booth' THEN '0' ELSE '1' END)"
    " || (CASE WHEN {b}.featured THEN '0' ELSE '1' END) || {b}.number"
)
BOOTH_COPY = (
    "UPDATE search_docs SET visible = ({b}.published AND NOT {b}.hidden), "
    "zone_id = {b}.zone_id, has_video = {b}.has_video, sort_key = " + SORT_KEY + " WHERE booth_id = {b}.id"
)
GRAM_KEY = (  # bo0004's direct update of the postings, for the downgrade
    "UPDATE search_grams SET sort_key = (SELECT d.sort_key FROM search_docs d WHERE d.id = search_grams.doc_id)"
    " WHERE doc_id IN (SELECT id FROM search_docs WHERE booth_id = {booth})"
)
POSTINGS_COPY = "UPDATE search_grams SET " + ", ".join(f"{c} = {{d}}.{c}" for c in COPIED) + " WHERE doc_id = {d}.id"
CHANGED = " OR ".join(f"old.{c} IS NOT new.{c}" for c in COPIED)
BOOTH_WHEN = (
    "old.published IS NOT new.published OR old.hidden IS NOT new.hidden OR old.featured IS NOT new.featured "
    "OR old.has_video IS NOT new.has_video OR old.zone_id IS NOT new.zone_id OR old.number IS NOT new.number"
)
BOOTH_COLUMNS = "published, hidden, featured, has_video, zone_id, number"


def _postings_table(name: str, pk_name: str) -> None:
    op.create_table(
        name,
        sa.Column("gram", sa.String(length=8), nullable=False),
        sa.Column("sort_key", sa.String(length=24), nullable=False, server_default=""),
        sa.Column("doc_id", sa.Integer(), nullable=False),
        sa.Column("zone_id", sa.Integer(), nullable=True),
        sa.Column("industry", sa.String(length=40), nullable=False, server_default=""),
        sa.Column("region", sa.String(length=40), nullable=False, server_default=""),
        sa.Column("has_video", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("has_products", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.ForeignKeyConstraint(["doc_id"], ["search_docs.id"], name=f"fk_{name}_doc_id_search_docs", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("gram", "sort_key", "doc_id", name=pk_name, postgresql_include=list(FACETS)),
        sqlite_with_rowid=False,
    )


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    # The booth trigger updated search_grams itself: drop it first (renaming or dropping the table would
    # otherwise leave it pointing at a table that is gone).
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS booths_search_au")
    _postings_table("search_grams_next", "pk_search_grams_next")
    op.execute(
        "INSERT INTO search_grams_next (gram, sort_key, doc_id, " + ", ".join(FACETS) + ") "
        "SELECT g.gram, d.sort_key, g.doc_id, " + ", ".join(f"d.{c}" for c in FACETS) + " "
        "FROM search_grams g JOIN search_docs d ON d.id = g.doc_id"
    )
    op.drop_index("ix_search_grams_rank", table_name="search_grams")
    op.drop_index("ix_search_grams_doc_id", table_name="search_grams")
    op.drop_table("search_grams")
    op.rename_table("search_grams_next", "search_grams")
    if dialect == "postgresql":
        op.execute("ALTER TABLE search_grams RENAME CONSTRAINT pk_search_grams_next TO pk_search_grams")
        op.execute("ALTER TABLE search_grams RENAME CONSTRAINT fk_search_grams_next_doc_id_search_docs "
                   "TO fk_search_grams_doc_id_search_docs")
    op.create_index("ix_search_grams_doc_id", "search_grams", ["doc_id", "gram"])

    if dialect == "sqlite":
        op.execute(
            f"CREATE TRIGGER booths_search_au AFTER UPDATE OF {BOOTH_COLUMNS} ON booths WHEN {BOOTH_WHEN} BEGIN "
            + BOOTH_COPY.format(b="new") + "; END"
        )
        op.execute(
            f"CREATE TRIGGER search_docs_postings_au AFTER UPDATE OF {', '.join(COPIED)} ON search_docs "
            f"WHEN {CHANGED} BEGIN " + POSTINGS_COPY.format(d="new") + "; END"
        )
    elif dialect == "postgresql":
        op.execute(
            "CREATE OR REPLACE FUNCTION booths_search_copy() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF (OLD.published, OLD.hidden, OLD.featured, OLD.has_video, OLD.zone_id, OLD.number) IS DISTINCT FROM "
            "(NEW.published, NEW.hidden, NEW.featured, NEW.has_video, NEW.zone_id, NEW.number) THEN "
            + BOOTH_COPY.format(b="NEW") + "; END IF; RETURN NULL; END $$"
        )
        op.execute(
            "CREATE FUNCTION search_docs_postings_copy() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF ({', '.join('OLD.' + c for c in COPIED)}) IS DISTINCT FROM ({', '.join('NEW.' + c for c in COPIED)}) THEN "
            + POSTINGS_COPY.format(d="NEW") + "; END IF; RETURN NULL; END $$"
        )
        op.execute(
            f"CREATE TRIGGER search_docs_postings_au AFTER UPDATE OF {', '.join(COPIED)} ON search_docs "
            "FOR EACH ROW EXECUTE FUNCTION search_docs_postings_copy()"
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS search_docs_postings_au")
        op.execute("DROP TRIGGER IF EXISTS booths_search_au")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS search_docs_postings_au ON search_docs")
        op.execute("DROP FUNCTION IF EXISTS search_docs_postings_copy()")
    op.create_table(
        "search_grams_prev",
        sa.Column("gram", sa.String(length=8), nullable=False),
        sa.Column("doc_id", sa.Integer(), nullable=False),
        sa.Column("sort_key", sa.String(length=24), nullable=False, server_default=""),
        sa.ForeignKeyConstraint(["doc_id"], ["search_docs.id"], name="fk_search_grams_prev_doc_id_search_docs", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("gram", "doc_id", name="pk_search_grams_prev"),
        sqlite_with_rowid=False,
    )
    op.execute("INSERT INTO search_grams_prev (gram, doc_id, sort_key) SELECT gram, doc_id, sort_key FROM search_grams")
    op.drop_index("ix_search_grams_doc_id", table_name="search_grams")
    op.drop_table("search_grams")
    op.rename_table("search_grams_prev", "search_grams")
    if dialect == "postgresql":
        op.execute("ALTER TABLE search_grams RENAME CONSTRAINT pk_search_grams_prev TO pk_search_grams")
        op.execute("ALTER TABLE search_grams RENAME CONSTRAINT fk_search_grams_prev_doc_id_search_docs "
                   "TO fk_search_grams_doc_id_search_docs")
    op.create_index("ix_search_grams_doc_id", "search_grams", ["doc_id"])
    op.create_index("ix_search_grams_rank", "search_grams", ["gram", "sort_key", "doc_id"])
    if dialect == "sqlite":
        op.execute(
            f"CREATE TRIGGER booths_search_au AFTER UPDATE OF {BOOTH_COLUMNS} ON booths WHEN {BOOTH_WHEN} BEGIN "
            + BOOTH_COPY.format(b="new") + "; " + GRAM_KEY.format(booth="new.id") + "; END"
        )
    elif dialect == "postgresql":
        op.execute(
            "CREATE OR REPLACE FUNCTION booths_search_copy() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF (OLD.published, OLD.hidden, OLD.featured, OLD.has_video, OLD.zone_id, OLD.number) IS DISTINCT FROM "
            "(NEW.published, NEW.hidden, NEW.featured, NEW.has_video, NEW.zone_id, NEW.number) THEN "
            + BOOTH_COPY.format(b="NEW") + "; "
            "IF (OLD.published, OLD.hidden, OLD.featured, OLD.number) IS DISTINCT FROM "
            "(NEW.published, NEW.hidden, NEW.featured, NEW.number) THEN "
            + GRAM_KEY.format(booth="NEW.id") + "; END IF; "
            "END IF; RETURN NULL; END $$"
        )
