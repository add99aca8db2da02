#!/usr/bin/env python3
"""Grab decoded video frames from headless Chromium, as raw RGB24.

Driven by ``cli/tests/common/browser.rs``: it proves that a second player,
Chromium's media pipeline, plays a VidStega MP4 and shows the same pixels
as FFmpeg.

    grab_frames.py VIDEO.mp4 OUT_DIR TIME [TIME...]

For every TIME (seconds on the media timeline, ideally the middle of the
wanted frame's display interval) it writes ``OUT_DIR/frame-NNN.rgb``: the
frame drawn to a canvas at the video's natural size, ``width * height * 3``
bytes, row by row, no padding. ``OUT_DIR/report.json`` says what Chromium
reported: ``videoWidth``/``videoHeight``, ``duration``, the media error (if
any), ``getVideoPlaybackQuality()`` and, per frame, the ``mediaTime`` (pts)
of the frame that ``requestVideoFrameCallback`` saw presented.

How: the file is served on 127.0.0.1 (a free port) by a tiny HTTP server
that honours Range requests, like a real web server, so Chromium can seek.
The page is same-origin with the video, so reading the canvas back is
allowed (a cross-origin or file:// video would taint it). Chromium is
started by chromedriver through selenium, headless, without GPU (so the
decode and the YUV->RGB conversion are Chromium's software paths, the same
on every machine) and without any network chatter.

Each seek waits for ``requestVideoFrameCallback``. Chromium 156 presents
the frame again even when a seek lands on the frame already shown, but
that is not promised anywhere: pass each frame once (a seek that presents
nothing fails after 30 s rather than guess).

Exit status, always with a one-line ``grab_frames: error: ...`` on stderr
when not 0:

* 0: every frame was grabbed;
* 2: Chromium could not play the video: a media error (``video.error``),
  readyState stuck below 2, a seek that never completed or presented no
  frame within 30 s, a renderer crash;
* 1: anything else: bad arguments, missing chromium/chromedriver/selenium,
  a webdriver failure, or the watchdog, which kills chromedriver and
  Chromium if the whole run takes longer than ``GRAB_FRAMES_DEADLINE``
  seconds (default 120).

Environment: ``CHROMIUM`` and ``CHROMEDRIVER`` override the binaries
(default /usr/bin/chromium and /usr/bin/chromedriver).
"""

from __future__ import annotations

import base64
import http.server
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

# Seconds one browser step (load, one seek, one read-back) may take.
STEP_TIMEOUT = 30
# Seconds the whole run may take before the watchdog pulls the plug.
DEADLINE = float(os.environ.get("GRAB_FRAMES_DEADLINE", "120"))

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")

# Flags for a quiet, reproducible headless Chromium running as root with no
# network: no sandbox (root), no GPU (software decode and compositing), and
# none of the background services that would hammer the closed network.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--metrics-recording-only",
    "--password-store=basic",
    "--mute-audio",
    # Pin the output colour profile so no display profile can alter pixels.
    "--force-color-profile=srgb",
    "--autoplay-policy=no-user-gesture-required",
]


