"""Fragmented MP4 as the recorder writes it, read back by FFmpeg (PyAV and ffprobe).

Real encoders throughout: libx264 at the sizes and profiles publishers send
(cropped heights, High profile with its extra avcC fields), libopus at every
frame length a browser or OBS may use; the muxer writes into a real spool,
and a segment cut at any byte by a "crash" is salvaged to its whole fragments.
"""

from __future__ import annotations

import asyncio
import fractions
import json
import subprocess
from pathlib import Path

import av
import pytest

from streaming import fmp4
from streaming.depacketize import NAL_IDR, iter_nals
from streaming.hls import Playlist, Segment, live_window, parse_playlist, trim, write_playlist
from streaming.muxer import FRAGMENT, SegmentMuxer
from streaming.salvage import salvage_part
from streaming.spool import SpoolRecording, playlist_from_journal

TB = fractions.Fraction(1, 90000)


def h264(width: int, height: int, frames: int, *, fps: int = 30, keyint: int = 30, profile: str = "baseline",
         shade: int = 0) -> list[tuple[int, bytes, bool]]:
    """(pts at 90 kHz, Annex-B access unit, keyframe) from libx264, SPS/PPS before every keyframe."""
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt, encoder.time_base = width, height, "yuv420p", TB
    encoder.options = {"preset": "ultrafast", "tune": "zerolatency", "profile": profile,
                       "x264-params": f"keyint={keyint}:min-keyint={keyint}:scenecut=0:repeat-headers=1"}
    out = []
    for n in range(frames):
        frame = av.VideoFrame(width, height, "yuv420p")
        for i, plane in enumerate(frame.planes):
            plane.update(bytes([(n * 5 + i * 60 + shade) % 256]) * plane.buffer_size)
        frame.pts, frame.time_base = n * 90000 // fps, TB
        out += [(int(p.pts), bytes(p), bool(p.is_keyframe)) for p in encoder.encode(frame)]
    out += [(int(p.pts), bytes(p), bool(p.is_keyframe)) for p in encoder.encode(None)]
    return out


def opus(seconds: float, frame_ms: float, channels: int = 1) -> list[tuple[int, bytes]]:
    """(pts at 48 kHz, Opus packet) from libopus with ``frame_ms`` frames."""
    encoder = av.CodecContext.create("libopus", "w")
    encoder.sample_rate, encoder.format = 48000, "s16"
    encoder.layout = "stereo" if channels == 2 else "mono"
    encoder.time_base = fractions.Fraction(1, 48000)
    encoder.options = {"frame_duration": str(frame_ms)}
    samples = int(48 * frame_ms)
    out = []
    for n in range(int(seconds * 1000 / frame_ms)):
        frame = av.AudioFrame(format="s16", layout=encoder.layout.name, samples=samples)
        frame.planes[0].update(bytes((n * 13 + i) % 200 for i in range(frame.planes[0].buffer_size)))
        frame.sample_rate, frame.pts, frame.time_base = 48000, n * samples, encoder.time_base
        out += [(int(p.pts), bytes(p)) for p in encoder.encode(frame)]
    first = out[0][0]  # the encoder's priming comes before 0: a stream's middle starts at 0
    return [(pts - first, packet) for pts, packet in out]


def probe(path: Path) -> dict:
    return json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout)


def decode_all(path: Path) -> dict[str, list[float]]:
    """Every decoded frame's time (s) by stream type; raises on a decoding error."""
    times: dict[str, list[float]] = {"video": [], "audio": []}
    with av.open(str(path)) as container:
        container.streams.video[0].thread_type = "NONE"
        for frame in container.decode(*container.streams):
            times["video" if isinstance(frame, av.VideoFrame) else "audio"].append(float(frame.time))
    return times


