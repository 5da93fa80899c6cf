"""The exhibition itself: halls, zones, exhibitors, booths, products, and how they change.

- :mod:`.models` — the tables (halls, zones, exhibitors, booths, products,
  applications, the search index).
- :mod:`.catalog` — the fixed lists: industries and regions.
- :mod:`.text` — per-language text, rich text sanitising, plain text, Chinese variants.
- :mod:`.directory` — reading it as each asker may see it (``get_booth``,
  ``list_booths``, ``get_product``, halls, zones, staff).
- :mod:`.showcase` — what booths show: media by kind, logos, the booth page's read
  (``booth_page``); reads :mod:`booths.media`.
- :mod:`.applications` — exhibitors apply for a booth; moderators review.
- :mod:`.editing` — exhibitors and moderators change booths, products, halls, zones.
- :mod:`.search` — full-text search of booths and products (Chinese short terms included).
"""
