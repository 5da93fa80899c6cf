"""Visitor engagement around the exhibition: what visitors keep, leave and book.

- :mod:`.models` — the tables (bookmarks, cards, profiles, meeting slots and
  meetings, leads, notifications, mail opt-outs, booth analytics).
- :mod:`.bookmarks` — "my tour": bookmarks of booths, products, launches, replays.
- :mod:`.cards` — business cards left on a booth, with consent.
- :mod:`.leads` — an exhibitor's leads inbox and its CSV.
- :mod:`.meetings` — matchmaking: hosts offer slots, visitors request, hosts answer.
- :mod:`.analytics` — booth visits counted per day, rankings, charts (``Counter``).
- :mod:`.notify` — notifications in the app and by e-mail (``Notifier``, reminders).
- :mod:`.qr` — QR codes for booths, products and launches.
"""
