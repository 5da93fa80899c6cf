"""The seed's generated media: a logo and a banner per booth, a short launch film, a brochure.

Made here (Pillow, PyAV) so the demo needs no files and works on any object store.
"""

from __future__ import annotations

import colorsys
import io
import tempfile
from typing import Any

import av
from PIL import Image, ImageDraw

from cloudexpo import fonts


def _colour(seed: int) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb((seed * 0.137) % 1.0, 0.62, 0.72)
    return int(r * 255), int(g * 255), int(b * 255)


def _font(size: int, language: str = "en") -> Any:
    return fonts.font(size, language)


def has_chinese(text: str) -> bool:
    return any("\u3400" <= ch <= "\u9fff" for ch in text)


def drawable(text: str) -> bool:
    """Whether ``text`` can be drawn here (Chinese needs a CJK font)."""
    return bool(text) and (fonts.has_cjk_font() or not has_chinese(text))


def initials(name_en: str) -> str:
    words = [w for w in name_en.replace("-", " ").split() if w[:1].isalnum() and w.lower() not in {"of", "and", "the", "co.,", "ltd.", "for"}]
    return "".join(w[0] for w in words[:2]).upper() or "CX"


def logo_png(name_en: str, seed: int, name_zh: str = "") -> bytes:
    """A logo: the first two characters of the Chinese name when a CJK font is here, else initials."""
    size = 240
    img = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    colour = _colour(seed)
    draw.rounded_rectangle((8, 8, size - 8, size - 8), radius=48, fill=colour)
    draw.ellipse((size - 90, -30, size + 30, 90), fill=tuple(min(255, c + 50) for c in colour))
    if drawable(name_zh) and has_chinese(name_zh):
        mark = "".join(ch for ch in name_zh if has_chinese(ch))[:2]
        draw.text((size / 2, size / 2 - 14), mark, fill=(255, 255, 255), font=_font(84, "zh-Hans"), anchor="mm")
        draw.text((size / 2, size / 2 + 62), initials(name_en), fill=(255, 255, 255), font=_font(30), anchor="mm")
    else:
        draw.text((size / 2, size / 2 + 6), initials(name_en), fill=(255, 255, 255), font=_font(104), anchor="mm")
    buf = io.BytesIO()
    img.save(buf, "PNG", optimize=True)
    return buf.getvalue()


def _fit(draw: Any, text: str, size: int, width: int, smallest: int, max_lines: int = 2, language: str = "en") -> tuple[list[str], Any]:
    """``text`` on one line, or on two, in the largest font down to ``smallest`` where each line is at most ``width`` wide.

    Latin text breaks between words, Chinese between characters.
    """
    sep = " " if " " in text.strip() else ""
    words = text.split() if sep else list(text)
    for lines_allowed in range(1, max_lines + 1):
        for px in range(size, smallest - 1, -2):
            font = _font(px, language)
            if lines_allowed == 1 and draw.textlength(text, font=font) <= width:
                return [text], font
            if lines_allowed == 2:
                for cut in range(len(words) // 2, len(words)):  # the most even split that fits
                    first, second = sep.join(words[:cut] or words[:1]), sep.join(words[cut:] if cut else words[1:])
                    if max(draw.textlength(first, font=font), draw.textlength(second, font=font)) <= width:
                        return [first, second], font
    font = _font(smallest, language)
    while len(text) > 4 and draw.textlength(text, font=font) > width:
        text = text[:-2].rstrip() + "…"
    return [text], font


def banner_jpeg(name_en: str, tagline_en: str, seed: int, zone_colour: str, language: str = "en") -> bytes:
    """A 3:1 banner whose words stay in the middle: the booth page shows banners with ``object-fit: cover``.

    The text keeps to a centred safe area (the middle 60 % of the width, 70 % of
    the height) that survives cropping to any shape from 16:9 to 5:1, so a wide
    or narrow screen never cuts a name in half; the decoration fills the rest.
    ``name_en`` and ``tagline_en`` may be in any language: ``language`` picks the
    font's face (Simplified or Traditional glyphs).
    """
    w, h = 1500, 500
    base = tuple(int(zone_colour[i:i + 2], 16) for i in (1, 3, 5))
    img = Image.new("RGB", (w, h), base)
    draw = ImageDraw.Draw(img)
    accent = _colour(seed)
    for i in range(5):  # stripes at both ends, outside the safe area
        x = w - 330 + i * 90
        draw.polygon([(x, h), (x + 180, 0), (x + 230, 0), (x + 50, h)], fill=tuple(min(255, c + 18 * i) for c in accent))
        x = -170 + i * 90
        draw.polygon([(x, h), (x + 180, 0), (x + 206, 0), (x + 26, h)], fill=tuple(min(255, c + 14 * i) for c in accent))
    draw.rectangle((0, h - 14, w, h), fill=(245, 183, 0))
    safe = int(w * 0.6) - 40
    name, name_font = _fit(draw, name_en, 72, safe, 44, language=language)
    tagline, tagline_font = _fit(draw, tagline_en, 36, safe, 26, max_lines=1, language=language)
    name_step, tagline_step = name_font.size * 1.15, tagline_font.size * 1.3
    top = h / 2 - (len(name) * name_step + 18 + tagline_step) / 2
    for i, line in enumerate(name):
        draw.text((w / 2, top + (i + 0.5) * name_step), line, fill=(255, 255, 255), font=name_font, anchor="mm")
    draw.text((w / 2, top + len(name) * name_step + 18 + tagline_step / 2), tagline[0], fill=(235, 240, 250), font=tagline_font, anchor="mm")
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=80, optimize=True)
    return buf.getvalue()


