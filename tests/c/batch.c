/* Batch runs through the C ABI (issue 16): the shared small batch of tests/fixtures/batch against
 * the mock server with the results every language gets: every custom_id once and joined to its
 * own answer, the summary's counts, a run stopped through its cancel token that leaves valid
 * files and a resume that finishes exactly the rest, its progress read from another thread
 * while it goes, trinity_batch_status agreeing, bad input
 * naming its line, bad options and NULLs as their error numbers. Built with ASan + UBSan
 * (mk/c.mk); every string and error is freed, so LeakSanitizer checks the ownership rules too.
 *
 *   batch <repo root>
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static json_t *CASES;
static char FIXTURES[2048];
static char DIR_[64];

static char *dump(const json_t *v) { return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY); }

static void path_in(char *buf, size_t n, const char *dir, const char *name) { snprintf(buf, n, "%s/%s", dir, name); }

/* `text` with every "{url}" replaced by `url`; the caller frees it. */
static char *with_url(const char *text, const char *url) {
    size_t n = 1;
    for (const char *p = text; *p;) {
        if (strncmp(p, "{url}", 5) == 0) n += strlen(url), p += 5;
        else n++, p++;
    }
    char *out = malloc(n), *o = out;
    for (const char *p = text; *p;) {
        if (strncmp(p, "{url}", 5) == 0) o = stpcpy(o, url), p += 5;
        else *o++ = *p++;
    }
    *o = 0;
    return out;
}

static trinity_mock_server *start(const char *which) {
    char *cfg = dump(json_object_get(CASES, which));
    trinity_mock_server *srv = NULL;
    trinity_error *err = NULL;
    if (trinity_mock_server_start(cfg, strlen(cfg), &srv, &err) != TRINITY_OK) {
        fprintf(stderr, "mock server: %s\n", trinity_error_message(err));
        abort();
    }
    free(cfg);
    return srv;
}

static trinity_client *client_for(const trinity_mock_server *srv) {
    char *text = dump(json_object_get(CASES, "config"));
    char *cfg = with_url(text, trinity_mock_server_url(srv));
    trinity_client *c = NULL;
    trinity_error *err = NULL;
    if (trinity_client_new(cfg, strlen(cfg), &c, &err) != TRINITY_OK) {
        fprintf(stderr, "client: %s\n", trinity_error_message(err));
        abort();
    }
    free(text);
    free(cfg);
    return c;
}

static json_int_t requests(const trinity_mock_server *srv) {
    trinity_string s = {0};
    uint32_t rc = trinity_mock_server_stats(srv, &s, NULL);
    result r = finish(rc, &s, NULL);
    json_int_t n = json_integer_value(json_object_get(r.out, "requests"));
    result_free(&r);
    return n;
}

static result run_batch(const trinity_client *c, const char *input, const char *output, bool resume, int concurrency,
                        const trinity_cancel_token *cancel, const trinity_batch_progress *progress) {
    json_t *o = json_pack("{s:s, s:s, s:b, s:i}", "input", input, "output", output, "resume", resume, "concurrency",
                          concurrency);
    char *doc = dump(o);
    trinity_string s = {0};
    trinity_error *err = NULL;
    uint32_t rc = trinity_batch_run(c, doc, strlen(doc), cancel, progress, &s, &err);
    free(doc);
    json_decref(o);
    return finish(rc, &s, err);
}

static result read_progress(const trinity_batch_progress *p) {
    trinity_string s = {0};
    trinity_error *err = NULL;
    uint32_t rc = trinity_batch_progress_read(p, &s, &err);
    return finish(rc, &s, err);
}

static json_int_t field(const result *r, const char *key) { return json_integer_value(json_object_get(r->out, key)); }

static result status(const char *output) {
    trinity_string s = {0};
    trinity_error *err = NULL;
    uint32_t rc = trinity_batch_status(output, len_of(output), &s, &err);
    return finish(rc, &s, err);
}

/* The JSON lines of a file, as an array. */
static json_t *read_lines(const char *path) {
    json_t *lines = json_array();
    FILE *f = fopen(path, "r");
    if (!f) return lines;
    char *buf = NULL;
    size_t cap = 0;
    while (getline(&buf, &cap, f) > 0) json_array_append_new(lines, json_loads(buf, 0, NULL));
    free(buf);
    fclose(f);
    return lines;
}

static const char *id_of(const json_t *line) { return json_string_value(json_object_get(line, "custom_id")); }

