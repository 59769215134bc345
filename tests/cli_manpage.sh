#!/bin/sh
# docs/nsr.1 names every command of `nsr --help` and every option of its `nsr COMMAND --help`
# (roff writes a '-' of an option as '\-'), and has the sections a manual page needs.
. tests/clilib.sh
page=docs/nsr.1
commands=$("$NSR" --help | awk '/^commands:/ {on = 1; next} on && /^  [a-z]/ {print $1}')
[ -n "$commands" ] && pass help_lists_commands || fail help_lists_commands "no commands in nsr --help"
for cmd in $commands; do
    if grep -q "^\.SS nsr $cmd\b" "$page"; then pass "man_command_$cmd"
    else fail "man_command_$cmd" "no '.SS nsr $cmd' section"; fi
    # every option: the long name where there is one, else the short one
    missing=
    for opt in $("$NSR" "$cmd" --help | sed -n 's/^ \{1,\}\(-[a-zA-Z]\)\{0,1\}\(, \)\{0,1\}\(--[a-z][a-z0-9-]*\)\{0,1\}.*/\1 \3/p' |
                 awk '$2 != "" {print $2; next} $1 != "" {print $1}'); do
        case $opt in --help|-h) continue ;; esac
        escaped=$(echo "$opt" | sed 's/-/\\\\-/g')
        grep -q -- "$escaped" "$page" || missing="$missing $opt"
    done
    if [ -z "$missing" ]; then pass "man_options_$cmd"; else fail "man_options_$cmd" "not in $page:$missing"; fi
done
for section in NAME SYNOPSIS DESCRIPTION COMMANDS "EXIT STATUS" ENVIRONMENT EXAMPLES; do
    if grep -q "^\.SH \"\{0,1\}$section\"\{0,1\}$" "$page"; then pass "man_section_$(echo "$section" | tr ' ' _)"
    else fail "man_section_$(echo "$section" | tr ' ' _)" "no .SH $section"; fi
done
