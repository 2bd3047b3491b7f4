/* Run guards through the C ABI: the step limit and the wall-time limit (the host's own timer
 * reporting trinity_guard_deadline_reached), a loop stopping the run with its rule and steps,
 * steps from several threads, a guarded chat against the mock server recorded with its tokens,
 * a 30 s-latency server cut at max_time 0.3 s, a guarded chat cancelled through its token, the
 * event log read back (a torn tail dropped), the performance report, and bad configs, unknown
 * steps and NULLs as their error numbers. Built with ASan + UBSan (mk/c.mk); every string and
 * error is freed, so LeakSanitizer checks the ownership rules too.
 *
 *   guard
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static char DIR_[64];

/* A call that writes no string, finished like one that does (check.h's finish). Takes the
 * error's address, read only once the call returned. */
static result done(uint32_t rc, trinity_error **err) {
    trinity_string none = {0};
    return finish(rc, &none, *err);
}

/* finish() for a call made in its own arguments: reads the string and the error after it. */
static result finish_after(uint32_t rc, trinity_string *s, trinity_error **err) { return finish(rc, s, *err); }

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void sleep_ms(long ms) { nanosleep(&(struct timespec){.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L}, NULL); }

static trinity_guard *guard_new(const char *config) {
    trinity_guard *g = NULL;
    trinity_error *err = NULL;
    if (trinity_guard_new(config, len_of(config), &g, &err) != TRINITY_OK) {
        fprintf(stderr, "guard: %s\n", trinity_error_message(err));
        abort();
    }
    return g;
}

static result begin(const trinity_guard *g, const char *action, uint64_t *step) {
    trinity_error *err = NULL;
    return done(trinity_guard_begin_step(g, action, len_of(action), step, &err), &err);
}

static result finish_step(const trinity_guard *g, uint64_t step, const char *outcome) {
    trinity_error *err = NULL;
    return done(trinity_guard_finish_step(g, step, outcome, len_of(outcome), &err), &err);
}

static result record(const trinity_guard *g, const char *step_json, uint64_t *step) {
    trinity_error *err = NULL;
    return done(trinity_guard_record_step(g, step_json, len_of(step_json), step, &err), &err);
}

static result report_of(const trinity_guard *g) {
    trinity_string s = {0};
    trinity_error *err = NULL;
    uint32_t rc = trinity_guard_report(g, &s, &err);
    return finish(rc, &s, err);
}

static const char *reason(const result *r) { return json_string_value(json_object_get(r->details, "reason")); }

static bool is(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }

static json_int_t int_at(const json_t *v, const char *key) { return json_integer_value(json_object_get(v, key)); }

/* ------------------------------------------------------------------ limits */

static void check_max_steps(void) {
    trinity_guard *g = guard_new("{\"max_steps\": 3}");
    for (uint64_t i = 1; i <= 3; i++) {
        uint64_t step = 0;
        char action[64];
        snprintf(action, sizeof action, "{\"name\": \"read\", \"arguments\": {\"page\": %llu}}", (unsigned long long)i);
        result r = begin(g, action, &step);
        check(r.rc == TRINITY_OK && step == i, "max_steps: step %llu begun: %s", (unsigned long long)i, r.code);
        result_free(&r);
        r = finish_step(g, step, "{\"ok\": \"text\"}");
        check(r.rc == TRINITY_OK, "max_steps: step %llu finished: %s", (unsigned long long)i, r.code);
        result_free(&r);
    }
    uint64_t step = 99;
    result r = begin(g, "{\"name\": \"read\"}", &step);
    check(r.rc == TRINITY_ERR_GUARD_STOPPED && is(r.code, "guard_stopped"), "max_steps: the 4th step refused: %s", r.code);
    check(is(reason(&r), "max_steps"), "max_steps: reason");
    check(int_at(r.details, "limit") == 3 && int_at(r.details, "step") == 4, "max_steps: limit and step");
    check(step == 0, "max_steps: a refused step writes 0");
    result_free(&r);
    /* Sticky: the check and every later step answer the same stop. */
    trinity_error *err = NULL;
    r = done(trinity_guard_check(g, &err), &err);
    check(r.rc == TRINITY_ERR_GUARD_STOPPED && is(reason(&r), "max_steps"), "max_steps: check stays stopped");
    result_free(&r);
    r = record(g, "{\"action\": {\"name\": \"x\"}, \"outcome\": {\"ok\": 1}}", &step);
    check(r.rc == TRINITY_ERR_GUARD_STOPPED && is(reason(&r), "max_steps"), "max_steps: record_step refused");
    result_free(&r);
    r = report_of(g);
    check(r.rc == TRINITY_OK, "max_steps: report");
    check(int_at(r.out, "steps") == 3 && int_at(r.out, "failed_steps") == 0, "max_steps: 3 steps in the report");
    json_t *stopped = json_object_get(r.out, "stopped");
    check(is(json_string_value(json_object_get(stopped, "reason")), "max_steps"), "max_steps: report.stopped.reason");
    check(int_at(json_object_get(r.out, "step_duration_ms"), "count") == 3, "max_steps: step durations");
    check(strncmp(json_string_value(json_object_get(r.out, "run_id")), "run_", 4) == 0, "max_steps: run_id");
    check(json_is_null(json_object_get(r.out, "event_log")), "max_steps: no event log");
    result_free(&r);
    trinity_guard_free(g);
}

