#!/usr/bin/env python3
"""The privacy zone's measured strength at its defaults: the tables of README.md.

Runs `datamin-eval --json` at the default zone settings for 200 subjects x 10 activities and
100 subjects x 30 activities, over three seeds, and prints (Markdown)

1. the full table of seed 1 at 200 x 10: every attack against the platform-style zone and
   datamin's zone, success within 22.95 m, 100 m and 200 m, median error, points kept and
   session distance change;
2. per size, per attack class, the share of subjects located within 100 m for each seed, the
   worst attack, the points kept and the session distance change;

and exits with status 1 when any attack locates more than `--target` (5%) of the subjects
within 100 m, or fewer than `--min-kept` (70%) of the points are kept.

Usage (from the checkout, `../shared/data` beside it):

    cargo build --workspace            # or --release: the numbers are the same
    python3 benches/zone_eval.py [--eval target/debug/datamin-eval] [--seeds 1,2,3]

About 5 minutes on two cores (the evaluation crate is optimized in the dev profile too).
"""

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZES = [(200, 10), (100, 30)]
CLASSES = ["maximum likelihood", "learned", "displacement-aware", "heading extrapolation",
           "mechanism-aware"]
PUBLISHED = ["endpoint circle fit", "distance leakage", "naive centroid", "offset-aware centroid"]


def run(exe, subjects, activities, seed):
    out = subprocess.run([exe, "--json", "--subjects", str(subjects), "--activities",
                          str(activities), "--seed", str(seed)],
                         cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def pct(v):
    return f"{100 * v:.1f}%"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--eval", default=os.path.join(ROOT, "target/debug/datamin-eval"))
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--target", type=float, default=0.05)
    ap.add_argument("--min-kept", type=float, default=0.70)
    a = ap.parse_args()
    if not os.path.exists(a.eval):
        sys.exit(f"{a.eval} not found: cargo build --workspace")
    seeds = [int(s) for s in a.seeds.split(",")]
    t0 = time.time()
    results = {}
    for size in SIZES:
        for seed in seeds:
            results[size, seed] = run(a.eval, size[0], size[1], seed)
            print(f"[{time.time() - t0:5.0f} s] {size[0]} x {size[1]}, seed {seed}",
                  file=sys.stderr)

    first = results[SIZES[0], seeds[0]]
    print(f"{SIZES[0][0]} subjects × {SIZES[0][1]} activities, seed {seeds[0]}:\n")
    print("| defence | attack | success ≤ 22.95 m | success ≤ 100 m | success ≤ 200 m | "
          "median error (m) | points kept | session distance change (m) |")
    print("|---|---|---|---|---|---|---|---|")
    for d in first:
        if d["defence"] == "raw data":
            continue
        for x in d["attacks"]:
            med = x["median_error_m"]
            print(f"| {d['defence']} | {x['attack']} | {pct(x['within_22_95m'])} | "
                  f"{pct(x['within_100m'])} | {pct(x['within_200m'])} | "
                  f"{'–' if med is None else f'{med:.0f}'} | {pct(d['points_kept'])} | "
                  f"{d['total_distance_error_m']:.1f} |")

    print(f"\nAt the defaults over seeds {a.seeds} (within 100 m of a protected place):\n")
    print("| subjects × activities | " + " | ".join(CLASSES) + " | best side channel | "
          "published attacks (circle fit, distance, centroids) | worst of all | points kept | "
          "session distance change |")
    print("|" + "---|" * (len(CLASSES) + 6))
    failures = []
    for size in SIZES:
        cols = {c: [] for c in CLASSES + ["side", "published", "worst"]}
        kept, dist = [], []
        for seed in seeds:
            d = next(x for x in results[size, seed] if x["defence"].startswith("datamin"))
            by = {x["attack"].split(":")[0]: x["within_100m"] for x in d["attacks"]}
            for c in CLASSES:
                cols[c].append(by[c])
            cols["side"].append(by["side channel"])
            cols["published"].append(max(by[p] for p in PUBLISHED))
            worst = max(d["attacks"], key=lambda x: x["within_100m"])
            cols["worst"].append(worst["within_100m"])
            kept.append(d["points_kept"])
            dist.append(d["total_distance_error_m"])
            if worst["within_100m"] > a.target:
                failures.append(f"{size[0]} x {size[1]} seed {seed}: {worst['attack']} "
                                f"{pct(worst['within_100m'])}")
            if d["points_kept"] < a.min_kept:
                failures.append(f"{size[0]} x {size[1]} seed {seed}: {pct(d['points_kept'])} kept")
        f = lambda v: " / ".join(f"{100 * x:.1f}" for x in v) + "%"
        print(f"| {size[0]} × {size[1]}, seeds {'/'.join(map(str, seeds))} | "
              + " | ".join(f(cols[c]) for c in CLASSES)
              + f" | {f(cols['side'])} | {f(cols['published'])} | **{f(cols['worst'])}** | "
              f"{f(kept)} | " + " / ".join(f"{x:.0f}" for x in dist) + " m |")
    if failures:
        print("\nbelow target:\n  " + "\n  ".join(failures), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
