#!/bin/sh
# What every writing command (convert, resize, degrade, upscale) does with its output: misused
# output options refused with one line and exit 2 (-q with PNG, -f against OUT's extension,
# --depth 16 to JPEG or WebP), one warning line for what the format drops (alpha in JPEG, 16-bit
# samples in JPEG or WebP) while the job still runs, and EXIF and the resolution kept (the EXIF
# orientation applied, the resolution scaled by upscale and resize). The inputs are written here
# by python3's standard library (the checks that need it are skipped without it).
. tests/clilib.sh

have_python=0
command -v python3 >/dev/null 2>&1 && have_python=1

# A PNG writer and reader, enough for the checks: chunks by name, IHDR's size, pHYs, eXIf.
cat >"$WORK/png.py" <<'EOF'
import struct, sys, zlib

def chunk(name, data):
    return struct.pack(">I", len(data)) + name + data + struct.pack(">I", zlib.crc32(name + data))

def write(path, width, height, channels, pixel, extra=b""):
    """pixel(x, y) gives channels 8-bit samples; extra: chunks placed before IDAT."""
    colour = {3: 2, 4: 6}[channels]
    raw = b"".join(b"\0" + bytes(v for x in range(width) for v in pixel(x, y)) for y in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra +
                chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))

def chunks(path):
    data, pos, out = open(path, "rb").read(), 8, {}
    while pos < len(data):
        n = struct.unpack(">I", data[pos:pos + 4])[0]
        out.setdefault(data[pos + 4:pos + 8].decode(), data[pos + 8:pos + 8 + n])
        pos += 12 + n
    return out

def exif(orientation, dpi):
    """Little-endian TIFF: IFD0 with Orientation, X/YResolution (dpi/1), ResolutionUnit inch."""
    entries = [(0x0112, 3, 1, orientation), (0x011a, 5, 1, 62), (0x011b, 5, 1, 70), (0x0128, 3, 1, 2)]
    ifd = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHI", t, ty, n) + (struct.pack("<HH", v, 0) if ty == 3 else struct.pack("<I", v))
        for t, ty, n, v in entries) + struct.pack("<I", 0)
    return b"II*\0" + struct.pack("<I", 8) + ifd + struct.pack("<IIII", dpi, 1, dpi, 1)

def exif_fields(tiff):
    """(orientation, x resolution) of a little-endian TIFF made by exif()."""
    n = struct.unpack("<H", tiff[8:10])[0]
    got = {}
    for i in range(n):
        t, ty, c, v = struct.unpack("<HHII", tiff[10 + 12 * i:22 + 12 * i])
        got[t] = v & 0xffff if ty == 3 else struct.unpack("<II", tiff[v:v + 8])
    return got[0x0112], got[0x011a][0] / got[0x011a][1]

cmd = sys.argv[1]
if cmd == "make":
    # a 6x4 RGBA image, and a 3x2 RGB one with EXIF orientation 6 (turn 90 degrees clockwise),
    # 72 dpi in pHYs (2835 per metre) and in the EXIF
    write(sys.argv[2] + "/rgba.png", 6, 4, 4, lambda x, y: (40 * x, 60 * y, 100, 50 + 30 * x))
    write(sys.argv[2] + "/turned.png", 3, 2, 3, lambda x, y: (80 * x, 200 * y, 30),
          chunk(b"pHYs", struct.pack(">IIB", 2835, 2835, 1)) + chunk(b"eXIf", exif(6, 72)))
elif cmd == "png":  # size, pHYs per metre, EXIF orientation and dpi
    c = chunks(sys.argv[2])
    w, h = struct.unpack(">II", c["IHDR"][:8])
    print(w, h, struct.unpack(">I", c["pHYs"][:4])[0] if "pHYs" in c else "-",
          "%d %g" % exif_fields(c["eXIf"]) if "eXIf" in c else "-")