/* Each line joined to its own request: the echo model answers with the prompt. */
static void check_lines(const json_t *lines, const char *what) {
    size_t i;
    json_t *l;
    json_array_foreach(lines, i, l) {
        const char *id = id_of(l);
        const json_t *answer = json_object_get(json_object_get(CASES, "answers"), id);
        if (answer) {
            const json_t *choice = json_array_get(json_object_get(json_object_get(json_object_get(l, "response"), "body"), "choices"), 0);
            const json_t *content = json_object_get(json_object_get(choice, "message"), "content");
            check(json_equal(content, answer), "%s: %s answered with its own prompt", what, id);
            check(json_is_null(json_object_get(l, "error")), "%s: %s no error", what, id);
        } else {
            const json_t *code = json_object_get(json_object_get(l, "error"), "code");
            check(json_equal(code, json_object_get(json_object_get(CASES, "failed"), id)), "%s: %s failed as expected", what,
                  id ? id : "?");
        }
    }
}

/* The summary's fields as cases.json has them (`skipped` as given when >= 0). */
static void check_summary(const json_t *s, const char *what, json_int_t skipped) {
    const char *key;
    json_t *want;
    json_object_foreach(json_object_get(CASES, "summary"), key, want) {
        if (strcmp(key, "skipped") == 0 && skipped >= 0) {
            check(json_integer_value(json_object_get(s, key)) == skipped, "%s: skipped", what);
            continue;
        }
        check(json_equal(json_object_get(s, key), want), "%s: summary.%s", what, key);
    }
    const json_t *failed = json_object_get(s, "failed_requests");
    check(json_array_size(failed) == json_object_size(json_object_get(CASES, "failed")), "%s: failed_requests", what);
    size_t i;
    json_t *f;
    json_array_foreach(failed, i, f) {
        check(json_object_get(json_object_get(CASES, "failed"), id_of(f)) != NULL, "%s: %s is one that fails", what, id_of(f));
    }
}

static void check_full_run(const char *input) {
    trinity_mock_server *srv = start("server");
    trinity_client *c = client_for(srv);
    char out[4096], errors[4096];
    path_in(out, sizeof out, DIR_, "full.jsonl");
    path_in(errors, sizeof errors, DIR_, "full.errors.jsonl");
    int concurrency = (int)json_integer_value(json_object_get(CASES, "concurrency"));
    result r = run_batch(c, input, out, false, concurrency, NULL, NULL);
    check(r.rc == TRINITY_OK, "full run: %s", r.code);
    check_summary(r.out, "full run", -1);
    json_t *lines = read_lines(out), *ids = read_lines(input);
    check(json_array_size(lines) == json_array_size(ids), "every request has a line");
    for (size_t i = 0; i < json_array_size(ids); i++) {
        check(strcmp(id_of(json_array_get(lines, i)), id_of(json_array_get(ids, i))) == 0, "line %zu in input order", i);
    }
    check_lines(lines, "full run");
    json_t *errs = read_lines(errors);
    check(json_array_size(errs) == json_object_size(json_object_get(CASES, "failed")), "the errors file");
    result st = status(out);
    check(st.rc == TRINITY_OK, "status: %s", st.code);
    check_summary(st.out, "status", -1);
    check(json_real_value(json_object_get(st.out, "cost_usd")) == json_real_value(json_object_get(r.out, "cost_usd")),
          "status cost");
    /* A run into an output that has a journal must be resumed, not restarted. */
    result again = run_batch(c, input, out, false, concurrency, NULL, NULL);
    check(again.rc == TRINITY_ERR_INVALID_INPUT, "no resume: %s", again.code);
    result_free(&again);
    result_free(&st);
    json_decref(errs);
    json_decref(lines);
    json_decref(ids);
    result_free(&r);
    trinity_client_free(c);
    trinity_mock_server_free(srv);
}

typedef struct {
    const trinity_batch_progress *progress;
    trinity_cancel_token *token;
    int bad_readings;
} stopper;

/* Cancels the run once its progress counts 5 finished requests; every reading must add up. */
static void *stop_after_five(void *arg) {
    stopper *s = arg;
    for (int i = 0; i < 2000; i++) {
        result p = read_progress(s->progress);
        json_int_t total = field(&p, "total"), done = field(&p, "succeeded") + field(&p, "failed");
        if (p.rc != TRINITY_OK ||
            (total > 0 && field(&p, "skipped") + done + field(&p, "remaining") != total)) {
            s->bad_readings++;
        }
        result_free(&p);
        if (done >= 5) break;
        nanosleep(&(struct timespec){.tv_nsec = 5 * 1000 * 1000}, NULL);
    }
    trinity_cancel(s->token);
    return NULL;
}

