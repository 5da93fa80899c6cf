"""Pure checks on WHIP/WHEP SDP offers: what they carry and whether we can forward it.

Nothing here touches a socket. Offers are parsed with :mod:`aiortc.sdp`, which
already copies session-level ICE credentials and fingerprints (as OBS writes
them) into every media section. Codec names are compared case-insensitively
(OBS spells ``OPUS/48000/2``).

The engine forwards encoded media without decoding it, so a publisher must send
one of the codecs in :data:`FORWARDED_VIDEO` / :data:`FORWARDED_AUDIO`, and a
viewer must be able to receive the codec the publisher sends.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from aiortc import sdp as aiortc_sdp
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from .errors import UnusableOffer

#: H.264 profiles by aiortc's profile enum, as the dashboard names them.
H264_PROFILE_NAMES: dict[aiortc_sdp.H264Profile, str] = {
    aiortc_sdp.H264Profile.PROFILE_CONSTRAINED_BASELINE: "constrained-baseline",
    aiortc_sdp.H264Profile.PROFILE_BASELINE: "baseline",
    aiortc_sdp.H264Profile.PROFILE_MAIN: "main",
    aiortc_sdp.H264Profile.PROFILE_CONSTRAINED_HIGH: "constrained-high",
    aiortc_sdp.H264Profile.PROFILE_HIGH: "high",
}
FORWARDED_VIDEO = ("H264", "VP8")
FORWARDED_AUDIO = ("opus",)
SENDING = ("sendonly", "sendrecv")
RECEIVING = ("recvonly", "sendrecv")

_CANDIDATE_RE = re.compile(r"^a=candidate:\S+ \d+ \S+ \d+ (\S+) \d+ typ", re.IGNORECASE)


@dataclass(frozen=True)
class CodecChoice:
    """One codec of an offer that the engine can forward."""

    kind: str
    name: str  # "H264", "VP8" or "opus" (canonical spelling)
    payload_type: int
    clock_rate: int
    channels: int | None = None
    parameters: dict[str, str] = field(default_factory=dict)
    rtx_payload_type: int | None = None
    profile: str | None = None  # H.264 only, see H264_PROFILE_NAMES

    @property
    def mime_type(self) -> str:
        return f"{self.kind}/{self.name}"

    def describe(self) -> str:
        if self.name == "H264":
            return f"H264 {self.profile} packetization-mode=1"
        return self.name


@dataclass(frozen=True)
class MediaSummary:
    kind: str
    mid: str | None
    direction: str | None
    codec_names: list[str]
    forwardable: list[CodecChoice]


@dataclass(frozen=True)
class OfferSummary:
    """What an offer carries, as far as forwarding is concerned."""

    media: list[MediaSummary]
    candidate_hosts: list[str]
    ice_at_session_level: bool
    simulcast: bool

    def section(self, kind: str) -> MediaSummary | None:
        return next((m for m in self.media if m.kind == kind), None)

    @property
    def has_video(self) -> bool:
        return self.section("video") is not None

    @property
    def has_audio(self) -> bool:
        return self.section("audio") is not None

    @property
    def video(self) -> CodecChoice | None:
        """The video codec we would pick: H.264 first (OBS, Safari and HLS need it), then VP8."""
        section = self.section("video")
        return pick_codec(section.forwardable) if section else None

    @property
    def audio(self) -> CodecChoice | None:
        section = self.section("audio")
        return pick_codec(section.forwardable) if section else None


def _int_param(value: object, default: int) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return default


def h264_profile(codec: RTCRtpCodecParameters) -> str | None:
    """The profile name of an H.264 codec, ``None`` if unknown or unsupported."""
    # absent profile-level-id means constrained baseline 3.1 (RFC 6184 / libwebrtc)
    plid = str(codec.parameters.get("profile-level-id", "42e01f"))
    try:
        profile, _level = aiortc_sdp.parse_h264_profile_level_id(plid)
    except ValueError:
        return None
    return H264_PROFILE_NAMES.get(profile)


def forwardable_codecs(kind: str, codecs: list[RTCRtpCodecParameters]) -> list[CodecChoice]:
    """The codecs of one media section that the engine forwards, in offer order."""
    rtx_for = {
        _int_param(c.parameters.get("apt"), -1): c.payloadType
        for c in codecs
        if c.mimeType.lower().endswith("/rtx")
    }
    out: list[CodecChoice] = []
    for c in codecs:
        if c.payloadType is None:  # aiortc's SDP parser always sets it; nothing to forward without one
            continue
        name = c.mimeType.split("/", 1)[1]
        params = {k: "" if v is None else str(v) for k, v in c.parameters.items()}
        if kind == "video" and name.upper() == "H264":
            if _int_param(c.parameters.get("packetization-mode"), 0) != 1:
                continue
            profile = h264_profile(c)
            if profile is None:
                continue
            out.append(
                CodecChoice(
                    kind,
                    "H264",
                    c.payloadType,
                    c.clockRate,
                    None,
                    params,
                    rtx_for.get(c.payloadType),
                    profile,
                )
            )
        elif kind == "video" and name.upper() == "VP8":
            out.append(
                CodecChoice(
                    kind,
                    "VP8",
                    c.payloadType,
                    c.clockRate,
                    None,
                    params,
                    rtx_for.get(c.payloadType),
                )
            )
        elif kind == "audio" and name.lower() == "opus" and c.clockRate == 48000:
            out.append(CodecChoice(kind, "opus", c.payloadType, 48000, c.channels or 2, params))
    return out


def pick_codec(choices: list[CodecChoice], like: CodecChoice | None = None) -> CodecChoice | None:
    """Pick the codec to use from an offer's forwardable codecs.

    Without ``like``: H.264 (constrained baseline first) before VP8. With
    ``like`` (the codec a publisher already sends): the same codec name, the
    same H.264 profile when offered, else any H.264 profile (browsers decode
    them all; the offer lists what it prefers, not what it can only decode).
    """
    if not choices:
        return None
    if like is not None:
        same = [c for c in choices if c.name == like.name]
        if not same:
            return None
        exact = [c for c in same if c.profile == like.profile]
        return (exact or same)[0]
    rank = {"constrained-baseline": 0, "baseline": 1, "main": 2, "constrained-high": 3, "high": 4}
    h264 = sorted(
        (c for c in choices if c.name == "H264"), key=lambda c: rank.get(c.profile or "", 9)
    )
    return (h264 or choices)[0]


def summarize_offer(sdp_text: str) -> OfferSummary:
    """Check and parse an offer; raise :class:`UnusableOffer` if it cannot be honoured.

    :func:`check_offer_structure` runs first, so what aiortc's parser sees is
    well formed; rejected sections (port 0) are left out of the summary.
    """
    if not sdp_text.lstrip().startswith("v=0"):
        raise UnusableOffer("the body is not an SDP offer: it must start with v=0")
    active = check_offer_structure(sdp_text)
    try:
        desc = aiortc_sdp.SessionDescription.parse(sdp_text)
    except (ValueError, KeyError, IndexError, AssertionError, StopIteration, TypeError, AttributeError) as exc:
        raise UnusableOffer(f"the SDP offer could not be parsed: {exc or type(exc).__name__}") from exc
    media = [
        MediaSummary(
            kind=m.kind,
            mid=m.rtp.muxId,
            direction=m.direction,
            codec_names=[c.mimeType.split("/", 1)[1] for c in m.rtp.codecs],
            forwardable=forwardable_codecs(m.kind, m.rtp.codecs),
        )
        for index, m in enumerate(desc.media)
        if m.kind in ("audio", "video") and index in active
    ]
    lines = sdp_text.splitlines()
    first_m = next((i for i, line in enumerate(lines) if line.startswith("m=")), len(lines))
    session_lines = lines[:first_m]
    return OfferSummary(
        media=media,
        candidate_hosts=candidate_hosts(sdp_text),
        ice_at_session_level=any(line.startswith("a=ice-ufrag:") for line in session_lines),
        simulcast=any(line.startswith("a=simulcast:") for line in lines),
    )


def check_publish_offer(sdp_text: str, like: CodecChoice | None = None) -> OfferSummary:
    """Check a WHIP offer; return its summary or raise :class:`UnusableOffer`.

    ``like`` is the video codec the stream's viewers already receive (publisher
    takeover): the new publisher must offer the same codec.
    """
    summary = summarize_offer(sdp_text)
    video = summary.section("video")
    if video is None:
        raise UnusableOffer("the offer has no video: add a video track (m=video) to publish")
    if video.direction not in SENDING:
        raise UnusableOffer(
            f"the offer's video is {video.direction}: a publisher's video must be sendonly"
        )
    if not video.forwardable:
        offered = ", ".join(sorted(set(video.codec_names))) or "none"
        raise UnusableOffer(
            f"no codec we forward: offer H264 packetization-mode=1 or VP8 (the offer has {offered})"
        )
    if like is not None and pick_codec(video.forwardable, like) is None:
        raise UnusableOffer(
            f"this stream's viewers receive {like.describe()}: offer that codec to take over"
        )
    audio = summary.section("audio")
    if audio is not None and audio.direction in SENDING and not audio.forwardable:
        offered = ", ".join(sorted(set(audio.codec_names))) or "none"
        raise UnusableOffer(f"no audio codec we forward: offer Opus (the offer has {offered})")
    return summary


def check_view_offer(
    sdp_text: str, video: CodecChoice | None, audio: CodecChoice | None
) -> OfferSummary:
    """Check a WHEP offer against the codecs the stream's publisher sends."""
    summary = summarize_offer(sdp_text)
    if not summary.media:
        raise UnusableOffer("the offer has no audio or video section to play the stream on")
    for kind, codec in (("video", video), ("audio", audio)):
        section = summary.section(kind)
        if section is None or codec is None:
            continue
        if section.direction not in RECEIVING:
            raise UnusableOffer(
                f"the offer's {kind} is {section.direction}: a viewer's {kind} must be recvonly"
            )
        if pick_codec(section.forwardable, codec) is None:
            raise UnusableOffer(
                f"the stream sends {kind} as {codec.describe()} and the offer cannot "
                f"receive it: offer {codec.name}"
            )
    if video is not None and summary.section("video") is None and summary.section("audio") is None:
        raise UnusableOffer("the offer has no audio or video section to play the stream on")
    return summary


