#!/usr/bin/env python3
"""scripts/experiments_table.py [results/experiments.jsonl]: the experiments' table for RESULTS.md
(Markdown on stdout), from the rows scripts/experiments.sh writes: one line per (variant,
inference), Y-PSNR on each set as the mean over the seeds measured, ± their sample standard
deviation when there are several, and SSIM (the mean)."""
import json
import sys
from collections import OrderedDict

SETS = ["Set5", "Set14", "BSD100", "Urban100"]


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "results/experiments.jsonl"
    groups = OrderedDict()
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            row = json.loads(line)
            key = (row["variant"], row["inference"])
            groups.setdefault(key, {"params": row["params"], "iterations": row["iterations"], "sets": {}})
            groups[key]["sets"].setdefault(row["set"], []).append((row["seed"], row["psnr_y"], row["ssim_y"]))
    print("| variant | inference | seeds | params | " + " | ".join(SETS) + " |")
    print("|---|---|---|---|" + "---|" * len(SETS))
    for (variant, inference), g in sorted(groups.items(), key=lambda kv: (order(kv[0][0]), kv[0][1] != "soft")):
        seeds = sorted({s for rows in g["sets"].values() for s, _, _ in rows})
        cells = []
        for name in SETS:
            rows = g["sets"].get(name, [])
            if not rows:
                cells.append("")
                continue
            psnr = [p for _, p, _ in rows]
            ssim = [s for _, _, s in rows]
            mean = sum(psnr) / len(psnr)
            cell = "%.3f" % mean
            if len(psnr) > 1:
                var = sum((p - mean) ** 2 for p in psnr) / (len(psnr) - 1)
                cell += " ± %.3f" % var ** 0.5
            cell += " / %.4f" % (sum(ssim) / len(ssim))
            cells.append(cell)
        print("| %s | %s | %s | %s | %s |" % (variant, inference, ",".join(map(str, seeds)),
                                              "{:,}".format(g["params"]), " | ".join(cells)))


def order(variant):
    """plain first, then NSR by k, d, and the variants of each."""
    if variant == "plain":
        return (0, 0, 0, "")
    parts = variant.split("-")
    k = int(parts[1][1:]) if len(parts) > 1 and parts[1].startswith("k") else 0
    d = int(parts[2][1:]) if len(parts) > 2 and parts[2].startswith("d") else 0
    return (1, k, d, "-".join(parts[3:]))


if __name__ == "__main__":
    main()
