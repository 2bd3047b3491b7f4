/* Pass/fail bookkeeping shared by the fixture replay and the ABI checks. */
#ifndef TRINITY_TEST_REPORT_H
#define TRINITY_TEST_REPORT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

void report_init(void);
/* Records `id` as passed when `ok`, else prints why it failed. Returns `ok`. */
bool report(const char *id, bool ok, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int report_failed(void);
int report_passed(void);
/* Writes {"language":"c","passed":[...]} to `path`; returns 0 on success. */
int report_write(const char *path);
void report_free(void);

/* What one case produced: a result object shaped like the Rust runner's, or an error. */
typedef struct {
    uint32_t rc;
    struct trinity_error *err;
    json_t *got;
    char why[256]; /* set when the runner itself could not run the case */
} outcome;

/* A chat_stream's chunks folded as the conformance runners fold them. */
typedef struct {
    char *text;
    size_t len;
    json_int_t chunks; /* chunks with a non-empty delta */
    size_t calls;      /* every chunk */
    size_t stop_after; /* when > 0, return false (stop) after this many chunks */
    json_t *last;      /* {"finish_reason"} once a chunk carried one */
} chat_fold;

void chat_fold_init(chat_fold *f);
/* A trinity_chunk_callback; user_data is a chat_fold. */
bool chat_fold_chunk(void *user_data, const char *json, size_t len);
/* {"content", "finish_reason", "chunks"}; frees the fold's own memory. */
json_t *chat_fold_take(chat_fold *f);

/* Runs a chat.json case (op chat or chat_stream); sets o->rc/o->err or o->why. */
json_t *run_chat(const json_t *c, bool stream, outcome *o);

/* Runs a healer.json case (op heal_html or heal_css); sets o->rc/o->err. */
json_t *run_heal(const json_t *in, bool html, outcome *o);

/* Runs a context.json case (prune, prioritize, warn, window, validate); sets o->rc/o->err. */
json_t *run_context(const char *op, const json_t *in, outcome *o);

/* Runs a guard.json case (op guard_replay); sets o->rc/o->err. */
json_t *run_guard_replay(const json_t *in, outcome *o);

int replay_fixture_file(const char *path);
void run_abi_checks(const char *fixtures_dir);
void run_chat_checks(void);
void run_resilience_checks(void);
void run_observe_checks(void);

#endif
