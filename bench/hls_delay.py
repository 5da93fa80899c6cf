"""How far behind live an HLS viewer plays, and where the seconds go.

The whole server (``cloudexpo serve`` as it runs, recording on) receives a
720p30 H.264 broadcast with a keyframe every 2 s (as OBS sends with a 2 s
keyframe interval) over WHIP. A headless Chromium opens the watch page with
WHEP blocked, so it plays the live HLS playlist in hls.js, as a viewer past
``CLOUDEXPO_MAX_WEBRTC_VIEWERS`` or behind a firewall does. Meanwhile the
live playlist is polled every 100 ms. Printed, each as p50 / p95 / max:

``segment``    segment durations (EXTINF): the recorder cuts on keyframes
``listed``     from a segment's end (its EXT-X-PROGRAM-DATE-TIME + duration,
               the server's arrival clock) to the poll that first sees it in
               the live playlist: closing the segment, fsync, upload, playlist
``delay``      what the viewer sees: now minus the arrival time of the frame
               on screen (hls.js ``playingDate``, from the program date-time)

The publisher-to-server hop (one RTT plus WebRTC's jitter buffer, tens of ms
on 127.0.0.1) comes on top of ``delay``. Run::

    .venv/bin/python bench/hls_delay.py --seconds 40
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import multiprocessing as mp
import secrets
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import encode_media, whip_publisher_process
from bench._serving import SERVER, free_port, seed_slot, start, wait_up
from streaming.hls import parse_playlist


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"{statistics.median(ordered):5.2f} / {p95:5.2f} / {ordered[-1]:5.2f} s  (n={len(ordered)})"


async def poll_listing(url: str, stop: threading.Event, listed: list[float], durations: list[float]) -> None:
    seen: set[str] = set()
    async with httpx.AsyncClient(timeout=5) as http:
        while not stop.is_set():
            response = await http.get(url)
            now = dt.datetime.now(dt.UTC)
            if response.status_code == 200:
                for segment in parse_playlist(response.text).segments:
                    key = segment.uri.split("?")[0]
                    if key in seen or segment.program_date_time is None:
                        continue
                    seen.add(key)
                    if len(seen) <= 1:  # the first poll finds what was there before it: not a timing
                        continue
                    end = segment.program_date_time + dt.timedelta(seconds=segment.duration)
                    listed.append((now - end).total_seconds())
                    durations.append(segment.duration)
            await asyncio.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=40.0, help="how long the viewer watches")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from tests.browser_support import CHROMIUM, CHROMIUM_ARGS

    work = Path(tempfile.mkdtemp(prefix="hls-delay-"))
    media = work / "media.pickle"
    encode_media(media, seconds=4)
    secret = secrets.token_hex(16)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    slot, token = asyncio.run(seed_slot(work / "data", secret, args.seconds / 60 + 2))
    server = start(SERVER, str(work / "data"), str(port), secret)
    stop_publisher = mp.Event()
    publisher = mp.Process(target=whip_publisher_process, args=(base, slot, token, str(media), stop_publisher))
    stop = threading.Event()
    listed: list[float] = []
    durations: list[float] = []
    delays: list[float] = []
    try:
        asyncio.run(wait_up(base + "/healthz"))
        publisher.start()
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.route("**/whep/**", lambda route: route.abort())  # WebRTC out of reach: HLS
            page.goto(f"{base}/live/{slot}?lang=en")
            deadline = time.monotonic() + 60
            while page.evaluate("!(window.cloudexpo && window.cloudexpo.player && window.cloudexpo.player.delay())"):
                if time.monotonic() > deadline:
                    raise SystemExit("the page never played the live HLS playlist")
                page.wait_for_timeout(200)
            url = page.evaluate("JSON.parse(document.getElementById('live-data').textContent).hls")
            poller = threading.Thread(target=lambda: asyncio.run(poll_listing(url, stop, listed, durations)), daemon=True)
            poller.start()
            end = time.monotonic() + args.seconds
            while time.monotonic() < end:
                page.wait_for_timeout(500)
                delay = page.evaluate("window.cloudexpo.player.delay()")
                if delay is not None:
                    delays.append(delay)
            stop.set()
            poller.join(5)
            browser.close()
    finally:
        stop.set()
        stop_publisher.set()
        publisher.join(10)
        server.terminate()
        server.wait(10)
    print(f"live HLS on 127.0.0.1, {args.seconds:.0f} s watched; p50 / p95 / max")
    print(f"  segment  {spread(durations)}")
    print(f"  listed   {spread(listed)}")
    print(f"  delay    {spread(delays)}")


if __name__ == "__main__":
    main()