static void check_max_time(void) {
    trinity_guard *g = guard_new("{\"max_time_s\": 0.2}");
    int64_t ms = -5;
    check(trinity_guard_remaining_ms(g, &ms, NULL) == TRINITY_OK && ms > 0 && ms <= 200, "max_time: remaining %lld",
          (long long)ms);
    uint64_t step = 0;
    result r = begin(g, "{\"name\": \"fetch\", \"arguments\": {\"url\": \"https://example.com\"}}", &step);
    check(r.rc == TRINITY_OK && step == 1, "max_time: step begun");
    result_free(&r);
    /* The host's own timer fires at the deadline: it cancels its work and says so. */
    sleep_ms(ms + 20);
    trinity_error *err = NULL;
    r = done(trinity_guard_deadline_reached(g, step, &err), &err);
    check(r.rc == TRINITY_ERR_GUARD_STOPPED && is(reason(&r), "max_time"), "max_time: deadline_reached stops: %s", r.code);
    check(json_is_true(json_object_get(r.details, "cancelled")), "max_time: the step was cancelled");
    check(int_at(r.details, "step") == 1, "max_time: details.step");
    check(is(json_string_value(json_object_get(r.details, "action")), "fetch"), "max_time: details.action");
    result_free(&r);
    check(trinity_guard_remaining_ms(g, &ms, NULL) == TRINITY_OK && ms == 0, "max_time: nothing remains");
    r = begin(g, "{\"name\": \"next\"}", &step);
    check(r.rc == TRINITY_ERR_GUARD_STOPPED && is(reason(&r), "max_time"), "max_time: no step after the deadline");
    result_free(&r);
    /* The step is closed: finishing it late is an unknown step. */
    r = finish_step(g, 1, "{\"ok\": null}");
    check(r.rc == TRINITY_ERR_INVALID_INPUT, "max_time: a cancelled step cannot finish: %s", r.code);
    result_free(&r);
    r = report_of(g);
    check(int_at(r.out, "steps") == 1 && int_at(r.out, "failed_steps") == 1, "max_time: the cancelled step is counted failed");
    check(is(json_string_value(json_object_get(json_object_get(r.out, "stopped"), "reason")), "max_time"),
          "max_time: report.stopped");
    result_free(&r);
    trinity_guard_free(g);

    /* Past the deadline without a step running: the next check stops the run. */
    g = guard_new("{\"max_time_s\": 0.05}");
    sleep_ms(80);
    r = done(trinity_guard_check(g, &err), &err);
    check(r.rc == TRINITY_ERR_GUARD_STOPPED && is(reason(&r), "max_time"), "max_time: check after the deadline");
    check(json_is_false(json_object_get(r.details, "cancelled")), "max_time: nothing was cancelled");
    result_free(&r);
    trinity_guard_free(g);

    /* No limit: -1, and the check passes. */
    g = guard_new(NULL);
    check(trinity_guard_remaining_ms(g, &ms, NULL) == TRINITY_OK && ms == -1, "no time limit: -1");
    check(trinity_guard_check(g, NULL) == TRINITY_OK, "no limit: check passes");
    trinity_guard_free(g);
}

