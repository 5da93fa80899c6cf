"""What a file is, judged by its first bytes (never by its name or the browser's word).

Pure: no storage, no decoding. :func:`sniff` names the type; :func:`check_type`
says whether it suits a kind of asset, in words the exhibitor understands.
"""

from __future__ import annotations

from booths.errors import MediaRejected

SNIFF_BYTES = 4096

IMAGE_TYPES = {"image/jpeg", "image/png", "image/webp", "image/gif"}
VIDEO_TYPES = {"video/mp4", "video/quicktime", "video/webm", "video/x-matroska"}
DOCUMENT_TYPES = {"application/pdf"}
#: What each kind of asset may be, by sniffed type.
ALLOWED_TYPES: dict[str, set[str]] = {
    "logo": IMAGE_TYPES,
    "banner": IMAGE_TYPES,
    "image": IMAGE_TYPES,
    "video": VIDEO_TYPES,
    "document": DOCUMENT_TYPES,
}
KIND_WORDS = {
    "logo": "a picture (JPEG, PNG, WebP or GIF)",
    "banner": "a picture (JPEG, PNG, WebP or GIF)",
    "image": "a picture (JPEG, PNG, WebP or GIF)",
    "video": "a video (MP4, MOV or WebM)",
    "document": "a PDF document",
}
#: The file name suffix of each type (the stored original is ``original<suffix>``).
SUFFIXES = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "image/gif": ".gif",
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
    "video/webm": ".webm",
    "video/x-matroska": ".mkv",
    "application/pdf": ".pdf",
}


def sniff(head: bytes) -> str | None:
    """The content type the first bytes of a file show, or None when unknown."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if len(head) >= 12 and head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand == b"qt  ":
            return "video/quicktime"
        if brand[:3] in {b"M4A", b"M4B", b"M4P"} or brand in {b"heic", b"heix", b"mif1", b"msf1", b"avif"}:
            return None  # audio-only MP4 and HEIF/AVIF stills are not videos
        return "video/mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        # EBML: the DocType element (0x42 0x82) names webm or matroska.
        at = head.find(b"\x42\x82")
        if at != -1 and at + 3 < len(head):
            size = head[at + 2] & 0x7F if head[at + 2] & 0x80 else 0
            doctype = head[at + 3 : at + 3 + size] if size else b""
            if doctype == b"webm":
                return "video/webm"
            if doctype == b"matroska":
                return "video/x-matroska"
        return "video/webm"
    return None


def describe(content_type: str | None) -> str:
    """A few words for a sniffed type, for messages."""
    names = {
        "image/jpeg": "a JPEG picture",
        "image/png": "a PNG picture",
        "image/webp": "a WebP picture",
        "image/gif": "a GIF picture",
        "video/mp4": "an MP4 video",
        "video/quicktime": "a QuickTime (MOV) video",
        "video/webm": "a WebM video",
        "video/x-matroska": "a Matroska (MKV) video",
        "application/pdf": "a PDF document",
    }
    return names.get(content_type or "", "a file of a type we do not recognise")


def check_type(kind: str, head: bytes, filename: str) -> str:
    """The sniffed content type when it suits ``kind``; else :class:`MediaRejected`."""
    found = sniff(head)
    if found is None or found not in ALLOWED_TYPES[kind]:
        raise MediaRejected(
            f"“{filename}” is {describe(found)}, judged by its content, not its name; "
            f"a {kind} must be {KIND_WORDS[kind]}. Export it in one of those formats and upload it again."
        )
    return found
