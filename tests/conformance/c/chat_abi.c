/* The LLM client's C ABI beyond the fixtures: trinity_chat_async calls back exactly once, cancel
 * tokens stop slow calls and streams promptly, on_chunk returning false stops a stream, many
 * async calls at once, and NULL / invalid input on every new function. */
#include "report.h"
#include "trinity.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define S(lit) lit, sizeof(lit) - 1
#define ERR_IS(rc, err, want) ((rc) == (want) && trinity_error_code(err) == (want))

static const char SERVER[] =
    "{\"fixtures\": {\"greet\": {\"prompt\": \"Say hello\", \"response\": \"Hello from C!\"},"
    " \"count\": {\"prompt\": \"Count\", \"response\": \"one two three\","
    " \"chunks\": [\"one \", \"two \", \"three\"]}}}";
static const char SLOW_SERVER[] = "{\"latency\": {\"dist\": \"fixed\", \"ms\": 3000}}";
static const char HELLO[] =
    "{\"model\": \"p/mock-model\", \"messages\": [{\"role\": \"user\", \"content\": \"Say hello\"}]}";
static const char COUNT[] =
    "{\"model\": \"p/mock-model\", \"messages\": [{\"role\": \"user\", \"content\": \"Count\"}]}";

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* A mock server and a client whose provider "p" (OpenAI format) points at it. */
typedef struct {
    trinity_mock_server *srv;
    trinity_client *client;
} rig;

static bool rig_up(rig *r, const char *server_config) {
    memset(r, 0, sizeof *r);
    if (trinity_mock_server_start(server_config, strlen(server_config), &r->srv, NULL)) return false;
    char cfg[512];
    snprintf(cfg, sizeof cfg,
             "{\"providers\": {\"p\": {\"kind\": \"openai\", \"base_url\": \"%s/v1\","
             " \"api_key\": \"sk-test\"}}}",
             trinity_mock_server_url(r->srv));
    return trinity_client_new(cfg, strlen(cfg), &r->client, NULL) == TRINITY_OK;
}

static void rig_down(rig *r) {
    trinity_client_free(r->client);
    trinity_mock_server_free(r->srv);
}

/* rig_up, or a failure reported under `id` (and nothing left running). */
static bool rig_or_fail(rig *r, const char *server_config, const char *id) {
    if (rig_up(r, server_config)) return true;
    rig_down(r);
    return report(id, false, "cannot start the mock server and client");
}

/* What async callbacks reported, guarded for the runtime threads that call back. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int calls;
    uint32_t code;
    bool err_matches; /* err was NULL on success, carried the same code on failure */
    char content[128];
    trinity_client *nested; /* when set, the callback tries a blocking call on it */
    uint32_t nested_rc;
} waiter;

static void waiter_init(waiter *w) {
    memset(w, 0, sizeof *w);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
}

static void waiter_destroy(waiter *w) {
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
}

static void on_done(void *user_data, uint32_t code, const char *json, size_t len,
                    const trinity_error *err) {
    waiter *w = user_data;
    uint32_t nested_rc = 0;
    if (w->nested) {
        trinity_string s = {0};
        nested_rc = trinity_chat(w->nested, S(HELLO), &s, NULL);
        trinity_string_free(&s);
    }
    json_t *r = json ? json_loadb(json, len, 0, NULL) : NULL;
    pthread_mutex_lock(&w->mu);
    w->calls++;
    w->code = code;
    w->nested_rc = nested_rc;
    w->err_matches = code == TRINITY_OK ? err == NULL && json && json[len] == '\0'
                                        : trinity_error_code(err) == code && json == NULL;
    snprintf(w->content, sizeof w->content, "%s",
             r ? json_string_value(json_object_get(r, "content")) : "");
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    json_decref(r);
}

/* Waits until `n` callbacks ran or `ms` passed; returns the calls seen. */
static int wait_calls(waiter *w, int n, int ms) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&w->mu);
    while (w->calls < n && pthread_cond_timedwait(&w->cv, &w->mu, &until) == 0) {
    }
    int calls = w->calls;
    pthread_mutex_unlock(&w->mu);
    return calls;
}

