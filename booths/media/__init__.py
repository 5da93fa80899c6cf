"""Booth media: files exhibitors show, sent by the browser straight to storage, checked once,
then made into what pages need. An upload travels one way through these modules:

- :mod:`.models` — the ``assets`` and ``uploads`` tables, kinds and states, storage keys.
- :mod:`.uploads` — tickets (single or multipart presigned PUTs), resume, quota,
  ``complete_upload`` (joins the parts, runs the checks; the caller commits).
- :mod:`.checks` — the checks, once: size as stored, type by the first bytes, a PDF's end.
- :mod:`.sniffing` — what a file is by its first bytes, and what each kind may be (pure).
- :mod:`.worker` — ``MediaWorker``: processes checked assets in the background.
- :mod:`.processing` — ``process_asset``, ``derive``: the work per type, and
  ``create_asset_from_bytes`` for bytes the server made.
- :mod:`.images` (Pillow), :mod:`.video` (PyAV), :mod:`.documents` (pdftoppm) —
  one kind of media each.
- :mod:`.assets` — queries and changes: list, quota use, order, hide, reject, delete.
- :mod:`.views` — ``AssetView``: how pages and the API see an asset (signed links).

Refusals are in :mod:`booths.errors` (``MediaRejected``, ``TooLarge``, ``WrongType``, ``BadUpload``).
"""