elif cmd == "jpeg":  # JFIF unit and density, EXIF orientation and dpi
    data, out = open(sys.argv[2], "rb").read(), ["-", "-"]
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xff and data[pos + 1] not in (0xda, 0xd9):
        n = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        body = data[pos + 4:pos + 2 + n]
        if data[pos + 1] == 0xe0 and body[:5] == b"JFIF\0":
            out[0] = "%d %d" % (body[7], struct.unpack(">H", body[8:10])[0])
        if data[pos + 1] == 0xe1 and body[:6] == b"Exif\0\0":
            out[1] = "%d %g" % exif_fields(body[6:])
        pos += 2 + n
    print(*out)
elif cmd == "webp":  # EXIF orientation and dpi from the EXIF chunk
    data, pos, out = open(sys.argv[2], "rb").read(), 12, "-"
    while pos + 8 <= len(data):
        name, n = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        if name == b"EXIF":
            out = "%d %g" % exif_fields(data[pos + 8:pos + 8 + n])
        pos += 8 + n + (n & 1)
    print(out)
EOF
# expect_warning NAME PATTERN CMD...: exits 0, stderr has one line matching PATTERN.
expect_warning() {
    name=$1 pattern=$2; shift 2
    "$@" >/dev/null 2>"$WORK/err"; rc=$?
    if [ "$rc" -eq 0 ] && [ "$(grep -c -- "$pattern" "$WORK/err")" -eq 1 ]; then pass "$name"
    else fail "$name" "exit $rc, stderr: $(head -c 300 "$WORK/err")"; fi
}
# expect_quiet NAME CMD...: exits 0 with nothing on stderr.
expect_quiet() {
    name=$1; shift
    "$@" >/dev/null 2>"$WORK/err"; rc=$?
    if [ "$rc" -eq 0 ] && [ ! -s "$WORK/err" ]; then pass "$name"
    else fail "$name" "exit $rc, stderr: $(head -c 300 "$WORK/err")"; fi
}
# expect_equal NAME EXPECTED ACTUAL
expect_equal() { if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "expected '$2', got '$3'"; fi; }

# Inputs without python: the built-in picture (RGB) and a 16-bit copy.
"$NSR" upscale -m bicubic -o "$WORK/rgb.png" 2>/dev/null
"$NSR" convert "$WORK/rgb.png" "$WORK/d16.png" --depth 16

# Refusals: exit 2, one line, nothing written.
expect_usage q_png_convert "$NSR" convert "$WORK/rgb.png" "$WORK/q.png" -q 90
expect_usage q_png_upscale "$NSR" upscale -m bicubic -o "$WORK/q.png" -q 90
expect_usage q_png_by_format "$NSR" convert "$WORK/rgb.png" "$WORK/q.dat" -f png -q 90
expect_usage format_contradicts_convert "$NSR" convert -f webp "$WORK/rgb.png" "$WORK/f.jpg"
expect_usage format_contradicts_upscale "$NSR" upscale -m bicubic -f jpeg -o "$WORK/f.png"
expect_usage depth16_webp "$NSR" convert --depth 16 "$WORK/rgb.png" "$WORK/d.webp"
expect_usage depth16_jpeg "$NSR" convert --depth 16 "$WORK/rgb.png" "$WORK/d.jpg"
expect_usage depth16_jpeg_by_format "$NSR" convert --depth 16 -f jpg "$WORK/rgb.png" "$WORK/d.dat"
expect_usage depth_12 "$NSR" convert --depth 12 "$WORK/rgb.png" "$WORK/d.png"
if ls "$WORK"/q.* "$WORK"/f.* "$WORK"/d.* >/dev/null 2>&1; then fail refused_nothing_written "$(ls "$WORK")"
else pass refused_nothing_written; fi
# What stays allowed: -f agreeing with the extension or deciding an unknown one, -q for JPEG
# and WebP, --depth 8 anywhere, --depth 16 to PNG.
expect_quiet format_agrees "$NSR" convert -f jpeg "$WORK/rgb.png" "$WORK/ok.JPG"
expect_quiet format_unknown_extension "$NSR" convert -f webp -q 80 "$WORK/rgb.png" "$WORK/ok.img"
expect_quiet depth8_jpeg "$NSR" convert --depth 8 "$WORK/d16.png" "$WORK/ok8.jpg"
expect_quiet rgb_to_jpeg_no_warning "$NSR" convert "$WORK/rgb.png" "$WORK/ok.jpg"
# 16-bit samples rounded to 8: a warning, and the file is written.
expect_warning d16_webp_warns "16-bit" "$NSR" convert "$WORK/d16.png" "$WORK/w16.webp"
expect_warning d16_upscale_jpeg_warns "16-bit" "$NSR" upscale -m bicubic -i "$WORK/d16.png" -o "$WORK/u16.jpg"
[ -s "$WORK/w16.webp" ] && [ -s "$WORK/u16.jpg" ] && pass d16_written || fail d16_written "missing output"