static void async_answer(void) {
    rig r;
    if (!rig_or_fail(&r, SERVER, "abi/chat-async-answer")) return;
    waiter w;
    waiter_init(&w);
    trinity_error *err = NULL;
    uint32_t rc = trinity_chat_async(r.client, S(HELLO), on_done, &w, NULL, &err);
    int calls = wait_calls(&w, 1, 5000);
    usleep(50 * 1000); /* a second call would show up here */
    report("abi/chat-async-answer",
           rc == TRINITY_OK && err == NULL && wait_calls(&w, 2, 0) == 1 && calls == 1 &&
               w.code == TRINITY_OK && w.err_matches && strcmp(w.content, "Hello from C!") == 0,
           "rc %u, %d calls, code %u, content '%s'", rc, w.calls, w.code, w.content);

    /* An upstream error reaches the callback, with its error object. */
    trinity_mock_server_free(r.srv);
    r.srv = NULL;
    waiter_destroy(&w);
    waiter_init(&w);
    rc = trinity_chat_async(r.client, S(HELLO), on_done, &w, NULL, &err);
    report("abi/chat-async-error-to-callback",
           rc == TRINITY_OK && wait_calls(&w, 1, 5000) == 1 && w.code == TRINITY_ERR_NETWORK &&
               w.err_matches,
           "rc %u, code %u", rc, w.code);
    waiter_destroy(&w);
    rig_down(&r);
}

static void async_many_and_nested(void) {
    rig r;
    if (!rig_or_fail(&r, SERVER, "abi/chat-async-many")) return;
    enum { N = 32 };
    waiter w;
    waiter_init(&w);
    int started = 0;
    for (int i = 0; i < N; i++) started += trinity_chat_async(r.client, S(HELLO), on_done, &w, NULL, NULL) == 0;
    /* The client may be freed while calls are in flight: they hold their own reference. */
    trinity_client_free(r.client);
    r.client = NULL;
    report("abi/chat-async-many", started == N && wait_calls(&w, N, 10000) == N, "%d started, %d calls",
           started, w.calls);
    waiter_destroy(&w);

    /* A blocking call from a callback would block a runtime thread: an error, not a crash. */
    rig_down(&r);
    if (!rig_or_fail(&r, SERVER, "abi/chat-blocking-call-in-callback")) return;
    waiter_init(&w);
    w.nested = r.client;
    trinity_chat_async(r.client, S(HELLO), on_done, &w, NULL, NULL);
    report("abi/chat-blocking-call-in-callback",
           wait_calls(&w, 1, 5000) == 1 && w.nested_rc == TRINITY_ERR_INVALID_INPUT, "nested rc %u",
           w.nested_rc);
    waiter_destroy(&w);
    rig_down(&r);
}

static void async_cancel(void) {
    rig r;
    if (!rig_or_fail(&r, SLOW_SERVER, "abi/chat-async-cancel-slow-call")) return;
    trinity_cancel_token *token = NULL;
    trinity_cancel_token_new(&token, NULL);
    waiter w;
    waiter_init(&w);
    double t0 = now_ms();
    uint32_t rc = trinity_chat_async(r.client, S(HELLO), on_done, &w, token, NULL);
    usleep(100 * 1000);
    bool early = wait_calls(&w, 1, 0) == 0;
    trinity_cancel(token);
    trinity_cancel_token_free(token); /* freeing after cancelling is fine; it never cancels */
    int calls = wait_calls(&w, 1, 2000);
    double took = now_ms() - t0;
    report("abi/chat-async-cancel-slow-call",
           rc == TRINITY_OK && early && calls == 1 && w.code == TRINITY_ERR_CANCELLED &&
               w.err_matches && took < 1500,
           "rc %u, calls %d, code %u, %.0f ms", rc, calls, w.code, took);
    waiter_destroy(&w);

    /* A token cancelled before the call: the callback still runs once, with CANCELLED. */
    trinity_cancel_token_new(&token, NULL);
    trinity_cancel(token);
    waiter_init(&w);
    rc = trinity_chat_async(r.client, S(HELLO), on_done, &w, token, NULL);
    report("abi/chat-async-precancelled",
           rc == TRINITY_OK && wait_calls(&w, 1, 2000) == 1 && w.code == TRINITY_ERR_CANCELLED &&
               trinity_cancel_token_is_cancelled(token),
           "rc %u, code %u", rc, w.code);
    trinity_cancel_token_free(token);
    waiter_destroy(&w);
    rig_down(&r);
}

