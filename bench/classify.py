#!/usr/bin/env python3
"""Attributes `perf script` samples (taken with --call-graph dwarf) to the parts of the
request path, innermost match first. Usage: perf script -i perf.data | python3 bench/classify.py"""
import collections
import sys

# (bucket, substrings): scanning a sample's frames from the leaf outwards, the first frame
# that matches any rule gives the sample to that rule's bucket.
RULES = [
    ("sqlite: statement re-prepare (sqlite3Reprepare)", ["sqlite3Reprepare"]),
    ("sqlite: prepare (execute_batch BEGIN/COMMIT)", ["execute_batch"]),
    ("sqlite: query execution", ["sqlite3_step", "sqlite3VdbeExec"]),
    ("core: views() members/tags/eips", ["havip_core::service::views"]),
    ("store: havip_query other", ["havip_query"]),
    ("render: JSON build + serialize", ["serde_json", "havip_json", "render::success", "render::respond"]),
    ("auth: signature verify", ["auth::verify", "acs3_", "rpc_v2_", "sha2::", "hmac::"]),
    ("params/form decoding", ["form::parse", "Params::", "auth::gather"]),
    ("insert/commit path (writer thread)", ["writer_loop"]),
    ("tokio runtime / blocking pool", ["tokio::runtime"]),
    ("hyper: read/parse/write", ["hyper::proto", "read_request", "write_response"]),
    ("kernel: TCP send/recv", ["tcp_", "sock_", "__GI___writev", "recv", "send"]),
]


KERNEL_SWITCH = ["futex", "__schedule", "finish_task_switch", "try_to_wake_up"]


def main():
    text = sys.stdin.read()
    buckets = collections.Counter()
    total = 0
    for block in text.split("\n\n"):
        lines = [l.strip() for l in block.split("\n") if l.strip()]
        if len(lines) < 2:
            continue
        frames = []
        for l in lines[1:]:
            parts = l.split(None, 1)
            if len(parts) == 2:
                frames.append(parts[1])
        total += 1
        chosen = "other"
        # Thread hand-offs first: on-CPU kernel time waking or switching threads.
        if any(any(k in f for k in KERNEL_SWITCH) for f in frames[:12]):
            buckets["kernel: futex wake/wait + context switches"] += 1
            continue
        # Otherwise the innermost application frame (allocations count for their caller).
        for f in frames:
            hit = next((name for name, keys in RULES if any(k in f for k in keys)), None)
            if hit:
                chosen = hit
                break
        buckets[chosen] += 1
    for name, n in buckets.most_common():
        print(f"{100.0 * n / max(total, 1):5.1f}%  {name}")
    print(f"({total} samples)")


if __name__ == "__main__":
    main()
