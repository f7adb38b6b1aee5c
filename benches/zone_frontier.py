#!/usr/bin/env python3
"""The privacy/utility frontier of datamin's privacy zone.

Runs `datamin-eval --json` over a grid of zone settings (`cell_m` x `trim_m` x displacement,
`radius_m` fixed) and several seeds, and writes

- `docs/zone_frontier.md`: per setting the worst attack's success within 100 m (worst over
  every attack and seed), the same for an attacker who knows the subject's displacement
  (one who placed a published track on a map: the setting's row without displacement, since
  hiding does not depend on it), the share of GPS points kept, and the mean change of the
  published session distance;
- `docs/zone_frontier.png`: both worst successes against points kept, the frontier (settings
  no other setting beats on all three) joined, the defaults marked;
- `docs/zone_frontier.json`: the measured rows (`--from-json` re-renders from it).

Usage (from the checkout, `../shared/data` beside it; needs `pip install matplotlib`):

    cargo build --workspace            # the evaluation crate is optimized in the dev profile
    python3 benches/zone_frontier.py [--subjects 100] [--activities 10] [--seeds 1,2]
        [--cells 0,300,500,700,900] [--trims 0,150,300] [--displacements 0:0,100:300,100:500,100:700]
        [--eval target/debug/datamin-eval] [--from-json docs/zone_frontier.json]

`--displacements` lists `min:max` lengths of the keyed per-subject displacement, metres
(`0:0`: positions not displaced). The table in docs/ comes from the defaults (100 subjects x
10 activities, seeds 1 and 2); about 30 minutes on two cores with the dev-profile build.
"""

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CELL_M = 500.0
DEFAULT_TRIM_M = 150.0
DEFAULT_DISPLACEMENT = (100.0, 700.0)


