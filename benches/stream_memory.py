#!/usr/bin/env python3
"""`datamin run --trigger available-now` over large inputs: throughput and peak memory.

Builds inputs of the given sizes by replicating the FIT files of ../shared/data/fit that
decode (hard links: no disk space, same bytes), then for each size runs the release binary
with examples/research.toml and the default per-trigger limit, and reports files/s, MB/s
and the process's peak RSS (getrusage of the child). In the same run it measures the bare
single-core decode rate of the same files (`datamin sql` counting FIT records with one
partition), the reference the run is compared with.

    cargo build --release --bin datamin
    python3 benches/stream_memory.py --sizes-gb 1,2

Output: one line per measurement and a Markdown table for README.md.
"""
import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "fit"


def timed(cmd, env):
    """Runs `cmd`; returns (seconds, peak RSS in bytes, stdout)."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = p.stdout.read()
    err = p.stderr.read()
    _, status, usage = os.wait4(p.pid, 0)
    dt = time.perf_counter() - t
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        sys.exit(f"{cmd} exited {code}:\n{err.decode()}")
    return dt, usage.ru_maxrss * 1024, out


def build_input(files, target_bytes, into):
    """Hard links of `files`, repeated until `target_bytes`; returns (n files, bytes)."""
    if into.exists():
        shutil.rmtree(into)
    into.mkdir(parents=True)
    n = total = rep = 0
    while total < target_bytes:
        d = into / f"copy-{rep:05d}"
        d.mkdir()
        for f in files:
            os.link(f, d / f.name)
            n += 1
            total += f.stat().st_size
        rep += 1
    return n, total


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=str(ROOT / "target" / "release" / "datamin"))
    ap.add_argument("--sizes-gb", default="1,2", help="input sizes in GB (10^9 bytes), comma-separated")
    ap.add_argument("--decode-mb", type=float, default=200, help="input size for the bare decode rate, MB")
    ap.add_argument("--work", default="/tmp/datamin-stream-bench")
    a = ap.parse_args()
    work = pathlib.Path(a.work)
    env = dict(os.environ, DATAMIN_KEY="bench-key-0123456789abcdef")

    # the FIT files that decode (the corrupt ones would only be quarantined)
    files = [f for f in sorted(SHARED.glob("*.fit"))
             if subprocess.run([a.bin, "inspect", str(f)], capture_output=True).returncode == 0]
    print(f"{len(files)} FIT files that decode, {sum(f.stat().st_size for f in files) / 1e6:.2f} MB")

    # bare decode, one core
    n, size = build_input(files, a.decode_mb * 1e6, work / "decode")
    sql = ("SET datafusion.execution.target_partitions = 1; "
           f"CREATE EXTERNAL TABLE r STORED AS FIT LOCATION '{work / 'decode'}/'; "
           "SELECT count(*) FROM r;")
    dt, rss, _ = timed([a.bin, "sql", "--format", "csv", sql], env)
    decode_mbs = size / 1e6 / dt
    print(f"bare decode (1 core): {n} files, {size / 1e6:.0f} MB in {dt:.1f} s = {decode_mbs:.2f} MB/s, peak RSS {rss / 2**20:.0f} MiB")
    shutil.rmtree(work / "decode")

    rows = []
    for gb in [float(x) for x in a.sizes_gb.split(",")]:
        inp, out = work / "in", work / "out"
        n, size = build_input(files, gb * 1e9, inp)
        if out.exists():
            shutil.rmtree(out)
        dt, rss, stdout = timed([a.bin, "run", "--policy", str(ROOT / "examples" / "research.toml"),
                                 "--input", str(inp), "--output", str(out), "--json", "--quiet"], env)
        s = json.loads(stdout)
        mbs = size / 1e6 / dt
        rows.append((gb, n, size, len(s["batches"]), dt, n / dt, mbs, rss, decode_mbs / mbs))
        print(f"run {gb:g} GB: {n} files, {size / 1e6:.0f} MB, {len(s['batches'])} batches in {dt:.1f} s = "
              f"{n / dt:.0f} files/s, {mbs:.2f} MB/s, peak RSS {rss / 2**20:.0f} MiB, "
              f"bare decode / run = {decode_mbs / mbs:.2f}x")
        shutil.rmtree(inp)
        shutil.rmtree(out)

    print()
    print("| input | files | batches | time | files/s | MB/s | peak RSS | time vs bare 1-core decode |")
    print("|---|---|---|---|---|---|---|---|")
    for gb, n, size, b, dt, fps, mbs, rss, ratio in rows:
        print(f"| {size / 1e9:.2f} GB | {n} | {b} | {dt:.1f} s | {fps:.0f} | {mbs:.1f} | {rss / 2**20:.0f} MiB | {ratio:.2f}x |")
    print(f"\nbare decode, 1 core, same files: {decode_mbs:.2f} MB/s")


if __name__ == "__main__":
    main()