static void check_loop(void) {
    trinity_guard *g = guard_new("{}");
    const char *same = "{\"action\": {\"name\": \"search\", \"arguments\": {\"q\": \"rust\"}}, \"outcome\": {\"ok\": [\"a\"]}, "
                       "\"duration_ms\": 12.5}";
    for (uint64_t i = 1; i <= 4; i++) {
        uint64_t step = 0;
        result r = record(g, same, &step);
        check(r.rc == TRINITY_OK && step == i, "loop: step %llu recorded", (unsigned long long)i);
        result_free(&r);
    }
    uint64_t step = 0;
    result r = record(g, same, &step);
    check(r.rc == TRINITY_ERR_GUARD_STOPPED && is(reason(&r), "loop_detected"), "loop: the 5th repeat stops: %s", r.code);
    check(is(json_string_value(json_object_get(r.details, "rule")), "same_action"), "loop: rule same_action");
    json_t *steps = json_object_get(r.details, "steps");
    check(json_array_size(steps) == 5 && json_integer_value(json_array_get(steps, 0)) == 1 &&
              json_integer_value(json_array_get(steps, 4)) == 5,
          "loop: steps 1..5");
    result_free(&r);
    r = report_of(g);
    check(int_at(r.out, "steps") == 5, "loop: the looping step is recorded");
    json_t *d = json_object_get(r.out, "step_duration_ms");
    check(json_real_value(json_object_get(d, "min")) == 12.5 && json_real_value(json_object_get(d, "p99")) == 12.5,
          "loop: reported durations are used");
    result_free(&r);
    trinity_guard_free(g);

    /* The same error three times, through begin/finish. */
    g = guard_new("{\"loops\": {\"same_error\": 3}}");
    for (int i = 1; i <= 3; i++) {
        char action[64];
        snprintf(action, sizeof action, "{\"name\": \"open\", \"arguments\": {\"path\": \"f%d\"}}", i);
        result b = begin(g, action, &step);
        result_free(&b);
        r = finish_step(g, step, "{\"error\": {\"code\": \"not_found\", \"message\": \"no such file\"}}");
        if (i < 3) check(r.rc == TRINITY_OK, "same_error: step %d", i);
        else
            check(r.rc == TRINITY_ERR_GUARD_STOPPED && is(json_string_value(json_object_get(r.details, "rule")), "same_error"),
                  "same_error: the third stops the run");
        result_free(&r);
    }
    trinity_guard_free(g);

    /* Loops off: twenty repeats go through. */
    g = guard_new("{\"loops\": {\"enabled\": false}}");
    bool all = true;
    for (int i = 0; i < 20; i++) {
        r = record(g, same, &step);
        all = all && r.rc == TRINITY_OK;
        result_free(&r);
    }
    check(all, "loops off: twenty repeats");
    trinity_guard_free(g);
}

typedef struct {
    trinity_guard *g;
    int thread;
    int begun, finished;
} worker;

static void *steps_in_a_thread(void *arg) {
    worker *w = arg;
    for (int i = 0; i < 25; i++) {
        char action[96];
        snprintf(action, sizeof action, "{\"name\": \"t%d\", \"arguments\": {\"i\": %d}}", w->thread, i);
        uint64_t step = 0;
        trinity_error *err = NULL;
        if (trinity_guard_begin_step(w->g, action, strlen(action), &step, &err) != TRINITY_OK) {
            trinity_error_free(err);
            continue;
        }
        w->begun++;
        /* A step begun before the run stopped is still recorded; its finish reports the stop. */
        uint32_t rc = trinity_guard_finish_step(w->g, step, "{\"ok\": true}", 12, &err);
        if (rc == TRINITY_OK || rc == TRINITY_ERR_GUARD_STOPPED) w->finished++;
        trinity_error_free(err);
    }
    return NULL;
}

static void check_threads(void) {
    trinity_guard *g = guard_new("{\"max_steps\": 90}");
    pthread_t t[4];
    worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker){.g = g, .thread = i};
        pthread_create(&t[i], NULL, steps_in_a_thread, &w[i]);
    }
    int begun = 0, finished = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        begun += w[i].begun;
        finished += w[i].finished;
    }
    check(begun == 90 && finished == 90, "threads: exactly max_steps steps began (%d) and finished (%d)", begun, finished);
    result r = report_of(g);
    check(int_at(r.out, "steps") == 90, "threads: 90 steps in the report");
    result_free(&r);
    trinity_guard_free(g);
}

/* ------------------------------------------------------------------ chat */

static trinity_mock_server *mock(long latency_ms) {
    char cfg[256];
    snprintf(cfg, sizeof cfg,
             "{\"seed\": 3, \"default_response\": \"echo\", \"latency\": {\"dist\": \"fixed\", \"ms\": %ld}}", latency_ms);
    trinity_mock_server *srv = NULL;
    trinity_error *err = NULL;
    if (trinity_mock_server_start(cfg, strlen(cfg), &srv, &err) != TRINITY_OK) {
        fprintf(stderr, "mock server: %s\n", trinity_error_message(err));
        abort();
    }
    return srv;
}

static trinity_client *client_for(const trinity_mock_server *srv) {
    char cfg[512];
    snprintf(cfg, sizeof cfg,
             "{\"providers\": {\"m\": {\"kind\": \"openai\", \"base_url\": \"%s/v1\", \"api_key\": \"k\"}}, "
             "\"retry\": {\"max_attempts\": 1}, \"logging\": {\"level\": \"error\"}}",
             trinity_mock_server_url(srv));
    trinity_client *c = NULL;
    trinity_error *err = NULL;
    if (trinity_client_new(cfg, strlen(cfg), &c, &err) != TRINITY_OK) {
        fprintf(stderr, "client: %s\n", trinity_error_message(err));
        abort();
    }
    return c;
}

