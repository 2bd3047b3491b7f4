/* What the C tests share: check() counts and reports, finish() takes a call's string or error
 * (freeing both, so LeakSanitizer checks the ownership rules) and keeps what it held. */
#ifndef TRINITY_TESTS_CHECK_H
#define TRINITY_TESTS_CHECK_H

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trinity.h"

static int passed, failed;

static bool check(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool check(bool ok, const char *fmt, ...) {
    if (ok) {
        passed++;
        return true;
    }
    failed++;
    va_list ap;
    va_start(ap, fmt);
    fputs("FAIL: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return false;
}

/* ------------------------------------------------------------------ calls */

typedef struct {
    uint32_t rc;
    json_t *out;     /* the result, when rc == TRINITY_OK */
    json_t *details; /* the error's details, when it has some */
    char code[32];   /* the error's code name */
} result;

static void result_free(result *r) {
    json_decref(r->out);
    json_decref(r->details);
}

/* Finishes a call: takes the string or the error, freeing both. */
static result finish(uint32_t rc, trinity_string *s, trinity_error *err) {
    result r = {.rc = rc};
    if (rc == TRINITY_OK) {
        r.out = json_loadb(s->ptr, s->len, 0, NULL);
    } else {
        if (s->ptr != NULL) fprintf(stderr, "a failed call left a string\n"), abort();
        const char *name = trinity_error_code_name(err);
        snprintf(r.code, sizeof r.code, "%s", name ? name : "?");
        const char *d = trinity_error_details(err);
        if (d) r.details = json_loads(d, 0, NULL);
        if (trinity_error_code(err) != rc) fprintf(stderr, "error number mismatch\n"), abort();
    }
    trinity_string_free(s);
    trinity_error_free(err);
    return r;
}

static size_t len_of(const char *s) { return s ? strlen(s) : 0; }

#endif
