/* Minimal TAP producer for the httpd-free unit tests (run by prove). */
#ifndef SSE_TAP_H
#define SSE_TAP_H

#include <stdio.h>
#include <stdarg.h>
#include <string.h>

static int tap_n, tap_failed;

#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define is_str(got, want, ...)                                              \
    tap_is_str((got), (want), __FILE__, __LINE__, __VA_ARGS__)
#define is_int(got, want, ...)                                              \
    tap_is_int((long long)(got), (long long)(want), __FILE__, __LINE__,     \
               __VA_ARGS__)

static int tap_ok(int pass, const char *file, int line, const char *name, ...)
    __attribute__((format(printf, 4, 5)));
static int tap_ok(int pass, const char *file, int line, const char *name, ...)
{
    va_list ap;

    printf("%sok %d - ", pass ? "" : "not ", ++tap_n);
    va_start(ap, name);
    vprintf(name, ap);
    va_end(ap);
    printf("\n");
    if (!pass) {
        ++tap_failed;
        printf("#   Failed at %s line %d\n", file, line);
    }
    return pass;
}

static inline int tap_is_str(const char *got, const char *want, const char *file,
                      int line, const char *name)
{
    int pass = (got && want && !strcmp(got, want)) || (!got && !want);

    tap_ok(pass, file, line, "%s", name);
    if (!pass) {
        printf("#          got: '%s'\n#     expected: '%s'\n",
               got ? got : "(null)", want ? want : "(null)");
    }
    return pass;
}

static inline int tap_is_int(long long got, long long want, const char *file,
                      int line, const char *name)
{
    int pass = got == want;

    tap_ok(pass, file, line, "%s", name);
    if (!pass) {
        printf("#          got: %lld\n#     expected: %lld\n", got, want);
    }
    return pass;
}

static inline int tap_done(void)
{
    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}

#endif
