"""Pure parts of recording and replays: playlists, trimming, depacketizing, WebVTT checks."""

from __future__ import annotations

import datetime as dt

import pytest

from streaming.depacketize import (
    H264Depacketizer,
    ReorderBuffer,
    VP8Depacketizer,
    iter_nals,
    vp8_descriptor_size,
)
from streaming.hls import (
    Playlist,
    PlaylistError,
    Segment,
    TrimError,
    parse_playlist,
    snap_trim,
    trim,
    write_playlist,
)
from streaming.replays import InvalidCaptions, validate_webvtt
from streaming.spool import SpoolRecording, playlist_from_journal, unfinished_recordings

SPS = bytes([0x67, 0x42, 0xC0, 0x1F, 0xDA, 0x01])
PPS = bytes([0x68, 0xCE, 0x3C, 0x80])
IDR = bytes([0x65]) + bytes(range(1, 200))
SLICE = bytes([0x41]) + bytes(range(50, 120))


def stap_a(*nals: bytes) -> bytes:
    return bytes([0x78]) + b"".join(len(n).to_bytes(2, "big") + n for n in nals)


def fu_a(nal: bytes, size: int) -> list[bytes]:
    header, body = nal[0], nal[1:]
    chunks = [body[i : i + size] for i in range(0, len(body), size)]
    out = []
    for i, chunk in enumerate(chunks):
        fu_header = (header & 0x1F) | (0x80 if i == 0 else 0) | (0x40 if i == len(chunks) - 1 else 0)
        out.append(bytes([(header & 0xE0) | 28, fu_header]) + chunk)
    return out


def test_playlist_round_trip() -> None:
    start = dt.datetime(2026, 11, 25, 9, 0, 0, 250000, tzinfo=dt.UTC)
    playlist = Playlist(
        [Segment("seg_00001.ts", 2.002, False, start), Segment("seg_00002.ts", 2.5), Segment("seg_00003.ts", 1.0, True)],
        playlist_type="EVENT",
    )
    text = write_playlist(playlist)
    assert text.startswith("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:3\n")
    assert "#EXT-X-PLAYLIST-TYPE:EVENT" in text and "#EXT-X-ENDLIST" not in text
    assert "#EXT-X-PROGRAM-DATE-TIME:2026-11-25T09:00:00.250Z" in text
    parsed = parse_playlist(text)
    assert parsed.segments == playlist.segments
    assert parsed.playlist_type == "EVENT" and not parsed.ended
    playlist.ended, playlist.playlist_type = True, "VOD"
    signed = write_playlist(playlist, lambda uri: "https://store/" + uri + "?sig=1")
    assert signed.rstrip().endswith("#EXT-X-ENDLIST") and "https://store/seg_00002.ts?sig=1" in signed
    assert parse_playlist(signed).ended


@pytest.mark.parametrize("text", ["", "not a playlist", "#EXTM3U\nseg.ts\n", "#EXTM3U\n#EXTINF:abc,\nseg.ts\n"])
def test_bad_playlists_are_refused(text: str) -> None:
    with pytest.raises(PlaylistError):
        parse_playlist(text)


def test_trim_snaps_to_segment_starts_and_ends() -> None:
    segments = [Segment(f"s{i}.ts", 2.0) for i in range(5)]  # keyframes at 0, 2, 4, 6, 8; ends at 10
    assert snap_trim(segments, 3.0, 6.5) == (1, 4, 2.0, 8.0)
    assert snap_trim(segments, None, None) == (0, 5, 0.0, 10.0)
    assert snap_trim(segments, 4.0, 6.0) == (2, 3, 4.0, 6.0)
    trimmed = trim(Playlist(segments, playlist_type="VOD", ended=True), 2.5, 5)
    assert [s.uri for s in trimmed.segments] == ["s1.ts", "s2.ts"] and trimmed.media_sequence == 1
    for start, end in ((-1, None), (10, None), (None, 11), (5, 5), (6, 2), (float("nan"), None)):
        with pytest.raises(TrimError):
            snap_trim(segments, start, end)


def test_depacketizer_joins_stap_a_and_fu_a_into_access_units() -> None:
    d = H264Depacketizer()
    assert d.push(SLICE, 1000, True) == []  # no keyframe yet: dropped
    frames = d.push(stap_a(SPS, PPS), 3000, False)
    for i, part in enumerate(fu_a(IDR, 60)):
        frames += d.push(part, 3000, i == len(fu_a(IDR, 60)) - 1)
    assert len(frames) == 1 and frames[0].keyframe and frames[0].timestamp == 3000
    assert list(iter_nals(frames[0].data)) == [SPS, PPS, IDR]
    frames = d.push(SLICE, 6000, True)
    assert len(frames) == 1 and not frames[0].keyframe and list(iter_nals(frames[0].data)) == [SLICE]
    # an IDR without SPS/PPS in front gets the last ones, so every segment decodes on its own
    frames = d.push(IDR, 9000, True)
    assert list(iter_nals(frames[0].data)) == [SPS, PPS, IDR]


