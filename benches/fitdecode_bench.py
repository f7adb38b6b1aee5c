#!/usr/bin/env python3
"""Python fitdecode throughput (MB/s) on the FIT files datamin benches use (those that decode).

Usage: python3 benches/fitdecode_bench.py [DIR]   (default ../shared/data/fit)
Prints one line: files, MB, seconds (best of 3), MB/s.
"""
import pathlib
import sys
import time
import warnings

import fitdecode

root = pathlib.Path(__file__).resolve().parents[1]
d = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else root.parent / "shared" / "data" / "fit"


def decode(p):
    n = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with fitdecode.FitReader(str(p), check_crc=fitdecode.CrcCheck.WARN,
                                 error_handling=fitdecode.ErrorHandling.WARN) as fr:
            for frame in fr:
                if isinstance(frame, fitdecode.FitDataMessage):
                    n += 1
    return n


files = []
for p in sorted(d.glob("*.fit")):
    try:
        decode(p)
        files.append(p)
    except Exception:
        pass
size = sum(p.stat().st_size for p in files)
best = float("inf")
for _ in range(3):
    t = time.perf_counter()
    msgs = sum(decode(p) for p in files)
    best = min(best, time.perf_counter() - t)
print(f"fitdecode: {len(files)} files, {size / 1e6:.2f} MB, {msgs} messages, {best:.2f} s, {size / 1e6 / best:.2f} MB/s")
