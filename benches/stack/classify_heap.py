#!/usr/bin/env python3
"""Where freya-stack's heap goes per call, from a heaptrack profile of a stackbench run.

    FREYA_SUT_WRAP="heaptrack -o /tmp/ht" python3 benches/stack/stackbench.py conc freya 150 \
        --media rtpstream --gate signaling
    heaptrack_print -f /tmp/ht.zst --flamegraph-cost-type peak -F /tmp/ht.stacks
    python3 benches/stack/classify_heap.py /tmp/ht.stacks 153    # 153 = calls up at the peak

Prints KiB per call for each part (first matching rule of RULES wins), then the largest
unclassified call paths. heaptrack slows freya-stack several times: keep N low enough that
the run is not starved (at 250 the bridge's queues fill and dominate the profile).
"""
import re,collections,sys
rows=[]
for line in open(sys.argv[1]):
    st,c=line.rstrip().rsplit(' ',1)
    rows.append((int(c),st.split(';')))
N=float(sys.argv[2])
def short(f):
    for _ in range(4): f=re.sub(r'<[^<>]*>','',f)
    f=re.sub(r'::h[0-9a-f]{16}','',f)
    f=f.replace('_$u7b$$u7b$closure$u7d$$u7d$','{cl}').replace('$LT$','<').replace('$GT$','>').replace('$u20$',' ').replace('_<impl freya_media..bridge..session..BridgeSession>','BridgeSession')
    return f.split(' (')[0][:60]
RULES=[
 ('task: call::inbound future', lambda s: 'Cell$LT$T$C$S$GT$::new' in s and 'stack::accept' in s),
 ('task: bridge leg Shell::run', lambda s: 'Cell$LT$T$C$S$GT$::new' in s and 'spawn_leg' in s),
 ('task: relay Driver::run', lambda s: 'Cell$LT$T$C$S$GT$::new' in s and 'shell::start' in s),
 ('task: echo connection', lambda s: 'Cell$LT$T$C$S$GT$::new' in s and 'serve_echo' in s),
 ('idle: builtin echo listeners', lambda s: 'start_builtin' in s or 'TcpListener' in s),
 ('relay recv buffer (BytesMut 20 KiB)', lambda s: 'recv_batch' in s and 'reserve' in s),
 ('bridge playout queue', lambda s: 'Playout' in s),
 ('WS read buf, client leg', lambda s: ('read_frame' in s or 'FrameCodec' in s) and 'echo' not in s),
 ('WS read buf, echo side', lambda s: ('read_frame' in s or 'FrameCodec' in s) and 'echo' in s),
 ('WS read buf, other', lambda s: 'read_frame' in s or 'ReadBuffer' in s),
 ('WS write buf, client leg', lambda s: 'buffer_frame' in s and 'echo' not in s),
 ('WS write buf, echo side', lambda s: 'buffer_frame' in s and 'echo' in s),
 ('WS write buf, other', lambda s: 'buffer_frame' in s or 'write_buffer' in s),
 ('ua DialogEvent channel', lambda s: 'incoming_call' in s and 'unbounded_channel' in s),
 ('relay endpoint/shell channels', lambda s: 'spawn_endpoint' in s and 'channel' in s),
 ('relay->pump queue blocks (grow)', lambda s: 'Driver::transmit' in s and 'Block' in s),
 ('relay core (streams, latch)', lambda s: 'relay::core' in s or 'relay::latch' in s),
 ('sip transaction layer', lambda s: 'transaction::' in s),
 ('sip dialog layer', lambda s: 'dialog::' in s),
 ('sip transport', lambda s: 'transport::' in s),
 ('bridge link (audio/out queues)', lambda s: 'bridge::link' in s),
 ('bridge session', lambda s: 'bridge::session' in s or 'bridge::twilio' in s),
 ('echo agent', lambda s: 'echo' in s),
 ('stack call/pump', lambda s: 'stack::call' in s or 'stack::media' in s),
 ('tracing', lambda s: 'tracing' in s),
 ('idle: event broadcast', lambda s: 'broadcast' in s),
]
agg=collections.Counter(); other=collections.Counter()
for c,fr in rows:
    s=';'.join(fr)
    for name,f in RULES:
        if f(s):
            agg[name]+=c; break
    else:
        k=[short(x) for x in fr if 'freya' in x or 'tungstenite' in x]
        other[' > '.join(k[-3:])]+=c
tot=sum(agg.values())+sum(other.values())
print(f"total peak heap {tot/1e6:.2f} MB")
for k,v in agg.most_common(): print(f"{v/N/1024:8.2f} KiB/call {v/1e6:7.3f} MB  {k}")
print('--- unclassified')
for k,v in other.most_common(15): print(f"{v/N/1024:8.2f} KiB/call  {k}")