static void check_cancel_and_resume(const char *input) {
    trinity_mock_server *srv = start("slow_server");
    trinity_client *c = client_for(srv);
    char out[4096], part[4096];
    path_in(out, sizeof out, DIR_, "stopped.jsonl");
    path_in(part, sizeof part, DIR_, "stopped.jsonl.part");
    trinity_cancel_token *token = NULL;
    check(trinity_cancel_token_new(&token, NULL) == TRINITY_OK, "token");
    trinity_batch_progress *progress = NULL;
    check(trinity_batch_progress_new(&progress, NULL) == TRINITY_OK, "progress");
    stopper s = {.progress = progress, .token = token};
    pthread_t t;
    pthread_create(&t, NULL, stop_after_five, &s);
    result first = run_batch(c, input, out, false, 2, token, progress);
    pthread_join(t, NULL);
    trinity_cancel_token_free(token);
    check(s.bad_readings == 0, "%d progress readings did not add up", s.bad_readings);
    check(first.rc == TRINITY_OK, "cancelled run: %s", first.code);
    const char *stopped = json_string_value(json_object_get(first.out, "stopped"));
    check(stopped && strcmp(stopped, "cancelled") == 0, "stopped: cancelled");
    check(json_is_false(json_object_get(first.out, "complete")), "not complete");
    json_int_t done = json_integer_value(json_object_get(first.out, "succeeded")) +
                      json_integer_value(json_object_get(first.out, "failed"));
    check(done >= 5 && done < 20, "done %lld", (long long)done);
    check(json_integer_value(json_object_get(first.out, "remaining")) == 20 - done, "remaining");
    /* The last reading agrees with the summary. */
    result p = read_progress(progress);
    check(field(&p, "total") == 20 && field(&p, "succeeded") + field(&p, "failed") == done && field(&p, "in_flight") == 0,
          "progress after the stop: %lld of %lld done, %lld in flight", (long long)(field(&p, "succeeded") + field(&p, "failed")),
          (long long)field(&p, "total"), (long long)field(&p, "in_flight"));
    double cost_gap = json_real_value(json_object_get(p.out, "cost_usd")) - json_real_value(json_object_get(first.out, "cost_usd"));
    check(cost_gap < 1e-6 && cost_gap > -1e-6, "progress cost (counted in nano-USD)");
    result_free(&p);
    trinity_batch_progress_free(progress);
    /* Valid files: the part file holds each finished request once. */
    json_t *lines = read_lines(part);
    check((json_int_t)json_array_size(lines) == done, "part lines %zu", json_array_size(lines));
    for (size_t i = 0; i < json_array_size(lines); i++) {
        check(json_is_object(json_array_get(lines, i)), "part line %zu is JSON", i);
        for (size_t j = 0; j < i; j++) {
            check(strcmp(id_of(json_array_get(lines, i)), id_of(json_array_get(lines, j))) != 0, "part ids unique");
        }
    }
    check_lines(lines, "part");
    result st = status(out);
    check(json_integer_value(json_object_get(st.out, "remaining")) == 20 - done, "status remaining");
    result_free(&st);
    json_int_t sent = requests(srv);
    check(trinity_batch_progress_new(&progress, NULL) == TRINITY_OK, "progress");
    result rest = run_batch(c, input, out, true, 4, NULL, progress);
    p = read_progress(progress);
    check(field(&p, "skipped") == done && field(&p, "remaining") == 0, "progress of the resume");
    result_free(&p);
    trinity_batch_progress_free(progress);
    check(rest.rc == TRINITY_OK, "resume: %s", rest.code);
    check_summary(rest.out, "resume", done);
    check(requests(srv) - sent == 20 - done, "the resume sent exactly the rest");
    json_t *all = read_lines(out);
    check(json_array_size(all) == 20, "output complete");
    check_lines(all, "resumed output");
    st = status(out);
    check_summary(st.out, "status after resume", -1);
    result_free(&st);
    json_decref(all);
    json_decref(lines);
    result_free(&rest);
    result_free(&first);
    trinity_client_free(c);
    trinity_mock_server_free(srv);
}