class Failure(Exception):
    """A failure to report on one line; `status` is the exit status."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


def fail(message: str) -> None:
    """A problem with the setup or the arguments (exit status 1)."""
    raise Failure(message, 1)


def unplayable(message: str) -> None:
    """Chromium could not play the video (exit status 2)."""
    raise Failure(message, 2)


# ---------------------------------------------------------------------------
# The page

PAGE = """<!doctype html>
<meta charset="utf-8">
<title>grab_frames</title>
<video id="v" muted playsinline preload="auto" src="/video.mp4"></video>
<canvas id="c"></canvas>
<script>
"use strict";
const v = document.getElementById("v");
const c = document.getElementById("c");
// Everything the driver asks for goes through these functions; each one
// resolves with a plain object (never rejects) so errors come back as data.
window.grab = {
  // Media error as {code, message}, or null.
  error() {
    return v.error ? {code: v.error.code, message: v.error.message} : null;
  },
  state() {
    const q = v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality() : null;
    return {
      readyState: v.readyState,
      networkState: v.networkState,
      videoWidth: v.videoWidth,
      videoHeight: v.videoHeight,
      duration: v.duration,
      currentTime: v.currentTime,
      error: this.error(),
      quality: q && {
        totalVideoFrames: q.totalVideoFrames,
        droppedVideoFrames: q.droppedVideoFrames,
        corruptedVideoFrames: q.corruptedVideoFrames,
      },
      userAgent: navigator.userAgent,
    };
  },
  // Resolves once the first frame is decoded (readyState >= 2), or with an
  // error (media error, or timeout).
  loaded(timeoutMs) {
    return new Promise((resolve) => {
      const done = (extra) => resolve(Object.assign(this.state(), extra));
      if (v.error) return done({fail: "media error while loading"});
      if (v.readyState >= 2) return done({});
      const t = setTimeout(() => done({fail: "timed out waiting for the first frame (readyState stuck)"}), timeoutMs);
      v.addEventListener("loadeddata", () => { clearTimeout(t); done({}); }, {once: true});
      v.addEventListener("error", () => { clearTimeout(t); done({fail: "media error while loading"}); }, {once: true});
    });
  },
  // Seeks to `time`, waits for `seeked` AND for a new frame to be presented
  // (requestVideoFrameCallback), then draws the current frame at natural
  // size and returns its pixels as base64 RGB24.
  seekAndGrab(time, timeoutMs) {
    return new Promise((resolve) => {
      let seeked = false, frame = null, finished = false;
      const finish = (extra) => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        resolve(Object.assign(this.state(), {time}, extra));
      };
      const timer = setTimeout(() => finish({
        fail: `timed out after seeking to ${time}s (seeked: ${seeked}, ` +
              `frame presented: ${frame !== null}; is it the frame already shown?)`,
      }), timeoutMs);
      const maybeDraw = () => {
        if (!seeked || frame === null || finished) return;
        if (v.error) return finish({fail: "media error after seeking"});
        if (v.readyState < 2) return finish({fail: `readyState ${v.readyState} < 2 after seeking`});
        const w = v.videoWidth, h = v.videoHeight;
        c.width = w; c.height = h;
        // willReadFrequently keeps the canvas in memory (no GPU readback);
        // srgb is the default, stated for clarity.
        const ctx = c.getContext("2d", {willReadFrequently: true, colorSpace: "srgb", alpha: false});
        ctx.imageSmoothingEnabled = false;
        ctx.drawImage(v, 0, 0, w, h);
        const rgba = ctx.getImageData(0, 0, w, h).data;
        const rgb = new Uint8Array(w * h * 3);
        for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
          rgb[j] = rgba[i]; rgb[j + 1] = rgba[i + 1]; rgb[j + 2] = rgba[i + 2];
        }
        // FileReader's data URL is a fast native base64 encoder.
        const reader = new FileReader();
        reader.onload = () => finish({
          width: w, height: h,
          mediaTime: frame.mediaTime,
          presentedFrames: frame.presentedFrames,
          frameWidth: frame.width, frameHeight: frame.height,
          rgb: reader.result.slice(reader.result.indexOf(",") + 1),
        });
        reader.onerror = () => finish({fail: "could not encode the pixels"});
        reader.readAsDataURL(new Blob([rgb]));
      };
      v.requestVideoFrameCallback((now, meta) => { frame = meta; maybeDraw(); });
      v.addEventListener("seeked", () => { seeked = true; maybeDraw(); }, {once: true});
      v.addEventListener("error", () => finish({fail: "media error while seeking"}), {once: true});
      v.currentTime = time;
    });
  },
};
</script>
"""


# ---------------------------------------------------------------------------
# The HTTP server: "/" is the page, "/video.mp4" the file, with Range support
# (Chromium needs byte ranges to seek in a progressive MP4).


def make_handler(video: Path):
    size = video.stat().st_size
    page = PAGE.encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # keep the test output clean
            pass

        def do_GET(self):
            if self.path in ("/", "/index.html"):
                self._send(200, "text/html; charset=utf-8", page)
            elif self.path == "/video.mp4":
                self._video()
            else:
                self._send(404, "text/plain", b"not found")

        def _send(self, status, ctype, body, extra=()):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            for k, val in extra:
                self.send_header(k, val)
            self.end_headers()
            self.wfile.write(body)

        def _video(self):
            start, end, status = 0, size - 1, 200
            m = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", "").strip())
            if m and (m.group(1) or m.group(2)):
                if m.group(1):
                    start = int(m.group(1))
                    end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
                else:  # suffix range: the last N bytes
                    start = max(0, size - int(m.group(2)))
                if start > end or start >= size:
                    self._send(416, "text/plain", b"", [("Content-Range", f"bytes */{size}")])
                    return
                status = 206
            length = end - start + 1
            self.send_response(status)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(length))
            self.send_header("Cache-Control", "no-store")
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            self.end_headers()
            try:
                with video.open("rb") as f:
                    f.seek(start)
                    left = length
                    while left:
                        chunk = f.read(min(left, 1 << 16))
                        if not chunk:
                            break
                        self.wfile.write(chunk)
                        left -= len(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass  # Chromium often abandons a range it no longer needs

    return Handler


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # aborted reads are normal
        pass


# ---------------------------------------------------------------------------
# Chromium


def start_browser(user_data_dir: str):
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as e:
        fail(f"selenium is not importable with {sys.executable} ({e}); run scripts/ensure-tools.sh")
    for what, path, package in (
        ("chromium", CHROMIUM, "chromium"),
        ("chromedriver", CHROMEDRIVER, "chromium-driver"),
    ):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            fail(f"{what} not found at {path}; install it: `apt-get install {package}` (or run scripts/ensure-tools.sh)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={user_data_dir}")
    # Giving the driver's path keeps selenium from running Selenium Manager,
    # which would try to download a driver.
    service = Service(
        executable_path=CHROMEDRIVER,
        # Own process group, so the watchdog can kill chromedriver and
        # the Chromium it started in one go.
        popen_kw={"start_new_session": True},
    )
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_script_timeout(STEP_TIMEOUT + 5)
    driver.set_page_load_timeout(STEP_TIMEOUT)
    return driver


def kill_group(driver) -> None:
    """Kills chromedriver's process group (chromedriver and its Chromium)."""
    try:
        os.killpg(driver.service.process.pid, signal.SIGKILL)
    except Exception:
        pass


