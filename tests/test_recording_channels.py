"""A recording's audio layout: mono where the publisher sends mono, stereo where it sends stereo, one a replay.

Real parts throughout: Opus packets from libopus (mono as a browser sends
them, stereo as OBS does), H.264 from libx264, packetized as aiortc's sender
packetizes, fed to the recorder's writer thread (Opus kept as it came, in
fragmented MP4 whose init segment declares the layout), read back by ffprobe
and decoded by PyAV; the stored part of a continued recording lies in the
embedded object store, and its download MP4 is AAC.
"""

from __future__ import annotations

import fractions
import json
import math
import struct
import subprocess
import time
from pathlib import Path

import av
import pytest
from aiortc.codecs.h264 import H264Encoder
from aiortc.rtp import RtpPacket

from cloudexpo.services import Services
from streaming.continuation import continue_stored
from streaming.hls import Playlist, Segment, write_playlist
from streaming.replays import _build_mp4 as build_mp4
from streaming.sdp import CodecChoice
from streaming.segmenter import SegmentWriter
from streaming.spool import PLAYLIST, SpoolRecording, replay_prefix
from streaming.transcode import opus_is_stereo

pytestmark = pytest.mark.media

SECONDS = 6


def media_packets(audio_channels: int) -> list[tuple[float, str, RtpPacket]]:
    """(media time, kind, RTP packet) of ``SECONDS`` of 320x240 H.264 (a keyframe every 2 s) and a tone in
    Opus packets of ``audio_channels`` (the left side 440 Hz, the right 660 Hz in stereo), in time order."""
    video = av.CodecContext.create("libx264", "w")
    video.width, video.height, video.pix_fmt = 320, 240, "yuv420p"
    video.time_base = fractions.Fraction(1, 30)
    video.options = {"preset": "ultrafast", "tune": "zerolatency", "x264-params": "bframes=0:keyint=60"}
    out: list[tuple[float, str, RtpPacket]] = []
    seq = 1000
    encoded = []
    for i in range(SECONDS * 30):
        frame = av.VideoFrame(320, 240, "yuv420p")
        for plane in frame.planes:
            plane.update(bytes([(i * 3) % 256]) * plane.buffer_size)
        frame.pts = i
        encoded += list(video.encode(frame))
    encoded += list(video.encode(None))
    for packet in encoded:
        ts = int(packet.pts) * 3000 + 90000
        payloads = H264Encoder._packetize(H264Encoder._split_bitstream(bytes(packet)))
        for n, payload in enumerate(payloads):
            out.append((ts / 90000, "video", RtpPacket(payload_type=102, marker=int(n == len(payloads) - 1),
                                                       sequence_number=seq & 0xFFFF, timestamp=ts, ssrc=1, payload=payload)))
            seq += 1
    layout = "stereo" if audio_channels == 2 else "mono"
    audio = av.CodecContext.create("libopus", "w")
    audio.sample_rate, audio.layout, audio.format, audio.bit_rate = 48000, layout, "s16", 96000
    audio.time_base = fractions.Fraction(1, 48000)
    for i in range(SECONDS * 50):
        samples = []
        for n in range(960):
            t = (i * 960 + n) / 48000
            samples.append(int(8000 * math.sin(2 * math.pi * 440 * t)))
            if audio_channels == 2:
                samples.append(int(8000 * math.sin(2 * math.pi * 660 * t)))
        frame = av.AudioFrame(format="s16", layout=layout, samples=960)
        frame.planes[0].update(struct.pack(f"<{len(samples)}h", *samples))
        frame.sample_rate = 48000
        frame.pts = i * 960
        for packet in audio.encode(frame):
            ts = int(packet.pts) + 48000
            out.append((ts / 48000, "audio", RtpPacket(payload_type=111, sequence_number=(5000 + i) & 0xFFFF,
                                                       timestamp=ts, ssrc=2, payload=bytes(packet))))
    out.sort(key=lambda p: p[0])
    return out


def record(spool: SpoolRecording, packets: list[tuple[float, str, RtpPacket]], *, sprop_stereo: bool,
           continued_channels: int | None = None) -> SegmentWriter:
    """The packets through a recorder's writer thread, as fast as it takes them; the writer, finished."""
    writer = SegmentWriter(spool)
    if continued_channels is not None:
        writer.continue_after(10.0, 2, continued_channels)
    return feed(writer, packets, sprop_stereo=sprop_stereo)


def feed(writer: SegmentWriter, packets: list[tuple[float, str, RtpPacket]], *, sprop_stereo: bool) -> SegmentWriter:
    writer.sink.on_codec("video", CodecChoice("video", "H264", 102, 90000))
    writer.sink.on_codec("audio", CodecChoice("audio", "opus", 111, 48000, 2, {"sprop-stereo": "1"} if sprop_stereo else {}))
    ntp = int(time.time()) << 32
    writer.sink.on_rtcp_sr("video", ntp, 90000)
    writer.sink.on_rtcp_sr("audio", ntp, 48000)
    writer.start()
    for _, kind, packet in packets:
        writer.sink.on_packet(kind, packet, time.monotonic())
    writer.stop()
    writer.join(60)
    assert writer.error is None, writer.error
    return writer


def audio_of(path: Path) -> tuple[int, str, float]:
    """(channels, codec, seconds of audio decoded without an error) of a recorded segment, by ffprobe and PyAV."""
    probe = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "a", "-show_streams", "-of", "json", str(path)],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout)
    (stream,) = probe["streams"]
    decoded = 0
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            assert frame.layout.nb_channels == stream["channels"]
            decoded += frame.samples
    return int(stream["channels"]), stream["codec_name"], decoded / 48000