static void *cancel_later(void *token) {
    usleep(100 * 1000);
    trinity_cancel(token);
    return NULL;
}

static void streams(void) {
    rig r;
    if (!rig_or_fail(&r, SERVER, "abi/chat-stream-stop-early")) return;
    chat_fold f;
    chat_fold_init(&f);
    f.stop_after = 1;
    trinity_error *err = NULL;
    uint32_t rc = trinity_chat_stream(r.client, S(COUNT), chat_fold_chunk, &f, NULL, &err);
    size_t calls = f.calls;
    json_decref(chat_fold_take(&f));
    report("abi/chat-stream-stop-early", rc == TRINITY_OK && err == NULL && calls == 1, "rc %u, %zu chunks",
           rc, calls);

    trinity_string stats = {0};
    rc = trinity_mock_server_stats(r.srv, &stats, &err);
    json_t *s = json_loadb(stats.ptr, stats.len, 0, NULL);
    report("abi/chat-mock-stats", rc == TRINITY_OK && json_integer_value(json_object_get(s, "streams")) == 1,
           "rc %u, stats %s", rc, stats.ptr);
    json_decref(s);
    trinity_string_free(&stats);
    rc = trinity_mock_server_reset_stats(r.srv, &err);
    rc |= trinity_mock_server_reset_faults(r.srv, &err);
    rc |= trinity_mock_server_stats(r.srv, &stats, &err);
    s = json_loadb(stats.ptr, stats.len, 0, NULL);
    report("abi/chat-mock-reset", rc == TRINITY_OK && json_integer_value(json_object_get(s, "requests")) == 0 &&
                                    trinity_mock_server_port(r.srv) > 0,
           "rc %u", rc);
    json_decref(s);
    trinity_string_free(&stats);
    rig_down(&r);

    /* A stream waiting for its first byte stops when another thread cancels its token. */
    if (!rig_or_fail(&r, SLOW_SERVER, "abi/chat-stream-cancel-slow")) return;
    trinity_cancel_token *token = NULL;
    trinity_cancel_token_new(&token, NULL);
    pthread_t t;
    pthread_create(&t, NULL, cancel_later, token);
    chat_fold_init(&f);
    double t0 = now_ms();
    rc = trinity_chat_stream(r.client, S(COUNT), chat_fold_chunk, &f, token, &err);
    double took = now_ms() - t0;
    pthread_join(t, NULL);
    json_decref(chat_fold_take(&f));
    report("abi/chat-stream-cancel-slow", ERR_IS(rc, err, TRINITY_ERR_CANCELLED) && took < 1500,
           "rc %u, %.0f ms", rc, took);
    trinity_error_free(err);
    trinity_cancel_token_free(token);
    rig_down(&r);
}