static const char REQUEST[] = "{\"model\": \"gpt-4o-mini\", \"messages\": [{\"role\": \"user\", \"content\": \"hello there\"}]}";

static result guarded_chat(const trinity_guard *g, const trinity_client *c, const trinity_cancel_token *cancel) {
    trinity_string s = {0};
    trinity_error *err = NULL;
    uint32_t rc = trinity_guard_chat(g, c, REQUEST, strlen(REQUEST), cancel, &s, &err);
    return finish(rc, &s, err);
}

static void check_chat(void) {
    trinity_mock_server *srv = mock(0);
    trinity_client *c = client_for(srv);
    trinity_guard *g = guard_new("{\"max_steps\": 3}");
    result r = guarded_chat(g, c, NULL);
    check(r.rc == TRINITY_OK, "chat: %s", r.code);
    check(is(json_string_value(json_object_get(r.out, "content")), "hello there"), "chat: the echo answered");
    json_int_t prompt = int_at(json_object_get(r.out, "usage"), "prompt_tokens");
    json_int_t completion = int_at(json_object_get(r.out, "usage"), "completion_tokens");
    result_free(&r);
    r = report_of(g);
    check(int_at(r.out, "llm_calls") == 1 && int_at(r.out, "failed_llm_calls") == 0, "chat: one call recorded");
    check(json_number_value(json_object_get(json_object_get(r.out, "input_tokens"), "total")) == (double)prompt && prompt > 0,
          "chat: input tokens");
    check(json_number_value(json_object_get(json_object_get(r.out, "output_tokens"), "total")) == (double)completion,
          "chat: output tokens");
    check(int_at(json_object_get(r.out, "cost_usd"), "count") == 1, "chat: gpt-4o-mini is priced");
    check(int_at(r.out, "steps") == 0, "chat: an LLM call is not a step");
    result_free(&r);
    /* A model the registry does not know is answered but cannot be priced: unpriced, not $0. */
    trinity_string s = {0};
    trinity_error *err = NULL;
    const char *unknown = "{\"model\": \"no-such-model-xyz\", \"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}";
    r = finish_after(trinity_guard_chat(g, c, unknown, strlen(unknown), NULL, &s, &err), &s, &err);
    check(r.rc == TRINITY_OK, "chat: unknown model answered: %s", r.code);
    result_free(&r);
    /* A provider failure is the call's error, recorded as a failed call. */
    const char *fail = "{\"script\": [\"500\"]}";
    check(trinity_mock_server_set_faults(srv, fail, strlen(fail), NULL) == TRINITY_OK, "chat: set faults");
    r = guarded_chat(g, c, NULL);
    check(r.rc == TRINITY_ERR_PROVIDER, "chat: a 500 is the provider's error: %s", r.code);
    result_free(&r);
    check(trinity_mock_server_set_faults(srv, "{}", 2, NULL) == TRINITY_OK, "chat: clear faults");
    /* A bad request is refused before anything is recorded. */
    r = finish_after(trinity_guard_chat(g, c, "{\"model\": 1}", 12, NULL, &s, &err), &s, &err);
    check(r.rc == TRINITY_ERR_INVALID_INPUT, "chat: bad request: %s", r.code);
    result_free(&r);
    r = report_of(g);
    check(int_at(r.out, "llm_calls") == 3 && int_at(r.out, "failed_llm_calls") == 1, "chat: the failed call recorded");
    check(int_at(r.out, "unpriced_llm_calls") == 1 && int_at(json_object_get(r.out, "cost_usd"), "count") == 1,
          "chat: the unpriced call is counted apart");
    check(int_at(json_object_get(r.out, "llm_call_duration_ms"), "count") == 3, "chat: three call durations");
    result_free(&r);
    /* A stopped run refuses the call before the network. */
    trinity_guard *stopped = guard_new("{\"max_steps\": 1}");
    uint64_t step;
    result b = begin(stopped, "{\"name\": \"a\"}", &step);
    result_free(&b);
    b = finish_step(stopped, step, "{\"ok\": 1}");
    result_free(&b);
    b = begin(stopped, "{\"name\": \"b\"}", &step);
    result_free(&b);
    json_int_t served = 0;
    trinity_string st = {0};
    result before = finish(trinity_mock_server_stats(srv, &st, NULL), &st, NULL);
    served = int_at(before.out, "requests");
    result_free(&before);
    r = guarded_chat(stopped, c, NULL);
    check(r.rc == TRINITY_ERR_GUARD_STOPPED && is(reason(&r), "max_steps"), "chat: refused once stopped: %s", r.code);
    result_free(&r);
    result after = finish(trinity_mock_server_stats(srv, &st, NULL), &st, NULL);
    check(int_at(after.out, "requests") == served, "chat: nothing sent once stopped");
    result_free(&after);
    trinity_guard_free(stopped);
    trinity_guard_free(g);
    trinity_client_free(c);
    trinity_mock_server_free(srv);
}

