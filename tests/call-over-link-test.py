#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""A video call across an emulated 800 kbit/s link with 40 ms of delay.

natter-cli in network namespace A calls natter-cli in namespace B; the
only path between them is tests/link-emulator (tests/link-emulator.sh
makes the namespaces, the TUN devices and a veth from each namespace to
this one, where natter-server listens). The video is a moving 640x360
pattern that VP8 needs about 0.9 Mbit/s for: more than the link carries.

  /natter/link/emulator-forwards-both-ways: packets crossed the link both
      ways, and every packet that entered it was delivered, dropped at the
      bottleneck, lost at random or is still queued.
  /natter/link/call-connects-over-link: both sides reach "connected",
      decode the other's audio, and print a call_summary.
  /natter/link/media-crosses-the-link: each side's played audio packets
      all came through the emulator (no other path exists).
  /natter/link/video-keeps-flowing: after the first 5 s, at least 25 fps
      decoded each way, no freeze, and at most 10 % of the link's packets
      dropped at the bottleneck. Today's pipeline has no congestion control
      and fails this (no video at all); it runs only with
      NATTER_TEST_LINK_STRICT=1, otherwise it is reported as skipped with
      the figures measured.

Prints TAP. Needs root (network namespaces, TUN devices): without, the
whole test is skipped ("1..0 # SKIP").