def test_depacketizer_drops_broken_frames_until_the_next_keyframe() -> None:
    d = H264Depacketizer()
    d.push(stap_a(SPS, PPS), 0, False)
    d.push(IDR, 0, True)
    parts = fu_a(SLICE, 20)
    assert d.push(parts[0], 3000, False) == []
    assert d.push(parts[2], 3000, True, lost_before=True) == []  # a fragment was lost
    assert d.waiting_for_keyframe and d.frames_dropped == 1
    assert d.push(SLICE, 6000, True) == []
    assert d.push(IDR, 9000, True)[0].keyframe
    assert not d.waiting_for_keyframe


def test_reorder_buffer_restores_order_and_gives_up_on_old_gaps() -> None:
    r: ReorderBuffer[str] = ReorderBuffer(depth=4)
    assert r.push(65534, "a") == [("a", False)]
    assert r.push(0, "c") == []  # 65535 is late
    assert r.push(65535, "b") == [("b", False), ("c", False)]
    assert r.push(65535, "b") == []  # duplicate
    assert r.push(2, "e") == []
    for seq in (3, 4):
        assert r.push(seq, str(seq)) == []
    assert r.push(5, "5") == [("e", True), ("3", False), ("4", False), ("5", False)]
    assert r.lost == 1


def test_vp8_depacketizer() -> None:
    keyframe_start = bytes([0x90, 0x80, 0x05]) + bytes([0x10, 0x02, 0x00]) + b"K" * 10  # X, S, PID 0; picture id
    middle = bytes([0x80, 0x80, 0x05]) + b"k" * 10
    assert vp8_descriptor_size(keyframe_start) == 3
    d = VP8Depacketizer()
    assert d.push(keyframe_start, 100, False) == []
    frames = d.push(middle, 100, True)
    assert len(frames) == 1 and frames[0].keyframe and frames[0].data == bytes([0x10, 0x02, 0x00]) + b"K" * 10 + b"k" * 10
    inter = bytes([0x10]) + bytes([0x01]) + b"p" * 5
    assert d.push(inter, 200, True)[0].keyframe is False


def test_webvtt_validation() -> None:
    good = "\ufeffWEBVTT - captions\n\nNOTE made by hand\n\n1\n00:00:01.000 --> 00:00:04.000 align:start\n你好\n\n00:05.000 --> 00:07.500\nBye\n"
    assert validate_webvtt(good.encode()).startswith("WEBVTT")
    for bad, hint in (
        (b"1\n00:00:01,000 --> 00:00:04,000\nHi\n", "WEBVTT"),
        (b"WEBVTTX\n\n00:01.000 --> 00:02.000\nHi\n", "WEBVTT"),
        (b"WEBVTT\n\n00:01,000 --> 00:02,000\nHi\n", "cue timing"),
        (b"WEBVTT\n\n00:03.000 --> 00:02.000\nHi\n", "end after"),
        (b"WEBVTT\n", "no cues"),
        (b"WEBVTT\n\n00:01.000 --> 00:02.000\n\xff\xfe\n", "UTF-8"),
    ):
        with pytest.raises(InvalidCaptions, match=hint):
            validate_webvtt(bad)


def test_spool_journal(tmp_path: object) -> None:
    from pathlib import Path

    root = Path(str(tmp_path))
    spool = SpoolRecording(root, 7)
    spool.append({"type": "start", "at": "2026-11-25T09:00:00+00:00"})
    spool.append({"type": "segment", "name": "seg_00001.ts", "duration": 2.0, "pdt": "2026-11-25T09:00:00+00:00"})
    spool.append({"type": "segment", "name": "seg_00002.ts", "duration": 2.1, "pdt": "2026-11-25T09:00:02+00:00"})
    with open(spool.dir / "journal.jsonl", "a") as fh:
        fh.write('{"type": "segm')  # a line cut short by a crash
    state = spool.state()
    assert state.started and not state.ended and len(state.segments) == 2
    assert unfinished_recordings(root) == [7]
    spool.mark_uploaded("seg_00001.ts")
    assert [s.uri for s in playlist_from_journal(state, spool.uploaded()).segments] == ["seg_00001.ts"]
    final = playlist_from_journal(state, ended=True)
    assert final.ended and final.playlist_type == "VOD" and round(final.duration, 3) == 4.1