def record(spool: SpoolRecording, video: list[tuple[int, bytes, bool]], audio: list[tuple[int, bytes]],
           *, stereo: bool = False, target: float = 2.0) -> SegmentMuxer:
    spool.ensure()
    muxer = SegmentMuxer(spool, {"video": "H264", "audio": "opus"}, target=target, on_segment=lambda: None)
    if stereo:
        muxer.prefer_stereo()
    taken = 0
    for pts, data, keyframe in video:
        muxer.write_video(pts, data, keyframe)
        while taken < len(audio) and audio[taken][0] * 90000 <= (pts + 9000) * 48000:
            muxer.write_audio(*audio[taken])
            taken += 1
    muxer.finish()
    return muxer


def joined(spool: SpoolRecording, target: Path) -> Path:
    """The whole recording as one file: each init segment, then its segments."""
    state = spool.state()
    data = b""
    current = None
    for entry in state.segments:
        if entry["map"] != current:
            current = entry["map"]
            data += spool.path(current).read_bytes()
        data += spool.path(entry["name"]).read_bytes()
    target.write_bytes(data)
    return target


@pytest.mark.parametrize(
    ("width", "height", "profile"),
    [(640, 360, "baseline"), (1280, 720, "main"), (1920, 1080, "high"), (854, 480, "high"), (320, 180, "baseline")],
)
def test_the_sps_gives_the_picture_size_players_see(width: int, height: int, profile: str) -> None:
    """Sizes that are not whole macroblocks (360, 1080, 854) come from the SPS's cropping."""
    frames = h264(width, height, 2, profile=profile)
    sps, pps = fmp4.parameter_sets(frames[0][1])
    assert sps is not None and pps is not None
    config = fmp4.h264_config(sps, pps)
    assert (config.width, config.height) == (width, height)


@pytest.mark.parametrize(("frame_ms", "channels"), [(2.5, 1), (5, 1), (10, 1), (20, 1), (20, 2), (40, 1), (60, 2)])
def test_opus_packet_durations_come_from_the_toc(frame_ms: float, channels: int) -> None:
    packets = opus(0.5, frame_ms, channels)
    assert packets
    assert {fmp4.opus_duration(p) for _, p in packets} == {int(48 * frame_ms)}


@pytest.mark.parametrize("profile", ["baseline", "high"])
def test_a_recording_decodes_whole_in_sync_and_in_its_segments(tmp_path: Path, profile: str) -> None:
    video = h264(640, 360, 6 * 30, profile=profile)
    audio = opus(6.2, 20, 2)
    spool = SpoolRecording(tmp_path, 1)
    muxer = record(spool, video, audio, stereo=True)
    state = spool.state()
    assert state.ended and state.inits == ["init_00001.mp4"]
    assert [e["name"] for e in state.segments] == ["seg_00001.m4s", "seg_00002.m4s", "seg_00003.m4s"]
    assert [e["duration"] for e in state.segments] == [2.0, 2.0, 2.0]
    assert muxer.frames_written == len(video)

    info = probe(joined(spool, tmp_path / "all.mp4"))
    streams = {s["codec_type"]: s for s in info["streams"]}
    assert streams["video"]["codec_name"] == "h264" and (streams["video"]["width"], streams["video"]["height"]) == (640, 360)
    assert streams["audio"]["codec_name"] == "opus" and streams["audio"]["channels"] == 2
    times = decode_all(tmp_path / "all.mp4")
    assert len(times["video"]) == len(video)
    assert times["video"] == sorted(times["video"]) and times["video"][0] == 0.0
    assert abs(times["video"][-1] - (len(video) - 1) / 30) < 0.001
    # the audio taken (up to 0.1 s past the last picture) is all there, each packet at its time
    taken = [pts / 48000 for pts, _ in audio if pts * 90000 <= (video[-1][0] + 9000) * 48000]
    assert times["audio"] == pytest.approx(taken, abs=0.001)

    # each segment plays on its own after its init segment, from a keyframe, at its place on the timeline
    init = spool.path("init_00001.mp4").read_bytes()
    for n, entry in enumerate(state.segments):
        data = spool.path(entry["name"]).read_bytes()
        assert data[4:8] == b"moof"
        first, end = fmp4.track_timing(data, fmp4.VIDEO_TRACK) or (None, None)
        assert (first, end) == (n * 180000, (n + 1) * 180000)
        one = tmp_path / f"one-{n}.mp4"
        one.write_bytes(init + data)
        seen = decode_all(one)
        assert len(seen["video"]) == 60 and seen["video"][0] == pytest.approx(2.0 * n)


