#!/usr/bin/env python3
"""Call-rate ceiling under SIPp's built-in uac, on loopback (freya signaling issue, point 11).

Targets (all answered by a UAS on 127.0.0.1:5080; the uac always runs on :5060):
  freya     benches/examples/uas (freya_sip::ua::UserAgent, UnknownSource::Accept, 180 + 200/SDP)
  sipp      SIPp built-in uas (the harness ceiling: nothing in between)
  kamailio  Kamailio 5.6 stateful proxy on :5070 (benches/sip/kamailio.cfg) in front of SIPp uas

One step = uac at -r R for -m 20*R calls. Pass = uac exit 0, SuccessfulCall == 20*R,
FailedCall == 0, wall <= 21 s. SIPp runs tolerant (-default_behaviors all,-abortunexp) for
every target, as ANCHORS.md §3c requires through a multi-worker proxy. CPU of the system
under test (freya uas, or every Kamailio process) = utime+stime from /proc/<pid>/stat over
the window 3 s .. 18 s of the step, in % of one core.

  python3 benches/sip/callrate.py step  TARGET RATE [--transport un|u1]
  python3 benches/sip/callrate.py search TARGET --ladder 1000,2000,... [--bisect 2] [--transport un]
Results: one JSON line per step on stdout and appended to benches/sip/results.jsonl.
"""
import argparse, csv, glob, json, os, signal, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
UAS_BIN = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")),
                       "release/examples/uas")
TOL = ["-default_behaviors", "all,-abortunexp"]
CLK = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pids):
    t = 0
    for p in pids:
        try:
            f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
            t += int(f[11]) + int(f[12])  # utime, stime (fields 14, 15)
        except (FileNotFoundError, ProcessLookupError, IndexError):
            pass
    return t


def children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def load():
    return open("/proc/loadavg").read().split()[:3]


def step(target, rate, transport, rundir):
    os.makedirs(rundir, exist_ok=True)
    procs = []
    sut_pids = []
    dst = "127.0.0.1:5080"
    if target == "kamailio":
        k = subprocess.Popen(["timeout", "-s", "TERM", "90", "kamailio", "-f",
                              os.path.join(HERE, "kamailio.cfg"), "-DD", "-E", "-m", "512",
                              "-M", "16", "-w", rundir],
                             stdout=open(f"{rundir}/kamailio.log", "w"), stderr=subprocess.STDOUT)
        procs.append(k)
        dst = "127.0.0.1:5070"
    if target == "freya":
        u = subprocess.Popen([UAS_BIN, "127.0.0.1:5080", "5"],
                             stderr=open(f"{rundir}/uas.log", "w"), stdout=subprocess.DEVNULL)
        procs.append(u)
        sut_pids = [u.pid]
    else:
        u = subprocess.Popen(["timeout", "-s", "TERM", "90", "sipp", "-sn", "uas", "-i", "127.0.0.1",
                              "-p", "5080", "-t", transport, "-nostdin", "-max_socket", "10000",
                              *TOL, "-trace_err", "-error_file", f"{rundir}/uas_err.log"],
                             cwd=rundir, stdout=subprocess.DEVNULL, stderr=open(f"{rundir}/uas.log", "w"))
        procs.append(u)
    time.sleep(1.0)
    if target == "kamailio":
        # timeout -> kamailio main -> its workers
        main = children(k.pid)
        sut_pids = main + [c for m in main for c in children(m)]
    if target == "sipp":
        # the SIPp uas itself (under `timeout`): the far end's CPU, for the record
        sut_pids = children(u.pid)
    l0 = load()
    t0 = time.time()
    uac = subprocess.Popen(["timeout", "-s", "TERM", "50", "sipp", "-sn", "uac", dst, "-i", "127.0.0.1",
                            "-p", "5060", "-t", transport, "-r", str(rate), "-m", str(20 * rate),
                            "-nostdin", *TOL, "-trace_stat", "-fd", "1", "-max_socket", "10000",
                            "-trace_err", "-error_file", f"{rundir}/uac_err.log", "-timeout", "45"],
                           cwd=rundir, stdout=subprocess.DEVNULL, stderr=open(f"{rundir}/uac.log", "w"))
    uac_ps = []
    time.sleep(3.0)
    uac_ps = [uac.pid] + children(uac.pid)
    c3 = cpu_ticks(sut_pids)
    a3 = cpu_ticks(uac_ps)
    tc3 = time.time()
    cpu = None
    uac_cpu = None
    while uac.poll() is None:
        if cpu is None and time.time() - t0 >= 18.0:
            dt = time.time() - tc3
            cpu = 100.0 * (cpu_ticks(sut_pids) - c3) / CLK / dt
            uac_cpu = 100.0 * (cpu_ticks(uac_ps) - a3) / CLK / dt
        time.sleep(0.05)
    wall = time.time() - t0
    rc = uac.returncode
    l1 = load()
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
    stats = {}
    files = sorted(glob.glob(f"{rundir}/uac_*_.csv"))
    if files:
        rows = list(csv.reader(open(files[-1]), delimiter=";"))
        if len(rows) >= 2:
            stats = dict(zip(rows[0], rows[-1]))
    ok = int(stats.get("SuccessfulCall(C)", 0) or 0)
    failed = int(stats.get("FailedCall(C)", 0) or 0)
    retr = int(stats.get("Retransmissions(C)", 0) or 0)
    passed = rc == 0 and ok == 20 * rate and failed == 0 and wall <= 21.0
    res = dict(target=target, transport=transport, rate=rate, passed=passed, rc=rc, ok=ok,
               failed=failed, retrans=retr, wall=round(wall, 2),
               achieved=round(ok / wall, 1) if wall else None,
               sut_cpu_pct=None if cpu is None else round(cpu, 1),
               uac_cpu_pct=None if uac_cpu is None else round(uac_cpu, 1),
               load_before=l0, load_after=l1, when=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               rundir=rundir)
    print(json.dumps(res), flush=True)
    with open(os.path.join(HERE, "results.jsonl"), "a") as f:
        f.write(json.dumps(res) + "\n")
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["step", "search"])
    ap.add_argument("target", choices=["freya", "sipp", "kamailio"])
    ap.add_argument("rate", nargs="?", type=int)
    ap.add_argument("--transport", default="un")
    ap.add_argument("--ladder", default="500,1000,2000,3000,4000,6000,8000,10000,12000,16000")
    ap.add_argument("--bisect", type=int, default=2)
    ap.add_argument("--runs", default="/tmp/callrate-runs")
    a = ap.parse_args()
    tag = lambda r: f"{a.runs}/{a.target}-{a.transport}-{r}-{int(time.time())}"
    if a.mode == "step":
        step(a.target, a.rate, a.transport, tag(a.rate))
        return
    good, bad = 0, None
    for r in [int(x) for x in a.ladder.split(",")]:
        if step(a.target, r, a.transport, tag(r))["passed"]:
            good = r
        else:
            bad = r
            break
    for _ in range(a.bisect if bad else 0):
        mid = int(round((good + bad) / 2 / 50.0) * 50)
        if mid in (good, bad):
            break
        if step(a.target, mid, a.transport, tag(mid))["passed"]:
            good = mid
        else:
            bad = mid
    print(json.dumps(dict(target=a.target, transport=a.transport, ceiling=good, first_fail=bad)), flush=True)


if __name__ == "__main__":
    main()