static void check_chat_deadline(void) {
    /* The server answers after 30 s; the run has 300 ms. */
    trinity_mock_server *srv = mock(30000);
    trinity_client *c = client_for(srv);
    trinity_guard *g = guard_new("{\"max_time_s\": 0.3}");
    double started = now_s();
    result r = guarded_chat(g, c, NULL);
    double took = now_s() - started;
    check(r.rc == TRINITY_ERR_GUARD_STOPPED && is(reason(&r), "max_time"), "chat deadline: stopped with max_time: %s", r.code);
    check(took >= 0.25 && took < 5.0, "chat deadline: cut at the deadline, after %.3f s", took);
    check(is(json_string_value(json_object_get(r.details, "action")), "llm call to gpt-4o-mini"), "chat deadline: action");
    result_free(&r);
    r = report_of(g);
    check(int_at(r.out, "llm_calls") == 1 && int_at(r.out, "failed_llm_calls") == 1, "chat deadline: one failed call");
    result_free(&r);
    trinity_guard_free(g);
    trinity_client_free(c);
    trinity_mock_server_free(srv);
}

static void *cancel_soon(void *token) {
    sleep_ms(150);
    trinity_cancel(token);
    return NULL;
}

static void check_chat_cancel(void) {
    trinity_mock_server *srv = mock(30000);
    trinity_client *c = client_for(srv);
    trinity_guard *g = guard_new("{\"max_time_s\": 60}");
    trinity_cancel_token *token = NULL;
    check(trinity_cancel_token_new(&token, NULL) == TRINITY_OK, "cancel: token");
    pthread_t t;
    pthread_create(&t, NULL, cancel_soon, token);
    double started = now_s();
    result r = guarded_chat(g, c, token);
    double took = now_s() - started;
    pthread_join(t, NULL);
    check(r.rc == TRINITY_ERR_CANCELLED, "cancel: cancelled: %s", r.code);
    check(took < 5.0, "cancel: promptly (%.3f s)", took);
    result_free(&r);
    /* The caller gave up; the run itself goes on. */
    check(trinity_guard_check(g, NULL) == TRINITY_OK, "cancel: the run goes on");
    /* A token cancelled before the call wins at once. */
    r = guarded_chat(g, c, token);
    check(r.rc == TRINITY_ERR_CANCELLED, "cancel: a cancelled token: %s", r.code);
    result_free(&r);
    trinity_cancel_token_free(token);
    trinity_guard_free(g);
    trinity_client_free(c);
    trinity_mock_server_free(srv);
}

/* ------------------------------------------------------------------ event log */

static result read_log(const char *path) {
    trinity_string s = {0};
    trinity_error *err = NULL;
    uint32_t rc = trinity_read_event_log(path, len_of(path), &s, &err);
    return finish(rc, &s, err);
}

