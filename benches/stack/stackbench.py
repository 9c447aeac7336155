#!/usr/bin/env python3
"""The stack benchmark (issue #5 point 11): freya-stack with media bridged to its built-in
echo agents, next to Debian's Kamailio (stateful) + rtpengine (userspace) in front of a SIPp
uas that echoes RTP, under the same SIPp uac load with RTP, on loopback.

Sides (SIPp uac on 127.0.0.1:15061 in both; `-t u1`, tolerant; sut.py starts them):
  freya     freya-stack (release) on :15060, benches/stack/freya.toml: every call answered
            and bridged (G.711 <-> Twilio Media Streams over WebSocket) to an echo agent
            (in-process, or one echo-agent process with --agent external); every 50th call
            (user "rec") recorded in stereo
  kamailio  Kamailio 5.6 on :15070 (kamailio.cfg: tm, record_route, rtpengine_offer/answer/
            delete) + rtpengine --table=-1 (ng on :15223) -> SIPp uas on :15080 (uas_echo.xml,
            -rtp_echo: every RTP packet back to rtpengine)
Media: an 800 Hz PCMA tone for the whole call, from SIPp's rtp_stream (uac_rtpstream.xml, the
default) or play_pcap_audio (uac_pcap.xml, one SIPp thread per call: ~250 calls at most).

Measurements:
  conc N    SIPp places N calls at --ramp cps, each holding until all N have been up together
            for --plateau s. Signaling pass = SIPp exit 0, N successful, 0 failed, the side
            counted N calls up at once. Reports memory (VmRSS, PSS summed over the side's
            processes) idle, with N up, per call, and after the calls ended; CPU on the plateau;
            with --again K, K more rounds of N calls in the same processes (leak check).
  rate R    SIPp places R cps for --seconds s, each call --hold s. Signaling pass = exit 0,
            all successful, 0 failed, rate kept (wall <= seconds * 1.05 + hold + 3 s).
  Audio (both): --samples `sip-ua` calls per step (1000 Hz, 4 s, recording what they hear)
  must hear 1000 Hz +-5 Hz for >= 2 s; on freya every recorded call's caller channel must
  hold 800 Hz for >= 90 % of the tone and its agent (echo) channel all of the caller's but
  the echo still queued or on its way at hangup (from the hangup event's media counters,
  60 ms slack); the echo's lag is reported (lag_ok: <= LAG_ALLOWED_MS), not gated.
  A step passes when signaling and audio pass; ladders stop at the
  first step failing --gate (all, or signaling only).

  python3 benches/stack/stackbench.py conc freya|kamailio 100,250,500 [--ramp 50] [--plateau 15]
  python3 benches/stack/stackbench.py rate freya|kamailio 50,100,150 [--hold 3] [--seconds 30]
  python3 benches/stack/stackbench.py all [--conc 100,250,500,750,1000] [--rates 25,50,100,...]
  python3 benches/stack/stackbench.py table [RUN_ID[,RUN_ID...]]
Every step's result is one JSON line on stdout and in benches/stack/results.jsonl; logs in
--runs (default /tmp/stackbench-runs). Needs sipp, kamailio, rtpengine (Debian packages
sip-tester, kamailio, rtpengine-daemon) and release builds of freya-stack, sip-ua and
echo-agent (benches/stack/run.sh builds them). Loopback only; every process runs under
`timeout`.
"""
import argparse, csv, json, os, subprocess, sys, time, wave

from benchlib import (BIN, CLK, HERE, SAMPLE_EVERY, UAC_MEDIA, UAC_PORT, TOL, children, cpu_ticks,
                      lo_packets, load, mem_kb, media_file, stop, tone_hz, udp_bound, wav_channels)
from sut import side_metrics, start


