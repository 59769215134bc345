#!/usr/bin/env python3
"""scripts/experiments_table.py [results/experiments.jsonl]: the experiments' tables for
RESULTS.md (Markdown on stdout), from the rows scripts/experiments.sh writes: one table per task,
one line per (variant, inference), each measure as the mean over the seeds measured, ± their
sample standard deviation when there are several, SSIM on Y beside it (the mean)."""
import json
import sys
from collections import OrderedDict

# per task: the columns, (set, measure, title, level: the rows' "level", None where they have none)
COLUMNS = {
    "sr2": [(s, "psnr_y", s, None) for s in ("Set5", "Set14", "BSD100", "Urban100")],
    "noise25": [("CBSD68", "psnr_rgb", "CBSD68 RGB", None), ("CBSD68", "psnr_y", "CBSD68 Y", None)],
    "jpeg20": [("LIVE1", "psnr_y", "LIVE1", None), ("LIVE1", "psnr_b", "LIVE1 PSNR-B", None),
               ("Classic5", "psnr_y", "Classic5", None),
               ("Classic5", "psnr_b", "Classic5 PSNR-B", None)],
    "noise-blind": [("CBSD68", "psnr_rgb", "CBSD68 RGB, sigma %d" % s, s) for s in (15, 25, 50)],
}
INFERENCES = ["soft", "hard", "folded"]
TITLES = {"sr2": "x2 super-resolution (Y-PSNR dB / SSIM)",
          "noise25": "colour denoising, sigma 25 (PSNR dB / SSIM on Y)",
          "jpeg20": "grey JPEG, quality 20 (PSNR dB / SSIM)",
          "noise-blind": "colour denoising blind to the level, sigma 0..55 (PSNR dB on RGB)"}


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "results/experiments.jsonl"
    groups = OrderedDict()
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            row = json.loads(line)
            key = (row.get("task", "sr2"), row["variant"], row["inference"])
            g = groups.setdefault(key, {"params": row["params"], "rows": []})
            g["rows"].append(row)
    for task in COLUMNS:
        keys = sorted((k for k in groups if k[0] == task), key=lambda k: (order(k[1]), INFERENCES.index(k[2])))
        if not keys:
            continue
        print("\n%s:\n" % TITLES[task])
        print("| variant | inference | seeds | params | " + " | ".join(c[2] for c in COLUMNS[task]) + " |")
        print("|---|---|---|---|" + "---|" * len(COLUMNS[task]))
        for key in keys:
            g = groups[key]
            seeds = sorted({r["seed"] for r in g["rows"]})
            cells = [cell([r for r in g["rows"] if r["set"] == s and r.get("level") == level], measure)
                     for s, measure, _, level in COLUMNS[task]]
            print("| %s | %s | %s | %s | %s |" % (key[1], key[2], ",".join(map(str, seeds)),
                                                  "{:,}".format(g["params"]), " | ".join(cells)))


def cell(rows, measure):
    values = [r[measure] for r in rows if measure in r]
    if not values:
        return ""
    mean = sum(values) / len(values)
    text = "%.3f" % mean
    if len(values) > 1:
        text += " ± %.3f" % (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5
    if measure == "psnr_y":
        text += " / %.4f" % (sum(r["ssim_y"] for r in rows) / len(rows))
    return text


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