static void bad_input(void) {
    trinity_error *err = NULL;
    trinity_client *client = (trinity_client *)&err;
    uint32_t rc = trinity_client_new(NULL, 5, &client, &err);
    report("abi/chat-client-null-config", ERR_IS(rc, err, TRINITY_ERR_INVALID_INPUT) && client == NULL,
           "rc %u", rc);
    trinity_error_free(err);
    rc = trinity_client_new(S("\xff\xfe"), &client, &err);
    report("abi/chat-client-invalid-utf8", ERR_IS(rc, err, TRINITY_ERR_INVALID_INPUT), "rc %u", rc);
    trinity_error_free(err);
    rc = trinity_client_new(S("{\"providers\": {\"p\": {\"kind\": \"telepathy\"}}}"), &client, &err);
    const char *details = trinity_error_details(err);
    report("abi/chat-client-bad-config",
           ERR_IS(rc, err, TRINITY_ERR_CONFIG) && details && strstr(details, "providers.p"), "rc %u %s",
           rc, details ? details : "");
    trinity_error_free(err);
    rc = trinity_client_new(S("{}"), NULL, &err);
    report("abi/chat-client-null-out", ERR_IS(rc, err, TRINITY_ERR_INVALID_INPUT), "rc %u", rc);
    trinity_error_free(err);

    rc = trinity_client_new(S("{\"providers\": {\"p\": {\"kind\": \"mock\"}}}"), &client, &err);
    trinity_string s = {0};
    uint32_t r1 = trinity_chat(NULL, S(HELLO), &s, &err);
    bool ok = ERR_IS(r1, err, TRINITY_ERR_INVALID_INPUT);
    trinity_error_free(err);
    r1 = trinity_chat(client, S("{\"model\": "), &s, &err);
    ok = ok && ERR_IS(r1, err, TRINITY_ERR_INVALID_INPUT);
    trinity_error_free(err);
    r1 = trinity_chat(client, S("{\"model\": \"p/x\", \"messages\": [{\"role\": \"user\", \"content\": \"\xc3\"}]}"),
                      &s, &err);
    ok = ok && ERR_IS(r1, err, TRINITY_ERR_INVALID_INPUT);
    trinity_error_free(err);
    r1 = trinity_chat(client, NULL, 3, &s, &err);
    ok = ok && ERR_IS(r1, err, TRINITY_ERR_INVALID_INPUT);
    trinity_error_free(err);
    r1 = trinity_chat(client, S(HELLO), NULL, &err);
    ok = ok && ERR_IS(r1, err, TRINITY_ERR_INVALID_INPUT) && s.ptr == NULL;
    trinity_error_free(err);
    report("abi/chat-chat-bad-input", rc == TRINITY_OK && ok, "rc %u", rc);

    waiter w;
    waiter_init(&w);
    r1 = trinity_chat_async(client, S(HELLO), NULL, &w, NULL, &err);
    ok = ERR_IS(r1, err, TRINITY_ERR_INVALID_INPUT);
    trinity_error_free(err);
    r1 = trinity_chat_async(client, S("[1, 2]"), on_done, &w, NULL, &err);
    ok = ok && ERR_IS(r1, err, TRINITY_ERR_INVALID_INPUT);
    trinity_error_free(err);
    r1 = trinity_chat_async(NULL, S(HELLO), on_done, &w, NULL, &err);
    ok = ok && ERR_IS(r1, err, TRINITY_ERR_INVALID_INPUT);
    trinity_error_free(err);
    usleep(50 * 1000);
    report("abi/chat-async-bad-input-no-callback", ok && wait_calls(&w, 1, 0) == 0, "%d calls", w.calls);
    waiter_destroy(&w);

    r1 = trinity_chat_stream(client, S(HELLO), NULL, NULL, NULL, &err);
    ok = ERR_IS(r1, err, TRINITY_ERR_INVALID_INPUT);
    trinity_error_free(err);
    r1 = trinity_chat_stream(client, S("{\"model\": \"p/x\", \"messages\": []}"), chat_fold_chunk, NULL,
                             NULL, &err);
    const char *path = trinity_error_details(err);
    ok = ok && ERR_IS(r1, err, TRINITY_ERR_INVALID_INPUT) && path && strstr(path, "messages");
    trinity_error_free(err);
    report("abi/chat-stream-bad-input", ok, "rc %u", r1);
    trinity_client_free(client);

    trinity_mock_server *srv = (trinity_mock_server *)&err;
    rc = trinity_mock_server_start(S("{\"no_such_field\": 1}"), &srv, &err);
    ok = ERR_IS(rc, err, TRINITY_ERR_CONFIG) && srv == NULL;
    trinity_error_free(err);
    rc = trinity_mock_server_start(NULL, 0, NULL, &err);
    ok = ok && ERR_IS(rc, err, TRINITY_ERR_INVALID_INPUT);
    trinity_error_free(err);
    rc = trinity_mock_server_stats(NULL, &s, &err);
    ok = ok && ERR_IS(rc, err, TRINITY_ERR_INVALID_INPUT);
    trinity_error_free(err);
    ok = ok && trinity_mock_server_url(NULL) == NULL && trinity_mock_server_port(NULL) == 0 &&
         trinity_mock_server_reset_stats(NULL, NULL) == TRINITY_ERR_INVALID_INPUT;
    trinity_mock_server_free(NULL);
    trinity_client_free(NULL);
    trinity_cancel(NULL);
    trinity_cancel_token_free(NULL);
    ok = ok && !trinity_cancel_token_is_cancelled(NULL) &&
         trinity_cancel_token_new(NULL, NULL) == TRINITY_ERR_INVALID_INPUT;
    report("abi/chat-mock-and-frees-null", ok, "rc %u", rc);
}

/* A client with the response cache on answers a repeated chat from it (no second provider call)
 * and replays a recorded stream with the same chunks. */
