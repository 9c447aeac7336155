#!/bin/sh
# Call-rate ceilings in one run: freya's UAS, the SIPp harness (uac -> uas) and Kamailio 5.6
# (stateful proxy, benches/sip/kamailio.cfg), all under SIPp's built-in uac on loopback.
# Needs: sipp, kamailio (Debian: apt-get install sip-tester kamailio). See callrate.py for
# the pass criterion. Usage: benches/sip/callrate.sh [un|u1]
set -e
T=${1:-un}
cd "$(dirname "$0")/../.."
: "${CARGO_TARGET_DIR:=target}"; export CARGO_TARGET_DIR
cargo build --release -p freya-benches --example uas
uptime
python3 benches/sip/callrate.py search freya --transport "$T" --ladder 1000,2000,3000,4000,6000,8000,12000 --bisect 2
python3 benches/sip/callrate.py search kamailio --transport "$T" --ladder 2000,3000,3500,4000 --bisect 1
python3 benches/sip/callrate.py search sipp --transport "$T" --ladder 4000,8000,12000,16000 --bisect 1
uptime
