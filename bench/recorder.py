"""The recorder alone: CPU of one recording's writer thread for the 720p30 H.264 + Opus broadcast.

The bench media (``bench/_common.encode_media``) is packetized as aiortc's
sender packetizes it and fed to a :class:`streaming.segmenter.SegmentWriter`
(depacketising, H.264 and Opus into fragmented MP4 segments fsynced into a spool in a
temporary folder), paced at real time with ``--real`` (as a broadcast comes
in: the writer thread wakes up the way it does live) or as fast as it goes.
Printed: CPU of the process (writer thread and feeder) per second of media,
and of the writer thread alone (its own CPU clock: what a recording costs the
server, without this bench's feeder).
Run::

    .venv/bin/python bench/recorder.py --seconds 20 --real
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiortc.codecs.h264 import H264Encoder
from aiortc.rtp import RtpPacket

from bench._common import encode_media
from streaming.sdp import CodecChoice
from streaming.segmenter import SegmentWriter
from streaming.spool import SpoolRecording

LOOP = 4  # seconds in the pre-encoded media


def packets(seconds: int, audio_channels: int = 2) -> list[tuple[float, str, RtpPacket]]:
    """(media time, kind, packet) of ``seconds`` of the bench media, in time order."""
    name = "cloudexpo-bench-720p30.pickle" if audio_channels == 2 else "cloudexpo-bench-720p30-mono.pickle"
    media = encode_media(Path(tempfile.gettempdir()) / name, LOOP, audio_channels=audio_channels)
    out = []
    seq = {"video": 1000, "audio": 5000}
    for loop in range(seconds // LOOP):
        for data, pts in media["video"]:
            payloads = H264Encoder._packetize(H264Encoder._split_bitstream(data))
            ts = pts + (loop * LOOP + 1) * 90000
            for i, payload in enumerate(payloads):
                out.append((ts / 90000, "video", RtpPacket(payload_type=102, marker=int(i == len(payloads) - 1),
                            sequence_number=seq["video"] & 0xFFFF, timestamp=ts & 0xFFFFFFFF, ssrc=1, payload=payload)))
                seq["video"] += 1
        for data, pts in media["audio"]:
            ts = pts + (loop * LOOP + 1) * 48000
            out.append((ts / 48000, "audio", RtpPacket(payload_type=111, sequence_number=seq["audio"] & 0xFFFF,
                        timestamp=ts & 0xFFFFFFFF, ssrc=2, payload=data)))
            seq["audio"] += 1
    out.sort(key=lambda p: p[0])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=20, help="media recorded (a multiple of 4)")
    parser.add_argument("--real", action="store_true", help="feed packets at real time")
    parser.add_argument("--audio", choices=("stereo", "mono"), default="stereo",
                        help="the publisher's Opus: stereo as OBS sends it, or mono as a browser does")
    args = parser.parse_args()
    stream = packets(args.seconds, 2 if args.audio == "stereo" else 1)
    with tempfile.TemporaryDirectory() as root:
        spool = SpoolRecording(Path(root), 1)
        spool.ensure()
        writer = SegmentWriter(spool)
        writer.sink.on_codec("video", CodecChoice("video", "H264", 102, 90000))
        sprop = {"sprop-stereo": "1"} if args.audio == "stereo" else {}
        writer.sink.on_codec("audio", CodecChoice("audio", "opus", 111, 48000, 2, sprop))
        ntp = int(time.time()) << 32
        writer.sink.on_rtcp_sr("video", ntp, 90000)
        writer.sink.on_rtcp_sr("audio", ntp, 48000)
        writer.start()
        writer_clock = time.pthread_getcpuclockid(writer.ident)  # type: ignore[arg-type]
        start, cpu0, writer0 = time.monotonic(), time.process_time(), time.clock_gettime(writer_clock)
        for at, kind, packet in stream:
            if args.real and (wait := start + at - 1 - time.monotonic()) > 0:
                time.sleep(wait)
            writer.sink.on_packet(kind, packet, time.monotonic())
        while not writer.queue.empty():  # the writer took all (its last turn is at most BATCH_PERIOD away)
            time.sleep(0.01)
        time.sleep(0.05)
        writer_cpu = time.clock_gettime(writer_clock) - writer0  # while the thread, and its clock, lives
        writer.stop()
        writer.join()
        cpu = time.process_time() - cpu0
        print(f"{len(stream)} packets, {args.seconds} s of media{' at real time' if args.real else ''}: "
              f"{cpu / args.seconds * 100:.2f} % of a core per second of media "
              f"(the writer thread {writer_cpu / args.seconds * 100:.2f} %), "
              f"{writer.muxer.segments_written} segments, {writer.muxer.audio_frames_written} Opus packets "
              f"({'stereo' if writer.muxer.audio_channels == 2 else 'mono'})")


if __name__ == "__main__":
    main()
