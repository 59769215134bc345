#!/usr/bin/env python3
"""scripts/model_tables.py [MODEL.nsr ...] [--curve RUN]: the bundled models' tables for
RESULTS.md and models/README.md (Markdown on stdout), from the rows scripts/model_tables.sh
writes to results/models.jsonl (every model there when none is named), beside the published
numbers the issues set as targets; --curve RUN prints the run's validation curve from
RUN/log.csv (iterations, hours of training, validation Y-PSNR)."""
import csv
import json
import sys
from collections import OrderedDict

SR_SETS = ("Set5", "Set14", "BSD100", "Urban100")
# VDSR (matlab Y, the x2/x3/x4 targets' reference) per scale and set
VDSR = {2: (37.53, 33.03, 31.90, 30.76), 3: (33.67, 29.77, 28.82, 27.14),
        4: (31.35, 28.01, 27.29, 25.18)}
# the restoration tables: (task, grey) -> per set and level the classical and the learned numbers
CLASSICAL = {
    ("denoise", False): ("CBM3D", {"CBSD68": {15: 33.52, 25: 30.71, 50: 27.38}}),
    ("denoise", True): ("BM3D", {"BSD68": {15: 31.07, 25: 28.57, 50: 25.62}}),
    ("jpeg", True): ("ARCNN", {"LIVE1": {10: 28.96, 20: 31.29, 30: 32.67, 40: 33.63},
                               "Classic5": {10: 29.03, 20: 31.15, 30: 32.51, 40: 33.34}}),
}
LEARNED = {
    ("denoise", False): ("CDnCNN", {"CBSD68": {15: 33.89, 25: 31.23, 50: 27.92}}),
    ("denoise", True): ("DnCNN-S", {"BSD68": {15: 31.73, 25: 29.23, 50: 26.23}}),
    ("jpeg", True): ("DnCNN-3", {"LIVE1": {10: 29.19, 20: 31.59, 30: 32.98, 40: 33.96},
                                 "Classic5": {10: 29.40, 20: 31.63, 30: 32.91, 40: 33.77}}),
}


def sr_table(rows):
    scale = rows[0]["level"]
    print("| protocol, tiles | " + " | ".join(SR_SETS) + " |")
    print("|---|" + "---|" * len(SR_SETS))
    for protocol, tile, inference in (("matlab", "whole", "soft"), ("matlab", "whole", "hard"),
                                      ("pt_ir", "whole", "soft"), ("pt_ir", "reference", "soft")):
        cells = []
        for s in SR_SETS:
            r = [x for x in rows if x["set"] == s and x["protocol"] == protocol and x["tile"] == tile
                 and x.get("inference", "soft") == inference]
            cells.append("%.3f / %.4f" % (r[0]["psnr_y"], r[0]["ssim_y"]) if r else "")
        if any(cells):
            print("| %s, %s%s | %s |" % (protocol, tile, ", --hard" if inference == "hard" else "",
                                         " | ".join(cells)))
    if scale in VDSR:
        print("| VDSR (matlab) | %s |" % " | ".join("%.2f" % v for v in VDSR[scale]))


def restoration_table(rows):
    task, grey = rows[0]["task"], rows[0]["channels"] == 1
    measure = "psnr_y" if grey else "psnr_rgb"
    classical, learned = CLASSICAL.get((task, grey)), LEARNED.get((task, grey))
    head = "| set | level | PSNR%s / SSIM-Y | input |" % ("" if grey else " (RGB)")
    if not grey:
        head += " PSNR-Y |"
    if task == "jpeg":
        head += " PSNR-B |"
    if classical:
        head += " %s | %s |" % (classical[0], learned[0])
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for r in rows:
        cells = [r["set"], str(r["level"]), "%.3f / %.4f" % (r[measure], r["ssim_y"]),
                 "%.3f" % r["input"][measure]]
        if not grey:
            cells.append("%.3f" % r["psnr_y"])
        if task == "jpeg":
            cells.append("%.3f" % r.get("psnr_b", float("nan")))
        if classical:
            for ref in (classical, learned):
                v = ref[1].get(r["set"], {}).get(r["level"])
                cells.append("%.2f" % v if v else "")
        print("| " + " | ".join(cells) + " |")


def curve(run):
    """Every validated row of RUN/log.csv: iteration, hours, validation Y-PSNR."""
    print("| iterations | hours | validation Y-PSNR (pt_ir, whole) |")
    print("|---|---|---|")
    with open(run + "/log.csv") as f:
        for row in csv.DictReader(f):
            if row["val_psnr"]:
                print("| %s | %.2f | %.3f |" % (row["iteration"], float(row["seconds"]) / 3600,
                                                float(row["val_psnr"])))


def main():
    args = sys.argv[1:]
    if "--curve" in args:
        i = args.index("--curve")
        curve(args[i + 1])
        return
    models = OrderedDict()
    with open("results/models.jsonl") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                models.setdefault(row["model"], []).append(row)
    for name in args or list(models):
        rows = models.get(name)
        if not rows:
            sys.exit("model_tables.py: no rows of %s in results/models.jsonl" % name)
        print("\n%s:\n" % name)
        (sr_table if rows[0]["task"] == "sr" else restoration_table)(rows)


if __name__ == "__main__":
    main()