def segments_of(spool: SpoolRecording) -> list[Path]:
    """Each recorded segment as a player reads it: its init segment, then the segment (``.mp4`` beside it)."""
    paths = []
    for entry in spool.state().segments:
        joined = spool.path(entry["name"] + ".mp4")
        joined.write_bytes(spool.path(entry["map"]).read_bytes() + spool.path(entry["name"]).read_bytes())
        paths.append(joined)
    assert len(paths) >= 2, paths
    return paths


@pytest.mark.parametrize(
    ("sent", "sprop_stereo", "recorded"),
    [
        (1, False, 1),  # a browser: mono packets, nothing said: mono
        (2, True, 2),  # OBS: stereo packets, sprop-stereo=1
        (2, False, 2),  # stereo packets without the word (aiortc's publishers): the packets decide
        (1, True, 2),  # said stereo, sent mono so far: stereo, so that its stereo later is kept
    ],
)
def test_the_recording_takes_the_publishers_channels(tmp_path: Path, sent: int, sprop_stereo: bool, recorded: int) -> None:
    packets = media_packets(sent)
    assert {opus_is_stereo(p.payload) for _, kind, p in packets if kind == "audio"} == {sent == 2}
    spool = SpoolRecording(tmp_path, 1)
    spool.ensure()
    writer = record(spool, packets, sprop_stereo=sprop_stereo)
    assert writer.muxer.audio_channels == recorded
    heard = 0.0
    for path in segments_of(spool):
        channels, codec, seconds = audio_of(path)
        assert (channels, codec) == (recorded, "opus"), path
        heard += seconds
    assert abs(heard - SECONDS) < 0.5, heard  # every Opus packet is in a segment, decoded in the declared layout


def test_a_continued_recording_keeps_the_layout_of_its_first_part(tmp_path: Path) -> None:
    """Stereo sent into a replay that began in mono is declared mono (players mix it down): one layout a
    replay, so its MP4 (one audio track) and players never meet a change at the discontinuity."""
    spool = SpoolRecording(tmp_path, 1)
    spool.ensure()
    writer = record(spool, media_packets(2), sprop_stereo=True, continued_channels=1)
    assert writer.muxer.audio_channels == 1
    for path in segments_of(spool):
        assert audio_of(path)[:2] == (1, "opus")


def test_a_server_restarted_mid_broadcast_keeps_the_spools_layout(tmp_path: Path) -> None:
    """A new writer on a spool that holds the broadcast's earlier segments reads their layout."""
    spool = SpoolRecording(tmp_path, 1)
    spool.ensure()
    record(spool, media_packets(1), sprop_stereo=False)
    before = len(spool.state().segments)
    writer = record(spool, media_packets(2), sprop_stereo=True)
    assert writer.muxer.audio_channels == 1
    later = segments_of(spool)[before:]
    assert later and all(audio_of(path)[:2] == (1, "opus") for path in later)


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
async def test_continuing_from_storage_reads_the_stored_layout(tmp_path: Path, services: Services) -> None:
    first = SpoolRecording(tmp_path / "node-a", 7)
    first.ensure()
    record(first, media_packets(1), sprop_stereo=False)
    prefix = replay_prefix(7)
    stored = []
    for name in first.state().inits:
        await services.store.put_file(prefix + name, first.path(name), "video/mp4")
    for entry in first.state().segments:
        await services.store.put_file(prefix + entry["name"], first.path(entry["name"]), "video/iso.segment")
        stored.append(Segment(entry["name"], entry["duration"], map=entry["map"]))
    await services.store.put_bytes(prefix + PLAYLIST, write_playlist(Playlist(stored)).encode(), "application/vnd.apple.mpegurl")

    fresh = SpoolRecording(tmp_path / "node-b", 7)
    fresh.ensure()
    found = await continue_stored(services.store, fresh)
    assert found is not None and found.audio_channels == 1  # from the stored init segment

    # OBS goes on with the replay: its stereo is mixed down, and the download MP4 has one mono track throughout
    writer = SegmentWriter(fresh)
    writer.continue_after(found.duration, found.next_index, found.audio_channels)
    feed(writer, media_packets(2), sprop_stereo=True)
    assert writer.muxer.audio_channels == 1
    later = [e for e in fresh.state().segments if not e.get("stored")]
    assert later and later[0]["discontinuity"]
    assert later[0]["map"] not in first.state().inits  # a new init segment, numbered after the stored ones
    for name in fresh.state().inits:
        if name not in first.state().inits:
            await services.store.put_file(prefix + name, fresh.path(name), "video/mp4")
    for entry in later:
        await services.store.put_file(prefix + entry["name"], fresh.path(entry["name"]), "video/iso.segment")
    both = Playlist(stored + [Segment(e["name"], e["duration"], e["discontinuity"], map=e["map"]) for e in later],
                    ended=True)
    await build_mp4(services.store, 7, both, tmp_path / "mp4", prefix + "replay.mp4")
    mp4 = tmp_path / "replay.mp4"
    await services.store.download_file(prefix + "replay.mp4", mp4)
    channels, codec, seconds = audio_of(mp4)
    assert (channels, codec) == (1, "aac")
    assert abs(seconds - 2 * SECONDS) < 1.0, seconds
