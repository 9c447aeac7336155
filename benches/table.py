#!/usr/bin/env python3
"""Prints BENCHMARKS.md's tables from the last `cargo bench -p freya-benches` run.

Reads criterion's estimates (target/criterion/<message>/<bench>/new/estimates.json) and uses the
median time per message; ratios are freya's messages/s over the peer's, from the same run.
Usage: python3 benches/table.py [TARGET_DIR]
"""
import json
import os
import sys

target = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "target")
root = os.path.join(target, "criterion")
MESSAGES = [("invite", "INVITE + SDP (1341 B)"), ("180_ringing", "180 Ringing (478 B)"),
            ("200_ok_sdp", "200 OK + SDP (813 B)"), ("bye", "BYE + Reason (496 B)")]


def median_ns(msg, bench):
    path = os.path.join(root, msg, bench.replace("/", "_"), "new", "estimates.json")
    try:
        with open(path) as f:
            return json.load(f)["median"]["point_estimate"]
    except FileNotFoundError:
        return None


def cell(ns):
    return "n/a" if ns is None else f"{ns:,.0f} ns = {1e9 / ns / 1e3:,.0f} k/s"


def ratio(a, b):
    return "n/a" if a is None or b is None else f"**{b / a:.2f}×**"


def table(title, cols, ratios):
    print(f"\n### {title}\n")
    head = ["message"] + [c for c, _ in cols] + [r for r, _, _ in ratios]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for msg, label in MESSAGES:
        t = {bench: median_ns(msg, bench) for _, bench in cols}
        row = [label] + [cell(t[bench]) for _, bench in cols]
        row += [ratio(t[a], t[b]) for _, a, b in ratios]
        print("| " + " | ".join(row) + " |")


table("Parse (median ns/msg = msgs/s)",
      [("freya `parse`", "freya/parse"), ("freya `index`", "freya/index"), ("rsip `try_from`", "rsip/parse"),
       ("parsip (head only)", "parsip/parse"), ("freya, copy into `Bytes` first", "freya/parse_copy"),
       ("freya + typed access", "freya/parse+typed")],
      [("freya ÷ rsip", "freya/parse", "rsip/parse"), ("freya ÷ parsip", "freya/parse", "parsip/parse"),
       ("freya index ÷ rsip", "freya/index", "rsip/parse"), ("freya index ÷ parsip", "freya/index", "parsip/parse")])
table("Parse, then serialize (median ns/msg = msgs/s)",
      [("freya + `to_bytes`", "freya/parse+to_bytes"), ("freya + copy to `Vec`", "freya/parse+to_vec"),
       ("freya `index` + `to_bytes`", "freya/index+to_bytes"),
       ("rsip + `Vec::from`", "rsip/parse+serialize")],
      [("freya(to_bytes) ÷ rsip", "freya/parse+to_bytes", "rsip/parse+serialize"),
       ("freya(Vec) ÷ rsip", "freya/parse+to_vec", "rsip/parse+serialize"),
       ("freya index(to_bytes) ÷ rsip", "freya/index+to_bytes", "rsip/parse+serialize")])
