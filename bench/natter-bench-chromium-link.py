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

With --natter caller (or callee), natter-cli takes that side (the media of
`natter-bench calls --link`): a Natter ↔ Chromium call, to see that each
adapts to the other's feedback. Natter's figures are its call_stats lines
(frames decoded, freezes, concealed audio; as the sender, its video
bitrate, the encoder's target and its estimate).

Usage (root; from the top of a build tree or with the paths given):
  bench/natter-bench-chromium-link.py --link DELAY_MS,LOSS_PCT,KBIT
      [--count 3] [--duration 20] [--warm-up 5] [--build build]
      [--natter caller|callee] [--chromium PATH] [--json]
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
            "--use-file-for-fake-video-capture=" + video_file]
    # NATTER_BENCH_FAKE_AUDIO=FILE.wav: the microphone plays that file (say,
    # speech, which Opus protects with FEC) instead of Chromium's beeps.
    if os.environ.get("NATTER_BENCH_FAKE_AUDIO"):
        argv.append("--use-file-for-fake-audio-capture=" + os.environ["NATTER_BENCH_FAKE_AUDIO"])
    argv.append(url)
    return subprocess.Popen(argv, env=dict(os.environ, HOME=home), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


# natter-bench calls --link's media (bench/natter-bench-calls-link.c).
NATTER_MEDIA_ENV = {
    "NATTER_VIDEO_SRC": "videotestsrc is-live=true pattern=smpte horizontal-speed=4 ! capsfilter "
                        "caps=\"video/x-raw,width=640,height=360,framerate=30/1\"",
    "NATTER_AUDIO_SRC": "audiotestsrc is-live=true wave=ticks",
    "NATTER_AUDIO_SINK": "fakesink sync=false",
    "NATTER_SOUND_DIR": "/nonexistent",
    "NATTER_TOKEN_STORE": "file",
}


def natter_cli(binary, netns, home, server, user, args, out_path):
    """natter-cli signed in as @user (token in the environment), stdout (its
    JSON lines) to @out_path."""
    os.makedirs(home, exist_ok=True)
    env = dict(os.environ, XDG_DATA_HOME=home, NATTER_TOKEN=user[0], **NATTER_MEDIA_ENV)
    with open(out_path, "w") as out, open(out_path + ".stderr", "w") as err:
        return subprocess.Popen(
            ["ip", "netns", "exec", netns, binary, "--server", server,
             "--profile", "%s:%d" % (user[2], user[1])] + args,
            env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True)


def json_lines(path, event):
    lines = []
    try:
        with open(path) as stream:
            for line in stream:
                try:
                    value = json.loads(line)
                except ValueError:
                    continue
                if isinstance(value, dict) and value.get("event") == event:
                    lines.append(value)
    except OSError:
        pass
    return lines


def natter_figures(out_path, from_s):
    """A natter-cli side's figures after @from_s (CLOCK_MONOTONIC seconds),
    as natter-bench calls --link counts them; None without a call_summary."""
    summaries = json_lines(out_path, "call_summary")
    if not summaries:
        return None, None, []
    accepted_s = summaries[-1]["accepted_at_us"] / 1e6
    stats = [dict(line, at=accepted_s + line["t_ms"] / 1000.0)
             for line in json_lines(out_path, "call_stats")]
    window = [line for line in stats if line["at"] >= from_s]
    figures = None
    if len(window) >= 2:
        first, last = window[0], window[-1]
        seconds = last["at"] - first["at"]
        played = last["audio_frames_played"] - first["audio_frames_played"]
        concealed = last["audio_frames_concealed"] - first["audio_frames_concealed"]
        # Lost frames rebuilt from Opus in-band FEC: not concealed, yet
        # frames of the stream.
        played += last.get("audio_frames_rebuilt", 0) - first.get("audio_frames_rebuilt", 0)
        figures = {
            "fps": (last["video_frames_received"] - first["video_frames_received"]) / seconds,
            "freezes": last["video_freezes"] - first["video_freezes"],
            "freeze_s": (last["video_freeze_ms"] - first["video_freeze_ms"]) / 1000.0,
            "concealed_pct": 100.0 * concealed / (played + concealed)
            if played + concealed > 0 else 0.0,
            "height_in": None,
        }
    series = []
    for line in stats[1::2]:
        def kbit(key):
            value = line.get(key)
            return "%.0f" % (value / 1000) if isinstance(value, (int, float)) else "n/a"
        series.append("%s/%s/%s" % (kbit("video_send_bitrate"), kbit("encoder_target_bitrate"),
                                    kbit("estimated_bitrate")))
    return figures, accepted_s, series


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
    port = url.rsplit(":", 1)[1]
    natter_out = os.path.join(work, "natter-%d.jsonl" % index)
    chromium_side = {"caller": "answer", "callee": "call"}.get(args.natter)

    def page(side, host, user, peer):
        query = urllib.parse.urlencode({
            "server": "http://%s:%s" % (host, port), "token": user[0],
            "profile_id": user[1], "profile_type": user[2], "mode": side,
            "peer_id": peer[1], "peer_type": peer[2], "duration_s": args.duration})
        return "http://%s:%d/natter-link-call.html?%s" % (host, page_port, query)

    def natter_output_has(text):
        try:
            with open(natter_out) as stream:
                return text in stream.read()
        except OSError:
            return False

    callee = caller = None
    try:
        if args.natter == "callee":
            callee = natter_cli(args.cli_binary, os.environ["NATTER_LINK_NETNS_B"],
                                os.path.join(work, "b-%d" % index),
                                "http://%s:%s" % (server_b, port), users["callee"],
                                ["answer", "--auto", "--count", "1", "--duration",
                                 str(args.duration + 60), "--stats-interval", "1000"],
                                natter_out)
            deadline = time.monotonic() + 30
            while not natter_output_has('"waiting"') and time.monotonic() < deadline:
                time.sleep(0.05)
            if not natter_output_has('"waiting"'):
                raise RuntimeError("natter-cli answer did not come up")
        else:
            callee = chromium(args.chromium, os.environ["NATTER_LINK_NETNS_B"],
                              os.path.join(work, "b-%d" % index),
                              page("answer", server_b, users["callee"], users["caller"]),
                              os.path.join(work, "camera.y4m"))
            REPORTS.wait(lambda items: any(r["kind"] == "ready" and r["side"] == "answer"
                                           for r in items), 60, "the callee page")
        if args.natter == "caller":
            caller = natter_cli(args.cli_binary, os.environ["NATTER_LINK_NETNS_A"],
                                os.path.join(work, "a-%d" % index),
                                "http://%s:%s" % (server_a, port), users["caller"],
                                ["call", "%s:%d" % (users["callee"][2], users["callee"][1]),
                                 "--video", "--duration", str(args.duration), "--timeout", "60",
                                 "--stats-interval", "1000"], natter_out)
            caller.wait(timeout=args.duration + 120)
            REPORTS.wait(lambda items: any(r["kind"] == "ended" for r in items), 30,
                         "the callee page to end the call")
        else:
            caller = chromium(args.chromium, os.environ["NATTER_LINK_NETNS_A"],
                              os.path.join(work, "a-%d" % index),
                              page("call", server_a, users["caller"], users["callee"]),
                              os.path.join(work, "camera.y4m"))
            ended = 1 if args.natter == "callee" else 2
            REPORTS.wait(lambda items: sum(r["kind"] == "ended" for r in items) >= ended,
                         args.duration + 90, "the call to end")
            if args.natter == "callee":
                # It ends when the page's hang-up reaches it.
                try:
                    callee.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    pass
    except subprocess.TimeoutExpired:
        raise RuntimeError("natter-cli call did not end")
    finally:
        for process in (caller, callee):
            if process is not None:
                stop(process)

    keep = os.environ.get("NATTER_BENCH_STDERR_DIR")
    if keep and args.natter:
        # natter-cli's output and log (G_MESSAGES_DEBUG) kept for a look.
        os.makedirs(keep, exist_ok=True)
        subprocess.run(["cp", natter_out, natter_out + ".stderr", keep])

    items = list(REPORTS.items)
    accepted = [r["at"] for r in items if r["kind"] == "accepted" and r["side"] == "call"]
    natter, natter_accepted, natter_series = (natter_figures(natter_out, 0) if args.natter
                                              else (None, None, []))
    if args.natter == "caller":
        accepted = [natter_accepted] if natter_accepted is not None else []
    if not accepted:
        raise RuntimeError("the call was never answered")
    from_s = accepted[0] + args.warm_up
    samples = {side: [r for r in items if r["kind"] == "sample" and r["side"] == side]
               for side in ("call", "answer")}
    end_s = max([r["at"] for r in items if r["kind"] == "sample"] or [time.monotonic()])
    if args.natter:
        natter, _, _ = natter_figures(natter_out, from_s)
    if args.natter == "caller":
        result = {"caller_to_callee": side_figures(samples["answer"], from_s),
                  "callee_to_caller": natter}
    elif args.natter == "callee":
        result = {"caller_to_callee": natter,
                  "callee_to_caller": side_figures(samples["call"], from_s)}
    else:
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

    def chromium_series(side):
        series = []
        previous = None
        for s in samples[side]:
            if previous is not None and s["at"] > previous["at"]:
                series.append("%.0f@%dp/%s" % (
                    (s["bytes_sent"] - previous["bytes_sent"]) * 8
                    / (s["at"] - previous["at"]) / 1000,
                    s["frame_height_out"],
                    "%.0f" % (s["estimate"] / 1000) if s["estimate"] else "n/a"))
            previous = s
        return series[1::2]

    result["natter_send"] = natter_series
    result["chromium_send"] = chromium_series(chromium_side) if chromium_side else []
    result["caller_send"] = (natter_series if args.natter == "caller"
                             else chromium_series("call"))
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
    title = {None: "Chromium ↔ Chromium", "caller": "natter-cli (caller) ↔ Chromium",
             "callee": "Chromium (caller) ↔ natter-cli"}[args.natter]
    print("%s --link %s: %d calls of %d s, after the first %g s, median"
          % (title, args.link, len(results), args.duration, args.warm_up))
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
        if args.natter:
            print("    natter-cli sends video kbit/s / encoder target / estimate every 2 s: %s"
                  % " ".join(result["natter_send"]))
            print("    Chromium sends video kbit/s@height/estimate every 2 s: %s"
                  % " ".join(result["chromium_send"]))
        else:
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
    parser.add_argument("--cli-binary")
    parser.add_argument("--natter", choices=("caller", "callee"),
                        help="natter-cli takes this side of the call")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    args.server_binary = args.server_binary or os.path.join(args.build, "src/server/natter-server")
    args.cli_binary = os.path.abspath(args.cli_binary or os.path.join(args.build, "src/cli/natter-cli"))

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