Usage: call-over-link-test.py NATTER_SERVER NATTER_CLI LINK_EMULATOR_SH
"""

import json
import os
import subprocess
import sys
import tempfile
import time

DELAY_MS = 40
RATE_KBIT = 800
CALL_DURATION_S = 12
WARM_UP_S = 5
STRICT_FPS = 25
STRICT_DROPPED_PCT = 10

CLI_MEDIA_ENV = {
    "NATTER_VIDEO_SRC": "videotestsrc is-live=true pattern=smpte horizontal-speed=4 ! "
                        "capsfilter caps=\"video/x-raw,width=640,height=360,framerate=30/1\"",
    "NATTER_AUDIO_SRC": "audiotestsrc is-live=true wave=ticks",
    "NATTER_AUDIO_SINK": "fakesink sync=false",
    "NATTER_SOUND_DIR": "/nonexistent",
    "NATTER_TOKEN_STORE": "file",
}

CASES = [
    "emulator-forwards-both-ways",
    "call-connects-over-link",
    "media-crosses-the-link",
    "video-keeps-flowing",
]


def time_scale():
    try:
        scale = int(os.environ.get("NATTER_TEST_TIME_SCALE", "1"))
    except ValueError:
        return 1
    return min(max(scale, 1), 20)


def events(path, event):
    found = []
    try:
        with open(path) as stream:
            for line in stream:
                try:
                    value = json.loads(line)
                except ValueError:
                    continue
                if isinstance(value, dict) and value.get("event") == event:
                    found.append(value)
    except FileNotFoundError:
        pass
    return found


def wait_for(predicate, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError("timed out after %g s waiting for %s" % (timeout_s, what))
        time.sleep(0.05)


def cli(netns, cli_path, data_dir, args, out_path=None, stdin_text=None):
    env = dict(os.environ, XDG_DATA_HOME=data_dir, **CLI_MEDIA_ENV)
    argv = ["ip", "netns", "exec", netns, cli_path] + args
    err = open(out_path + ".err", "wb") if out_path else subprocess.DEVNULL
    if stdin_text is not None:
        return subprocess.run(argv, env=env, input=stdin_text, text=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              timeout=30 * time_scale())
    return subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                            stdout=open(out_path, "wb"), stderr=err)


def window(lines, accepted_at_us, from_us):
    """The first call_stats line at or after from_us, and the last."""
    first = None
    for line in lines:
        if accepted_at_us + line["t_ms"] * 1000 >= from_us:
            first = line
            break
    return first, (lines[-1] if lines else None)


def run_inside(server_path, cli_path):
    """Runs under link-emulator.sh: returns [(ok, case, diagnostics)]."""
    ns_a = os.environ["NATTER_LINK_NETNS_A"]
    ns_b = os.environ["NATTER_LINK_NETNS_B"]
    stats_path = os.environ["NATTER_LINK_STATS"]
    work = tempfile.mkdtemp(prefix="natter-link-test-")
    db = os.path.join(work, "natter.db")
    # The two accounts of --demo, made by hand: --demo only serves loopback,
    # and the namespaces reach the server over their veth.
    for email, name, kind in (("abebe@demo.natter", "Abebe Kebede", "tutor"),
                              ("selam@demo.natter", "Selam Tesfaye", "student")):
        subprocess.run([server_path, "adduser", "--db", db, "--email", email, "--name", name,
                        "--profile-type", kind, "--password-stdin"], input="natter-demo\n",
                       text=True, check=True, stdout=subprocess.DEVNULL)
    server = subprocess.Popen(
        [server_path, "--listen", "0.0.0.0", "--port", "0", "--db", db],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    processes = [server]
    try:
        line = server.stdout.readline()
        if not line.startswith("listening on "):
            raise RuntimeError("natter-server did not start")
        port = line.strip().rsplit(":", 1)[1]
        sides = {
            "caller": (ns_a, os.path.join(work, "a"), os.environ["NATTER_LINK_SERVER_A"],
                       "abebe@demo.natter"),
            "callee": (ns_b, os.path.join(work, "b"), os.environ["NATTER_LINK_SERVER_B"],
                       "selam@demo.natter"),
        }
        for name, (netns, data_dir, host, email) in sides.items():
            done = cli(netns, cli_path, data_dir,
                       ["--server", "http://%s:%s" % (host, port), "login", "--email", email,
                        "--password-stdin"], stdin_text="natter-demo\n")
            if done.returncode != 0:
                raise RuntimeError("%s could not sign in: %s" % (name, done.stderr))

        callee_out = os.path.join(work, "callee.jsonl")
        caller_out = os.path.join(work, "caller.jsonl")
        callee = cli(ns_b, cli_path, sides["callee"][1],
                     ["answer", "--auto", "--count", "1", "--duration", "120",
                      "--timeout", str(60 * time_scale()), "--stats-interval", "1000"],
                     out_path=callee_out)
        processes.append(callee)
        wait_for(lambda: events(callee_out, "waiting"), 20 * time_scale(), "the callee")
        caller = cli(ns_a, cli_path, sides["caller"][1],
                     ["call", "student:2", "--video", "--duration", str(CALL_DURATION_S),
                      "--timeout", str(30 * time_scale()), "--stats-interval", "1000"],
                     out_path=caller_out)
        processes.append(caller)
        caller.wait(timeout=(CALL_DURATION_S + 40) * time_scale())
        callee.wait(timeout=20 * time_scale())

        results = []
        link = events(stats_path, "stats")
        caller_summary = events(caller_out, "call_summary")
        callee_summary = events(callee_out, "call_summary")

        # The emulator.
        last = link[-1] if link else None
        problems = []
        if last is None:
            problems.append("no counters from the emulator")
        else:
            for key in ("a_to_b", "b_to_a"):
                d = last[key]
                if d["packets_out"] < 100:
                    problems.append("%s: only %d packets delivered" % (key, d["packets_out"]))
                accounted = d["packets_out"] + d["bottleneck_dropped"] + d["lost"] + d["queued"]
                if accounted != d["packets_in"]:
                    problems.append("%s: %d packets in, %d accounted for: %s"
                                    % (key, d["packets_in"], accounted, d))
        results.append((not problems, CASES[0], problems or [json.dumps(last)]))

        # The call.
        problems = []
        for name, summary, lines in (("caller", caller_summary, caller_out),
                                     ("callee", callee_summary, callee_out)):
            states = [e["state"] for e in events(lines, "call_state")]
            if "connected" not in states:
                problems.append("%s never connected: %s" % (name, states))
            if not summary:
                problems.append("%s printed no call_summary" % name)
            elif summary[0]["audio_buffers_received"] <= 0:
                problems.append("%s decoded no audio: %s" % (name, summary[0]))
        results.append((not problems, CASES[1],
                        problems or [json.dumps(s[0]) for s in (caller_summary, callee_summary)]))

        # Media through the emulator: what each side's jitter buffer played
        # entered the link in the peer's direction.
        problems = []
        if last is not None and caller_summary and callee_summary:
            for name, summary, key in (("callee", callee_summary[0], "a_to_b"),
                                       ("caller", caller_summary[0], "b_to_a")):
                played = summary["audio_frames_played"]
                if played <= 0 or last[key]["packets_out"] < played:
                    problems.append("%s played %d audio packets, the link delivered %d %s"
                                    % (name, played, last[key]["packets_out"], key))
        else:
            problems.append("no summaries or no link counters")
        results.append((not problems, CASES[2], problems))

        # Video keeps flowing (strict: after congestion control).
        figures = []
        problems = []
        if caller_summary and callee_summary:
            from_us = caller_summary[0]["accepted_at_us"] + WARM_UP_S * 1000000
            for name, summary, path in (("callee", callee_summary[0], callee_out),
                                        ("caller", caller_summary[0], caller_out)):
                first, end = window(events(path, "call_stats"), summary["accepted_at_us"],
                                    from_us)
                if first is None or end is None or first is end:
                    problems.append("%s: no call_stats after %d s" % (name, WARM_UP_S))
                    continue
                seconds = (end["t_ms"] - first["t_ms"]) / 1000.0
                fps = (end["video_frames_received"] - first["video_frames_received"]) / seconds
                freezes = end["video_freezes"] - first["video_freezes"]
                figures.append("%s decoded %.1f fps, %d freezes" % (name, fps, freezes))
                if fps < STRICT_FPS or freezes > 0:
                    problems.append("%s decoded %.1f fps with %d freezes after %d s"
                                    % (name, fps, freezes, WARM_UP_S))
            start = next((e for e in link if e["now_us"] >= from_us), None)
            if start is not None and last is not None:
                for key in ("a_to_b", "b_to_a"):
                    entered = last[key]["packets_in"] - start[key]["packets_in"]
                    dropped = last[key]["bottleneck_dropped"] - start[key]["bottleneck_dropped"]
                    pct = 100.0 * dropped / entered if entered else 0
                    figures.append("%s: %.1f %% dropped at the bottleneck" % (key, pct))
                    if pct > STRICT_DROPPED_PCT:
                        problems.append("%s: %.1f %% of the link's packets dropped" % (key, pct))
        else:
            problems.append("no summaries")
        results.append((not problems, CASES[3], problems if problems and not figures else figures))
        return results
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
        subprocess.run(["rm", "-rf", work])


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--inside":
        try:
            results = run_inside(sys.argv[2], sys.argv[3])
        except Exception as error:  # reported as TAP below, by the outer run
            print(json.dumps({"error": str(error)}))
            return 1
        print(json.dumps({"results": results}))
        return 0

    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    server_path, cli_path, script = sys.argv[1:4]
    emulator = os.path.join(os.path.dirname(os.path.abspath(script)), "link-emulator")
    done = subprocess.run(
        [script, "--emulator", emulator, "--delay-ms", str(DELAY_MS), "--rate-kbit",
         str(RATE_KBIT), "--seed", "1", "--stats-interval-ms", "500", "--",
         sys.executable, os.path.abspath(__file__), "--inside", server_path, cli_path],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if done.returncode == 77:
        why = (done.stderr.strip().splitlines() or [""])[-1]
        print("1..0 # SKIP cannot create network namespaces and TUN devices "
              "(needs root): %s" % why)
        return 0
    print("1..%d" % len(CASES))
    report = None
    for line in done.stdout.splitlines():
        try:
            report = json.loads(line)
        except ValueError:
            continue
    if report is None or "results" not in report:
        why = report["error"] if report else "no report (status %d)" % done.returncode
        for number, case in enumerate(CASES, 1):
            print("not ok %d /natter/link/%s # %s" % (number, case, why))
        for line in done.stderr.splitlines()[-20:]:
            print("# " + line)
        return 1
    strict = os.environ.get("NATTER_TEST_LINK_STRICT") == "1"
    status = 0
    for number, (ok, case, notes) in enumerate(report["results"], 1):
        if case == "video-keeps-flowing" and not strict:
            print("ok %d /natter/link/%s # SKIP until congestion control "
                  "(NATTER_TEST_LINK_STRICT=1): %s" % (number, case, "; ".join(notes)))
            continue
        print("%s %d /natter/link/%s" % ("ok" if ok else "not ok", number, case))
        for note in notes:
            print("# " + note)
        if not ok:
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