static void cached_repeat(void) {
    trinity_mock_server *srv = NULL;
    if (trinity_mock_server_start(S(SERVER), &srv, NULL)) {
        report("abi/chat-cached-repeat", false, "cannot start the mock server");
        return;
    }
    char cfg[512];
    snprintf(cfg, sizeof cfg,
             "{\"providers\": {\"p\": {\"kind\": \"openai\", \"base_url\": \"%s/v1\", \"api_key\": \"k\"}},"
             " \"cache\": {\"enabled\": true, \"memory\": {\"max_entries\": 10, \"max_bytes\": 100000}}}",
             trinity_mock_server_url(srv));
    trinity_client *client = NULL;
    trinity_error *err = NULL;
    uint32_t rc = trinity_client_new(cfg, strlen(cfg), &client, &err);
    trinity_string a = {0}, b = {0}, stats = {0};
    rc |= trinity_chat(client, S(HELLO), &a, &err);
    rc |= trinity_chat(client, S(HELLO), &b, &err);
    /* A stream is recorded, then replayed with the same chunks. */
    chat_fold live, replay;
    chat_fold_init(&live);
    chat_fold_init(&replay);
    rc |= trinity_chat_stream(client, S(COUNT), chat_fold_chunk, &live, NULL, &err);
    rc |= trinity_chat_stream(client, S(COUNT), chat_fold_chunk, &replay, NULL, &err);
    json_t *live_fold = chat_fold_take(&live), *replay_fold = chat_fold_take(&replay);
    rc |= trinity_mock_server_stats(srv, &stats, &err);
    json_t *first = json_loadb(a.ptr, a.len, 0, NULL), *second = json_loadb(b.ptr, b.len, 0, NULL);
    json_t *s = json_loadb(stats.ptr, stats.len, 0, NULL);
    report("abi/chat-cached-repeat",
           rc == TRINITY_OK && json_is_false(json_object_get(first, "cached")) &&
               json_is_true(json_object_get(second, "cached")) &&
               json_equal(json_object_get(first, "content"), json_object_get(second, "content")) &&
               json_integer_value(json_object_get(s, "requests")) == 2,
           "rc %u, stats %s", rc, stats.ptr ? stats.ptr : "-");
    report("abi/chat-cached-stream-replay",
           json_equal(live_fold, replay_fold) && json_integer_value(json_object_get(live_fold, "chunks")) == 3 &&
               json_integer_value(json_object_get(s, "streams")) == 1,
           "live %s", json_string_value(json_object_get(live_fold, "content")));
    /* Issue 12: the client's own books, read through handles that outlive the client. */
    trinity_request_log *log = NULL;
    trinity_cost_tracker *costs = NULL;
    trinity_string metrics = {0};
    rc = trinity_client_metrics_text(client, &metrics, &err);
    report("abi/client-metrics-text",
           rc == TRINITY_OK && metrics.ptr && strstr(metrics.ptr, "trinity_cache_hits_total{tier=\"memory\"} 2") &&
               strstr(metrics.ptr, "# EOF\n"),
           "rc %u: %s", rc, metrics.ptr ? metrics.ptr : "-");
    trinity_string_free(&metrics);
    rc = trinity_client_request_log(client, &log, &err);
    rc |= trinity_client_cost_tracker(client, &costs, &err);
    trinity_client_free(client);
    client = NULL;
    trinity_string records = {0}, total = {0};
    rc |= trinity_request_log_query(log, NULL, 0, &records, &err);
    rc |= trinity_cost_tracker_query(costs, S("{\"op\": \"total\"}"), &total, &err);
    json_t *recs = records.ptr ? json_loadb(records.ptr, records.len, 0, NULL) : NULL;
    json_t *tot = total.ptr ? json_loadb(total.ptr, total.len, 0, NULL) : NULL;
    const char *first_id = json_string_value(json_object_get(json_object_get(first, "debug"), "request_id"));
    const char *r0_id = json_string_value(json_object_get(json_array_get(recs, 0), "request_id"));
    const char *r1_tier = json_string_value(json_object_get(json_array_get(recs, 1), "cache_tier"));
    report("abi/client-request-log",
           rc == TRINITY_OK && json_array_size(recs) == 4 && first_id &&
               r0_id && strcmp(r0_id, first_id) == 0 &&
               json_is_false(json_object_get(json_array_get(recs, 0), "cache_hit")) &&
               r1_tier && strcmp(r1_tier, "memory") == 0 &&
               json_is_true(json_object_get(json_array_get(recs, 2), "stream")),
           "rc %u, records %s", rc, records.ptr ? records.ptr : "-");
    report("abi/client-cost-tracker",
           rc == TRINITY_OK && json_integer_value(json_object_get(tot, "requests")) == 4 &&
               json_integer_value(json_object_get(tot, "cache_hits")) == 2,
           "total %s", total.ptr ? total.ptr : "-");
    trinity_request_log_free(log);
    trinity_cost_tracker_free(costs);
    uint32_t null_rc = trinity_client_request_log(NULL, &log, NULL) | trinity_client_cost_tracker(NULL, &costs, NULL);
    report("abi/client-books-null", null_rc == TRINITY_ERR_INVALID_INPUT && log == NULL && costs == NULL,
           "rc %u", null_rc);
    json_decref(recs);
    json_decref(tot);
    trinity_string_free(&records);
    trinity_string_free(&total);
    json_decref(live_fold);
    json_decref(replay_fold);
    json_decref(first);
    json_decref(second);
    json_decref(s);
    trinity_string_free(&a);
    trinity_string_free(&b);
    trinity_string_free(&stats);
    trinity_error_free(err);
    trinity_mock_server_free(srv);
}