# --- structure: what every offer must carry (RFC 8866, 8839, 8842, 8122, 9725) ----------

#: Hash functions a DTLS fingerprint may use (RFC 8122 §5 forbids MD2 and MD5; WebRTC
#: endpoints use SHA-256, RFC 8827 §6.5; these are the ones aiortc can verify).
FINGERPRINT_HASHES = {"sha-256": 32, "sha-384": 48, "sha-512": 64}
DTLS_SETUP = ("actpass", "active", "passive")
_CONTROL_CHAR = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_LINE = re.compile(r"^[a-z]=")
_M_LINE = re.compile(r"^m=([a-z]+) (\d{1,5})(?:/\d+)? (\S+)((?: \S+)+)$")
# RFC 4855 / RFC 6838 restricted-name: what a codec (encoding) name may hold.
_RTPMAP = re.compile(r"^(\d{1,3}) ([A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,62})/(\d{1,9})(?:/(\d{1,2}))?$")
_ICE_CHARS = re.compile(r"^[A-Za-z0-9+/]+$")  # RFC 8839 §5.4 ice-char
_FINGERPRINT_VALUE = re.compile(r"^[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2})*$")
_MAX_SECTIONS = 32


@dataclass
class _Section:
    line: int  # 1-based line number of its m= line
    kind: str
    port: int
    formats: list[str]
    attributes: list[tuple[int, str, str]] = field(default_factory=list)  # (line, name, value)

    def values(self, name: str) -> list[tuple[int, str]]:
        return [(n, v) for n, a, v in self.attributes if a == name]

    def has(self, name: str) -> bool:
        return any(a == name for _, a, _ in self.attributes)

    @property
    def active(self) -> bool:
        """Not rejected: a port, or bundled into another section (RFC 8843 bundle-only)."""
        return self.port != 0 or self.has("bundle-only")


