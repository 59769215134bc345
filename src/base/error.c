/* error.c - the one way errors are reported: a line of text in the caller's nsr_error. */
#include <stdarg.h>
#include <stdio.h>

#include "nsr.h"

int nsr_fail(nsr_error *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return -1;
}