/* Issue 14: the client's log records reach a C callback on the log thread, with the request
 * log's id; trinity_flush_logs waits for them. */
typedef struct {
    pthread_mutex_t mu;
    int answered;
    char request_id[96];
    char line[512];
} log_sink;

static void on_log(void *user_data, const char *line, size_t line_len, const char *json, size_t json_len) {
    log_sink *l = user_data;
    json_t *rec = json_loadb(json, json_len, 0, NULL);
    const char *msg = json_string_value(json_object_get(rec, "message"));
    pthread_mutex_lock(&l->mu);
    if (msg && strncmp(msg, "call answered", 13) == 0 && strlen(line) == line_len) {
        l->answered++;
        snprintf(l->request_id, sizeof l->request_id, "%s",
                 json_string_value(json_object_get(rec, "request_id")) ?: "");
        snprintf(l->line, sizeof l->line, "%s", line);
    }
    pthread_mutex_unlock(&l->mu);
    json_decref(rec);
}

static void client_logs(void) {
    rig r;
    if (!rig_or_fail(&r, SERVER, "abi/client-on-log")) return;
    log_sink sink = {.mu = PTHREAD_MUTEX_INITIALIZER};
    trinity_error *err = NULL;
    uint32_t rc = trinity_client_on_log(r.client, on_log, &sink, &err);
    trinity_string answer = {0};
    rc |= trinity_chat(r.client, S(HELLO), &answer, &err);
    bool flushed = trinity_flush_logs(10000);
    json_t *resp = answer.ptr ? json_loadb(answer.ptr, answer.len, 0, NULL) : NULL;
    const char *id = json_string_value(json_object_get(json_object_get(resp, "debug"), "request_id"));
    pthread_mutex_lock(&sink.mu);
    report("abi/client-on-log",
           rc == TRINITY_OK && flushed && sink.answered == 1 && id && strcmp(sink.request_id, id) == 0 &&
               strstr(sink.line, "INFO trinity_core::llm::books: call answered by p/"),
           "rc %u, %d records, line %s", rc, sink.answered, sink.line);
    pthread_mutex_unlock(&sink.mu);
    uint32_t null_rc = trinity_client_on_log(r.client, NULL, NULL, NULL) | trinity_client_on_log(NULL, on_log, NULL, NULL);
    report("abi/client-on-log-null", null_rc == TRINITY_ERR_INVALID_INPUT, "rc %u", null_rc);
    json_decref(resp);
    trinity_string_free(&answer);
    trinity_error_free(err);
    rig_down(&r);
}

/* Provider monitor events, counted for the monitor's thread that calls back. */
typedef struct {
    pthread_mutex_t mu;
    int downs;
    char provider[32];
} monitor_sink;