static void check_errors(const char *input) {
    trinity_mock_server *srv = start("server");
    trinity_client *c = client_for(srv);
    char out[4096], in[4096];
    path_in(out, sizeof out, DIR_, "bad.jsonl");
    size_t i;
    json_t *bad;
    json_array_foreach(json_object_get(CASES, "bad"), i, bad) {
        path_in(in, sizeof in, FIXTURES, json_string_value(json_object_get(bad, "input")));
        json_t *o = json_pack("{s:s, s:s}", "input", in, "output", out);
        char *doc = dump(o);
        trinity_string s = {0};
        trinity_error *err = NULL;
        uint32_t rc = trinity_batch_run(c, doc, strlen(doc), NULL, NULL, &s, &err);
        if (!check(rc != TRINITY_OK && err != NULL, "bad input refused")) abort();
        check(strcmp(trinity_error_code_name(err), json_string_value(json_object_get(bad, "code"))) == 0, "bad input code");
        check(strstr(trinity_error_message(err), json_string_value(json_object_get(bad, "message_contains"))) != NULL,
              "bad input message: %s", trinity_error_message(err));
        result r = finish(rc, &s, err);
        check(json_integer_value(json_object_get(r.details, "line")) == json_integer_value(json_object_get(bad, "line")),
              "bad input names its line");
        result_free(&r);
        free(doc);
        json_decref(o);
    }
    check(requests(srv) == 0, "nothing was sent");
    char journal[4200];
    snprintf(journal, sizeof journal, "%s.journal", out);
    check(access(journal, F_OK) != 0, "no journal made");
    const char *bad_options[] = {
        "{\"input\": \"a\", \"output\": \"b\", \"grace_s\": -1}",
        "{\"input\": \"a\", \"output\": \"b\", \"paralell\": 3}",
        "{\"input\": \"a\", \"output\": \"b\", \"concurrency\": 0}",
        "{\"output\": \"b\"}",
        "not json",
    };
    for (size_t k = 0; k < sizeof bad_options / sizeof *bad_options; k++) {
        trinity_string s = {0};
        trinity_error *err = NULL;
        uint32_t rc = trinity_batch_run(c, bad_options[k], strlen(bad_options[k]), NULL, NULL, &s, &err);
        result r = finish(rc, &s, err);
        check(r.rc == TRINITY_ERR_INVALID_INPUT, "bad options %zu: %s", k, r.code);
        result_free(&r);
    }
    char opts[8192];
    snprintf(opts, sizeof opts, "{\"input\": \"%s\", \"output\": \"%s/x.jsonl\"}", input, DIR_);
    trinity_string s = {0};
    trinity_error *err = NULL;
    uint32_t rc = trinity_batch_run(NULL, opts, strlen(opts), NULL, NULL, &s, &err);
    result r = finish(rc, &s, err);
    check(r.rc == TRINITY_ERR_INVALID_INPUT, "NULL client: %s", r.code);
    result_free(&r);
    err = NULL;
    check(trinity_batch_run(c, opts, strlen(opts), NULL, NULL, NULL, &err) == TRINITY_ERR_INVALID_INPUT, "NULL out");
    trinity_error_free(err);
    err = NULL;
    check(trinity_batch_progress_read(NULL, &s, &err) == TRINITY_ERR_INVALID_INPUT, "NULL progress");
    trinity_error_free(err);
    err = NULL;
    check(trinity_batch_progress_new(NULL, &err) == TRINITY_ERR_INVALID_INPUT, "NULL out_progress");
    trinity_batch_progress_free(NULL);
    trinity_error_free(err);
    err = NULL;
    check(trinity_batch_status(NULL, 4, &s, &err) == TRINITY_ERR_INVALID_INPUT, "NULL output");
    trinity_error_free(err);
    r = status("/nonexistent/never.jsonl");
    check(r.rc == TRINITY_ERR_NOT_FOUND, "no journal: %s", r.code);
    result_free(&r);
    trinity_client_free(c);
    trinity_mock_server_free(srv);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s <repo root>\n", argv[0]);
        return 2;
    }
    snprintf(FIXTURES, sizeof FIXTURES, "%s/tests/fixtures/batch", argv[1]);
    char path[4096];
    path_in(path, sizeof path, FIXTURES, "cases.json");
    CASES = json_load_file(path, 0, NULL);
    if (!CASES) {
        fprintf(stderr, "cannot read %s\n", path);
        return 2;
    }
    snprintf(DIR_, sizeof DIR_, "/tmp/trinity-c-batch-XXXXXX");
    if (!mkdtemp(DIR_)) return 2;
    path_in(path, sizeof path, FIXTURES, json_string_value(json_object_get(CASES, "input")));
    check_full_run(path);
    check_cancel_and_resume(path);
    check_errors(path);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", DIR_);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", DIR_);
    json_decref(CASES);
    printf("c batch: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
