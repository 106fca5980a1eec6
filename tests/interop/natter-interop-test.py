#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Interoperability of natter-cli with a browser, through natter-server.

A headless Chromium (fake camera and microphone) loads natter-interop.html,
a page that knows nothing but WebSocket, RTCPeerConnection and PROTOCOL.md.
The page is served by this driver, from an origin the server allows, and
POSTs its reports back to it.

  /natter/interop/cli-calls-chromium: `natter-cli call --video` calls the
      page, which answers with audio and video.
  /natter/interop/chromium-calls-cli: the page calls
      `natter-cli answer --auto`.
  …-voice: the same two as voice calls (no video m-line).

Both ways, natter-cli must decode the browser's audio and video
(call_summary) and exit 0, and the page's getStats() must show decoded
video frames and received audio samples. Prints TAP; skips when there is
no Chromium.

Usage: natter-interop-test.py NATTER_SERVER NATTER_CLI [CHROMIUM]

Environment: NATTER_INTEROP_CASE=chromium-calls-cli (the last part of a
case's path) runs one case; NATTER_INTEROP_VERBOSE=1 prints the page's
reports (with both SDPs) and every process's stderr even when the cases
pass. Both are printed as TAP comments whenever a case fails.
"""

import ctypes
import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

PAGE_DIR = os.path.dirname(os.path.abspath(__file__))
PAGE_FILES = {
    "/natter-interop.html": "text/html; charset=utf-8",
    "/natter-interop.js": "text/javascript; charset=utf-8",
}


def time_scale():
    """NATTER_TEST_TIME_SCALE (1 to 20), as the C tests read it: the
    sanitizer run sets 3, since natter-server and natter-cli run slower."""
    try:
        scale = int(os.environ.get("NATTER_TEST_TIME_SCALE", "1"))
    except ValueError:
        return 1
    return min(max(scale, 1), 20)


# Deadlines, not pauses: each only bounds a wait on an event.
START_TIMEOUT_S = 20 * time_scale()  # a process up and listening, the page connected
CALL_TIMEOUT_S = 40 * time_scale()   # from the first invitation to both sides done
CALL_DURATION_S = 3      # natter-cli hangs up this long after connecting
CHROMIUM_STOP_S = 5

# natter-cli's media: test sources instead of devices (see test-cli-call.c).
CLI_MEDIA_ENV = {
    "NATTER_VIDEO_SRC": "videotestsrc is-live=true pattern=ball ! capsfilter "
                        "caps=\"video/x-raw,width=320,height=240,framerate=30/1\"",
    "NATTER_AUDIO_SRC": "audiotestsrc is-live=true wave=ticks",
    "NATTER_AUDIO_SINK": "fakesink sync=false",
    "NATTER_SOUND_DIR": "/nonexistent",
    "NATTER_TOKEN_STORE": "file",
}

PR_SET_PDEATHSIG = 1


class Failure(Exception):
    pass


class Events:
    """Everything the driver waits on, behind one condition: reports from
    the page, lines from processes, process exits."""

    def __init__(self):
        self.condition = threading.Condition()

    def notify(self):
        with self.condition:
            self.condition.notify_all()

    def wait(self, predicate, timeout_s, what):
        deadline = time.monotonic() + timeout_s
        with self.condition:
            while True:
                result = predicate()
                if result:
                    return result
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise Failure("timed out after %g s waiting for %s" % (timeout_s, what))
                self.condition.wait(remaining)


EVENTS = Events()


def die_with_parent():
    """In the child before exec: if the driver dies, the child goes too."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class Process:
    """A child process whose stdout lines are collected; stderr goes to a
    log file shown when a test fails."""

    def __init__(self, name, argv, env, log_dir, new_session=False):
        self.name = name
        self.lines = []
        self.log_path = os.path.join(log_dir, name + ".log")
        self.exit_status = None
        with open(self.log_path, "wb") as log:
            self.popen = subprocess.Popen(
                argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
                text=True, preexec_fn=die_with_parent, start_new_session=new_session)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.popen.stdout:
            with EVENTS.condition:
                self.lines.append(line.rstrip("\n"))
                EVENTS.condition.notify_all()
        status = self.popen.wait()
        with EVENTS.condition:
            self.exit_status = status
            EVENTS.condition.notify_all()

    def done(self):
        return self.exit_status is not None

    def events(self, name):
        found = []
        for line in self.lines:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(event, dict) and event.get("event") == name:
                found.append(event)
        return found

    def stop(self, kill_group=False):
        """Ends the process (and its process group if it leads one)."""
        if self.popen.poll() is None:
            try:
                if kill_group:
                    os.killpg(self.popen.pid, signal.SIGTERM)
                else:
                    self.popen.terminate()
                self.popen.wait(CHROMIUM_STOP_S)
            except subprocess.TimeoutExpired:
                pass
            except ProcessLookupError:
                pass
        if kill_group:
            # Chromium's helpers (renderer, GPU, network) share its group.
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait()
        self.reader.join(CHROMIUM_STOP_S)
        self.popen.stdout.close()

    def log_tail(self, lines=60):
        try:
            with open(self.log_path, errors="replace") as log:
                content = log.read().splitlines()
        except OSError:
            return []
        return content[-lines:]


class PageServer(http.server.ThreadingHTTPServer):
    """Serves the page and collects its reports."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), PageHandler)
        self.reports = []

    @property
    def origin(self):
        return "http://127.0.0.1:%d" % self.server_address[1]

    def clear(self):
        with EVENTS.condition:
            self.reports = []

    def find(self, kind):
        for report in self.reports:
            if report.get("kind") == kind:
                return report
        return None


class PageHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, format, *args):
        pass

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path not in PAGE_FILES:
            self.send_error(404)
            return
        with open(os.path.join(PAGE_DIR, path.lstrip("/")), "rb") as page:
            body = page.read()
        self.send_response(200)
        self.send_header("Content-Type", PAGE_FILES[path])
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        if self.path != "/report":
            self.send_error(404)
            return
        try:
            report = json.loads(body)
        except json.JSONDecodeError:
            report = {"kind": "error", "where": "driver", "message": "bad report %r" % body[:200]}
        self.send_response(204)
        self.end_headers()
        with EVENTS.condition:
            self.server.reports.append(report)
            EVENTS.condition.notify_all()


def http_json(url, method, path, body=None, token=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token is not None:
        request.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(request, timeout=START_TIMEOUT_S) as response:
        return json.loads(response.read())


def register(url, email, name, profile_type):
    answer = http_json(url, "POST", "/api/register", {
        "email": email,
        "password": "natter-interop-password",
        "display_name": name,
        "profile_types": [profile_type],
    })
    profile = answer["user"]["profiles"][0]
    return answer["token"], profile["profile_id"], profile["profile_type"]


class Fixture:
    def __init__(self, server_binary, cli_binary, chromium_binary, tmp, page):
        self.server_binary = server_binary
        self.cli_binary = cli_binary
        self.chromium_binary = chromium_binary
        self.tmp = tmp
        self.page = page
        self.server = None
        self.processes = []
        self.url = None

    def start_server(self):
        self.server = Process(
            "natter-server",
            [self.server_binary, "--port", "0", "--db", os.path.join(self.tmp, "natter.db"),
             "--allowed-origin", self.page.origin],
            dict(os.environ), self.tmp)
        line = EVENTS.wait(
            lambda: self.server.lines[0] if self.server.lines
            else ("" if self.server.done() else None),
            START_TIMEOUT_S, "natter-server's listening line")
        if not line.startswith("listening on "):
            raise Failure("natter-server did not start: %r" % line)
        self.url = line[len("listening on "):].strip()
        self.cli_token, self.cli_id, self.cli_type = register(
            self.url, "abebe@example.org", "Abebe (natter-cli)", "tutor")
        self.page_token, self.page_id, self.page_type = register(
            self.url, "bethlehem@example.org", "Bethlehem (Chromium)", "student")

    def stop_server(self):
        if self.server is not None:
            self.server.stop()

    def cli(self, name, args):
        profile = "%s:%d" % (self.cli_type, self.cli_id)
        data_home = os.path.join(self.tmp, name + "-data")
        os.makedirs(data_home, exist_ok=True)
        env = dict(os.environ)
        env.update(CLI_MEDIA_ENV)
        env["NATTER_TOKEN"] = self.cli_token
        env["XDG_DATA_HOME"] = data_home
        process = Process(name, [self.cli_binary, "--server", self.url, "--profile", profile]
                          + args, env, self.tmp)
        self.processes.append(process)
        return process

    def chromium(self, name, mode, call_type="video"):
        query = urllib.parse.urlencode({
            "call_type": call_type,
            "server": self.url,
            "token": self.page_token,
            "profile_id": self.page_id,
            "profile_type": self.page_type,
            "mode": mode,
            "peer_id": self.cli_id,
            "peer_type": self.cli_type,
        })
        home = os.path.join(self.tmp, name + "-home")
        os.makedirs(home, exist_ok=True)
        env = dict(os.environ)
        env["HOME"] = home
        argv = [
            self.chromium_binary,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            # Shared memory files in /tmp, not /dev/shm, which containers
            # often keep at 64 MiB (decoded video frames live there).
            "--disable-dev-shm-usage",
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
            "--autoplay-policy=no-user-gesture-required",
            "--user-data-dir=" + os.path.join(home, "profile"),
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-breakpad",
            "--disable-crash-reporter",
            "--password-store=basic",
            "--use-mock-keychain",
            # Real host addresses in the candidates, not mDNS names.
            "--disable-features=WebRtcHideLocalIpsWithMdns",
            "--enable-logging=stderr",
            "--v=0",
            "%s/natter-interop.html?%s" % (self.page.origin, query),
        ]
        process = Process(name, argv, env, self.tmp, new_session=True)
        process.is_chromium = True
        self.processes.append(process)
        return process

    def stop_processes(self):
        for process in reversed(self.processes):
            process.stop(kill_group=getattr(process, "is_chromium", False))
        self.processes = []


def page_wait(page, kind, timeout_s, chromium):
    """The first report of @kind; fails early on a page error or when
    Chromium exits."""
    def found():
        error = page.find("error")
        if error is not None:
            raise Failure("the page failed in %s: %s" % (error.get("where"), error.get("message")))
        # The server refusing one of the page's frames is an interop bug too.
        error = page.find("server-error")
        if error is not None:
            raise Failure("the server answered the page with %s" % json.dumps(error.get("frame")))
        if chromium.done():
            raise Failure("chromium exited with status %d" % chromium.exit_status)
        return page.find(kind)
    return EVENTS.wait(found, timeout_s, "the page's %s report" % kind)


def check_cli_summary(cli, check, call_type):
    summaries = cli.events("call_summary")
    check(len(summaries) == 1, "natter-cli printed one call_summary")
    if not summaries:
        return None
    summary = summaries[0]
    check(summary.get("call_type") == call_type, "the call was a %s call" % call_type)
    check(summary.get("end_reason") == "hangup",
          "natter-cli's call ended by hang-up (%s)" % summary.get("end_reason"))
    check(summary.get("audio_buffers_received", 0) > 0,
          "natter-cli decoded the browser's audio (%s buffers)"
          % summary.get("audio_buffers_received"))
    if call_type == "video":
        check(summary.get("video_frames_received", 0) > 0,
              "natter-cli decoded the browser's video (%s frames)"
              % summary.get("video_frames_received"))
    else:
        check(summary.get("video_frames_received", 0) == 0
              and summary.get("video_frames_sent", 0) == 0, "natter-cli had no video")
    check(summary.get("media_both_ways") is True, "natter-cli reports media both ways")
    check(cli.exit_status == 0, "natter-cli exited 0 (%s)" % cli.exit_status)
    return summary


def check_page_result(result, check, call_type):
    stats = result.get("stats") or {}
    inbound = stats.get("inbound", {})
    video = inbound.get("video", {})
    audio = inbound.get("audio", {})
    check(result.get("reason") == "hangup",
          "the page saw the call end by hang-up (%s)" % result.get("reason"))
    if call_type == "video":
        check(video.get("framesDecoded", 0) > 0,
              "the page decoded natter-cli's video (%s frames of %s, %sx%s, %s lost packets)"
              % (video.get("framesDecoded"), video.get("codec"), video.get("frameWidth"),
                 video.get("frameHeight"), video.get("packetsLost")))
    else:
        check("video" not in inbound and "video" not in stats.get("outbound", {}),
              "the page had no video stream")
    check(audio.get("packetsReceived", 0) > 0,
          "the page received natter-cli's audio packets (%s of %s)"
          % (audio.get("packetsReceived"), audio.get("codec")))
    check(audio.get("totalSamplesReceived", 0) > 0,
          "the page received natter-cli's audio samples (%s)"
          % audio.get("totalSamplesReceived"))
    outbound = stats.get("outbound", {})
    check(outbound.get("audio", {}).get("packetsSent", 0) > 0,
          "the page sent audio (%s packets)" % outbound.get("audio", {}).get("packetsSent"))
    if call_type == "video":
        check(outbound.get("video", {}).get("framesEncoded", 0) > 0,
              "the page sent video (%s frames encoded)"
              % outbound.get("video", {}).get("framesEncoded"))


def figures(summary, result, answered_mark):
    """Setup times as TAP comments; the browser's from its own clock, from
    the answer it sent or received."""
    lines = []
    if summary is not None:
        lines.append("natter-cli: accept to first video frame %s ms, first audio %s ms"
                     % (summary.get("accept_to_first_video_ms"),
                        summary.get("accept_to_first_audio_ms")))
        lines.append("natter-cli: setup marks (ms from accept) %s"
                     % json.dumps(summary.get("setup_ms"), sort_keys=True))
    timeline = (result or {}).get("timeline", {})
    if answered_mark in timeline:
        lines.append("chromium: %s to first video frame %s ms, first audio %s ms"
                     % (answered_mark.replace("_", " "),
                        timeline["first_video_frame"] - timeline[answered_mark]
                        if "first_video_frame" in timeline else None,
                        timeline["first_audio_samples"] - timeline[answered_mark]
                        if "first_audio_samples" in timeline else None))
    pair = ((result or {}).get("stats") or {}).get("pair")
    if pair:
        lines.append("chromium: selected pair %s <-> %s" % (pair["local"], pair["remote"]))
    return lines


def run_case(fixture, number, name, body):
    """Runs one case; prints its TAP line, diagnostics, and logs on failure."""
    problems = []
    notes = []

    def check(condition, what):
        notes.append(("" if condition else "FAILED: ") + what)
        if not condition:
            problems.append(what)

    fixture.page.clear()
    try:
        notes.extend(body(fixture, check))
    except Failure as failure:
        problems.append(str(failure))
        notes.append("FAILED: " + str(failure))
    finally:
        processes = list(fixture.processes)
        fixture.stop_processes()

    if problems:
        print("not ok %d %s" % (number, name))
    else:
        print("ok %d %s" % (number, name))
    for note in notes:
        print("# " + note)
    if problems or os.environ.get("NATTER_INTEROP_VERBOSE"):
        for report in fixture.page.reports:
            sdps = {key: report.pop(key) for key in list(report) if key.endswith("_sdp")}
            print("# page: " + json.dumps(report)[:400])
            for key, sdp in sdps.items():
                print("#   %s:" % key)
                for line in sdp.splitlines():
                    print("#     " + line)
        for process in processes:
            print("# --- %s (status %s): stdout" % (process.name, process.exit_status))
            for line in process.lines[-40:]:
                print("#   " + line[:400])
            print("# --- %s: stderr" % process.name)
            for line in process.log_tail():
                print("#   " + line[:400])
    sys.stdout.flush()
    return not problems


def cli_calls_chromium(fixture, check, call_type):
    chromium = fixture.chromium("chromium-answer-" + call_type, "answer")
    page_wait(fixture.page, "ready", START_TIMEOUT_S, chromium)

    cli = fixture.cli("natter-cli-call-" + call_type, [
        "call", "%s:%d" % (fixture.page_type, fixture.page_id), "--" + call_type,
        "--duration", str(CALL_DURATION_S), "--timeout", str(CALL_TIMEOUT_S)])
    invitation = page_wait(fixture.page, "invitation", START_TIMEOUT_S, chromium)
    check(invitation.get("call_type") == call_type,
          "the page got a %s call_invitation" % call_type)
    page_wait(fixture.page, "answered", START_TIMEOUT_S, chromium)
    EVENTS.wait(cli.done, CALL_TIMEOUT_S, "natter-cli call to exit")
    result = page_wait(fixture.page, "result", START_TIMEOUT_S, chromium)

    summary = check_cli_summary(cli, check, call_type)
    check_page_result(result, check, call_type)
    return figures(summary, result, "answered")


def chromium_calls_cli(fixture, check, call_type):
    cli = fixture.cli("natter-cli-answer-" + call_type, [
        "answer", "--auto", "--count", "1", "--duration", str(CALL_DURATION_S),
        "--timeout", str(CALL_TIMEOUT_S)])
    EVENTS.wait(lambda: cli.events("waiting") or cli.done(), START_TIMEOUT_S,
                "natter-cli answer to wait for calls")
    if cli.done():
        raise Failure("natter-cli answer exited with status %d" % cli.exit_status)

    chromium = fixture.chromium("chromium-call-" + call_type, "call", call_type)
    page_wait(fixture.page, "ready", START_TIMEOUT_S, chromium)
    page_wait(fixture.page, "ringing", START_TIMEOUT_S, chromium)
    page_wait(fixture.page, "answer-received", START_TIMEOUT_S, chromium)
    EVENTS.wait(cli.done, CALL_TIMEOUT_S, "natter-cli answer to exit")
    result = page_wait(fixture.page, "result", START_TIMEOUT_S, chromium)

    summary = check_cli_summary(cli, check, call_type)
    check_page_result(result, check, call_type)
    return figures(summary, result, "answer_received")


def find_chromium(argv):
    if len(argv) > 3:
        return argv[3]
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path is not None:
            return path
    return None


def on_sigterm(signum, frame):
    # meson's timeout: unwind so every child is stopped.
    raise SystemExit(1)


def main(argv):
    if len(argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    server_binary, cli_binary = argv[1], argv[2]
    chromium_binary = find_chromium(argv)
    if chromium_binary is None:
        print("1..0 # SKIP chromium is not installed")
        return 0

    signal.signal(signal.SIGTERM, on_sigterm)
    cases = [
        ("/natter/interop/cli-calls-chromium", cli_calls_chromium, "video"),
        ("/natter/interop/chromium-calls-cli", chromium_calls_cli, "video"),
        ("/natter/interop/cli-calls-chromium-voice", cli_calls_chromium, "voice"),
        ("/natter/interop/chromium-calls-cli-voice", chromium_calls_cli, "voice"),
    ]
    selected = os.environ.get("NATTER_INTEROP_CASE")
    if selected:
        cases = [case for case in cases if case[0].endswith("/" + selected)]

    print("1..%d" % len(cases))
    sys.stdout.flush()
    failed = 0
    with tempfile.TemporaryDirectory(prefix="natter-interop-") as tmp:
        page = PageServer()
        page_thread = threading.Thread(target=page.serve_forever, daemon=True)
        page_thread.start()
        fixture = Fixture(server_binary, cli_binary, chromium_binary, tmp, page)
        try:
            fixture.start_server()
            for number, (name, body, call_type) in enumerate(cases, start=1):
                if not run_case(fixture, number, name,
                                lambda fixture, check: body(fixture, check, call_type)):
                    failed += 1
        except Failure as failure:
            print("Bail out! %s" % failure)
            for line in fixture.server.log_tail() if fixture.server else []:
                print("#   " + line)
            failed += 1
        finally:
            fixture.stop_processes()
            fixture.stop_server()
            page.shutdown()
            page.server_close()
            if fixture.server is not None and (failed or os.environ.get("NATTER_INTEROP_VERBOSE")):
                print("# --- natter-server: stderr")
                for line in fixture.server.log_tail():
                    print("#   " + line[:400])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
