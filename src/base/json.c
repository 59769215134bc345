/* json.c - JSON strings and numbers for the programs' output (json.h). */
#include <math.h>

#include "base/json.h"

void json_write_string(FILE *out, const char *s) {
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(out, "\\%c", *p);
        else if (*p < 0x20) fprintf(out, "\\u%04x", *p);
        else fputc(*p, out);
    }
    fputc('"', out);
}

void json_write_number(FILE *out, const char *sep, const char *key, double value) {
    fprintf(out, "%s\"%s\": ", sep, key);
    if (isfinite(value)) fprintf(out, "%.6f", value);
    else fputs("null", out);
}
