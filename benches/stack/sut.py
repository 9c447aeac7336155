"""The two systems under test of the stack benchmark: freya-stack (with its echo agents
built in, or one echo-agent process) and Kamailio + rtpengine in front of a SIPp uas echo.
Each starts its processes under `timeout`, says how many calls are up, and what it logged."""
import glob, json, os, shlex, signal, socket, subprocess, threading, time, urllib.request, wave

from benchlib import (AGENT_PORT, API_PORT, BIN, FREYA_PORT, HERE, KAM_PORT, LAG_ALLOWED_MS, NG_PORT,
                      TOKEN, TOL, UAC_PORT, UAS_MEDIA, UAS_PORT, children, mem_kb, ng, stop, tone_hz,
                      udp_bound, wav_channels)


# ---------- the two systems under test ----------

class Freya:
    name = "freya"
    port = FREYA_PORT

    def __init__(self, rundir, slots, limit_s, agent="builtin"):
        self.rundir = rundir
        self.recdir = os.path.join(rundir, "rec")
        os.makedirs(self.recdir, exist_ok=True)
        cfg = open(os.path.join(HERE, "freya.toml")).read()
        cfg = cfg.replace("@SLOTS@", str(slots)).replace("@RECDIR@", self.recdir)
        self.agent = None
        self.agent_pids = []
        if agent == "external":
            # Every slot points at one echo-agent process (examples/echo-agent, the same
            # echo logic out of process), so freya-stack's own memory and CPU show apart.
            cfg = cfg.replace('url = "ws://127.0.0.1:{port}/telephony/ws"',
                              f'url = "ws://127.0.0.1:{AGENT_PORT}/telephony/ws"')
            cfg = cfg.replace("builtin_echo = true", "builtin_echo = false")
            self.agent = subprocess.Popen(
                ["timeout", "-s", "INT", "-k", "10", str(limit_s), os.path.join(BIN, "echo-agent"), "--listen",
                 f"127.0.0.1:{AGENT_PORT}", "--protocol", "twilio"],
                stdout=subprocess.DEVNULL, stderr=open(os.path.join(rundir, "echo-agent.log"), "w"))
            time.sleep(0.5)
            self.agent_pids = children(self.agent.pid)
        self.cfg = os.path.join(rundir, "freya.toml")
        open(self.cfg, "w").write(cfg)
        self.log = open(os.path.join(rundir, "freya.log"), "w")
        # FREYA_SUT_WRAP (e.g. "heaptrack -o /tmp/ht"): a command freya-stack runs under, for
        # a heap profile. timeout signals its whole process group, so the SIGINT that ends
        # the run reaches freya-stack through the wrapper. Memory figures then include the
        # wrapper's processes and its overhead: read the profile, not them.
        wrap = shlex.split(os.environ.get("FREYA_SUT_WRAP", ""))
        self.p = subprocess.Popen(["timeout", "-s", "INT", "-k", "10", str(limit_s)] + wrap +
                                  [os.path.join(BIN, "freya-stack"), "--config", self.cfg],
                                  stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.p.stdout.readline()
        for _ in range(20 if wrap else 0):  # the wrapper's own lines come first
            if "ready" in line:
                break
            line = self.p.stdout.readline()
        if "ready" not in line:
            stop([self.p] + ([self.agent] if self.agent else []), signal.SIGINT)
            raise RuntimeError(f"freya-stack did not start: {line!r}; see {self.log.name}")
        self.procs = [self.p] + ([self.agent] if self.agent else [])
        self.pids = children(self.p.pid)
        for p in (list(self.pids) if wrap else []):
            self.pids += children(p)
        self.answered = self.hungup = 0
        threading.Thread(target=self._events, daemon=True).start()
        time.sleep(0.3)

    def _events(self):
        """Counts `answered` and `hangup` events from the SSE stream (GET /events)."""
        try:
            c = socket.create_connection(("127.0.0.1", API_PORT), timeout=5)
            c.sendall(f"GET /events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n".encode())
            c.settimeout(None)
            for line in c.makefile("r", errors="replace"):
                if line.startswith("data:"):
                    if '"event":"answered"' in line:
                        self.answered += 1
                    elif '"event":"hangup"' in line:
                        self.hungup += 1
        except OSError:
            pass

    def established(self, any_state=False):
        """Calls up now: answered events less hangup events (GET /calls lists every call,
        but its `state` stays "ringing" after the answer, see the notes); with any_state,
        the length of GET /calls. -1 if the API does not answer."""
        if not any_state:
            return self.answered - self.hungup
        req = urllib.request.Request(f"http://127.0.0.1:{API_PORT}/calls",
                                     headers={"Authorization": "Bearer " + TOKEN})
        try:
            return len(json.load(urllib.request.urlopen(req, timeout=5)))
        except (OSError, ValueError):
            return -1

    def media_stats(self):
        return {}

    def slots_busy(self):
        req = urllib.request.Request(f"http://127.0.0.1:{API_PORT}/slots",
                                     headers={"Authorization": "Bearer " + TOKEN})
        try:
            return json.load(urllib.request.urlopen(req, timeout=5))
        except OSError:
            return None

    def stop(self):
        stop(self.procs, signal.SIGINT, 15)
        self.log.close()

    def findings(self):
        """Counts of the log's warnings/errors and the hangup events' (sip_code, hangup_by)."""
        warn = err = 0
        hang = {}
        first = []
        for line in open(os.path.join(self.rundir, "freya.log"), errors="replace"):
            if " WARN " in line:
                warn += 1
            if " ERROR " in line:
                err += 1
            if (" WARN " in line or " ERROR " in line) and len(first) < 5:
                first.append(line.strip()[:300])
            if '"event":"hangup"' in line:
                j = line[line.index("{"):]
                try:
                    e = json.loads(j)
                    k = f"{e.get('sip_code')}/{e.get('hangup_by')}"
                    hang[k] = hang.get(k, 0) + 1
                except ValueError:
                    pass
        return dict(log_warn=warn, log_error=err, hangups=hang, first_warnings=first)

    def hangup_events(self):
        """The hangup events of freya.log by call id (each carries the call's media counters)."""
        out = {}
        for line in open(os.path.join(self.rundir, "freya.log"), errors="replace"):
            if '"event":"hangup"' not in line or "json=" not in line:
                continue
            try:
                e, _ = json.JSONDecoder().raw_decode(line[line.index("json=") + 5:])
            except ValueError:
                continue
            out[e.get("call_id")] = e
        return out

    def recordings_check(self, tone_ms):
        """Every recorded call: both channels hold the 800 Hz tone; the caller channel >= 90 %
        of what SIPp played; and no echo audio lost. The agent (echo) channel may be short of
        the caller's only by the echo still on its way when the caller hung up, which the
        call's hangup event counts: audio queued for playout (`queued_ms`) and frames sent to
        the agent that it had not echoed yet (`caller_frames_sent - frames_from_agent`), with
        60 ms of slack, because the bridge's counters are a snapshot of its last 20 ms turn
        (the frames in flight credited up to LAG_ALLOWED_MS). That tail is the echo's lag; it is reported (`lag_ms`,
        `lag_ok` = within LAG_ALLOWED_MS) but is not loss: in a continuous echo (no pause
        to drain the playout queue) it is the largest delay the call met, gap-fill silence
        (`gap_frames`) and skipped late ticks (`late_ticks`) included."""
        files = sorted(glob.glob(os.path.join(self.recdir, "*.wav")))
        events = self.hangup_events()
        res = []
        for f in files:
            name = os.path.basename(f)
            try:
                left, right = wav_channels(f)[:2]
            except (wave.Error, EOFError, ValueError) as e:
                res.append(dict(file=name, ok=False, error=str(e)))
                continue
            (hl, nl), (hr, nr) = tone_hz(left), tone_hz(right)
            need_caller = int(tone_ms * 8 * 0.9)
            agent = (((events.get(name[:-4]) or {}).get("media") or {}).get("agent")) or {}
            queued_ms = agent.get("queued_ms")
            if queued_ms is None:
                res.append(dict(file=name, ok=False, error="no hangup event with media counters"))
                continue
            in_flight = agent["caller_frames_sent"] - agent["frames_from_agent"]
            # At most LAG_ALLOWED_MS of it credited: more frames than that unanswered would
            # be audio the agent side lost, not echo on its way.
            credited = min(max(in_flight, 0), LAG_ALLOWED_MS // 20)
            # The counters are the bridge's last published turn: under load it can trail the
            # caller audio the call recorded by a few frames (sent - gap-fill frames < frames
            # recorded). That lag is credited too, up to 200 ms.
            behind = nl // 160 - (agent["caller_frames_sent"] - agent["caller_gap_frames"])
            credited += min(max(behind, 0), 10)
            tail = (queued_ms + 20 * credited) * 8  # samples at 8 kHz
            unaccounted = max(0, nl - nr - tail)
            res.append(dict(file=name, caller_hz=round(hl, 1), caller_voiced=nl,
                            agent_hz=round(hr, 1), agent_voiced=nr, need_caller=need_caller,
                            lag_ms=round((nl - nr) / 8), queued_ms=queued_ms,
                            in_flight_frames=in_flight, counters_behind_frames=behind,
                            gap_frames=agent["caller_gap_frames"],
                            late_ticks=agent["late_ticks_skipped"],
                            unaccounted_ms=round(unaccounted / 8, 1),
                            lag_ok=nr >= nl - LAG_ALLOWED_MS * 8,
                            ok=abs(hl - 800) < 5 and abs(hr - 800) < 5 and nl >= need_caller
                            and unaccounted <= 480))
        return res


class Kamailio:
    name = "kamailio"
    port = KAM_PORT

    def __init__(self, rundir, slots, limit_s):
        self.rundir = rundir
        self.procs = []
        try:
            self._start(rundir, str(limit_s))
        except Exception:
            stop(self.procs)
            raise

    def _start(self, rundir, lim):
        self.rtpe = subprocess.Popen(
            # --config-file=none: Debian's /etc/rtpengine/rtpengine.conf would add listeners
            # (http 2225, cli 2224) another rtpengine on the box may hold, and a kernel table.
            ["timeout", "-s", "TERM", "-k", "10", lim, "rtpengine", "--config-file=none", "--table=-1",
             "--interface=127.0.0.1",
             f"--listen-ng=127.0.0.1:{NG_PORT}", "--port-min=5100", "--port-max=9999", "--foreground",
             "--log-stderr", "--log-level=4", "--delete-delay=0", "--no-redis-required"],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(rundir, "rtpengine.log"), "w"))
        self.procs.append(self.rtpe)
        for _ in range(50):
            if ng("ping") is not None:
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("rtpengine does not answer ng ping; see rtpengine.log")
        self.kam = subprocess.Popen(
            ["timeout", "-s", "TERM", "-k", "10", lim, "kamailio", "-f", os.path.join(HERE, "kamailio.cfg"),
             "-DD", "-E", "-m", "512", "-M", "16", "-w", rundir],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(rundir, "kamailio.log"), "w"))
        self.procs.append(self.kam)
        self.uas = subprocess.Popen(
            ["timeout", "-s", "TERM", "-k", "10", lim, "sipp", "-sf", os.path.join(HERE, "uas_echo.xml"),
             "-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", str(UAS_PORT), "-mp", str(UAS_MEDIA), "-rtp_echo",
             "-t", "u1", "-nostdin", "-max_socket", "10000", *TOL, "-trace_err", "-error_file",
             os.path.join(rundir, "uas_err.log"), "-trace_stat", "-stf", os.path.join(rundir, "uas_stat.csv"),
             "-fd", "1"],
            cwd=rundir, stdout=subprocess.DEVNULL, stderr=open(os.path.join(rundir, "uas.log"), "w"))
        self.procs.append(self.uas)
        time.sleep(1.5)
        if self.kam.poll() is not None or self.uas.poll() is not None:
            raise RuntimeError("kamailio or the SIPp uas exited at once; see their logs in " + rundir)
        self.procs = [self.uas, self.kam, self.rtpe]
        main = children(self.kam.pid)
        self.pids = main + [c for m in main for c in children(m)] + children(self.rtpe.pid)
        self.uas_pids = children(self.uas.pid)

    def established(self, any_state=False):
        """Calls rtpengine holds (an offer made them; with --delete-delay=0 a BYE ends them)."""
        r = ng("list", limit=100000)
        if not r or b"calls" not in r:
            return -1
        return len(r[b"calls"])

    def media_stats(self):
        """rtpengine's own counters: packets relayed, errors, streams with media one way only."""
        r = ng("statistics")
        if not r or b"statistics" not in r:
            return {}
        cur, tot = r[b"statistics"][b"currentstatistics"], r[b"statistics"][b"totalstatistics"]
        return dict(packetrate=cur.get(b"packetrate"), relayed=tot.get(b"relayedpackets"),
                    relay_errors=tot.get(b"relayedpacketerrors"), oneway=tot.get(b"onewaystreams"),
                    zeroway=tot.get(b"zerowaystreams"), managed=tot.get(b"managedsessions"))

    def stop(self):
        stop(self.procs)

    def findings(self):
        def count(f, words):
            try:
                t = open(os.path.join(self.rundir, f), errors="replace").read()
            except OSError:
                return 0
            return sum(t.count(w) for w in words)
        return dict(kamailio_errors=count("kamailio.log", ["ERROR:"]),
                    rtpengine_errors=count("rtpengine.log", ["ERR", "CRIT"]),
                    uas_errors=count("uas_err.log", ["\n"]))

    def recordings_check(self, tone_ms):
        return []

def check_free():
    busy = [p for p in (UAC_PORT, FREYA_PORT, KAM_PORT, UAS_PORT, NG_PORT) if udp_bound(p)]
    if busy:
        raise RuntimeError(f"UDP ports {busy} on 127.0.0.1 are taken (a leftover run?); not starting")

def start(kind, rundir, slots, limit_s, agent="builtin"):
    check_free()
    if kind == "freya":
        return Freya(rundir, slots, limit_s, agent)
    return Kamailio(rundir, slots, limit_s)


def side_metrics(t, res, prefix):
    """Memory of the parts beside the system under test: the external echo agent (freya
    with --agent external) or the SIPp uas echo (Kamailio), for the record."""
    pids = getattr(t, "agent_pids", []) or getattr(t, "uas_pids", [])
    if pids:
        res[prefix + "_echo_rss_kb"] = mem_kb(pids)[0]