def call(driver, js: str, *args):
    """Runs `js` (which must call `done(value)`) asynchronously in the page.

    A renderer crash (e.g. in the video decoder) counts as "could not play".
    """
    from selenium.common.exceptions import WebDriverException

    try:
        return driver.execute_async_script("const done = arguments[arguments.length - 1];\n" + js, *args)
    except WebDriverException as e:
        if "crash" in str(e).lower():
            unplayable(f"the page crashed: {str(e).strip().splitlines()[0]}")
        raise


# ---------------------------------------------------------------------------


def grab(video: Path, out_dir: Path, times: list[float], report: dict, holder: dict) -> None:
    server = Server(("127.0.0.1", 0), make_handler(video))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    user_data = tempfile.mkdtemp(prefix="grab-frames-chromium-")
    holder["user_data"] = user_data
    driver = None
    try:
        driver = start_browser(user_data)
        holder["driver"] = driver
        caps = driver.capabilities
        report["browser"] = {
            "browserVersion": caps.get("browserVersion"),
            "chromedriverVersion": caps.get("chrome", {}).get("chromedriverVersion", "").split(" ")[0],
        }
        driver.get(url)
        ms = STEP_TIMEOUT * 1000
        state = call(driver, "window.grab.loaded(arguments[0]).then(done);", ms)
        report["loaded"] = state
        if "fail" in state:
            unplayable(f"{state['fail']}: {describe(state)}")
        report["videoWidth"], report["videoHeight"] = state["videoWidth"], state["videoHeight"]
        report["duration"] = state["duration"]
        report["userAgent"] = state["userAgent"]
        for i, t in enumerate(times):
            r = call(driver, "window.grab.seekAndGrab(arguments[0], arguments[1]).then(done);", t, ms)
            if "fail" in r:
                report["frames"].append({k: v for k, v in r.items() if k != "rgb"})
                unplayable(f"frame {i} at {t}s: {r['fail']}: {describe(r)}")
            pixels = base64.b64decode(r.pop("rgb"))
            if len(pixels) != r["width"] * r["height"] * 3:
                fail(f"frame {i}: got {len(pixels)} bytes for {r['width']}x{r['height']} RGB24")
            name = f"frame-{i:03}.rgb"
            (out_dir / name).write_bytes(pixels)
            r["file"] = name
            report["frames"].append(r)
        final = call(driver, "done(window.grab.state());")
        report["error"] = final["error"]
        report["quality"] = final["quality"]
        if final["error"]:
            unplayable(f"the video reported an error at the end: {describe(final)}")
    finally:
        if driver is not None:
            try:
                driver.quit()
            except Exception:
                kill_group(driver)
        server.shutdown()
        server.server_close()
        shutil.rmtree(user_data, ignore_errors=True)