def lag_summary(rec):
    """How many recorded echoes lagged by at most LAG_ALLOWED_MS, and the largest lag."""
    lags = [r["lag_ms"] for r in rec if "lag_ms" in r]
    return dict(lag_ok=sum(bool(r.get("lag_ok")) for r in rec), lag_max_ms=max(lags, default=None))


# ---------- SIPp uac and the sip-ua sample calls ----------

def uac(target, rundir, rate, limit, calls, pause_ms, media, timeout_s, kind="pcap"):
    xml = open(os.path.join(HERE, f"uac_{kind}.xml")).read()
    xml = xml.replace("PCAP_FILE", media).replace("TONE_FILE", media).replace("PAUSE_MS", str(pause_ms))
    scen = os.path.join(rundir, "uac.xml")
    open(scen, "w").write(xml)
    inf = os.path.join(rundir, "calls.csv")
    with open(inf, "w") as f:
        f.write("SEQUENTIAL\n")
        for i in range(calls):
            f.write(("rec" if i % SAMPLE_EVERY == 5 else "echo") + ";\n")
    # SIPp binds -mp at start and exits if it is taken (other programs' tests on this box
    # pick loopback ports around 20000 too); rtp_stream then walks up from it, skipping
    # ports in use.
    mp = next(p for p in range(UAC_MEDIA, UAC_MEDIA + 2000, 4) if not any(udp_bound(p + i) for i in range(4)))
    args = ["timeout", "-s", "TERM", "-k", "5", str(timeout_s + 10), "sipp", "-sf", scen, "-inf", inf,
            f"127.0.0.1:{target.port}", "-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", str(UAC_PORT),
            "-mp", str(mp), "-t", "u1", "-r", "%g" % rate, "-rp", "1000", "-l", str(limit),
            "-m", str(calls), "-nostdin", *TOL, "-max_socket", "10000", "-trace_stat", "-stf",
            os.path.join(rundir, "uac_stat.csv"), "-fd", "1", "-trace_err", "-error_file",
            os.path.join(rundir, "uac_err.log"), "-timeout", f"{timeout_s}s", "-timeout_error"]
    open(os.path.join(rundir, "uac.cmd"), "w").write(" ".join(args) + "\n")
    return subprocess.Popen(args, cwd=rundir, stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(rundir, "uac.log"), "w"))


def uac_stats(rundir):
    try:
        rows = list(csv.reader(open(os.path.join(rundir, "uac_stat.csv")), delimiter=";"))
    except OSError:
        return {}
    rows = [r for r in rows if r]
    return dict(zip(rows[0], rows[-1])) if len(rows) >= 2 else {}


def sample_calls(target, rundir, n, tag):
    """n sip-ua calls (1000 Hz, 4 s), each recording what it hears."""
    out = []
    for i in range(n):
        wav = os.path.join(rundir, f"sipua-{tag}-{i}.wav")
        p = subprocess.Popen(["timeout", "-s", "TERM", "30", os.path.join(BIN, "sip-ua"), "call",
                              f"sip:echo@127.0.0.1:{target.port}", "--duration", "4", "--tone", "1000",
                              "--record", wav], stdout=open(wav + ".log", "w"), stderr=subprocess.STDOUT)
        out.append((p, wav))
    return out


def sample_results(calls):
    res = []
    for p, wav in calls:
        try:
            rc = p.wait(timeout=40)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = None
        hz, n = (0.0, 0)
        if os.path.exists(wav):
            try:
                hz, n = tone_hz(wav_channels(wav)[0])
            except (wave.Error, EOFError, ValueError):
                pass
        res.append(dict(rc=rc, hz=round(hz, 1), voiced=n, ok=rc == 0 and abs(hz - 1000) < 5 and n >= 16000))
    return res


def sysinfo():
    return dict(load=load(), uptime=subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
                when=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))

def record(res, run_id):
    res["run"] = run_id
    print(json.dumps(res), flush=True)
    with open(os.path.join(HERE, "results.jsonl"), "a") as f:
        f.write(json.dumps(res) + "\n")

