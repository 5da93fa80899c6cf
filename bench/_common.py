"""Shared pieces of the streaming benchmarks: pre-encoded media, peers in other processes.

Everything talks to 127.0.0.1 only: signalling is JSON lines over a TCP socket
on 127.0.0.1, media gathers only on 127.0.0.1 (:mod:`streaming.peers`).
"""

from __future__ import annotations

import asyncio
import fractions
import json
import multiprocessing as mp
import os
import pickle
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import av
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCRtpReceiver
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcrtpparameters import RTCRtpReceiveParameters
from aiortc.rtp import RtpPacket
from PIL import Image

from streaming import aiortc_internals
from streaming.peers import accept_answer, create_offer, new_peer_connection
from streaming.testsource import draw_test_card, prefer_codec

HOSTS = ("127.0.0.1",)
Media = dict[str, list[tuple[bytes, int]]]  # kind -> [(encoded bytes, pts)]


def encode_media(
    path: Path,
    seconds: int = 4,
    width: int = 1280,
    height: int = 720,
    fps: int = 30,
    bitrate: int = 2_500_000,
    audio_channels: int = 2,
) -> Media:
    """Encode ``seconds`` of test card (H.264, no B-frames) and tone (Opus) once; cache in ``path``.

    ``audio_channels``: 2 as OBS sends (stereo Opus packets), 1 as a browser sends unless asked for stereo."""
    if path.exists():
        media: Media = pickle.loads(path.read_bytes())
        return media
    video = av.CodecContext.create("libx264", "w")
    video.width, video.height, video.pix_fmt = width, height, "yuv420p"
    video.time_base = fractions.Fraction(1, fps)
    video.framerate = fractions.Fraction(fps, 1)
    video.bit_rate = bitrate
    video.gop_size = fps * 2
    kbps = bitrate // 1000
    video.options = {
        "preset": "ultrafast",
        "tune": "zerolatency",
        "profile": "baseline",
        "x264-params": f"bframes=0:vbv-maxrate={kbps}:vbv-bufsize={kbps}:keyint={fps * 2}",
    }
    out: Media = {"video": [], "audio": []}
    noise = Image.frombytes("L", (width // 4, height // 4), os.urandom(width * height // 16))
    noise = noise.resize((width, height)).convert("RGB")
    for i in range(seconds * fps):
        card = draw_test_card(i, width, height, (0, 96, 255), f"frame {i}")
        img = Image.blend(card, noise.rotate(i * 7), 0.25)
        frame = av.VideoFrame.from_image(img).reformat(format="yuv420p")
        frame.pts = i
        for pkt in video.encode(frame):
            out["video"].append((bytes(pkt), int(pkt.pts) * 90000 // fps))
    for pkt in video.encode(None):
        out["video"].append((bytes(pkt), int(pkt.pts) * 90000 // fps))
    audio = av.CodecContext.create("libopus", "w")
    audio.sample_rate = 48000
    layout = "stereo" if audio_channels == 2 else "mono"
    audio.layout = layout
    audio.format = "s16"
    audio.bit_rate = 64000
    import math
    import struct

    tone = b"".join(
        struct.pack("<" + "h" * audio_channels, *[v] * audio_channels)
        for v in (int(6000 * math.sin(2 * math.pi * 440 * n / 48000)) for n in range(960))
    )
    for i in range(seconds * 50):
        frame = av.AudioFrame(format="s16", layout=layout, samples=960)
        frame.planes[0].update(tone)
        frame.sample_rate = 48000
        frame.pts = i * 960
        for pkt in audio.encode(frame):
            out["audio"].append((bytes(pkt), int(pkt.pts)))
    path.write_bytes(pickle.dumps(out))
    return out


class PacketTrack(MediaStreamTrack):
    """Replays pre-encoded packets in real time, looping; aiortc packs them without encoding."""

    def __init__(
        self, kind: str, packets: list[tuple[bytes, int]], clock_rate: int, period: int
    ) -> None:
        super().__init__()
        self.kind = kind
        self._packets = packets
        self._clock = clock_rate
        self._period = period  # duration of one loop in clock units
        self._i = 0
        self._t0: float | None = None

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        loop_no, idx = divmod(self._i, len(self._packets))
        data, pts = self._packets[idx]
        pts += loop_no * self._period
        if self._t0 is None:
            self._t0 = time.monotonic()
        wait = self._t0 + pts / self._clock - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        self._i += 1
        packet = av.Packet(data)
        packet.pts = pts
        packet.time_base = fractions.Fraction(1, self._clock)
        return packet


def stock_relay(media_path: str | Path, seconds: int) -> Callable[[RTCPeerConnection], None]:
    """The yardstick: stock aiortc's MediaRelay of the pre-encoded loop; the result adds its tracks to a viewer's connection."""
    from aiortc.contrib.media import MediaRelay

    video, audio = media_tracks(pickle.loads(Path(media_path).read_bytes()), seconds)
    relay = MediaRelay()

    def prepare(pc: RTCPeerConnection) -> None:
        pc.addTrack(relay.subscribe(video, buffered=False))
        pc.addTrack(relay.subscribe(audio, buffered=False))

    return prepare


def media_tracks(media: Media, seconds: int) -> tuple[PacketTrack, PacketTrack]:
    return (
        PacketTrack("video", media["video"], 90000, seconds * 90000),
        PacketTrack("audio", media["audio"], 48000, seconds * 48000),
    )


class CountingReceiver(RTCRtpReceiver):
    """A viewer-side receiver that counts packets and never decodes (benchmark viewers)."""

    counts: dict[str, int]
    seqs: dict[int, list[int]]  # ssrc -> [first extended seq, highest extended seq, received]

    @classmethod
    def install(cls, receiver: RTCRtpReceiver) -> CountingReceiver:
        counting = aiortc_internals.become(receiver, cls)
        counting.seqs = {}
        return counting

    async def receive(self, parameters: RTCRtpReceiveParameters) -> None:
        if not aiortc_internals.receiver_started(self):
            aiortc_internals.mark_receiver_started(self, parameters)

    async def stop(self) -> None:
        aiortc_internals.unregister_receiver(self)

    def _handle_disconnect(self) -> None:
        pass

    async def _handle_rtp_packet(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        state = self.seqs.get(packet.ssrc)
        seq = packet.sequence_number
        if state is None:
            self.seqs[packet.ssrc] = [seq, seq, 1]
            return
        highest = state[1]
        delta = (seq - (highest & 0xFFFF)) & 0xFFFF
        if delta < 0x8000:
            state[1] = highest + delta
        state[2] += 1

    def totals(self) -> tuple[int, int]:
        received = sum(s[2] for s in self.seqs.values())
        expected = sum(s[1] - s[0] + 1 for s in self.seqs.values())
        return received, max(0, expected - received)


# -- signalling: JSON lines over TCP on 127.0.0.1 ------------------------------


async def serve_signalling(
    handler: Callable[[dict[str, Any]], Awaitable[str]],
) -> tuple[asyncio.Server, int]:
    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            request = json.loads(line)
            try:
                answer = await handler(request)
                writer.write(json.dumps({"sdp": answer}).encode() + b"\n")
            except Exception as exc:
                writer.write(json.dumps({"error": repr(exc)}).encode() + b"\n")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(on_client, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, port


async def signal(port: int, op: str, sdp: str) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(json.dumps({"op": op, "sdp": sdp}).encode() + b"\n")
    await writer.drain()
    reply = json.loads(await reader.readline())
    writer.close()
    if "error" in reply:
        raise RuntimeError(reply["error"])
    return str(reply["sdp"])


async def start_engine_publisher(
    engine: Any,
    media_path: Any,
    seconds: int,
    ctx: Any,
    stop: Any,
    *,
    ready_stat: str = "packets_in",
    ready_at: int = 300,
    on_watch: Callable[[float], None] | None = None,
) -> tuple[asyncio.Server, int, Any]:
    """Signalling for ``engine`` (stream "bench") and a publisher process on it.

    Returns once the stream's ``ready_stat`` reached ``ready_at``; ``on_watch``
    gets the seconds each ``engine.watch`` took.
    """

    async def handler(req: dict[str, Any]) -> str:
        if req["op"] == "publish":
            return str((await engine.publish("bench", req["sdp"])).answer_sdp)
        started = time.perf_counter()
        answer = (await engine.watch("bench", req["sdp"])).answer_sdp
        if on_watch is not None:
            on_watch(time.perf_counter() - started)
        return str(answer)

    server, port = await serve_signalling(handler)
    publisher = ctx.Process(target=publisher_process, args=(port, str(media_path), seconds, stop))
    publisher.start()
    while "bench" not in engine.stream_ids or engine.stats("bench")[ready_stat] < ready_at:  # noqa: ASYNC110
        await asyncio.sleep(0.2)
    return server, port, publisher


# -- processes -----------------------------------------------------------------


def publisher_process(port: int, media_path: str, seconds: int, stop: Any) -> None:
    """Publish the pre-encoded media (H.264 + Opus) until ``stop`` is set."""

    async def run() -> None:
        media = pickle.loads(Path(media_path).read_bytes())  # noqa: ASYNC240
        video, audio = media_tracks(media, seconds)
        pc = new_peer_connection()
        pc.addTransceiver(video, direction="sendonly")
        pc.addTransceiver(audio, direction="sendonly")
        prefer_codec(pc, "video", "H264")
        offer = await create_offer(pc, HOSTS)
        await accept_answer(pc, await signal(port, "publish", offer), HOSTS)
        while not stop.is_set():  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        await pc.close()

    asyncio.run(run())


def whip_publisher_process(base: str, slot: int, token: str, media_path: str, stop: Any, seconds: int = 4) -> None:
    """Publish the pre-encoded media over WHIP until ``stop`` is set; when the connection fails (a
    starved machine misses ICE consent checks), publish again, as an encoder does: a new offer with
    the slot's token takes over (a DELETE of the lost session would end the broadcast). While the
    server still holds the lost connection as connected it answers 409: try again every second.
    The server may notice first: once the slot's publisher is "reconnecting" it waits only its
    grace period (10 s) before it ends the broadcast, less than aioice takes to give up on a
    connection (30 s), so the slot's state is read every few seconds too.

    ``seconds``: the length of the pre-encoded loop (:func:`encode_media`)."""
    import httpx

    async def publish(http: httpx.AsyncClient, media: Any) -> tuple[Any, str]:
        video, audio = media_tracks(media, seconds)
        pc = new_peer_connection()
        pc.addTransceiver(video, direction="sendonly")
        pc.addTransceiver(audio, direction="sendonly")
        prefer_codec(pc, "video", "H264")
        offer = await create_offer(pc, HOSTS)
        for _ in range(90):
            answer = await http.post(f"/whip/{slot}", content=offer, headers={
                "Content-Type": "application/sdp", "Authorization": f"Bearer {token}"})
            if answer.status_code != 409:
                break
            await asyncio.sleep(1)
        assert answer.status_code == 201, answer.text
        await accept_answer(pc, answer.text, HOSTS)
        return pc, answer.headers["location"]

    async def run() -> None:
        media = pickle.loads(Path(media_path).read_bytes())  # noqa: ASYNC240
        again = 0
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            pc, location = await publish(http, media)
            checked = time.monotonic()
            while not stop.is_set():
                await asyncio.sleep(0.2)
                lost = pc.connectionState in ("failed", "closed")
                if not lost and time.monotonic() - checked > 2:
                    checked = time.monotonic()
                    seen = await http.get(f"/api/slots/{slot}")
                    lost = seen.status_code == 200 and seen.json().get("publisher") == "reconnecting"
                if lost:
                    await pc.close()
                    again += 1
                    pc, location = await publish(http, media)
            await http.delete(location, headers={"Authorization": f"Bearer {token}"})
        await pc.close()
        print(f"publisher: published again {again} times after a failed connection", flush=True)

    asyncio.run(run())


class LightCounter:
    """Counts RTP per (socket, SSRC) from the clear SRTP header and drops it before aiortc.

    For viewers that must cost their process as little as possible (bench/latency.py):
    STUN (consent checks) and DTLS still reach aioice and aiortc; SRTP/SRTCP (first
    byte 128-191) is counted and dropped without decryption.
    """

    def __init__(self) -> None:
        self.seqs: dict[tuple[int, bytes], list[int]] = {}

    def install(self) -> None:
        import aioice.ice

        original = aioice.ice.StunProtocol.datagram_received
        seqs = self.seqs

        def datagram_received(proto: Any, data: bytes, addr: Any) -> None:
            if 128 <= data[0] < 192 and len(data) >= 12:
                if 192 <= data[1] <= 223:  # RTCP
                    return
                key = (id(proto), data[8:12])
                seq = (data[2] << 8) | data[3]
                state = seqs.get(key)
                if state is None:
                    seqs[key] = [seq, seq, 1]
                    return
                highest = state[1]
                delta = (seq - (highest & 0xFFFF)) & 0xFFFF
                if delta < 0x8000:
                    state[1] = highest + delta
                state[2] += 1
                return
            original(proto, data, addr)

        aioice.ice.StunProtocol.datagram_received = datagram_received  # type: ignore[method-assign]

    def totals(self) -> tuple[int, int]:
        received = sum(s[2] for s in self.seqs.values())
        expected = sum(s[1] - s[0] + 1 for s in self.seqs.values())
        return received, max(0, expected - received)


class Whep:
    """WHEP signalling for viewers of a whole server: POST the offer, DELETE the session at the end."""

    def __init__(self, url: str) -> None:
        import httpx

        self.url = url
        self.http = httpx.AsyncClient(timeout=30)
        self.locations: list[str] = []

    async def watch(self, offer: str) -> str:
        answer = await self.http.post(self.url, content=offer, headers={"Content-Type": "application/sdp"})
        if answer.status_code != 201:
            raise RuntimeError(f"WHEP answered {answer.status_code}: {answer.text}")
        self.locations.append(str(answer.url.join(answer.headers["location"])))
        return answer.text

    async def close(self) -> None:
        for location in self.locations:
            try:
                await self.http.delete(location)
            except Exception:
                pass
        await self.http.aclose()


def viewers_process(
    port: int | str,
    count: int,
    ready: Any,
    stop: Any,
    results: Any,
    light: bool = False,
    nice: int = 0,
    running: Any = None,
    index: int = 0,
) -> None:
    """Run ``count`` counting (non-decoding) viewers; report (received, lost) at ``stop``.

    ``port``: the signalling port of :func:`serve_signalling`, or a WHEP URL
    (a whole server). ``light``: count and drop media at the socket
    (:class:`LightCounter`) instead of decrypting and parsing every packet in
    aiortc. ``nice``: lower this process's CPU priority (viewers stand for other
    machines; on a small shared machine they should not preempt the server being
    measured). ``running``: a shared array whose item ``index`` this process keeps
    at the packets its viewers received so far (updated every 0.1 s).
    """
    if nice:
        os.nice(nice)

    async def run() -> None:
        counter = LightCounter() if light else None
        if counter is not None:
            counter.install()
        whep = Whep(port) if isinstance(port, str) else None
        pcs = []
        receivers: list[CountingReceiver] = []
        for _ in range(count):
            pc = new_peer_connection()
            for kind in ("video", "audio"):
                t = pc.addTransceiver(kind, direction="recvonly")
                receivers.append(CountingReceiver.install(t.receiver))
            prefer_codec(pc, "video", "H264")
            offer = await create_offer(pc, HOSTS)
            answer = await whep.watch(offer) if whep is not None else await signal(int(port), "watch", offer)
            await accept_answer(pc, answer, HOSTS)
            pcs.append(pc)
        deadline = time.monotonic() + 30
        while any(pc.connectionState != "connected" for pc in pcs) and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        ready.release()

        def received_so_far() -> int:
            if counter is not None:
                return counter.totals()[0]
            return sum(r.totals()[0] for r in receivers)

        while not stop.is_set():
            await asyncio.sleep(0.1)
            if running is not None:
                running[index] = received_so_far()
        received = lost = 0
        for r in receivers:
            a, b = r.totals()
            received += a
            lost += b
        if counter is not None:
            received, lost = counter.totals()
        results.put((received, lost))
        await asyncio.gather(*(pc.close() for pc in pcs), return_exceptions=True)
        if whep is not None:
            await whep.close()

    asyncio.run(run())


def start_viewers(
    port: int | str, total: int, processes: int, light: bool = False, nice: int = 0, running: Any = None
) -> tuple[list[mp.Process], Any, Any, Any]:
    """``total`` viewers in ``processes`` processes (:func:`viewers_process`); ``running``: a shared
    array of ``processes`` counters (``multiprocessing`` spawn context's ``RawArray("q", processes)``)."""
    ctx = mp.get_context("spawn")
    ready = ctx.Semaphore(0)
    stop = ctx.Event()
    results = ctx.Queue()
    procs = []
    per = [total // processes + (1 if i < total % processes else 0) for i in range(processes)]
    for i, n in enumerate(per):
        if n:
            p = ctx.Process(
                target=viewers_process, args=(port, n, ready, stop, results, light, nice, running, i)
            )
            p.start()
            procs.append(p)
    return procs, ready, stop, results
