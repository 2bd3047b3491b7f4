#include "report.h"

#include <stdarg.h>
#include <stdio.h>

static json_t *passed;
static int failed;

void report_init(void) { passed = json_array(); }

bool report(const char *id, bool ok, const char *fmt, ...) {
    if (ok) {
        json_array_append_new(passed, json_string(id));
        return true;
    }
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FAIL %s: ", id);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    failed++;
    return false;
}

int report_failed(void) { return failed; }
int report_passed(void) { return (int)json_array_size(passed); }

int report_write(const char *path) {
    json_t *doc = json_pack("{s:s, s:O}", "language", "c", "passed", passed);
    int rc = json_dump_file(doc, path, JSON_COMPACT);
    json_decref(doc);
    return rc;
}

void report_free(void) { json_decref(passed); }
