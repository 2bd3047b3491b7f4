/* Pass/fail bookkeeping shared by the fixture replay and the ABI checks. */
#ifndef TRINITY_TEST_REPORT_H
#define TRINITY_TEST_REPORT_H

#include <jansson.h>
#include <stdbool.h>

void report_init(void);
/* Records `id` as passed when `ok`, else prints why it failed. Returns `ok`. */
bool report(const char *id, bool ok, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int report_failed(void);
int report_passed(void);
/* Writes {"language":"c","passed":[...]} to `path`; returns 0 on success. */
int report_write(const char *path);
void report_free(void);

int replay_fixture_file(const char *path);
void run_abi_checks(const char *fixtures_dir);

#endif