def test_fragments_are_written_as_the_segment_grows(tmp_path: Path) -> None:
    """What a crash can cost: the open segment's part holds all but the last :data:`FRAGMENT` seconds."""
    video = h264(320, 180, 90, keyint=90)
    spool = SpoolRecording(tmp_path, 1)
    spool.ensure()
    muxer = SegmentMuxer(spool, {"video": "H264"}, target=4.0, on_segment=lambda: None)
    for pts, data, keyframe in video[:75]:  # 2.5 s into a segment
        muxer.write_video(pts, data, keyframe)
    part = spool.part_files()
    assert [p.name for p in part] == ["seg_00001.m4s.part"]
    written = part[0].read_bytes()
    assert fmp4.complete_prefix(written) == len(written)
    first, end = fmp4.track_timing(written, fmp4.VIDEO_TRACK) or (0, 0)
    assert first == 0 and 2.5 - FRAGMENT - 0.05 <= end / 90000 < 2.5


def test_a_segment_cut_at_any_byte_is_salvaged_to_its_whole_fragments(tmp_path: Path) -> None:
    video = h264(320, 180, 150, keyint=150)  # one 5 s segment
    audio = opus(5.2, 20)
    whole = SpoolRecording(tmp_path / "whole", 1)
    record(whole, video, audio, target=6.0)
    data = whole.path("seg_00001.m4s").read_bytes()
    init = whole.path("init_00001.mp4").read_bytes()
    fragments = [end for kind, _, end in fmp4.iter_boxes(data) if kind == b"mdat"]
    assert len(fragments) >= 8
    for cut in (fragments[2] - 1, fragments[2], fragments[2] + 5, fragments[5] + 100, len(data) - 3):
        spool = SpoolRecording(tmp_path / f"cut-{cut}", 1)
        spool.ensure()
        spool.append({"type": "start", "at": "2026-12-07T09:00:00+00:00", "video": "H264", "audio": "opus"})
        spool.path("init_00001.mp4").write_bytes(init)
        spool.append({"type": "init", "name": "init_00001.mp4"})
        spool.path("seg_00001.m4s.part").write_bytes(data[:cut])
        salvage_part(spool)
        state = spool.state()
        assert state.ended and not spool.part_files()
        (entry,) = state.segments
        kept = spool.path("seg_00001.m4s").read_bytes()
        assert entry["salvaged"] and entry["map"] == "init_00001.mp4"
        assert len(kept) == max(f for f in fragments if f <= cut)
        first, end = fmp4.track_timing(kept, fmp4.VIDEO_TRACK) or (0, 0)
        assert entry["duration"] == pytest.approx((end - first) / 90000, abs=0.001)
        one = tmp_path / f"salvaged-{cut}.mp4"
        one.write_bytes(init + kept)
        assert len(decode_all(one)["video"]) == round(entry["duration"] * 30)


def test_new_parameter_sets_start_a_new_init_segment_and_a_discontinuity(tmp_path: Path) -> None:
    """The publisher's encoder changed the picture (another session, or a WebRTC sender scaling down as
    bandwidth runs short, any time into a segment): the segment starts at that keyframe with an init segment
    of its own, so players set their decoder up again; no frame is played with another size's set-up."""
    small = h264(320, 180, 15)  # 0.5 s: far less than a segment
    large = [(pts + 15 * 3000, data, key) for pts, data, key in h264(640, 360, 60, shade=90)]
    spool = SpoolRecording(tmp_path, 1)
    record(spool, small + large, opus(2.7, 20))
    state = spool.state()
    assert state.inits == ["init_00001.mp4", "init_00002.mp4"]
    assert [(e["map"], e["discontinuity"], e["duration"]) for e in state.segments] == [
        ("init_00001.mp4", False, 0.5), ("init_00002.mp4", True, 2.0)]
    info = probe(joined(spool, tmp_path / "all.mp4"))
    # the MP4 joined by ffmpeg reads its first init; each run, as players get it, has its own size
    for n, size in ((1, (320, 180)), (2, (640, 360))):
        run = tmp_path / f"run-{n}.mp4"
        run.write_bytes(spool.path(f"init_0000{n}.mp4").read_bytes() + spool.path(f"seg_0000{n}.m4s").read_bytes())
        video = next(s for s in probe(run)["streams"] if s["codec_type"] == "video")
        assert (video["width"], video["height"]) == size
        assert len(decode_all(run)["video"]) == (15, 60)[n - 1]
    assert info["streams"]
    playlist = playlist_from_journal(state, ended=True)
    text = write_playlist(playlist)
    assert text.count("#EXT-X-MAP:") == 2 and "#EXT-X-VERSION:7" in text
    assert text.index("#EXT-X-DISCONTINUITY") < text.index('#EXT-X-MAP:URI="init_00002.mp4"')