# ---------- the two measurements ----------

def conc_step(kind, n, a, run_id):
    rundir = os.path.join(a.runs, f"{run_id}-{kind}-conc-{n}")
    os.makedirs(rundir, exist_ok=True)
    # Calls hold long enough that all N are up together for --plateau s even when setting
    # them up takes --ramp-slack times longer than N / --ramp (a loaded box does that).
    ramp_s = n / a.ramp * a.ramp_slack
    hold_ms = int((ramp_s + a.plateau) * 1000)
    pcap = media_file(a, rundir, hold_ms)
    info = sysinfo()
    limit = int((2 * ramp_s + a.plateau + 60) * (1 + a.again) + 30)
    t = start(kind, rundir, a.slots, limit, a.agent)
    res = dict(kind=kind, test="conc", n=n, ramp_cps=a.ramp, hold_ms=hold_ms, media=a.media,
               agent=a.agent if kind == "freya" else "sipp-uas", **info)
    try:
        time.sleep(2.0)
        res["idle_rss_kb"], res["idle_pss_kb"] = mem_kb(t.pids)
        side_metrics(t, res, "idle")
        t0 = time.time()
        u = uac(t, rundir, a.ramp, n, n, hold_ms, pcap, int(2 * ramp_s + a.plateau + 40), a.media)
        peak, reached = 0, None
        while time.time() - t0 < ramp_s + a.plateau * 0.5 + 10 and u.poll() is None:
            e = t.established()
            peak = max(peak, e)
            if e >= n:
                reached = time.time() - t0
                break
            time.sleep(0.5)
        res["reached_s"] = None if reached is None else round(reached, 1)
        if reached is not None:
            time.sleep(1.0)
            rss, pss = mem_kb(t.pids)
            res["plateau_rss_kb"], res["plateau_pss_kb"] = rss, pss
            res["per_call_rss_kb"] = round((rss - res["idle_rss_kb"]) / n, 1)
            res["per_call_pss_kb"] = round((pss - res["idle_pss_kb"]) / n, 1)
            side_metrics(t, res, "plateau")
            if "plateau_echo_rss_kb" in res:
                res["per_call_echo_rss_kb"] = round((res["plateau_echo_rss_kb"] - res["idle_echo_rss_kb"]) / n, 1)
            uac_pids = [u.pid] + children(u.pid)
            c0, g0, s0 = cpu_ticks(t.pids), cpu_ticks(uac_pids), time.time()
            su0, lo0 = cpu_ticks(getattr(t, "uas_pids", [])), lo_packets()
            e0 = cpu_ticks(getattr(t, "agent_pids", []))
            sc = sample_calls(t, rundir, a.samples, "conc")
            time.sleep(min(8.0, max(5.0, a.plateau - 5)))
            dt = time.time() - s0
            # RTP packets on loopback per call per second: 50 would be SIPp's stream alone;
            # freya adds its RTP echo (+50) and the WebSocket frames both ways (TCP on lo);
            # Kamailio's side carries 4 RTP hops (uac->rtpengine->uas->rtpengine->uac).
            res["lo_pps"] = round((lo_packets() - lo0) / dt)
            res["lo_pps_per_call"] = round(res["lo_pps"] / n, 1)
            res["sut_cpu_pct"] = round(100.0 * (cpu_ticks(t.pids) - c0) / CLK / dt, 1)
            res["uac_cpu_pct"] = round(100.0 * (cpu_ticks(uac_pids) - g0) / CLK / dt, 1) if u.poll() is None else None
            if getattr(t, "agent_pids", []):
                res["echo_cpu_pct"] = round(100.0 * (cpu_ticks(t.agent_pids) - e0) / CLK / dt, 1)
            if kind == "kamailio":
                res["uas_cpu_pct"] = round(100.0 * (cpu_ticks(t.uas_pids) - su0) / CLK / dt, 1)
            res["established_peak"] = max(peak, t.established())
            res["plateau_media"] = t.media_stats()
            res["samples"] = sample_results(sc)
        else:
            res["established_peak"] = peak
        try:
            u.wait(timeout=int(2 * ramp_s + a.plateau + 60))
        except subprocess.TimeoutExpired:
            stop([u])
        st = uac_stats(rundir)
        res.update(rc=u.returncode, ok=int(st.get("SuccessfulCall(C)", 0) or 0),
                   failed=int(st.get("FailedCall(C)", 0) or 0), retrans=int(st.get("Retransmissions(C)", 0) or 0),
                   wall=round(time.time() - t0, 1))
        time.sleep(3.0)
        res["after_established"] = t.established(any_state=True)
        res["after_rss_kb"], res["after_pss_kb"] = mem_kb(t.pids)
        res["end_media"] = t.media_stats()
        if kind == "freya":
            s = t.slots_busy()
            if s is not None:
                json.dump(s, open(os.path.join(rundir, "slots_after.json"), "w"))
                res["after_slots_busy"] = sum(x is not None for p in s for x in p.get("slots", []))
        # Leak check: the same load again in the same processes; memory after each round.
        # Freed memory the allocator keeps shows after round 1; growth after that is not
        # reuse (round 2+ have the same calls to place).
        res["again"] = []
        for k in range(1, a.again + 1):
            sub = os.path.join(rundir, f"again-{k}")
            os.makedirs(sub, exist_ok=True)
            u = uac(t, sub, a.ramp, n, n, hold_ms, pcap, int(2 * ramp_s + a.plateau + 40), a.media)
            try:
                u.wait(timeout=int(2 * ramp_s + a.plateau + 60))
            except subprocess.TimeoutExpired:
                stop([u])
            st = uac_stats(sub)
            time.sleep(3.0)
            rss, pss = mem_kb(t.pids)
            res["again"].append(dict(rc=u.returncode, ok=int(st.get("SuccessfulCall(C)", 0) or 0),
                                     failed=int(st.get("FailedCall(C)", 0) or 0),
                                     calls_left=t.established(any_state=True), rss_kb=rss, pss_kb=pss))
    finally:
        t.stop()
    res.update(t.findings())
    rec = t.recordings_check(hold_ms)
    res["recordings"] = dict(n=len(rec), ok=sum(r["ok"] for r in rec), bad=[r for r in rec if not r["ok"]][:3],
                             sample=rec[:2], **lag_summary(rec))
    samples_ok = bool(res.get("samples")) and all(s["ok"] for s in res["samples"])
    res["audio_ok"] = samples_ok and all(r["ok"] for r in rec) and (kind != "freya" or len(rec) > 0)
    res["signaling_ok"] = res["rc"] == 0 and res["ok"] == n and res["failed"] == 0 and res["reached_s"] is not None
    res["passed"] = res["signaling_ok"] and res["audio_ok"]
    res["rundir"] = rundir
    record(res, run_id)
    return res


