"""Shared parts of the stack benchmark (stackbench.py): the fixed loopback ports, the tone
SIPp plays and the check of what came back, process CPU and memory from /proc, and rtpengine's
ng protocol. No state; nothing here starts a process."""
import array, math, os, random, signal, socket, struct, subprocess, wave


HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BIN = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release")
CLK = os.sysconf("SC_CLK_TCK")
TOL = ["-default_behaviors", "all,-abortunexp"]
UAC_PORT, FREYA_PORT, KAM_PORT, UAS_PORT, NG_PORT, API_PORT = 15061, 15060, 15070, 15080, 15223, 15088
UAC_MEDIA, UAS_MEDIA = 17000, 16000  # the uac's -mp is the first free one from 17000 (step 4)
AGENT_PORT = 2999  # the external echo-agent (--agent external)
TOKEN = "bench"
SAMPLE_EVERY = 50  # every 50th SIPp call is recorded by freya (user "rec")
LAG_ALLOWED_MS = 500  # how much of the echo the caller's BYE may cut off in a recording


# ---------- audio: the tone pcap SIPp plays, and the check of what came back ----------

def alaw(s):
    """G.711 A-law of a 16-bit sample (ITU-T G.711, as freya's codec::alaw_encode)."""
    mask = 0xD5 if s >= 0 else 0x55
    s = s if s >= 0 else -s - 1
    s = min(s, 32767) >> 3
    if s >= 32:
        seg = 1
        while s >= (32 << seg) and seg < 7:
            seg += 1
        v = (seg << 4) | ((s >> seg) & 0x0F)
    else:
        v = s >> 1
    return v ^ mask


def tone_pcap(path, hz, ms):
    """A classic pcap (Ethernet/IPv4/UDP) of a PCMA RTP stream, 20 ms packets, `hz` for `ms`
    (as examples/tests/stack_load.rs: SIPp keeps the RTP and timing, not the addresses)."""
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    table = [alaw(int(8000 * math.sin(2 * math.pi * hz * i / 8000.0))) for i in range(8000)]
    for n in range(ms // 20):
        rtp = bytes([0x80, (0x80 | 8) if n == 0 else 8]) + struct.pack(">HII", n & 0xFFFF, n * 160, 0x5EED0001)
        rtp += bytes(table[(n * 160 + i) % 8000] for i in range(160))
        udp = struct.pack(">HHHH", 6000, 6002, 8 + len(rtp), 0) + rtp
        ip = bytearray(struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), n & 0xFFFF, 0x4000, 64, 17, 0,
                                   bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1])))
        s = sum(struct.unpack(">10H", ip))
        s = (s & 0xFFFF) + (s >> 16)
        ip[10:12] = struct.pack(">H", ~s & 0xFFFF)
        frame = bytes([0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1, 8, 0]) + bytes(ip) + udp
        us = n * 20000
        out += struct.pack("<IIII", us // 1000000, us % 1000000, len(frame), len(frame)) + frame
    with open(path, "wb") as f:
        f.write(out)


def tone_alaw(path, hz):
    """One second of a `hz` tone as raw A-law bytes (SIPp's rtp_stream file: it loops the
    file, and a whole number of periods per second loops without a click)."""
    with open(path, "wb") as f:
        f.write(bytes(alaw(int(8000 * math.sin(2 * math.pi * hz * i / 8000.0))) for i in range(8000)))


def media_file(a, rundir, ms):
    """The file the uac plays for a call of `ms` ms: the pcap, or the rtp_stream loop."""
    if a.media == "rtpstream":
        path = os.path.join(rundir, "tone800.al")
        tone_alaw(path, 800)
    else:
        path = os.path.join(rundir, "tone800.pcap")
        tone_pcap(path, 800, ms)
    return path


def tone_hz(s, rate=8000):
    """(Hz, voiced samples) of a tone, by zero crossings over the 20 ms frames whose every
    5 ms quarter carries sound (examples/tests/common/mod.rs `tone_hz`)."""
    crossings = voiced = 0
    last = None
    for i in range(0, len(s) - 159, 160):
        fr = s[i:i + 160]
        if any(math.sqrt(sum(x * x for x in fr[q:q + 40]) / 40.0) < 1000.0 for q in (0, 40, 80, 120)):
            last = None
            continue
        if last is not None:
            crossings += (last < 0) != (fr[0] < 0)
            voiced += 1
        crossings += sum((fr[j] < 0) != (fr[j + 1] < 0) for j in range(159))
        voiced += 159
        last = fr[-1]
    return (crossings / 2.0 / (voiced / rate), voiced) if voiced else (0.0, 0)


def wav_channels(path):
    w = wave.open(path, "rb")
    ch, n = w.getnchannels(), w.getnframes()
    a = array.array("h", w.readframes(n))
    return [a[c::ch] for c in range(ch)]

# ---------- processes ----------

def cpu_ticks(pids):
    t = 0
    for p in pids:
        try:
            f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
            t += int(f[11]) + int(f[12])
        except (OSError, IndexError):
            pass
    return t


def mem_kb(pids):
    """(VmRSS, Pss) in KiB summed over pids (PSS splits shared pages, e.g. Kamailio's shm)."""
    rss = pss = 0
    for p in pids:
        try:
            for line in open(f"/proc/{p}/status"):
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1])
            for line in open(f"/proc/{p}/smaps_rollup"):
                if line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except OSError:
            pass
    return rss, pss


def children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def udp_bound(port):
    want = f"0100007F:{port:04X}"
    for f in ("/proc/net/udp",):
        for l in open(f).read().splitlines()[1:]:
            if l.split()[1] == want:
                return True
    return False


def lo_packets():
    """Packets sent on the loopback interface so far (every process's, ours dominate)."""
    try:
        return int(open("/sys/class/net/lo/statistics/tx_packets").read())
    except OSError:
        return 0


def load():
    return open("/proc/loadavg").read().split()[:3]


def stop(procs, sig=signal.SIGTERM, wait=10):
    for p in procs:
        if p.poll() is None:
            try:
                p.send_signal(sig)
            except ProcessLookupError:
                pass
    for p in procs:
        try:
            p.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

# ---------- rtpengine's ng protocol (bencode over UDP), for "how many calls are up" ----------

def benc(v):
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, str):
        v = v.encode()
    if isinstance(v, bytes):
        return b"%d:%s" % (len(v), v)
    if isinstance(v, list):
        return b"l" + b"".join(benc(x) for x in v) + b"e"
    return b"d" + b"".join(benc(k) + benc(v[k]) for k in sorted(v)) + b"e"


def bdec(b, i=0):
    c = b[i:i + 1]
    if c == b"i":
        j = b.index(b"e", i)
        return int(b[i + 1:j]), j + 1
    if c in (b"l", b"d"):
        i += 1
        xs = []
        while b[i:i + 1] != b"e":
            x, i = bdec(b, i)
            xs.append(x)
        return (xs if c == b"l" else dict(zip(xs[::2], xs[1::2]))), i + 1
    j = b.index(b":", i)
    n = int(b[i:j])
    return b[j + 1:j + 1 + n], j + 1 + n


def ng(cmd, **kw):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2.0)
    cookie = "%d_%d" % (os.getpid(), random.randrange(1 << 30))
    kw["command"] = cmd
    s.sendto(cookie.encode() + b" " + benc(kw), ("127.0.0.1", NG_PORT))
    try:
        data = s.recv(1 << 20)
    except socket.timeout:
        return None
    finally:
        s.close()
    return bdec(data.split(b" ", 1)[1])[0]