def test_keyframes_without_parameter_sets_keep_the_init_segment(tmp_path: Path) -> None:
    """An encoder that sends SPS/PPS once: later keyframes cut segments on the first init segment."""
    frames = h264(320, 180, 120, keyint=30)
    stripped = []
    for n, (pts, data, key) in enumerate(frames):
        if key and n:
            data = b"".join(b"\x00\x00\x00\x01" + nal for nal in iter_nals(data) if nal[0] & 0x1F == NAL_IDR)
        stripped.append((pts, data, key))
    spool = SpoolRecording(tmp_path, 1)
    record(spool, stripped, [], target=1.0)
    state = spool.state()
    assert state.inits == ["init_00001.mp4"] and len(state.segments) == 4
    assert len(decode_all(joined(spool, tmp_path / "all.mp4"))["video"]) == 120


def test_playlists_carry_each_segments_init_segment() -> None:
    segments = [Segment(f"seg_{i:05d}.m4s", 2.0, i == 3, None, "init_00001.mp4" if i < 3 else "init_00003.mp4")
                for i in range(1, 6)]
    playlist = Playlist(segments, playlist_type="VOD", ended=True)
    text = write_playlist(playlist, lambda uri: f"https://cdn/{uri}?sig=1")
    assert '#EXT-X-MAP:URI="https://cdn/init_00001.mp4?sig=1"' in text
    assert text.count("#EXT-X-MAP:") == 2 and text.startswith("#EXTM3U\n#EXT-X-VERSION:7\n")
    again = parse_playlist(write_playlist(playlist))
    assert [s.map for s in again.segments] == [s.map for s in segments]
    # a live window or a trim that starts past the first init segment still names the one its segments need
    window = parse_playlist(write_playlist(live_window(playlist, 2)))
    assert [s.map for s in window.segments] == ["init_00003.mp4", "init_00003.mp4"]
    trimmed = parse_playlist(write_playlist(trim(playlist, 2.5, None)))
    assert [s.map for s in trimmed.segments] == ["init_00001.mp4"] + ["init_00003.mp4"] * 3
    # a replay recorded as MPEG-TS has no map and stays version 3
    legacy = write_playlist(Playlist([Segment("seg_00001.ts", 2.0)]))
    assert "#EXT-X-MAP" not in legacy and "#EXT-X-VERSION:3" in legacy


def test_malformed_boxes_are_not_read_past_their_end() -> None:
    assert list(fmp4.iter_boxes(b"\x00\x00\x00\x10moof\x00\x00")) == []  # says 16 bytes, has 10
    assert fmp4.complete_prefix(b"\x00\x00\x00\x08moof\x00\x00\x00\x08mdat\x00\x00\x00\x08moof") == 16
    assert fmp4.complete_prefix(b"\x00\x00\x00\x08mdat") == 0  # an mdat without its moof
    with pytest.raises(fmp4.Fmp4Error):
        fmp4.h264_config(b"\x68\xce\x38\x80", b"")  # a PPS is not an SPS