def _shown(line: str) -> str:
    text = line if len(line) <= 60 else line[:57] + "..."
    return ascii(text)


def _attribute(text: str) -> tuple[str, str]:
    name, _, value = text[2:].partition(":")
    return name, value


def check_offer_structure(sdp_text: str) -> set[int]:
    """Refuse an offer that is not whole, well-formed WebRTC SDP; return its active sections.

    What is checked, each refusal naming the line or section at fault:
    printable text only (no NUL or other control characters); every line
    ``<letter>=`` and the last one ended (a cut offer stops mid-line); the
    session lines ``v= o= s= t=``; at least one ``m=`` section and not all of
    them rejected (port 0); BUNDLE naming only sections that exist; every
    dynamic payload type with its ``a=rtpmap`` and codec names that are names;
    ICE credentials (``a=ice-ufrag`` 4–256 and ``a=ice-pwd`` 22–256 ice-chars,
    RFC 8839 §5.4), a DTLS ``a=fingerprint`` with SHA-256/384/512 (RFC 8122,
    RFC 8827) and ``a=setup`` (RFC 8842) for every active section, at session
    level or its own. The indexes of the active sections are returned.
    """
    for number, line in enumerate(sdp_text.split("\n"), 1):
        bad = _CONTROL_CHAR.search(line.removesuffix("\r"))
        if bad is not None:
            raise UnusableOffer(
                f"line {number} {_shown(line.rstrip())} holds the control character U+{ord(bad.group()):04X}: "
                "SDP is printable text, one line per field"
            )
    if not sdp_text.endswith("\n"):
        last = sdp_text.rsplit("\n", 1)[-1]
        raise UnusableOffer(
            f"the offer ends in the middle of a line ({_shown(last)}): it was cut short; send the whole offer, "
            "every line ending with CRLF"
        )
    lines = [line.removesuffix("\r") for line in sdp_text.split("\n")[:-1]]
    session: list[tuple[int, str, str]] = []
    sections: list[_Section] = []
    for number, line in enumerate(lines, 1):
        if not line:
            continue
        if not _LINE.match(line):
            raise UnusableOffer(f"line {number} {_shown(line)} is not an SDP line: each line is <letter>=<value>")
        if line.startswith("m="):
            match = _M_LINE.match(line)
            if match is None or int(match.group(2)) > 65535:
                raise UnusableOffer(f"line {number} {_shown(line)} is not a media line: m=<media> <port> <proto> <formats>")
            sections.append(_Section(number, match.group(1), int(match.group(2)), match.group(4).split()))
            if len(sections) > _MAX_SECTIONS:
                raise UnusableOffer(f"the offer has more than {_MAX_SECTIONS} media sections")
        elif line.startswith("a="):
            name, value = _attribute(line)
            (sections[-1].attributes if sections else session).append((number, name, value))
    head = lines[: sections[0].line - 1] if sections else lines
    session_types = {line[:2] for line in head}
    for kind in ("v=", "o=", "s=", "t="):
        if kind not in session_types:
            raise UnusableOffer(f"the offer has no {kind} line: an SDP session starts with v=, o=, s= and t=")
    if not sections:
        raise UnusableOffer(
            "the offer has no media sections (m=audio, m=video): add the tracks to the connection before creating the offer"
        )
    active = {index for index, section in enumerate(sections) if section.active}
    if not active:
        raise UnusableOffer("every media section of the offer is rejected (port 0): offer at least one track to send or receive")
    mids = {value for section in sections for _, value in section.values("mid")}
    for number, name, value in session:
        if name == "group" and value.startswith("BUNDLE"):
            missing = [mid for mid in value.split()[1:] if mid not in mids]
            if missing:
                raise UnusableOffer(
                    f"line {number} bundles mid {missing[0]}, but no section has a=mid:{missing[0]}: "
                    "the offer looks cut short; send the whole offer"
                )
    session_values = {name: value for _, name, value in session}
    session_fingerprints = [(n, v) for n, a, v in session if a == "fingerprint"]
    for index in sorted(active):
        _check_section(sections[index], session_values, session_fingerprints)
    return active


