#!/usr/bin/env python3
"""Writes the fuzzers' seed corpora into fuzz/corpus/ (small, deterministic; committed).

  python3 scripts/make_fuzz_corpus.py [NSR]     (NSR: the nsr program, default build/nsr)

image/  PNGs written here byte by byte (every colour type and bit depth, palette with
        transparency, interlaced, an ICC profile, every row filter), and JPEG and WebP made
        from some of them by `nsr convert` (baseline grey and colour, lossy and lossless WebP).
model/  tiny networks from `nsr new` (x2, x1, plain, shared selection).
tiling/ image sizes and scales for fuzz_tiling (2 + 2 + 1 bytes: height, width, scale).
cli/    command lines for fuzz_cli: one byte, the command's index in tools/commands.h, then the
        words between newlines (one seed separates them with NUL bytes instead).
Nothing is copied from image collections: every picture is a pattern computed here.
"""
import os
import re
import struct
import subprocess
import sys
import tempfile
import zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
CORPUS = os.path.join(ROOT, "fuzz", "corpus")
NSR = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "nsr")


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width, height, colour, depth, interlace=0, extra=b""):
    """A PNG of a deterministic pattern; row filters cycle through all five types (any bytes
    are valid filtered data, so the pattern is simply what the filters decode to)."""
    samples = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour]
    row_bytes = (width * samples * depth + 7) // 8

    def rows(w, h, first):
        out = b""
        for y in range(h):
            out += bytes([(first + y) % 5]) + bytes((x * 37 + y * 11 + first) % 256 for x in range((w * samples * depth + 7) // 8))
        return out

    if interlace:
        raw = b""
        # Adam7 passes: (x0, y0, dx, dy)
        for n, (x0, y0, dx, dy) in enumerate([(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4),
                                              (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]):
            pw, ph = (width - x0 + dx - 1) // dx, (height - y0 + dy - 1) // dy
            if pw > 0 and ph > 0:
                raw += rows(pw, ph, n)
    else:
        raw = rows(width, height, 0)
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, interlace)
    body = chunk(b"IHDR", ihdr) + extra
    if colour == 3:
        body += chunk(b"PLTE", bytes((i * 53 + c * 91) % 256 for i in range(1 << depth) for c in range(3)))
    return b"\x89PNG\r\n\x1a\n" + body + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def write(folder, name, data):
    os.makedirs(os.path.join(CORPUS, folder), exist_ok=True)
    with open(os.path.join(CORPUS, folder, name), "wb") as f:
        f.write(data)


def nsr(*args):
    subprocess.run([NSR, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# Command lines per command: a typical one, each form of option (-x V, -xV, --name V,
# --name=V, flags, "--", "-"), help, and usage errors (unknown option, bad value, given twice).
CLI = {
    "convert": [["in.png", "out.webp", "-q", "90", "--depth=16"], ["-q90", "-f", "jpg", "--", "-in", "-"],
                ["in.png", "out.png", "--overwrite", "--max-pixels", "100"], ["--depth", "12", "a", "b"]],
    "resize": [["in.png", "out.png", "-s", "0.5"], ["--size", "64x48", "--float", "a", "b"], ["-s", "x", "a"]],
    "metrics": [["a.png", "b.png", "--shave", "4", "--json"], ["--protocol", "bogus", "a", "b"], ["a", "b", "c"]],
    "degrade": [["in.png", "out.png", "--noise", "25", "--seed", "7"], ["--jpeg", "10", "a", "b"], ["--seed", "-1"]],
    "upscale": [["-i", "in.png", "-o", "out.png", "-m", "x2.nsr", "--tile", "auto"], ["-i", "a", "-i", "b"],
                ["--hard", "-s", "3", "-j", "2", "stray"], ["-i", "dir", "-i", "-", "-o", "-", "-f", "png", "--overwrite"]],
    "denoise": [["-i", "in.png", "-o", "out.png", "-m", "nsr_denoise", "-t", "96"], ["-s", "2", "-o", "o"]],
    "dejpeg": [["-i", "-", "-o", "-", "-f", "webp", "-q", "80"], ["--tile=whole", "-o", "d/"]],
    "models": [["--json"], ["stray"]],
    "eval": [["--data", "d1", "--data", "d2", "-s", "2", "-m", "x2.nsr", "--limit", "3"],
             ["--protocol=nope", "--data"], ["-n", "15", "--jpeg", "20", "--seed", "3"]],
    "new": [["--blocks", "1", "--features", "4", "--scale", "2", "-o", "m.nsr"], ["--seed=5", "--shared", "-o", "m"],
            ["--groups", "0"], ["-h"]],
    "info": [["model.nsr", "--tensors", "--json"], ["a", "b"], ["--help"]],
    "train": [["--data", "d", "--run", "r", "--scale", "2", "--iterations", "10", "--lr", "1e-3"],
              ["--resume", "r", "-j", "2", "--print-every", "5"], ["--noise", "0:50", "--temperature", "1:0.1"],
              ["--lr", "nan"], ["-j", "1", "-j", "2"]],
    "bench": [["--quick", "--json", "--reps", "3"], ["--no-reference", "-j0"], ["--reps=0"], ["--quick=1"]],
    "maps": [["-i", "in.png", "-o", "dir", "-m", "x2.nsr", "--blocks", "0,3", "--cardinal", "all"],
             ["--window", "24", "--stride=8", "--stretch", "-o", "d"], ["--window", "4"], ["--stride", "0"]],
}


def main():
    images = {
        "grey1.png": png(9, 5, 0, 1), "grey2.png": png(9, 5, 0, 2), "grey4.png": png(9, 5, 0, 4),
        "grey8.png": png(7, 5, 0, 8), "grey16.png": png(7, 5, 0, 16),
        "rgb8.png": png(7, 5, 2, 8), "rgb16.png": png(6, 4, 2, 16),
        "palette1.png": png(9, 3, 3, 1), "palette4.png": png(9, 3, 3, 4),
        "palette8_trns.png": png(6, 4, 3, 8, extra=chunk(b"tRNS", bytes(range(0, 256, 17)))),
        "grey_alpha8.png": png(6, 4, 4, 8), "grey_alpha16.png": png(5, 3, 4, 16),
        "rgba8.png": png(6, 5, 6, 8), "rgba16.png": png(5, 3, 6, 16),
        "rgb8_interlaced.png": png(11, 9, 2, 8, interlace=1),
        "rgb8_icc.png": png(4, 4, 2, 8, extra=chunk(b"iCCP", b"fuzz\0\0" + zlib.compress(bytes(range(128))))),
        "grey8_trns.png": png(5, 5, 0, 8, extra=chunk(b"tRNS", b"\0\x20")),
    }
    for name, data in images.items():
        write("image", name, data)
    with tempfile.TemporaryDirectory() as tmp:
        for src, out, opts in [("rgb8.png", "rgb.jpg", []), ("grey8.png", "grey.jpg", []),
                               ("rgba8.png", "rgb_q20.jpg", ["-q", "20"]),
                               ("rgb8.png", "lossless.webp", []), ("rgba8.png", "alpha.webp", []),
                               ("rgb8_interlaced.png", "lossy.webp", ["-q", "50"])]:
            path = os.path.join(tmp, out)
            nsr("convert", os.path.join(CORPUS, "image", src), path, *opts)
            with open(path, "rb") as f:
                write("image", out, f.read())
        tiny = ["--blocks", "1", "--features", "4", "--wm", "1", "--cardinals", "2"]
        for name, opts in [("x2.nsr", ["--groups", "2", "--scale", "2"]),
                           ("x1.nsr", ["--groups", "2", "--scale", "1"]),
                           ("plain_x3.nsr", ["--groups", "1", "--scale", "3"]),
                           ("shared_x2.nsr", ["--groups", "2", "--shared", "--scale", "2"])]:
            path = os.path.join(tmp, name)
            nsr("new", *tiny, *opts, "-o", path)
            with open(path, "rb") as f:
                write("model", name, f.read())
    for h, w, s in [(192, 192, 0), (193, 255, 1), (223, 224, 1), (255, 256, 0), (240, 200, 1)]:
        write("tiling", "%dx%d_x%d" % (w, h, s + 1), struct.pack("<HHB", h - 192, w - 192, s))
    with open(os.path.join(ROOT, "tools", "commands.h")) as f:
        commands = re.findall(r"^NSR_COMMAND\((\w+),", f.read(), re.M)
    for index, name in enumerate(commands):
        for n, words in enumerate(CLI.get(name, [["--help"]])):
            write("cli", "%s_%d" % (name, n), bytes([index]) + "\n".join(words).encode())
    write("cli", "convert_nul", bytes([commands.index("convert")]) + b"in.png\0out.jpg\0-q\0 5")


if __name__ == "__main__":
    main()