async def test_the_uploader_stores_each_init_segment_before_a_playlist_names_it(tmp_path: Path) -> None:
    """Every playlist written while the recording uploads (players read it at any moment) names only
    objects already in storage, init segments included; the content types say what each file is."""
    from cloudexpo.storage import open_store
    from streaming.spool import Uploader, replay_prefix

    small = h264(320, 180, 60)
    large = [(pts + 60 * 3000, data, key) for pts, data, key in h264(640, 360, 60, shade=90)]
    spool = SpoolRecording(tmp_path / "spool", 3)
    record(spool, small + large, opus(4.2, 20), target=1.0)
    store = open_store(str(tmp_path / "objects"), "secret", "http://127.0.0.1")
    prefix = replay_prefix(3)
    missing: list[str] = []

    def check(playlist: Playlist) -> None:
        for segment in playlist.segments:
            for name in (segment.map, segment.uri):
                if not (tmp_path / "objects" / prefix / str(name)).exists():
                    missing.append(str(name))

    uploader = Uploader(store, spool, on_playlist=check)
    playlists: list[int] = []
    uploader.on_playlist = lambda playlist: (check(playlist), playlists.append(len(playlist.segments)))
    task = asyncio.create_task(uploader.run())  # as while live: a playlist after each segment
    uploader.kick()
    for _ in range(200):
        if uploader.uploaded_count == len(spool.state().files()):
            break
        await asyncio.sleep(0.05)
    uploader.finish()
    await asyncio.wait_for(task, 30)
    assert playlists[:4] == [1, 2, 3, 4] and not missing, (playlists, missing)
    final = parse_playlist((await store.get_bytes(prefix + "index.m3u8")).decode())
    assert final.ended and [s.map for s in final.segments] == ["init_00001.mp4"] * 2 + ["init_00003.mp4"] * 2
    for name, kind in (("init_00001.mp4", "video/mp4"), ("seg_00001.m4s", "video/iso.segment")):
        info = await store.head(prefix + name)
        assert info is not None and info.content_type == kind, (name, info)


def test_numbers_go_past_an_init_segment_whose_segment_a_crash_lost(tmp_path: Path) -> None:
    """An init segment journalled (and uploaded) whose first segment never finished: the next writer on the
    spool never writes that name again, since storage (and the uploader's list) already hold it."""
    spool = SpoolRecording(tmp_path, 1)
    record(spool, h264(320, 180, 60), [], target=1.0)
    spool.path("init_00003.mp4").write_bytes(spool.path("init_00001.mp4").read_bytes())
    spool.append({"type": "init", "name": "init_00003.mp4"})
    again = record(spool, [(pts + 180000, d, k) for pts, d, k in h264(640, 360, 30)], [], target=1.0)
    state = spool.state()
    assert again.segments_written == 1
    assert state.inits == ["init_00001.mp4", "init_00003.mp4", "init_00004.mp4"]
    assert state.segments[-1]["name"] == "seg_00004.m4s" and state.segments[-1]["map"] == "init_00004.mp4"


def test_lost_audio_is_filled_so_the_sound_stays_on_the_timeline(tmp_path: Path) -> None:
    """Packets lost (one, five, a burst of 0.6 s) and sound that starts 0.1 s after the picture: players lay
    decoded audio end to end, so each gap is filled with empty packets (concealed by the decoder) and every
    packet after it plays at its own time; each sample lasts what its packet codes."""
    audio = [(pts + 4800, data) for pts, data in opus(5.2, 20)]
    kept = [a for i, a in enumerate(audio) if i != 20 and not 50 <= i < 55 and not 100 <= i < 131]
    spool = SpoolRecording(tmp_path, 1)
    record(spool, h264(320, 180, 150), kept)
    path = joined(spool, tmp_path / "all.mp4")
    samples = 0
    starts: dict[float, int] = {}
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            starts[round(float(frame.time), 3)] = frame.samples
            samples += frame.samples
    assert min(starts) == 0.0  # the sound starts with the picture
    taken = [pts for pts, _ in kept if pts * 90000 <= (149 * 3000 + 9000) * 48000]
    assert samples == taken[-1] + 960  # no time lost or added: every gap filled, nothing stretched
    assert all(round(pts / 48000, 3) in starts for pts in taken)  # each packet decoded at its own time
    data = b"".join(spool.path(e["name"]).read_bytes() for e in spool.state().segments)
    assert data.count(bytes([0xF8])) >= 36  # the fillers: 20 ms empty packets, mono