if [ "$have_python" = 0 ]; then
    echo "SKIP output_alpha_and_exif: no python3 to write the test inputs"
    exit 0
fi
python3 "$WORK/png.py" make "$WORK"

# Alpha dropped by JPEG: one warning line from every writing command, and the job runs.
for cmd in convert resize degrade upscale; do
    case $cmd in
        convert) set -- convert "$WORK/rgba.png" "$WORK/a_$cmd.jpg" ;;
        resize) set -- resize "$WORK/rgba.png" "$WORK/a_$cmd.jpg" --scale 2 ;;
        degrade) set -- degrade "$WORK/rgba.png" "$WORK/a_$cmd.jpg" --noise 5 ;;
        upscale) set -- upscale -m bicubic -i "$WORK/rgba.png" -o "$WORK/a_$cmd.jpg" ;;
    esac
    expect_warning "alpha_dropped_$cmd" "alpha" "$NSR" "$@"
    [ -s "$WORK/a_$cmd.jpg" ] && pass "alpha_dropped_${cmd}_written" || fail "alpha_dropped_${cmd}_written" missing
done
expect_quiet alpha_kept_webp "$NSR" convert "$WORK/rgba.png" "$WORK/a.webp"

# EXIF orientation 6 applied (3x2 becomes 2x3), the EXIF written with orientation 1, 72 dpi kept
# (pHYs 2835 per metre, JFIF 72 dpi, the EXIF's 72).
expect_ok exif_png "$NSR" convert "$WORK/turned.png" "$WORK/t.png"
expect_equal exif_png_kept "2 3 2835 1 72" "$(python3 "$WORK/png.py" png "$WORK/t.png")"
expect_ok exif_jpeg "$NSR" convert "$WORK/turned.png" "$WORK/t.jpg"
expect_equal exif_jpeg_kept "1 72 1 72" "$(python3 "$WORK/png.py" jpeg "$WORK/t.jpg")"
expect_ok exif_webp "$NSR" convert "$WORK/turned.png" "$WORK/t.webp"
expect_equal exif_webp_kept "1 72" "$(python3 "$WORK/png.py" webp "$WORK/t.webp")"
# Back from JPEG and WebP to PNG: the same size, orientation and resolution.
expect_ok exif_jpeg_back "$NSR" convert "$WORK/t.jpg" "$WORK/tj.png"
expect_equal exif_jpeg_back_kept "2 3 2835 1 72" "$(python3 "$WORK/png.py" png "$WORK/tj.png")"
expect_ok exif_webp_back "$NSR" convert "$WORK/t.webp" "$WORK/tw.png"
expect_equal exif_webp_back_kept "2 3 2835 1 72" "$(python3 "$WORK/png.py" png "$WORK/tw.png")"
# x2 keeps the physical size: 144 dpi (5669 per metre), in pHYs and the EXIF alike; x3 by resize.
expect_ok dpi_upscale "$NSR" upscale -m bicubic -s 2 -i "$WORK/turned.png" -o "$WORK/u.png"
expect_equal dpi_upscale_scaled "4 6 5669 1 144" "$(python3 "$WORK/png.py" png "$WORK/u.png")"
expect_ok dpi_upscale_jpeg "$NSR" upscale -m bicubic -s 2 -i "$WORK/turned.png" -o "$WORK/u.jpg"
expect_equal dpi_upscale_jpeg_scaled "1 144 1 144" "$(python3 "$WORK/png.py" jpeg "$WORK/u.jpg")"
expect_ok dpi_resize "$NSR" resize "$WORK/turned.png" "$WORK/r.png" --scale 3
expect_equal dpi_resize_scaled "6 9 8504 1 216" "$(python3 "$WORK/png.py" png "$WORK/r.png")"