def run_eval(exe, subjects, activities, seed, cell, trim, disp, radius, attacker_subjects):
    out = subprocess.run(
        [exe, "--json", "--subjects", str(subjects), "--activities", str(activities),
         "--attacker-subjects", str(attacker_subjects),
         "--seed", str(seed), "--cell-m", str(cell), "--trim-m", str(trim),
         "--displacement-min-m", str(disp[0]), "--displacement-max-m", str(disp[1]),
         "--radius-m", str(radius)],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout
    results = json.loads(out)
    return next(r for r in results if r["defence"].startswith("datamin"))


def measure(a):
    """Runs every setting of the grid over every seed; one row per setting."""
    if not os.path.exists(a.eval):
        sys.exit(f"{a.eval} not found: cargo build --workspace")
    seeds = [int(s) for s in a.seeds.split(",")]
    disps = [tuple(float(x) for x in d.split(":")) for d in a.displacements.split(",")]
    if (0.0, 0.0) not in disps:
        disps.insert(0, (0.0, 0.0))  # the map attacker's column needs the rows without
    grid = [(c, t, d) for d in disps for c in [float(c) for c in a.cells.split(",")]
            for t in [float(t) for t in a.trims.split(",")]]
    rows = []
    t0 = time.time()
    for cell, trim, disp in grid:
        worst, worst_name, kept, dist = -1.0, "", [], []
        for seed in seeds:
            r = run_eval(a.eval, a.subjects, a.activities, seed, cell, trim, disp, a.radius,
                         a.attacker_subjects)
            for att in r["attacks"]:
                if att["within_100m"] > worst:
                    worst, worst_name = att["within_100m"], att["attack"]
            kept.append(r["points_kept"])
            dist.append(r["total_distance_error_m"])
        row = dict(cell_m=cell, trim_m=trim, displacement_m=list(disp), worst_100m=worst,
                   worst_attack=worst_name,
                   points_kept=sum(kept) / len(kept), distance_change_m=sum(dist) / len(dist))
        rows.append(row)
        print(f"[{time.time() - t0:6.0f} s] cell_m={cell:g} trim_m={trim:g} "
              f"displacement={disp[0]:g}-{disp[1]:g} m: worst {worst:.1%} "
              f"({worst_name}), kept {row['points_kept']:.1%}", file=sys.stderr)
    return rows


def disp_label(d):
    return "off" if d[1] == 0 else f"{d[0]:g}–{d[1]:g} m"


def render(rows, command, out):
    """Writes the Markdown table, the JSON rows and the plot."""
    # an attacker who knows the displacement sees the hiding alone: the row without it
    for r in rows:
        base = next((o for o in rows if o["cell_m"] == r["cell_m"] and o["trim_m"] == r["trim_m"]
                     and o["displacement_m"][1] == 0), None)
        r["worst_100m_map"] = base["worst_100m"] if base else None

    def key(r):
        return (r["worst_100m"], r["worst_100m_map"] if r["worst_100m_map"] is not None else 1.0,
                -r["points_kept"])

    def dominated(r):
        return any(all(x <= y for x, y in zip(key(o), key(r))) and key(o) != key(r) for o in rows)

    frontier = [r for r in rows if not dominated(r)]
    is_default = lambda r: (r["cell_m"] == DEFAULT_CELL_M and r["trim_m"] == DEFAULT_TRIM_M
                            and tuple(r["displacement_m"]) == DEFAULT_DISPLACEMENT)
    md = [
        "# Privacy zone: privacy/utility frontier",
        "",
        f"`{command}` (realistic subjects, see `eval/src/synthesis.rs`). "
        "Worst success = the highest share of subjects located within 100 m of a protected place "
        "by any attack of `datamin-eval`, over all seeds. *With a map* = the same for an attacker "
        "who has learnt the subject's displacement (by placing one published track on a map, a "
        "known route or a terrain model): it sees the hiding alone, the setting's row without "
        "displacement. Points kept = share of input GPS points published. Distance change = "
        "mean |published - recorded| session distance. Displacement = the keyed per-subject "
        "vector every published position moves by (length uniform by area between the bounds). "
        "**Bold**: on the frontier (no other setting is as good on all of worst success, worst "
        "with a map and points kept, and better on one); ◆ the defaults.",
        "",
        "| cell_m | trim_m | displacement | worst success ≤ 100 m (attack) | with a map | points kept | distance change (m) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        b = "**" if r in frontier else ""
        mark = " ◆" if is_default(r) else ""
        m = r["worst_100m_map"]
        md.append(f"| {b}{r['cell_m']:g}{b}{mark} | {b}{r['trim_m']:g}{b} | "
                  f"{b}{disp_label(r['displacement_m'])}{b} | {r['worst_100m']:.1%} "
                  f"({r['worst_attack']}) | {'–' if m is None else f'{m:.1%}'} | "
                  f"{r['points_kept']:.1%} | {r['distance_change_m']:.0f} |")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "zone_frontier.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    with open(os.path.join(out, "zone_frontier.json"), "w") as f:
        json.dump(dict(command=command, rows=rows), f, indent=1)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharex=True)
    groups = sorted({(tuple(r["displacement_m"]), r["trim_m"]) for r in rows})
    for ax, field, title in [(axes[0], "worst_100m", "any attack, no map"),
                             (axes[1], "worst_100m_map", "attacker who knows the displacement (map)")]:
        pts_all = [r for r in rows if r[field] is not None]
        for (disp, trim), marker in zip(groups, "os^vDP*X"):
            pts = [r for r in pts_all if (tuple(r["displacement_m"]), r["trim_m"]) == (disp, trim)]
            ax.scatter([r["points_kept"] * 100 for r in pts], [r[field] * 100 for r in pts],
                       marker=marker, label=f"displacement {disp_label(disp)}, trim_m = {trim:g}")
            for r in pts:
                ax.annotate(f"{r['cell_m']:g}", (r["points_kept"] * 100, r[field] * 100),
                            fontsize=7, xytext=(3, 3), textcoords="offset points")
        fr = sorted((r for r in frontier if r[field] is not None), key=lambda r: r["points_kept"])
        ax.plot([r["points_kept"] * 100 for r in fr], [r[field] * 100 for r in fr], "k--",
                lw=0.8, label="frontier")
        d = [r for r in rows if is_default(r)]
        if d and d[0][field] is not None:
            ax.scatter([d[0]["points_kept"] * 100], [d[0][field] * 100], s=160,
                       facecolors="none", edgecolors="red", label="defaults")
        ax.axhline(5, color="grey", lw=0.6, ls=":")
        ax.axvline(70, color="grey", lw=0.6, ls=":")
        ax.set_xlabel("GPS points kept (%)")
        ax.set_ylabel("homes within 100 m, worst attack (%)")
        ax.set_title(title, fontsize=9)
    axes[0].legend(fontsize=7)
    fig.suptitle("datamin privacy zone: privacy/utility frontier (labels: cell_m)", fontsize=10)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "zone_frontier.png"), dpi=120)
    print(f"wrote {out}/zone_frontier.md, .json, .png", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subjects", type=int, default=100)
    ap.add_argument("--activities", type=int, default=10)
    ap.add_argument("--seeds", default="1,2")
    ap.add_argument("--cells", default="0,300,500,700,900")
    ap.add_argument("--trims", default="150")
    ap.add_argument("--displacements", default="0:0,100:300,100:500,100:700",
                    help="min:max lengths of the keyed displacement, metres")
    ap.add_argument("--radius", type=float, default=200.0)
    ap.add_argument("--attacker-subjects", type=int, default=200,
                    help="training subjects of the learned and calibrated attacks")
    ap.add_argument("--eval", default=os.path.join(ROOT, "target/debug/datamin-eval"))
    ap.add_argument("--out", default=os.path.join(ROOT, "docs"))
    ap.add_argument("--from-json", help="re-render from a zone_frontier.json instead of measuring")
    a = ap.parse_args()
    if a.from_json:
        with open(a.from_json) as f:
            saved = json.load(f)
        rows, command = saved["rows"], saved["command"]
    else:
        rows = measure(a)
        command = (f"python3 benches/zone_frontier.py --subjects {a.subjects} --activities "
                   f"{a.activities} --seeds {a.seeds} --attacker-subjects {a.attacker_subjects} "
                   f"--cells {a.cells} --trims {a.trims} --displacements {a.displacements} "
                   f"--radius {a.radius:g}")
    render(rows, command, a.out)


if __name__ == "__main__":
    main()
