# `make install PREFIX=...` installs the program, library, header, pkg-config file and man page;
# a program built with `pkg-config --cflags --libs nsr` against the installed copy runs, and so
# does examples/upscale.c (as `make` built it, and built against the installed copy); the
# installed man page renders without warnings (where man or groff is there).
. tests/clilib.sh
build=$(dirname "$NSR")
prefix="$WORK/prefix"
# The install rebuilds the program in the shared build folder with this prefix in its model
# search path; it is rebuilt with the prefix it had (make's, or the one it was made with) after.
built_prefix=$(cat "$build/tools/prefix" 2>/dev/null) || built_prefix=
restore_build() {
    make -s SANITIZE="${NSR_SANITIZE:-}" BUILD="$build" ${built_prefix:+PREFIX="$built_prefix"} "$build/nsr" >/dev/null 2>&1
}
trap 'restore_build; rm -rf "$WORK"' EXIT
if make -s install SANITIZE="${NSR_SANITIZE:-}" BUILD="$build" PREFIX="$prefix" >"$WORK/log" 2>&1; then pass install_runs
else fail install_runs "$(tail -n 1 "$WORK/log")"; exit 0; fi
for f in bin/nsr lib/libnsr.a lib/libnsr.so include/nsr.h lib/pkgconfig/nsr.pc share/man/man1/nsr.1 \
    share/nsr/models/nsr_x2.nsr; do
    if [ -e "$prefix/$f" ]; then pass "installed_$f"; else fail "installed_$f" "missing"; fi
done
# The library exports its API only, and the header defines no macro outside NSR_. (Under
# AddressSanitizer an exported global, nsr_bicubic_restorer, has a __odr_asan.NAME indicator.)
other=$(nm -D --defined-only "$prefix/lib/libnsr.so" 2>&1 |
    awk '$3 !~ /^nsr_/ && $3 !~ /^__odr_asan\.nsr_/ {print $3}' | head -n 5)
if [ -z "$other" ]; then pass exports_only_nsr; else fail exports_only_nsr "also exported: $other"; fi
macros=$(grep -E '^[[:space:]]*#[[:space:]]*define' "$prefix/include/nsr.h" | grep -vE 'define[[:space:]]+NSR_')
if [ -z "$macros" ]; then pass header_macros_prefixed; else fail header_macros_prefixed "$macros"; fi
cat >"$WORK/use.c" <<'C'
#include <nsr.h>
#include <stdio.h>
int main(void) {
    nsr_image img;
    nsr_error err;
    if (nsr_render_test_image(&img, 16, 8, &err)) { puts(err.message); return 1; }
    printf("%dx%d\n", img.width, img.height);
    nsr_image_free(&img);
    return 0;
}
C
# A sanitizer-built library needs the sanitizer runtime in the program too.
[ "${NSR_SANITIZE:-}" = 1 ] && flags="-fsanitize=address,undefined" || flags=
flags="$flags $(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs nsr 2>&1)"
if cc -o "$WORK/use" "$WORK/use.c" $flags >"$WORK/log" 2>&1 &&
    [ "$(LD_LIBRARY_PATH="$prefix/lib" "$WORK/use")" = "16x8" ]; then pass pkg_config_link
else fail pkg_config_link "$(head -c 300 "$WORK/log")"; fi
if [ "$("$prefix/bin/nsr" --version)" = "nsr $(sed -n 's/.*NSR_VERSION_STRING "\(.*\)"/\1/p' include/nsr.h)" ]; then
    pass installed_program_runs
else fail installed_program_runs "wrong --version"; fi
# The installed models are found by name, beside the program and, for a copy of the program
# elsewhere, under the install prefix the program was built for.
if [ -f models/nsr_x2.nsr ]; then
    expect_out installed_models_listed "^nsr_x2 .* $prefix/bin/../share/nsr/models/nsr_x2.nsr$\|^nsr_x2 .* $prefix/share/nsr/models/nsr_x2.nsr$" \
        env NSR_MODELS= "$prefix/bin/nsr" models
    mkdir "$WORK/elsewhere" && cp "$prefix/bin/nsr" "$WORK/elsewhere/nsr"
    expect_out prefix_models_found "^nsr_x2 .* $prefix/share/nsr/models/nsr_x2.nsr$" env NSR_MODELS= "$WORK/elsewhere/nsr" models
    expect_ok installed_upscale_by_name env NSR_MODELS= "$WORK/elsewhere/nsr" upscale -m nsr_x2 -o "$WORK/x2.png"
fi

# examples/upscale.c: built by make, and through pkg-config against the installed library; both
# upscale a 24x16 image x2 with the installed model.
"$prefix/bin/nsr" upscale -m bicubic -o "$WORK/picture.png" 2>/dev/null &&
    "$prefix/bin/nsr" resize "$WORK/picture.png" "$WORK/small.png" --size 24x16
model="$prefix/share/nsr/models/nsr_x2.nsr"
if out=$("$build/examples/upscale" "$model" "$WORK/small.png" "$WORK/made.png" 2>&1) &&
    [ "$out" = "24x16 -> 48x32" ] && [ "$(png_head "$WORK/made.png")" = "48 32 8 2" ]; then
    pass example_built_by_make
else fail example_built_by_make "$out"; fi
if cc -o "$WORK/upscale" examples/upscale.c $flags >"$WORK/log" 2>&1 &&
    out=$(LD_LIBRARY_PATH="$prefix/lib" "$WORK/upscale" "$model" "$WORK/small.png" "$WORK/linked.png" 2>&1) &&
    [ "$out" = "24x16 -> 48x32" ]; then
    pass example_pkg_config
else fail example_pkg_config "$(head -c 300 "$WORK/log") $out"; fi
expect_same example_same_result "$WORK/made.png" "$WORK/linked.png"
expect_error example_error_line env LD_LIBRARY_PATH="$prefix/lib" "$WORK/upscale" "$model" "$WORK/missing.png" "$WORK/x.png"

# The build's own program searches its own prefix again, not this test's.
if restore_build && ! "$NSR" models 2>&1 | grep -q "$prefix"; then pass build_prefix_restored
else fail build_prefix_restored "$("$NSR" models 2>&1 | tail -n 1)"; fi

# The man page renders without a warning: man -l where man is there, else groff.
page="$prefix/share/man/man1/nsr.1"
if command -v man >/dev/null 2>&1; then
    warnings=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
    rendered=$(MANWIDTH=80 man -l "$page" 2>/dev/null)
elif command -v groff >/dev/null 2>&1; then
    warnings=$(groff -man -Tutf8 -ww -z "$page" 2>&1)
    rendered=$(groff -man -Tutf8 "$page" 2>/dev/null)
else
    echo "SKIP man_page_renders: neither man nor groff is installed"
    exit 0
fi
if [ -z "$warnings" ] && echo "$rendered" | grep -q "EXIT STATUS"; then pass man_page_renders
else fail man_page_renders "$(echo "$warnings" | head -n 3)"; fi
