"""Booths: the exhibition, its media and the visitors' engagement — one sub-package per domain.

- :mod:`booths.exhibition` — halls, zones, exhibitors, booths, products,
  applications and their review, editing, search; ``showcase`` reads what a
  booth page shows.
- :mod:`booths.media` — assets in object storage: uploads, the checks,
  processing by kind (pictures, videos, documents) and the background worker.
- :mod:`booths.engagement` — bookmarks, business cards and leads, meetings,
  analytics, notifications, QR codes.
- :mod:`booths.seed` — the demo exhibition.
- :mod:`booths.errors` — the refusals every domain raises; ``web`` maps them to HTTP.

Imports run one way: ``media`` uses only ``exhibition.models`` (an asset
belongs to a booth); ``exhibition.showcase`` uses ``media`` (a booth shows its
media); ``engagement`` uses the exhibition; ``seed`` uses them all. Nothing
imports ``engagement`` or ``seed`` back. Migrations live in ``booths/migrations``
(Alembic branch ``booths``).
"""