def video_mp4(seed: int, seconds: int = 3, fps: int = 12) -> bytes:
    """A small H.264 MP4: moving colour bars and a counter (no audio)."""
    with tempfile.TemporaryDirectory() as folder:
        path = f"{folder}/clip.mp4"
        _encode(path, seed, seconds, fps)
        with open(path, "rb") as fh:
            return fh.read()


def _encode(path: str, seed: int, seconds: int, fps: int) -> None:
    # faststart: the index first, so browsers start playing before the end arrives
    with av.open(path, "w", format="mp4", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "30"}
        colour = _colour(seed)
        for n in range(seconds * fps):
            img = Image.new("RGB", (320, 180), (11, 37, 69))
            draw = ImageDraw.Draw(img)
            offset = (n * 8) % 320
            for i in range(6):
                x = (offset + i * 64) % 384 - 64
                draw.rectangle((x, 40, x + 40, 140), fill=tuple(min(255, c + 20 * i) for c in colour))
            draw.text((12, 8), f"Light of Quality  {n // fps + 1}s", fill=(245, 183, 0), font=_font(18))
            for packet in stream.encode(av.VideoFrame.from_image(img)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _pdf_text(value: str) -> str:
    """``value`` as a PDF literal string in WinAnsi (Latin) text: escapes, and ? for what it cannot show."""
    safe = value.encode("cp1252", "replace").decode("cp1252")
    return "(" + safe.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"


BROCHURE_LINES = {
    "zh-Hans": ("质量之光 2023 产品手册", "第五届中国质量大会，成都，2023年9月1日至2日。",
                "展厅中的质量管理、标准与创新成果。", "欢迎在展台页面预约会面或留下名片。"),
    "zh-Hant": ("質量之光 2023 產品手冊", "第五屆中國質量大會，成都，2023年9月1日至2日。",
                "展廳中的質量管理、標準與創新成果。", "歡迎在展臺頁面預約會面或留下名片。"),
    "en": ("Product brochure - Light of Quality 2023", "The 5th China Quality Conference, Chengdu, 1-2 September 2023.",
           "Quality management, standards and innovation from the exhibition hall.",
           "Ask for a meeting or leave your card on the booth page."),
}


def _cjk_text(value: str) -> str:
    """``value`` as a PDF hex string in UCS-2 (big-endian), for the ``Uni…-UCS2-H`` CMaps."""
    return "<" + value.encode("utf-16-be", "replace").hex().upper() + ">"


def brochure_pdf(name_en: str, seed: int, name_zh: str = "", language: str = "zh-Hans") -> bytes:
    """A one-page A4 brochure with real text, so readers can select and search it: the booth's Chinese
    name and the Chinese text in ``language`` (zh-Hans or zh-Hant), then the English.

    Chinese is set in Adobe's standard CJK fonts (STSong-Light for Simplified, MSung-Light for
    Traditional, ISO 32000-1 §9.7.5.2), which PDF readers supply themselves (pdf.js with its CMaps,
    poppler with fontconfig's CJK font), so the file stays a few kilobytes instead of carrying a font.
    """
    chinese = "F4" if language == "zh-Hant" else "F3"
    r, g, b = (c / 255 for c in _colour(seed))
    ops = [f"{r:.3f} {g:.3f} {b:.3f} rg 0 682 595 160 re f"]
    if name_zh:
        ops.append(f"BT /{chinese} 30 Tf 1 1 1 rg 40 760 Td {_cjk_text(name_zh[:18])} Tj ET")
        ops.append("BT /F2 16 Tf 1 1 1 rg 40 722 Td " + _pdf_text(name_en[:56]) + " Tj ET")
    else:
        ops.append("BT /F2 28 Tf 1 1 1 rg 40 740 Td " + _pdf_text(name_en[:40]) + " Tj ET")
    y = 640
    for i, line in enumerate(BROCHURE_LINES["zh-Hant" if language == "zh-Hant" else "zh-Hans"]):
        ops.append(f"BT /{chinese} {18 if i == 0 else 13} Tf 0.08 0.12 0.2 rg 40 {y} Td {_cjk_text(line)} Tj ET")
        y -= 30 if i == 0 else 24
    y -= 14
    for i, line in enumerate(BROCHURE_LINES["en"]):
        size = 16 if i == 0 else 12
        ops.append(f"BT /F{2 if i == 0 else 1} {size} Tf 0.08 0.12 0.2 rg 40 {y} Td {_pdf_text(line)} Tj ET")
        y -= 28 if i == 0 else 22
    for i in range(5):
        ops.append(f"0.9 0.92 0.95 rg 40 {y - 30 - i * 50} 515 30 re f")
    return write_pdf("\n".join(ops).encode("latin-1"), {"F1": "Helvetica", "F2": "Helvetica-Bold"}, (595, 842),
                     cjk={"F3": "zh-Hans", "F4": "zh-Hant"})


# Adobe's standard CJK fonts: (base font, CMap, character collection, supplement)
CJK_FONTS = {"zh-Hans": ("STSong-Light", "UniGB-UCS2-H", "GB1", 2), "zh-Hant": ("MSung-Light", "UniCNS-UCS2-H", "CNS1", 0)}


def write_pdf(content: bytes, fonts: dict[str, str], size: tuple[int, int] = (612, 792),
              cjk: dict[str, str] | None = None) -> bytes:
    """A one-page PDF of the content stream ``content`` using standard Type 1 ``fonts`` (name → base font)
    and standard CJK fonts ``cjk`` (name → zh-Hans or zh-Hant; text in them is UCS-2 hex strings)."""
    cjk = cjk or {}
    names = [*fonts, *cjk]
    font_refs = " ".join(f"/{name} {5 + i} 0 R" for i, name in enumerate(names))
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {size[0]} {size[1]}] /Contents 4 0 R "
        f"/Resources << /Font << {font_refs} >> >> >>".encode(),
        b"<< /Length " + str(len(content)).encode() + b" >>\nstream\n" + content + b"\nendstream",
        *(f"<< /Type /Font /Subtype /Type1 /BaseFont /{base} /Encoding /WinAnsiEncoding >>".encode() for base in fonts.values()),
    ]
    extra: list[bytes] = []  # each CJK font's CIDFont and descriptor, numbered after the fonts
    for language in cjk.values():
        base, cmap, ordering, supplement = CJK_FONTS[language]
        cid_font = 5 + len(names) + len(extra)
        objects.append(f"<< /Type /Font /Subtype /Type0 /BaseFont /{base} /Encoding /{cmap} "
                       f"/DescendantFonts [{cid_font} 0 R] >>".encode())
        extra.append(f"<< /Type /Font /Subtype /CIDFontType0 /BaseFont /{base} /CIDSystemInfo << /Registry (Adobe) "
                     f"/Ordering ({ordering}) /Supplement {supplement} >> /FontDescriptor {cid_font + 1} 0 R "
                     f"/DW 1000 /W [1 95 500] >>".encode())
        extra.append(f"<< /Type /FontDescriptor /FontName /{base} /Flags 6 /FontBBox [-25 -254 1000 880] "
                     f"/ItalicAngle 0 /Ascent 880 /Descent -120 /CapHeight 880 /StemV 93 >>".encode())
    objects += extra
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)
