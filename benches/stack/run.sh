#!/bin/sh
# The stack benchmark in one run (issue #5 point 11): freya-stack + built-in echo agents next
# to Kamailio 5.6 + rtpengine (userspace) + SIPp uas echo, under the same SIPp uac load with
# RTP, on loopback. See stackbench.py for what each step measures and its pass criterion.
# Needs (Debian 12): apt-get install sip-tester kamailio rtpengine-daemon
#   (kamailio's rtpengine.so module ships in the kamailio package itself).
# Usage: benches/stack/run.sh [extra stackbench.py options, e.g. --conc 100,250,500 --rates 25,50]
# Ladders are gated on signaling (a step whose calls all succeed counts as reached; its audio
# check is reported beside it); add --gate all to stop at the first audio failure too.
set -e
cd "$(dirname "$0")/../.."
: "${CARGO_TARGET_DIR:=target}"; export CARGO_TARGET_DIR
cargo build --release -p freya-examples --bin freya-stack --bin sip-ua --bin echo-agent
uptime
python3 benches/stack/stackbench.py all --gate signaling "$@"
uptime
python3 benches/stack/stackbench.py table