static void check_event_log(void) {
    char path[256], config[512];
    snprintf(path, sizeof path, "%s/events.jsonl", DIR_);
    snprintf(config, sizeof config, "{\"max_steps\": 2, \"event_log\": \"%s\", \"log_arguments\": true}", path);
    trinity_guard *g = guard_new(config);
    uint64_t step = 0;
    result r = begin(g, "{\"name\": \"search\", \"arguments\": {\"q\": \"weather\", \"api_key\": \"sk-proj-abcdefghijklmnop1234\"}}", &step);
    result_free(&r);
    r = finish_step(g, step, "{\"ok\": [\"sunny\"]}");
    result_free(&r);
    trinity_error *err = NULL;
    const char *llm = "{\"model\": \"gpt-4o\", \"input_tokens\": 100, \"output_tokens\": 20, \"cost_nano_usd\": 450000, "
                      "\"duration_ms\": 250}";
    check(trinity_guard_record_llm_call(g, llm, strlen(llm), &err) == TRINITY_OK, "event log: llm call recorded");
    r = record(g, "{\"action\": {\"name\": \"open\"}, \"outcome\": {\"error\": {\"code\": \"not_found\", \"message\": \"gone\"}}}",
               &step);
    result_free(&r);
    r = begin(g, "{\"name\": \"third\"}", &step);
    check(r.rc == TRINITY_ERR_GUARD_STOPPED, "event log: the stop");
    result_free(&r);
    r = report_of(g);
    json_t *log = json_object_get(r.out, "event_log");
    check(is(json_string_value(json_object_get(log, "path")), path), "event log: report.event_log.path");
    check(int_at(log, "lines_written") == 5 && int_at(log, "write_errors") == 0, "event log: 5 lines written (%lld)",
          (long long)int_at(log, "lines_written"));
    check(json_real_value(json_object_get(json_object_get(r.out, "cost_usd"), "total")) > 0.00044, "event log: cost");
    result_free(&r);
    trinity_guard_free(g);

    r = read_log(path);
    check(r.rc == TRINITY_OK, "read_event_log: %s", r.code);
    json_t *records = json_object_get(r.out, "records");
    static const char *types[] = {"run_start", "step", "llm_call", "step", "run_stop"};
    check(json_array_size(records) == 5, "read_event_log: 5 records");
    for (size_t i = 0; i < 5 && i < json_array_size(records); i++) {
        json_t *rec = json_array_get(records, i);
        check(is(json_string_value(json_object_get(rec, "type")), types[i]), "record %zu is %s", i, types[i]);
        check(strncmp(json_string_value(json_object_get(rec, "run_id")), "run_", 4) == 0, "record %zu has the run id", i);
    }
    json_t *first = json_array_get(records, 1);
    check(is(json_string_value(json_object_get(first, "gen_ai.tool.name")), "search"), "step record: tool name");
    json_t *args = json_object_get(first, "gen_ai.tool.call.arguments");
    check(is(json_string_value(json_object_get(args, "q")), "weather"), "step record: arguments logged");
    check(!is(json_string_value(json_object_get(args, "api_key")), "sk-proj-abcdefghijklmnop1234"), "step record: the key is scrubbed");
    check(is(json_string_value(json_object_get(json_array_get(records, 2), "gen_ai.request.model")), "gpt-4o"),
          "llm record: model");
    check(int_at(json_array_get(records, 2), "gen_ai.usage.input_tokens") == 100, "llm record: tokens");
    check(is(json_string_value(json_object_get(json_array_get(records, 3), "error.type")), "not_found"), "step record: error.type");
    check(is(json_string_value(json_object_get(json_array_get(records, 4), "reason")), "max_steps"), "stop record: reason");
    check(json_is_false(json_object_get(r.out, "torn_tail")) && json_array_size(json_object_get(r.out, "dropped_lines")) == 0,
          "read_event_log: nothing dropped");
    result_free(&r);

    /* A crash mid-write leaves a torn last line: dropped on reading. */
    FILE *f = fopen(path, "a");
    fputs("{\"type\": \"step\", \"trunc", f);
    fclose(f);
    r = read_log(path);
    check(json_array_size(json_object_get(r.out, "records")) == 5, "torn tail: the 5 records stay");
    check(json_is_true(json_object_get(r.out, "torn_tail")), "torn tail: reported");
    check(json_integer_value(json_array_get(json_object_get(r.out, "dropped_lines"), 0)) == 6, "torn tail: line 6 dropped");
    result_free(&r);

    /* A new run appends after the torn line, and its lines parse. */
    g = guard_new(config);
    r = record(g, "{\"action\": {\"name\": \"x\"}, \"outcome\": {\"ok\": 1}}", &step);
    result_free(&r);
    trinity_guard_free(g);
    r = read_log(path);
    check(json_array_size(json_object_get(r.out, "records")) == 7, "reopened: 5 + 2 records");
    check(json_is_false(json_object_get(r.out, "torn_tail")), "reopened: no torn tail");
    result_free(&r);

    r = read_log("/nonexistent/dir/events.jsonl");
    check(r.rc == TRINITY_ERR_IO, "read_event_log: a missing file is io: %s", r.code);
    result_free(&r);
    /* An event log that cannot be opened fails the guard's creation. */
    trinity_guard *none = NULL;
    const char *unopenable = "{\"event_log\": \"/nonexistent/dir/events.jsonl\"}";
    r = done(trinity_guard_new(unopenable, strlen(unopenable), &none, &err), &err);
    check(r.rc == TRINITY_ERR_IO && none == NULL, "event log in a missing directory: %s", r.code);
    result_free(&r);
}

/* ------------------------------------------------------------------ errors */