def _check_section(section: _Section, session: dict[str, str], session_fingerprints: list[tuple[int, str]]) -> None:
    where = f"the m={section.kind} section (line {section.line})"
    if section.kind in ("audio", "video"):
        mapped: set[str] = set()
        for number, value in section.values("rtpmap"):
            match = _RTPMAP.match(value)
            if match is None:
                raise UnusableOffer(
                    f"line {number} a=rtpmap:{_shown(value)} is malformed: write <payload type> <codec name>/<clock rate>, "
                    "a codec name being letters, digits and -._+"
                )
            mapped.add(match.group(1))
        for fmt in section.formats:
            if not fmt.isascii() or not fmt.isdigit() or int(fmt) > 127:
                raise UnusableOffer(f"{where} lists {_shown(fmt)}: RTP payload types are numbers 0-127")
            if int(fmt) >= 96 and fmt not in mapped:
                raise UnusableOffer(
                    f"{where} lists payload type {fmt} without its a=rtpmap line: the offer looks cut short; send the whole offer"
                )
    ufrag = next((v for _, v in section.values("ice-ufrag")), session.get("ice-ufrag"))
    pwd = next((v for _, v in section.values("ice-pwd")), session.get("ice-pwd"))
    if ufrag is None or pwd is None:
        raise UnusableOffer(
            f"{where} has no ICE credentials: an offer needs a=ice-ufrag and a=ice-pwd (RFC 8839), "
            "at session level or in every media section"
        )
    if not 4 <= len(ufrag) <= 256 or not _ICE_CHARS.match(ufrag):
        raise UnusableOffer(f"{where}: a=ice-ufrag must be 4 to 256 characters of A-Z a-z 0-9 + / (RFC 8839)")
    if not 22 <= len(pwd) <= 256 or not _ICE_CHARS.match(pwd):
        raise UnusableOffer(f"{where}: a=ice-pwd must be 22 to 256 characters of A-Z a-z 0-9 + / (RFC 8839)")
    fingerprints = section.values("fingerprint") or session_fingerprints
    if not fingerprints:
        raise UnusableOffer(
            f"{where} has no a=fingerprint: WebRTC media is encrypted with DTLS-SRTP, and the offer must name "
            "its certificate's SHA-256 fingerprint (RFC 8122, RFC 8827)"
        )
    for number, value in fingerprints:
        algorithm, _, digest = value.strip().partition(" ")
        size = FINGERPRINT_HASHES.get(algorithm.lower())
        if size is None:
            raise UnusableOffer(
                f"line {number} a=fingerprint uses {_shown(algorithm)}, which cannot vouch for a DTLS certificate: "
                "use sha-256 (or sha-384, sha-512)"
            )
        digest = digest.strip()
        if not _FINGERPRINT_VALUE.match(digest) or len(digest.split(":")) != size:
            raise UnusableOffer(
                f"line {number}: a {algorithm} fingerprint is {size} hexadecimal bytes separated by colons"
            )
    setup = next((v for _, v in section.values("setup")), session.get("setup"))
    if setup is None:
        raise UnusableOffer(f"{where} has no a=setup: an offer says a=setup:actpass (RFC 8842)")
    if setup not in DTLS_SETUP:
        raise UnusableOffer(f"{where}: a=setup:{_shown(setup)} is not one of {', '.join(DTLS_SETUP)} (RFC 8842)")