static void on_monitor(void *user_data, const char *json, size_t json_len) {
    monitor_sink *m = user_data;
    json_t *ev = json_loadb(json, json_len, 0, NULL);
    pthread_mutex_lock(&m->mu);
    if (strcmp(json_string_value(json_object_get(ev, "kind")) ?: "", "provider_down") == 0) {
        m->downs++;
        snprintf(m->provider, sizeof m->provider, "%s", json_string_value(json_object_get(ev, "provider")) ?: "");
    }
    pthread_mutex_unlock(&m->mu);
    json_decref(ev);
}

static int monitor_downs(monitor_sink *m) {
    pthread_mutex_lock(&m->mu);
    int n = m->downs;
    pthread_mutex_unlock(&m->mu);
    return n;
}

/* A provider switched to 503 (trinity_mock_server_set_faults) is reported down within 5 s. */
static void client_monitor(void) {
    trinity_mock_server *srv = NULL;
    trinity_client *client = NULL;
    if (trinity_mock_server_start(S(SERVER), &srv, NULL)) {
        report("abi/client-monitor", false, "cannot start the mock server");
        return;
    }
    char cfg[512];
    snprintf(cfg, sizeof cfg,
             "{\"providers\": {\"p\": {\"kind\": \"openai\", \"base_url\": \"%s/v1\", \"api_key\": \"k\"}},"
             " \"retry\": {\"max_attempts\": 1}, \"breaker\": {\"enabled\": false},"
             " \"monitor\": {\"eval_interval_ms\": 100}}",
             trinity_mock_server_url(srv));
    trinity_error *err = NULL;
    uint32_t rc = trinity_client_new(cfg, strlen(cfg), &client, &err);
    monitor_sink sink = {.mu = PTHREAD_MUTEX_INITIALIZER};
    rc |= trinity_client_on_monitor_event(client, S("down"), S("p"), 0, on_monitor, &sink, &err);
    trinity_string answer = {0};
    rc |= trinity_chat(client, S(HELLO), &answer, &err);
    trinity_string_free(&answer);
    rc |= trinity_mock_server_set_faults(srv, S("{\"rates\": {\"503\": 1.0}}"), &err);
    double start = now_ms();
    while (monitor_downs(&sink) == 0 && now_ms() - start < 10000) {
        trinity_error *call_err = NULL;
        trinity_chat(client, S(HELLO), &answer, &call_err);
        trinity_string_free(&answer);
        trinity_error_free(call_err);
        usleep(50000);
    }
    double took = now_ms() - start;
    trinity_string health = {0}, history = {0};
    rc |= trinity_client_monitor(client, S("p"), &health, &err);
    rc |= trinity_client_monitor_history(client, S("p"), 1.0, &history, &err);
    json_t *h = health.ptr ? json_loadb(health.ptr, health.len, 0, NULL) : NULL;
    json_t *hist = history.ptr ? json_loadb(history.ptr, history.len, 0, NULL) : NULL;
    pthread_mutex_lock(&sink.mu);
    report("abi/client-monitor",
           rc == TRINITY_OK && sink.downs == 1 && strcmp(sink.provider, "p") == 0 && took <= 5000 &&
               strcmp(json_string_value(json_object_get(h, "state")) ?: "", "down") == 0 &&
               json_array_size(hist) >= 1,
           "rc %u, %d downs after %.0f ms, health %.*s", rc, sink.downs, took, (int)health.len,
           health.ptr ? health.ptr : "");
    pthread_mutex_unlock(&sink.mu);
    trinity_error *bad = NULL;
    uint32_t kind_rc = trinity_client_on_monitor_event(client, S("sideways"), NULL, 0, 0, on_monitor, &sink, &bad);
    bool kind_ok = ERR_IS(kind_rc, bad, TRINITY_ERR_INVALID_INPUT);
    trinity_error_free(bad);
    uint32_t null_rc = trinity_client_on_monitor_event(client, S("down"), NULL, 0, 0, NULL, NULL, NULL);
    report("abi/client-monitor-bad-input", kind_ok && null_rc == TRINITY_ERR_INVALID_INPUT, "rc %u / %u", kind_rc,
           null_rc);
    json_decref(h);
    json_decref(hist);
    trinity_string_free(&health);
    trinity_string_free(&history);
    trinity_error_free(err);
    trinity_client_free(client);
    trinity_mock_server_free(srv);
}

void run_chat_checks(void) {
    client_monitor();
    client_logs();
    cached_repeat();
    async_answer();
    async_many_and_nested();
    async_cancel();
    streams();
    bad_input();
}