def test_a_salvaged_segment_with_an_init_segment_of_its_own_starts_a_discontinuity(tmp_path: Path) -> None:
    spool = SpoolRecording(tmp_path, 1)
    record(spool, h264(320, 180, 60), [], target=1.0)
    other = SpoolRecording(tmp_path / "other", 1)
    record(other, [(pts + 180000, d, k) for pts, d, k in h264(640, 360, 45, keyint=45)], [], target=2.0)
    spool.path("init_00003.mp4").write_bytes(other.path("init_00001.mp4").read_bytes())
    spool.append({"type": "init", "name": "init_00003.mp4"})
    data = other.path("seg_00001.m4s").read_bytes()
    spool.path("seg_00003.m4s.part").write_bytes(data[: len(data) - 10])
    state_before = spool.state()
    assert state_before.ended  # the first writer ended; a second one was killed
    salvage_part(spool)
    last = spool.state().segments[-1]
    assert last["name"] == "seg_00003.m4s" and last["map"] == "init_00003.mp4" and last["discontinuity"]


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_the_download_joins_runs_of_another_set_up_with_their_sound(tmp_path: Path, services: object) -> None:
    """A replay of three runs: MPEG-TS with AAC (recorded before Cloud Expo wrote fMP4, then continued), fMP4
    with Opus, and fMP4 without sound (the codec came late). The download has sound all along."""
    from cloudexpo.services import Services
    from streaming.replays import _build_mp4
    from streaming.spool import replay_prefix
    from tests.test_replay_api import SEGMENTS

    assert isinstance(services, Services)
    store, prefix = services.store, replay_prefix(9)
    segments = []
    for i, data in enumerate(SEGMENTS[:2], start=1):  # 2 x 2 s of MPEG-TS
        await store.put_bytes(prefix + f"seg_{i:05d}.ts", data, "video/mp2t")
        segments.append(Segment(f"seg_{i:05d}.ts", 2.0))
    with_sound = SpoolRecording(tmp_path / "a", 9)
    record(with_sound, [(p + 360000, d, k) for p, d, k in h264(320, 240, 60)],
           [(p + 192000, d) for p, d in opus(2.2, 20)], target=2.0)
    silent = SpoolRecording(tmp_path / "b", 9)
    silent.ensure()
    muxer = SegmentMuxer(silent, {"video": "H264"}, target=2.0, on_segment=lambda: None)
    for p, d, k in h264(320, 240, 60, shade=50):
        muxer.write_video(p + 540000, d, k)
    muxer.finish()
    for spool, init, name in ((with_sound, "init_00003.mp4", "seg_00003.m4s"), (silent, "init_00004.mp4", "seg_00004.m4s")):
        await store.put_bytes(prefix + init, spool.path("init_00001.mp4").read_bytes(), "video/mp4")
        await store.put_bytes(prefix + name, spool.path("seg_00001.m4s").read_bytes(), "video/iso.segment")
        segments.append(Segment(name, 2.0, True, None, init))
    await _build_mp4(store, 9, Playlist(segments, ended=True), tmp_path / "work", prefix + "replay.mp4")
    mp4 = tmp_path / "replay.mp4"
    await store.download_file(prefix + "replay.mp4", mp4)
    streams = {s["codec_type"]: s for s in probe(mp4)["streams"]}
    assert streams["audio"]["codec_name"] == "aac" and streams["video"]["codec_name"] == "h264"
    times = decode_all(mp4)
    assert abs(times["video"][-1] - 8.0) < 0.3, times["video"][-1]
    assert abs(times["audio"][-1] - times["video"][-1]) < 0.3, (times["audio"][-1], times["video"][-1])
    assert len(times["video"]) == 40 + 60 + 60  # the TS run at 10 fps, then 30 fps
