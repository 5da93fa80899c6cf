"""The demo seed that ``cloudexpo demo`` loads; safe to run again.

- :mod:`.exhibition` — ``seed_exhibition``: halls, zones, 242 booths with
  products, generated media and demo accounts.
- :mod:`.media` — the generated logos, banners, launch film and brochure.
- :mod:`.data` — the seed's words: halls, zones, brands, cities, institutions.
- :mod:`.meetings` — experts and meeting times, so matchmaking works the first time.
"""