def rate_step(kind, r, a, run_id):
    rundir = os.path.join(a.runs, f"{run_id}-{kind}-rate-{r}")
    os.makedirs(rundir, exist_ok=True)
    hold_ms = int(a.hold * 1000)
    pcap = media_file(a, rundir, hold_ms)
    calls = int(r * a.seconds)
    info = sysinfo()
    t = start(kind, rundir, a.slots, int(a.seconds + a.hold + 120), a.agent)
    res = dict(kind=kind, test="rate", rate=r, hold_ms=hold_ms, calls=calls, media=a.media,
               agent=a.agent if kind == "freya" else "sipp-uas", **info)
    try:
        time.sleep(2.0)
        res["idle_rss_kb"], res["idle_pss_kb"] = mem_kb(t.pids)
        t0 = time.time()
        u = uac(t, rundir, r, max(50, int(3 * r * a.hold) + 50), calls, hold_ms, pcap, int(a.seconds + a.hold + 60),
                a.media)
        time.sleep(min(5.0, a.seconds / 4))
        uac_pids = [u.pid] + children(u.pid)
        c0, g0, s0 = cpu_ticks(t.pids), cpu_ticks(uac_pids), time.time()
        su0, lo0 = cpu_ticks(getattr(t, "uas_pids", [])), lo_packets()
        sc = sample_calls(t, rundir, a.samples, "rate")
        peak_pss = peak_est = 0
        while time.time() - t0 < a.seconds - 2 and u.poll() is None:
            peak_pss = max(peak_pss, mem_kb(t.pids)[1])
            peak_est = max(peak_est, t.established())
            time.sleep(1.0)
        dt = time.time() - s0
        res["sut_cpu_pct"] = round(100.0 * (cpu_ticks(t.pids) - c0) / CLK / dt, 1)
        res["uac_cpu_pct"] = round(100.0 * (cpu_ticks(uac_pids) - g0) / CLK / dt, 1)
        if kind == "kamailio":
            res["uas_cpu_pct"] = round(100.0 * (cpu_ticks(t.uas_pids) - su0) / CLK / dt, 1)
        res["lo_pps"] = round((lo_packets() - lo0) / dt)
        res["peak_pss_kb"], res["established_peak"] = peak_pss, peak_est
        res["samples"] = sample_results(sc)
        try:
            u.wait(timeout=int(a.seconds + a.hold + 70))
        except subprocess.TimeoutExpired:
            stop([u])
        wall = time.time() - t0
        st = uac_stats(rundir)
        res.update(rc=u.returncode, ok=int(st.get("SuccessfulCall(C)", 0) or 0),
                   failed=int(st.get("FailedCall(C)", 0) or 0), retrans=int(st.get("Retransmissions(C)", 0) or 0),
                   wall=round(wall, 1))
        time.sleep(3.0)
        res["after_established"] = t.established(any_state=True)
        res["after_rss_kb"], res["after_pss_kb"] = mem_kb(t.pids)
        res["end_media"] = t.media_stats()
    finally:
        t.stop()
    res.update(t.findings())
    rec = t.recordings_check(hold_ms)
    res["recordings"] = dict(n=len(rec), ok=sum(x["ok"] for x in rec), bad=[x for x in rec if not x["ok"]][:3],
                             **lag_summary(rec))
    res["audio_ok"] = all(s["ok"] for s in res["samples"]) and all(x["ok"] for x in rec)
    res["rate_kept"] = res["wall"] <= a.seconds * 1.05 + a.hold + 3
    res["signaling_ok"] = res["rc"] == 0 and res["ok"] == calls and res["failed"] == 0 and res["rate_kept"]
    res["passed"] = res["signaling_ok"] and res["audio_ok"]
    res["rundir"] = rundir
    record(res, run_id)
    return res


