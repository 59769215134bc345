/* json.h - the JSON that nsr's programs print (nsr eval, info, metrics, bench): internal to the
 * repository, not part of the installed API. */
#ifndef NSR_BASE_JSON_H
#define NSR_BASE_JSON_H

#include <stdio.h>

/* s as a JSON string literal: quotes and backslashes escaped, control characters as \u00XX. */
void json_write_string(FILE *out, const char *s);
/* `<sep>"key": value` with six decimals; non-finite values, which JSON cannot write, as null. */
void json_write_number(FILE *out, const char *sep, const char *key, double value);

#endif
