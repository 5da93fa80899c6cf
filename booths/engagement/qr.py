"""QR codes (segno) for booths, products and launches, as SVG and PNG.

A code holds the public URL of the page with ``?src=qr``; the booth page
counts such a visit as one "from QR" (:mod:`booths.engagement.analytics`). The A4
poster (``web/templates/engagement/poster.html``) prints the code with the
booth's number and its name in the three languages.
"""

from __future__ import annotations

import io
from functools import lru_cache

import segno

from booths.errors import Invalid
from cloudexpo.messages import message

KIND = message("qr.kind", "QR codes are made for {kinds}; not for {kind}.")
FORMAT = message("qr.format", "QR codes come as {formats}; not as {fmt}.")
SCALE = message("qr.scale", "'scale' is between 1 and 40.")

KINDS = ("booth", "product", "launch")
FORMATS = {"svg": "image/svg+xml", "png": "image/png"}


def target_url(public_url: str, kind: str, ref: str | int) -> str:
    """The page a code opens: the booth (by number), the product or the launch, with ``?src=qr``."""
    if kind == "booth":
        return f"{public_url}/booths/{ref}?src=qr"
    if kind == "product":
        return f"{public_url}/products/{ref}?src=qr"
    if kind == "launch":
        return f"{public_url}/live/{ref}?src=qr"
    raise Invalid(KIND(kinds=", ".join(KINDS), kind=repr(kind)), "kind")


@lru_cache(maxsize=512)
def render(url: str, fmt: str, scale: int = 8, dark: str = "#0b2545") -> bytes:
    """The code for ``url`` as SVG or PNG bytes (cached: codes are the same every time)."""
    if fmt not in FORMATS:
        raise Invalid(FORMAT(formats=" or ".join(FORMATS), fmt=repr(fmt)), "format")
    if not 1 <= scale <= 40:
        raise Invalid(SCALE(), "scale")
    code = segno.make(url, error="m", micro=False)
    buf = io.BytesIO()
    if fmt == "svg":
        code.save(buf, kind="svg", scale=scale, border=2, dark=dark, xmldecl=False, svgns=True,
                  title=url, unit="px")
    else:
        code.save(buf, kind="png", scale=scale, border=2, dark=dark)
    return buf.getvalue()


def inline_svg(url: str, scale: int = 10) -> str:
    """An <svg> element to put into a page (the poster)."""
    code = segno.make(url, error="m", micro=False)
    return str(code.svg_inline(scale=scale, border=2, dark="#0b2545"))