def ladder(fn, kind, steps, a, run_id, bisect=0):
    good, bad = None, None
    key = "signaling_ok" if a.gate == "signaling" else "passed"

    def step(x):
        try:
            return fn(kind, x, a, run_id)
        except Exception as e:  # a step that cannot start ends the ladder, not the run
            r = dict(kind=kind, test=fn.__name__.split("_")[0], step=x, error=str(e), passed=False,
                     signaling_ok=False, summary=False)
            record(r, run_id)
            return r

    for x in steps:
        if step(x)[key]:
            good = x
        else:
            bad = x
            break
    for _ in range(bisect if bad is not None and good is not None else 0):
        mid = int(round((good + bad) / 2 / 10.0) * 10)
        if mid in (good, bad):
            break
        if step(mid)[key]:
            good = mid
        else:
            bad = mid
    s = dict(kind=kind, test=fn.__name__.split("_")[0], best=good, first_fail=bad, gate=a.gate, summary=True)
    record(s, run_id)
    return s


# ---------- the table for BENCHMARKS.md ----------

def table(run_id):
    rows = [json.loads(l) for l in open(os.path.join(HERE, "results.jsonl")) if l.strip()]
    if run_id is None:
        run_id = rows[-1]["run"]
    rows = [r for r in rows if r.get("run") in run_id.split(",")]
    print(f"run {run_id}\n")
    mb = lambda kb: "-" if kb is None else f"{kb / 1024:.1f}"

    def audio(r):
        smp = r.get("samples") or []
        t = f"sip-ua {sum(x['ok'] for x in smp)}/{len(smp)}"
        if smp:
            t += " (" + ", ".join(f"{x['hz']} Hz {x['voiced'] / 8000:.1f} s" for x in smp) + ")"
        if r["kind"] == "freya":
            t += f"; WAVs {r['recordings']['ok']}/{r['recordings']['n']}"
        return t

    def cpu(r):
        c = f"{r.get('sut_cpu_pct')}"
        return c + (f" (+uas {r.get('uas_cpu_pct')})" if r["kind"] == "kamailio" else "")

    def head(*cols):
        print("| " + " | ".join(cols) + " |")
        print("|" + "---|" * len(cols))

    def verdict(r):
        return "yes" if r["passed"] else ("signaling only" if r.get("signaling_ok") else "NO")

    head("side", "media", "N", "all up after (s)", "ok / failed", "SUT CPU %", "uac CPU %", "lo pkt/s per call",
         "SUT PSS idle → N up (MB)", "per call PSS / RSS (KB)", "after: calls, PSS (MB)", "audio", "pass")
    for r in rows:
        if r.get("test") != "conc" or r.get("summary") or "error" in r:
            continue
        side = r["kind"] + (" (echo-agent process)" if r.get("agent") == "external" else "")
        per = f"{r.get('per_call_pss_kb')} / {r.get('per_call_rss_kb')}"
        if r.get("per_call_echo_rss_kb") is not None and r.get("agent") == "external":
            per += f" (+ echo-agent {r['per_call_echo_rss_kb']} RSS)"
        cpu_c = cpu(r) + (f" (+echo-agent {r.get('echo_cpu_pct')})" if r.get("echo_cpu_pct") is not None else "")
        print(f"| {side} | {r.get('media', 'pcap')} | {r['n']} | {r.get('reached_s')} | {r['ok']} / {r['failed']} "
              f"| {cpu_c} | {r.get('uac_cpu_pct')} | {r.get('lo_pps_per_call', '-')} "
              f"| {mb(r['idle_pss_kb'])} → {mb(r.get('plateau_pss_kb'))} | {per} "
              f"| {r.get('after_established')}, {mb(r.get('after_pss_kb'))} | {audio(r)} "
              f"| {verdict(r)} |")
    for r in rows:
        if r.get("test") == "conc" and r.get("again"):
            print(f"\n- {r['kind']} N={r['n']} leak check, PSS after each round (MB): {mb(r['after_pss_kb'])} → "
                  + " → ".join(f"{mb(x['pss_kb'])} ({x['ok']} ok, {x['failed']} failed, {x['calls_left']} calls left)"
                               for x in r["again"]))
    print()
    head("side", "media", "cps", "calls", "ok / failed", "retrans", "wall (s)", "SUT CPU %", "uac CPU %",
         "peak calls up", "peak PSS (MB)", "audio", "pass")
    for r in rows:
        if r.get("test") != "rate" or r.get("summary") or "error" in r:
            continue
        print(f"| {r['kind']} | {r.get('media', 'pcap')} | {r['rate']} | {r['calls']} | {r['ok']} / {r['failed']} "
              f"| {r['retrans']} | {r['wall']} | {cpu(r)} | {r.get('uac_cpu_pct')} | {r.get('established_peak')} "
              f"| {mb(r.get('peak_pss_kb'))} | {audio(r)} | {verdict(r)} |")
    print()
    for r in rows:
        if "error" in r:
            print(f"- {r['kind']} {r['test']} {r['step']}: could not run: {r['error']}")
        if r.get("summary"):
            print(f"- {r['kind']} {r['test']}: best passing {r['best']}, first failing {r['first_fail']}"
                  f" (gate: {r.get('gate', 'all')})")
    loads = [r["uptime"] for r in rows if "uptime" in r]
    if loads:
        print(f"\nuptime at the first step: {loads[0]}\nuptime at the last step: {loads[-1]}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["conc", "rate", "all", "table"])
    ap.add_argument("kind", nargs="?")
    ap.add_argument("steps", nargs="?")
    ap.add_argument("--ramp", type=float, default=50.0, help="cps at which conc places its calls")
    ap.add_argument("--plateau", type=float, default=15.0, help="s all N calls are up together")
    ap.add_argument("--ramp-slack", type=float, default=1.5,
                    help="conc: the hold allows the ramp to take this many times N / --ramp")
    ap.add_argument("--hold", type=float, default=3.0, help="s each call of the rate test lasts")
    ap.add_argument("--seconds", type=float, default=30.0, help="s the rate test places calls")
    ap.add_argument("--samples", type=int, default=3, help="sip-ua calls checked by content per step")
    ap.add_argument("--slots", type=int, default=1100, help="freya's echo-agent slots")
    ap.add_argument("--conc", default="100,250,500,750,1000")
    ap.add_argument("--rates", default="25,50,100,150,200,300")
    ap.add_argument("--bisect", type=int, default=1)
    ap.add_argument("--media", choices=["pcap", "rtpstream"], default="rtpstream",
                    help="how SIPp sends RTP: play_pcap_audio (a thread per call, uac_pcap.xml) "
                         "or rtp_stream (a few threads for all calls, uac_rtpstream.xml)")
    ap.add_argument("--agent", choices=["builtin", "external"], default="builtin",
                    help="freya's echo agents: in-process (builtin_echo) or one echo-agent process")
    ap.add_argument("--again", type=int, default=0,
                    help="conc: place the same N calls this many more times in the same processes "
                         "and record memory after each (leak check)")
    ap.add_argument("--sides", default="freya,kamailio")
    ap.add_argument("--gate", choices=["all", "signaling"], default="all",
                    help="what stops a ladder: any failure (all) or failed calls only (signaling; "
                         "the audio check is still reported)")
    ap.add_argument("--runs", default="/tmp/stackbench-runs")
    a = ap.parse_args()
    if a.mode == "table":
        table(a.kind)
        return
    os.makedirs(a.runs, exist_ok=True)
    for b in ("freya-stack", "sip-ua") + (("echo-agent",) if a.agent == "external" else ()):
        if not os.path.exists(os.path.join(BIN, b)):
            sys.exit(f"{BIN}/{b} is missing: cargo build --release -p freya-examples --bin freya-stack --bin sip-ua")
    run_id = time.strftime("%Y%m%d-%H%M%S")
    if a.mode == "all":
        sides = a.sides.split(",")
        for k in sides:
            ladder(conc_step, k, [int(x) for x in a.conc.split(",")], a, run_id)
        for k in sides:
            ladder(rate_step, k, [int(x) for x in a.rates.split(",")], a, run_id, a.bisect)
        return
    if a.kind not in ("freya", "kamailio") or not a.steps:
        sys.exit("usage: stackbench.py conc|rate freya|kamailio STEP[,STEP...]")
    steps = [int(x) for x in a.steps.split(",")]
    if len(steps) == 1:
        (conc_step if a.mode == "conc" else rate_step)(a.kind, steps[0], a, run_id)
    else:
        ladder(conc_step if a.mode == "conc" else rate_step, a.kind, steps, a, run_id,
               a.bisect if a.mode == "rate" else 0)


if __name__ == "__main__":
    main()