def describe(state: dict) -> str:
    err = state.get("error")
    error = "none" if not err else f"code {err.get('code')} {err.get('message')!r}"
    return (
        f"readyState={state.get('readyState')} networkState={state.get('networkState')} "
        f"currentTime={state.get('currentTime')} size={state.get('videoWidth')}x{state.get('videoHeight')} "
        f"error={error}"
    )


def main(argv: list[str]) -> int:
    if len(argv) < 4:
        print(__doc__.split("\n\n")[1].strip(), file=sys.stderr)
        print("grab_frames: error: need VIDEO OUT_DIR TIME [TIME...]", file=sys.stderr)
        return 1
    video, out_dir = Path(argv[1]).resolve(), Path(argv[2])
    report: dict = {"video": str(video), "times": [], "frames": [], "error": None}
    holder: dict = {}

    # Watchdog: whatever hangs (chromedriver start, a webdriver call), the
    # run ends within DEADLINE seconds with a clear message.
    def expire():
        print(f"grab_frames: error: timed out after {DEADLINE:g} s in total; killing Chromium", file=sys.stderr)
        if "driver" in holder:
            kill_group(holder["driver"])
        if "user_data" in holder:
            shutil.rmtree(holder["user_data"], ignore_errors=True)
        os._exit(1)

    watchdog = threading.Timer(DEADLINE, expire)
    watchdog.daemon = True
    watchdog.start()
    started = time.monotonic()
    status = 0
    try:
        try:
            report["times"] = [float(t) for t in argv[3:]]
        except ValueError as e:
            fail(f"bad time: {e}")
        if not video.is_file():
            fail(f"no such video: {video}")
        out_dir.mkdir(parents=True, exist_ok=True)
        grab(video, out_dir, report["times"], report, holder)
    except Failure as e:
        report["failure"] = str(e)
        print(f"grab_frames: error: {e}", file=sys.stderr)
        status = e.status
    except Exception as e:  # selenium/webdriver errors, I/O errors, ...
        report["failure"] = f"{type(e).__name__}: {e}"
        print(f"grab_frames: error: {type(e).__name__}: {str(e).strip()}", file=sys.stderr)
        status = 1
    finally:
        watchdog.cancel()
    report["seconds"] = round(time.monotonic() - started, 3)
    if out_dir.is_dir():
        (out_dir / "report.json").write_text(json.dumps(report, indent=2))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