static void check_bad_config(void) {
    static const struct {
        const char *config, *path;
    } bad[] = {
        {"{\"max_step\": 3}", "max_step"},
        {"{\"loops\": {\"repeat\": 3}}", "loops.repeat"},
        {"{\"loops\": {\"same_error\": 1}}", "loops.same_error"},
        {"{\"max_steps\": 0}", "max_steps"},
        {"{\"max_time_s\": -1}", "max_time_s"},
        {"{\"max_time_s\": \"10\"}", "max_time_s"},
        {"[1, 2]", ""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        trinity_guard *g = (trinity_guard *)1;
        trinity_error *err = NULL;
        result r = done(trinity_guard_new(bad[i].config, strlen(bad[i].config), &g, &err), &err);
        check(r.rc == TRINITY_ERR_INVALID_INPUT && is(r.code, "invalid_input"), "bad config %s: %s", bad[i].config, r.code);
        check(is(json_string_value(json_object_get(r.details, "path")), bad[i].path), "bad config %s: details.path",
              bad[i].config);
        check(g == NULL, "bad config %s: out_guard is NULL", bad[i].config);
        result_free(&r);
    }
    trinity_error *err = NULL;
    trinity_guard *g = NULL;
    result r = done(trinity_guard_new("not json", 8, &g, &err), &err);
    check(r.rc == TRINITY_ERR_INVALID_INPUT, "bad config: not JSON");
    result_free(&r);
    /* `null` and an empty object are the defaults. */
    check(trinity_guard_new("null", 4, &g, NULL) == TRINITY_OK && g != NULL, "config null");
    trinity_guard_free(g);
    g = NULL;
    check(trinity_guard_new("{}", 2, &g, NULL) == TRINITY_OK && g != NULL, "config {}");
    trinity_guard_free(g);
}

static void check_steps_and_nulls(void) {
    trinity_guard *g = guard_new(NULL);
    trinity_error *err = NULL;
    uint64_t step = 0;
    /* Unknown steps: never begun, finished twice, cut twice. */
    result r = finish_step(g, 99, "{\"ok\": 1}");
    check(r.rc == TRINITY_ERR_INVALID_INPUT && int_at(r.details, "step") == 99, "unknown step: %s", r.code);
    result_free(&r);
    r = begin(g, "{\"name\": \"a\"}", &step);
    result_free(&r);
    r = finish_step(g, step, "{\"ok\": 1}");
    check(r.rc == TRINITY_OK, "step finished");
    result_free(&r);
    r = finish_step(g, step, "{\"ok\": 1}");
    check(r.rc == TRINITY_ERR_INVALID_INPUT, "a step finished twice: %s", r.code);
    result_free(&r);
    /* Bad actions, outcomes, steps and calls name the field. */
    r = begin(g, "{\"arguments\": {}}", &step);
    check(r.rc == TRINITY_ERR_INVALID_INPUT && step == 0, "action without a name: %s", r.code);
    result_free(&r);
    r = begin(g, "{\"name\": \"a\", \"args\": 1}", &step);
    check(r.rc == TRINITY_ERR_INVALID_INPUT, "action with an unknown key: %s", r.code);
    result_free(&r);
    r = begin(g, "{\"name\": \"b\"}", &step);
    result_free(&r);
    r = finish_step(g, step, "{\"maybe\": 1}");
    check(r.rc == TRINITY_ERR_INVALID_INPUT, "bad outcome: %s", r.code);
    result_free(&r);
    r = finish_step(g, step, "{\"error\": {\"message\": \"no code\"}}");
    check(r.rc == TRINITY_ERR_INVALID_INPUT && is(json_string_value(json_object_get(r.details, "path")), "error"),
          "outcome error without a code: %s", r.code);
    result_free(&r);
    r = finish_step(g, step, "{\"ok\": 1}");
    check(r.rc == TRINITY_OK, "a bad outcome leaves the step open: %s", r.code);
    result_free(&r);
    r = record(g, "{\"action\": {\"name\": \"x\"}, \"outcome\": {\"ok\": 1}, \"duration_ms\": -3}", &step);
    check(r.rc == TRINITY_ERR_INVALID_INPUT && is(json_string_value(json_object_get(r.details, "path")), "duration_ms"),
          "negative duration: %s", r.code);
    result_free(&r);
    r = record(g, "{\"action\": {\"name\": \"x\"}}", &step);
    check(r.rc == TRINITY_ERR_INVALID_INPUT, "a step without an outcome: %s", r.code);
    result_free(&r);
    const char *slow = "{\"model\": \"m\", \"duration_ms\": \"slow\"}";
    r = done(trinity_guard_record_llm_call(g, slow, strlen(slow), &err), &err);
    check(r.rc == TRINITY_ERR_INVALID_INPUT && is(json_string_value(json_object_get(r.details, "path")), "duration_ms"),
          "bad llm call: %s", r.code);
    result_free(&r);
    /* deadline_reached on a step that is not open still stops the run (the host's timer fired). */
    r = done(trinity_guard_deadline_reached(g, 12345, &err), &err);
    check(r.rc == TRINITY_ERR_GUARD_STOPPED && is(reason(&r), "max_time"), "deadline_reached, no open step: %s", r.code);
    result_free(&r);
    check(trinity_guard_check(g, NULL) == TRINITY_ERR_GUARD_STOPPED, "deadline_reached stopped the run");
    check(trinity_guard_deadline_reached(g, 1, NULL) == TRINITY_ERR_GUARD_STOPPED, "deadline_reached without out_err");

    /* NULL handles and out-parameters: invalid input, never a crash; out_err may be NULL. */
    trinity_string s = {0};
    int64_t ms = 0;
    const char *action = "{\"name\": \"a\"}";
    check(trinity_guard_new(NULL, 0, NULL, &err) == TRINITY_ERR_INVALID_INPUT, "NULL out_guard");
    trinity_error_free(err);
    trinity_guard *none = NULL;
    check(trinity_guard_new(NULL, 5, &none, NULL) == TRINITY_ERR_INVALID_INPUT && none == NULL, "NULL config, len 5");
    check(trinity_guard_begin_step(NULL, action, strlen(action), &step, NULL) == TRINITY_ERR_INVALID_INPUT, "begin: NULL guard");
    check(trinity_guard_begin_step(g, action, strlen(action), NULL, NULL) == TRINITY_ERR_INVALID_INPUT, "begin: NULL out_step");
    check(trinity_guard_begin_step(g, NULL, 3, &step, NULL) == TRINITY_ERR_INVALID_INPUT, "begin: NULL action");
    check(trinity_guard_finish_step(NULL, 1, "{\"ok\": 1}", 9, NULL) == TRINITY_ERR_INVALID_INPUT, "finish: NULL guard");
    check(trinity_guard_finish_step(g, 1, NULL, 0, NULL) == TRINITY_ERR_INVALID_INPUT, "finish: empty outcome");
    check(trinity_guard_deadline_reached(NULL, 1, NULL) == TRINITY_ERR_INVALID_INPUT, "deadline_reached: NULL guard");
    check(trinity_guard_record_step(NULL, "{}", 2, &step, NULL) == TRINITY_ERR_INVALID_INPUT, "record: NULL guard");
    check(trinity_guard_record_step(g, "{}", 2, NULL, NULL) == TRINITY_ERR_INVALID_INPUT, "record: NULL out_step");
    check(trinity_guard_record_llm_call(NULL, "{}", 2, NULL) == TRINITY_ERR_INVALID_INPUT, "llm call: NULL guard");
    check(trinity_guard_chat(NULL, NULL, REQUEST, strlen(REQUEST), NULL, &s, NULL) == TRINITY_ERR_INVALID_INPUT && !s.ptr,
          "chat: NULL guard");
    check(trinity_guard_chat(g, NULL, REQUEST, strlen(REQUEST), NULL, &s, NULL) == TRINITY_ERR_INVALID_INPUT, "chat: NULL client");
    check(trinity_guard_chat(g, NULL, REQUEST, strlen(REQUEST), NULL, NULL, NULL) == TRINITY_ERR_INVALID_INPUT, "chat: NULL out");
    check(trinity_guard_check(NULL, NULL) == TRINITY_ERR_INVALID_INPUT, "check: NULL guard");
    check(trinity_guard_remaining_ms(NULL, &ms, NULL) == TRINITY_ERR_INVALID_INPUT, "remaining: NULL guard");
    check(trinity_guard_remaining_ms(g, NULL, NULL) == TRINITY_ERR_INVALID_INPUT, "remaining: NULL out_ms");
    check(trinity_guard_report(NULL, &s, NULL) == TRINITY_ERR_INVALID_INPUT && !s.ptr, "report: NULL guard");
    check(trinity_guard_report(g, NULL, NULL) == TRINITY_ERR_INVALID_INPUT, "report: NULL out");
    check(trinity_read_event_log(NULL, 4, &s, NULL) == TRINITY_ERR_INVALID_INPUT, "read_event_log: NULL path");
    check(trinity_read_event_log("x", 1, NULL, NULL) == TRINITY_ERR_INVALID_INPUT, "read_event_log: NULL out");
    trinity_guard_free(NULL);
    trinity_guard_free(g);
}

int main(void) {
    snprintf(DIR_, sizeof DIR_, "/tmp/trinity-c-guard-XXXXXX");
    if (!mkdtemp(DIR_)) return 2;
    check_max_steps();
    check_max_time();
    check_loop();
    check_threads();
    check_chat();
    check_chat_deadline();
    check_chat_cancel();
    check_event_log();
    check_bad_config();
    check_steps_and_nulls();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", DIR_);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", DIR_);
    printf("c guard: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
