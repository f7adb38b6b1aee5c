#!/usr/bin/env python3
"""The privacy/utility frontier of datamin's privacy zone.

Runs `datamin-eval --json` over a grid of zone settings (`cell_m` x `trim_m`, `radius_m`
fixed) and several seeds, and writes

- `docs/zone_frontier.md`: per setting the worst attack's success within 100 m (worst over
  every attack and seed), the share of GPS points kept, and the mean change of the published
  session distance;
- `docs/zone_frontier.png`: worst success within 100 m against points kept, the frontier
  (settings no other setting beats on both) joined, the defaults marked.

Usage (from the checkout, `../shared/data` beside it; needs `pip install matplotlib`):

    cargo build --release -p datamin-eval
    python3 benches/zone_frontier.py [--subjects 100] [--activities 10] [--seeds 1,2]
        [--cells 0,400,500,600,700,800,1000] [--trims 0,150,300] [--eval target/release/datamin-eval]

The full table in README.md comes from the defaults (100 subjects x 10 activities, seeds 1
and 2); about 25 minutes with a release build on two cores.
"""

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CELL_M = 700.0
DEFAULT_TRIM_M = 300.0


def run_eval(exe, subjects, activities, seed, cell, trim, radius, attacker_subjects):
    out = subprocess.run(
        [exe, "--json", "--subjects", str(subjects), "--activities", str(activities),
         "--attacker-subjects", str(attacker_subjects),
         "--seed", str(seed), "--cell-m", str(cell), "--trim-m", str(trim),
         "--radius-m", str(radius)],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout
    results = json.loads(out)
    return next(r for r in results if r["defence"].startswith("datamin"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subjects", type=int, default=100)
    ap.add_argument("--activities", type=int, default=10)
    ap.add_argument("--seeds", default="1,2")
    ap.add_argument("--cells", default="0,400,500,600,700,800,1000")
    ap.add_argument("--trims", default="0,150,300")
    ap.add_argument("--radius", type=float, default=200.0)
    ap.add_argument("--attacker-subjects", type=int, default=200,
                    help="training subjects of the learned and calibrated attacks")
    ap.add_argument("--eval", default=os.path.join(ROOT, "target/release/datamin-eval"))
    ap.add_argument("--out", default=os.path.join(ROOT, "docs"))
    a = ap.parse_args()
    if not os.path.exists(a.eval):
        sys.exit(f"{a.eval} not found: cargo build --release -p datamin-eval")
    seeds = [int(s) for s in a.seeds.split(",")]
    rows = []
    t0 = time.time()
    for cell in [float(c) for c in a.cells.split(",")]:
        for trim in [float(t) for t in a.trims.split(",")]:
            worst, worst_name, kept, dist = 0.0, "", [], []
            for seed in seeds:
                r = run_eval(a.eval, a.subjects, a.activities, seed, cell, trim, a.radius,
                             a.attacker_subjects)
                for att in r["attacks"]:
                    if att["within_100m"] >= worst:
                        worst, worst_name = att["within_100m"], att["attack"]
                kept.append(r["points_kept"])
                dist.append(r["total_distance_error_m"])
            row = dict(cell_m=cell, trim_m=trim, worst_100m=worst, worst_attack=worst_name,
                       points_kept=sum(kept) / len(kept), distance_change_m=sum(dist) / len(dist))
            rows.append(row)
            print(f"[{time.time() - t0:6.0f} s] cell_m={cell:g} trim_m={trim:g}: worst {worst:.1%} "
                  f"({worst_name}), kept {row['points_kept']:.1%}", file=sys.stderr)

    def dominated(r):
        return any(o["worst_100m"] <= r["worst_100m"] and o["points_kept"] >= r["points_kept"]
                   and (o["worst_100m"] < r["worst_100m"] or o["points_kept"] > r["points_kept"])
                   for o in rows)

    frontier = [r for r in rows if not dominated(r)]
    is_default = lambda r: r["cell_m"] == DEFAULT_CELL_M and r["trim_m"] == DEFAULT_TRIM_M
    md = [
        "# Privacy zone: privacy/utility frontier",
        "",
        f"`python3 benches/zone_frontier.py --subjects {a.subjects} --activities {a.activities} "
        f"--seeds {a.seeds} --attacker-subjects {a.attacker_subjects} --cells {a.cells} --trims {a.trims}` "
        f"(radius_m = {a.radius:g}; realistic subjects, see `eval/src/synthesis.rs`). "
        "Worst success = the highest share of subjects located within 100 m of a protected place "
        "by any attack of `datamin-eval`, over all seeds. Points kept = share of input GPS points "
        "published. Distance change = mean |published - recorded| session distance. "
        "**Bold**: on the frontier; ◆ the defaults.",
        "",
        "| cell_m | trim_m | worst success ≤ 100 m (attack) | points kept | distance change (m) |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        b = "**" if r in frontier else ""
        mark = " ◆" if is_default(r) else ""
        md.append(f"| {b}{r['cell_m']:g}{b}{mark} | {b}{r['trim_m']:g}{b} | {r['worst_100m']:.1%} "
                  f"({r['worst_attack']}) | {r['points_kept']:.1%} | {r['distance_change_m']:.0f} |")
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "zone_frontier.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    with open(os.path.join(a.out, "zone_frontier.json"), "w") as f:
        json.dump(rows, f, indent=1)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for trim, marker in zip(sorted({r["trim_m"] for r in rows}), "os^vD"):
        pts = [r for r in rows if r["trim_m"] == trim]
        ax.scatter([r["points_kept"] * 100 for r in pts], [r["worst_100m"] * 100 for r in pts],
                   marker=marker, label=f"trim_m = {trim:g}")
        for r in pts:
            ax.annotate(f"{r['cell_m']:g}", (r["points_kept"] * 100, r["worst_100m"] * 100),
                        fontsize=7, xytext=(3, 3), textcoords="offset points")
    fr = sorted(frontier, key=lambda r: r["points_kept"])
    ax.plot([r["points_kept"] * 100 for r in fr], [r["worst_100m"] * 100 for r in fr], "k--",
            lw=0.8, label="frontier")
    d = [r for r in rows if is_default(r)]
    if d:
        ax.scatter([d[0]["points_kept"] * 100], [d[0]["worst_100m"] * 100], s=160,
                   facecolors="none", edgecolors="red", label="defaults")
    ax.axhline(5, color="grey", lw=0.6, ls=":")
    ax.axvline(70, color="grey", lw=0.6, ls=":")
    ax.set_xlabel("GPS points kept (%)")
    ax.set_ylabel("worst attack: homes within 100 m (%)")
    ax.set_title(f"datamin privacy zone ({a.subjects} subjects × {a.activities} activities, "
                 f"seeds {a.seeds}; labels: cell_m)", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(a.out, "zone_frontier.png"), dpi=120)
    print(f"wrote {a.out}/zone_frontier.md, .json, .png", file=sys.stderr)


if __name__ == "__main__":
    main()
