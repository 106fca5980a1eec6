#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Chromium ↔ Chromium video calls through natter-server over the link
emulator: the reference beside `natter-bench calls --link`.

Headless Chromium (the interop test's flags: fake camera and microphone)
in network namespace A calls headless Chromium in namespace B; both load
chromium-link/natter-link-call.html from this driver, which speaks
PROTOCOL.md to natter-server and POSTs a getStats() sample every second.
The figures are the browser's own (framesDecoded, freezeCount,
totalFreezesDuration, concealedSamples / totalSamplesReceived), after the
first --warm-up seconds, median over --count calls; plus the emulator's
bottleneck drops over the same window, and the caller's sent bitrate,
resolution and estimate (availableOutgoingBitrate) over time.

Usage (root; from the top of a build tree or with the paths given):
  bench/natter-bench-chromium-link.py --link DELAY_MS,LOSS_PCT,KBIT
      [--count 3] [--duration 20] [--warm-up 5] [--build build]
      [--chromium PATH] [--json]
"""

import argparse
import http.server
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
PAGE_DIR = os.path.join(HERE, "chromium-link")
PASSWORD = "natter-link-password"


class Reports:
    def __init__(self):
        self.condition = threading.Condition()
        self.items = []

    def add(self, report):
        with self.condition:
            report["at"] = time.monotonic()  # CLOCK_MONOTONIC, the emulator's clock
            if os.environ.get("NATTER_LINK_VERBOSE") and report.get("kind") != "sample":
                print("report: %s" % json.dumps(report), file=sys.stderr)
            self.items.append(report)
            self.condition.notify_all()

    def wait(self, predicate, timeout_s, what):
        deadline = time.monotonic() + timeout_s
        with self.condition:
            while not predicate(self.items):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise RuntimeError("timed out after %g s waiting for %s" % (timeout_s, what))
                self.condition.wait(remaining)


REPORTS = Reports()


class PageHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, form, *args):
        if os.environ.get("NATTER_LINK_VERBOSE"):
            print("page server: " + form % args, file=sys.stderr)

    def do_GET(self):
        name = urllib.parse.urlparse(self.path).path.lstrip("/")
        if name not in ("natter-link-call.html", "natter-link-call.js"):
            self.send_error(404)
            return
        with open(os.path.join(PAGE_DIR, name), "rb") as stream:
            body = stream.read()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8" if name.endswith(".html")
                         else "text/javascript; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        try:
            REPORTS.add(json.loads(self.rfile.read(length)))
        except ValueError:
            pass
        self.send_response(204)
        self.end_headers()


def http_json(url, path, body):
    request = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=20) as response:
        return json.loads(response.read())


def register(url, email, profile_type):
    answer = http_json(url, "/api/register", {
        "email": email, "password": PASSWORD, "display_name": email.split("@")[0],
        "profile_types": [profile_type]})
    profile = answer["user"]["profiles"][0]
    return answer["token"], profile["profile_id"], profile["profile_type"]


def make_video_file(path):
    """natter-bench calls --link's video (the moving SMPTE pattern, 640x360,
    30 fps) as the fake camera's file: Chromium's own fake camera is a
    near-still 20 fps picture a VP8 encoder sends at 200 kbit/s."""
    subprocess.run(
        ["gst-launch-1.0", "-q", "videotestsrc", "num-buffers=300", "pattern=smpte",
         "horizontal-speed=4", "!",
         "video/x-raw,width=640,height=360,framerate=30/1,format=I420", "!", "y4menc", "!",
         "filesink", "location=" + path], check=True, stdout=subprocess.DEVNULL)


def chromium(binary, netns, home, url, video_file):
    """The interop test's flags (tests/interop/natter-interop-test.py), and
    the page's origin treated as secure: it is not localhost here, and
    getUserMedia needs a secure context."""
    os.makedirs(home, exist_ok=True)
    origin = "/".join(url.split("/")[:3])
    argv = ["ip", "netns", "exec", netns, binary,
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            "--autoplay-policy=no-user-gesture-required",
            "--user-data-dir=" + os.path.join(home, "profile"), "--no-first-run",
            "--no-default-browser-check", "--disable-extensions",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-breakpad", "--disable-crash-reporter", "--password-store=basic",
            "--use-mock-keychain", "--disable-features=WebRtcHideLocalIpsWithMdns",
            "--unsafely-treat-insecure-origin-as-secure=" + origin,
            "--use-file-for-fake-video-capture=" + video_file, url]
    return subprocess.Popen(argv, env=dict(os.environ, HOME=home), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def stop(process):
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def link_events(path):
    lines = []
    with open(path) as stream:
        for line in stream:
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if value.get("event") == "stats":
                lines.append(value)
    return lines


def side_figures(samples, from_s):
    window = [s for s in samples if s["at"] >= from_s]
    if len(window) < 2:
        return None
    first, last = window[0], window[-1]
    seconds = last["at"] - first["at"]
    samples_received = last["samples_received"] - first["samples_received"]
    return {
        "fps": (last["frames_decoded"] - first["frames_decoded"]) / seconds,
        "freezes": last["freeze_count"] - first["freeze_count"],
        "freeze_s": last["freeze_s"] - first["freeze_s"],
        "concealed_pct": 100.0 * (last["concealed_samples"] - first["concealed_samples"])
        / samples_received if samples_received > 0 else 0.0,
        "height_in": last["frame_height_in"],
    }


def run_call(args, index, url, users, page_port, work):
    REPORTS.items.clear()
    server_a, server_b = os.environ["NATTER_LINK_SERVER_A"], os.environ["NATTER_LINK_SERVER_B"]

    def page(side, host, user, peer):
        query = urllib.parse.urlencode({
            "server": "http://%s:%s" % (host, url.rsplit(":", 1)[1]), "token": user[0],
            "profile_id": user[1], "profile_type": user[2], "mode": side,
            "peer_id": peer[1], "peer_type": peer[2], "duration_s": args.duration})
        return "http://%s:%d/natter-link-call.html?%s" % (host, page_port, query)

    callee = chromium(args.chromium, os.environ["NATTER_LINK_NETNS_B"],
                      os.path.join(work, "b-%d" % index),
                      page("answer", server_b, users["callee"], users["caller"]),
                      os.path.join(work, "camera.y4m"))
    caller = None
    try:
        REPORTS.wait(lambda items: any(r["kind"] == "ready" and r["side"] == "answer"
                                       for r in items), 60, "the callee page")
        caller = chromium(args.chromium, os.environ["NATTER_LINK_NETNS_A"],
                          os.path.join(work, "a-%d" % index),
                          page("call", server_a, users["caller"], users["callee"]),
                          os.path.join(work, "camera.y4m"))
        REPORTS.wait(lambda items: sum(r["kind"] == "ended" for r in items) >= 2,
                     args.duration + 90, "both sides to end the call")
    finally:
        for process in (caller, callee):
            if process is not None:
                stop(process)

    items = list(REPORTS.items)
    accepted = [r["at"] for r in items if r["kind"] == "accepted" and r["side"] == "call"]
    if not accepted:
        raise RuntimeError("the call was never answered")
    from_s = accepted[0] + args.warm_up
    end_s = max(r["at"] for r in items if r["kind"] == "sample")
    samples = {side: [r for r in items if r["kind"] == "sample" and r["side"] == side]
               for side in ("call", "answer")}
    result = {"caller_to_callee": side_figures(samples["answer"], from_s),
              "callee_to_caller": side_figures(samples["call"], from_s)}

    link = link_events(os.environ["NATTER_LINK_STATS"])
    start = next((e for e in link if e["now_us"] >= from_s * 1e6), None)
    end = [e for e in link if e["now_us"] <= end_s * 1e6]
    for key, name in (("a_to_b", "caller_to_callee"), ("b_to_a", "callee_to_caller")):
        if start is None or not end or result[name] is None:
            continue
        entered = end[-1][key]["packets_in"] - start[key]["packets_in"]
        dropped = end[-1][key]["bottleneck_dropped"] - start[key]["bottleneck_dropped"]
        result[name]["dropped_pct"] = 100.0 * dropped / entered if entered else 0.0

    series = []
    previous = None
    for s in samples["call"]:
        if previous is not None and s["at"] > previous["at"]:
            series.append("%.0f@%dp/%s" % (
                (s["bytes_sent"] - previous["bytes_sent"]) * 8 / (s["at"] - previous["at"]) / 1000,
                s["frame_height_out"],
                "%.0f" % (s["estimate"] / 1000) if s["estimate"] else "n/a"))
        previous = s
    result["caller_send"] = series[1::2]
    return result


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def inside(args):
    work = tempfile.mkdtemp(prefix="natter-chromium-link-")
    server = subprocess.Popen(
        [args.server_binary, "--listen", "0.0.0.0", "--port", "0", "--db",
         os.path.join(work, "natter.db"), "--allowed-origin", "*"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    pages = http.server.ThreadingHTTPServer(("0.0.0.0", 0), PageHandler)
    threading.Thread(target=pages.serve_forever, daemon=True).start()
    try:
        line = server.stdout.readline()
        if not line.startswith("listening on "):
            raise RuntimeError("natter-server did not start")
        url = "http://127.0.0.1:" + line.strip().rsplit(":", 1)[1]
        make_video_file(os.path.join(work, "camera.y4m"))
        users = {"caller": register(url, "caller@example.org", "tutor"),
                 "callee": register(url, "callee@example.org", "student")}
        results = []
        for index in range(args.count):
            try:
                results.append(run_call(args, index, url, users, pages.server_address[1], work))
            except RuntimeError as error:
                print("call %d: %s" % (index + 1, error), file=sys.stderr)
    finally:
        pages.shutdown()
        server.terminate()
        server.wait()
        subprocess.run(["rm", "-rf", work])

    summary = {"link": args.link, "calls": len(results), "duration_s": args.duration,
               "warm_up_s": args.warm_up}
    for name in ("caller_to_callee", "callee_to_caller"):
        figures = [r[name] for r in results if r[name] is not None]
        summary[name] = {key: median([f.get(key) for f in figures])
                         for key in ("fps", "freezes", "freeze_s", "concealed_pct",
                                     "dropped_pct", "height_in")}
    if args.json:
        print(json.dumps(summary))
        return 0 if results else 1
    print("Chromium ↔ Chromium --link %s: %d calls of %d s, after the first %g s, median"
          % (args.link, len(results), args.duration, args.warm_up))
    for name in ("caller_to_callee", "callee_to_caller"):
        f = summary[name]

        def show(value, form):
            return form % value if value is not None else "n/a"
        print("  %s: %s fps, %s freezes (%s s), concealed audio %s %%, dropped %s %%, %sp"
              % (name.replace("_", " "), show(f["fps"], "%.1f"), show(f["freezes"], "%.0f"),
                 show(f["freeze_s"], "%.2f"), show(f["concealed_pct"], "%.2f"),
                 show(f["dropped_pct"], "%.1f"), show(f["height_in"], "%.0f")))
    for index, result in enumerate(results, 1):
        print("  call %d: %s" % (index, json.dumps(
            {k: result[k] for k in ("caller_to_callee", "callee_to_caller")})))
        print("    caller sends kbit/s@height/estimate every 2 s: %s"
              % " ".join(result["caller_send"]))
    return 0 if results else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--link", required=True, help="DELAY_MS,LOSS_PCT,KBIT")
    parser.add_argument("--count", type=int, default=3)
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--warm-up", type=float, default=5)
    parser.add_argument("--queue-ms", type=float, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--build", default="build")
    parser.add_argument("--chromium", default="chromium")
    parser.add_argument("--server-binary")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    args.server_binary = args.server_binary or os.path.join(args.build, "src/server/natter-server")

    if "NATTER_LINK_NETNS_A" in os.environ:
        return inside(args)
    delay, loss, kbit = args.link.split(",")
    script = os.path.join(args.build, "tests", "link-emulator.sh")
    done = subprocess.run(
        [script, "--delay-ms", delay, "--loss", loss, "--rate-kbit", kbit,
         "--queue-ms", str(args.queue_ms), "--seed", str(args.seed),
         "--stats-interval-ms", "500", "--", sys.executable, os.path.abspath(__file__)]
        + sys.argv[1:])
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