def candidate_hosts(sdp_text: str) -> list[str]:
    """The connection addresses of every ``a=candidate`` line."""
    hosts = []
    for line in sdp_text.splitlines():
        match = _CANDIDATE_RE.match(line)
        if match:
            hosts.append(match.group(1))
    return hosts


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # mDNS .local names and garbage


def filter_candidates(sdp_text: str, keep: Callable[[str], bool]) -> str:
    """Drop ``a=candidate`` lines whose address ``keep`` refuses; keep line endings.

    When a line is dropped, ``a=end-of-candidates`` goes too: the peer's
    connectivity checks (peer-reflexive candidates) or trickled candidates may
    still reach us, while "no candidates, and that is all" would fail ICE at once.
    """
    eol = "\r\n" if "\r\n" in sdp_text else "\n"
    out = []
    dropped = False
    for line in sdp_text.split(eol):
        match = _CANDIDATE_RE.match(line)
        if match and not keep(match.group(1)):
            dropped = True
            continue
        out.append(line)
    if dropped:
        out = [line for line in out if line != "a=end-of-candidates"]
    return eol.join(out)


def advertise_public_addresses(sdp_text: str, public: Sequence[str]) -> str:
    """Add, for each host candidate, the same candidate at each ``public`` address.

    For a server behind a 1:1 NAT (a cloud VM's public IP, a forwarded UDP port
    range): the public address is not on any interface, so ICE cannot gather
    it, but the NAT keeps ports, so ``public:port`` reaches the local socket.
    The copies come right after their originals, with a lower priority, so
    peers on the same network still prefer the direct path.
    """
    if not public:
        return sdp_text
    eol = "\r\n" if "\r\n" in sdp_text else "\n"
    out = []
    for line in sdp_text.split(eol):
        out.append(line)
        parts = line.split()
        if not (line.startswith("a=candidate:") and len(parts) >= 8 and parts[7] == "host"):
            continue
        host = parts[4]
        for index, address in enumerate(public):
            if (":" in address) != (":" in host) or address == host:
                continue
            copy = list(parts)
            copy[0] = f"{parts[0]}p{index}"  # a foundation of its own
            copy[3] = str(max(1, int(parts[3]) - 1 - index))
            copy[4] = address
            out.append(" ".join(copy))
    return eol.join(out)
