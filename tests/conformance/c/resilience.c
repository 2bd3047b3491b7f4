/* The circuit breaker and rate limiter handles: a breaker that opens, rejects, probes and
 * closes; tickets recorded exactly once; many threads on one breaker; a limiter's
 * retry-after, never-fitting requests, reconcile, blocking acquire and its cancel token; bad
 * configs naming the field; NULL on every function. */
#include "report.h"
#include "trinity.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define S(lit) lit, sizeof(lit) - 1
#define ERR_IS(rc, err, want) ((rc) == (want) && trinity_error_code(err) == (want))

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* The snapshot as a JSON object (NULL when the call failed). */
static json_t *breaker_snapshot(const trinity_breaker *b) {
    trinity_string s = {0};
    if (trinity_breaker_snapshot(b, &s, NULL) != TRINITY_OK) return NULL;
    json_t *v = json_loadb(s.ptr, s.len, 0, NULL);
    trinity_string_free(&s);
    return v;
}

static json_t *limiter_snapshot(const trinity_limiter *l) {
    trinity_string s = {0};
    if (trinity_limiter_snapshot(l, &s, NULL) != TRINITY_OK) return NULL;
    json_t *v = json_loadb(s.ptr, s.len, 0, NULL);
    trinity_string_free(&s);
    return v;
}

static uint32_t state_of(const trinity_breaker *b) {
    uint32_t st = 99;
    return trinity_breaker_state(b, &st, NULL) == TRINITY_OK ? st : 99;
}

/* A call through the breaker that ends with `outcome`; returns the acquire's result. */
static uint32_t one_call(trinity_breaker *b, uint32_t outcome) {
    uint64_t t = 0;
    uint32_t rc = trinity_breaker_acquire(b, &t, NULL);
    if (rc == TRINITY_OK) rc = trinity_breaker_record(b, t, outcome, NULL);
    return rc;
}

static void breaker_lifecycle(void) {
    static const char cfg[] = "{\"name\": \"c-breaker\", \"window_size\": 4, \"minimum_calls\": 4,"
                              " \"failure_rate_threshold\": 0.5, \"open_wait_ms\": 100,"
                              " \"half_open_calls\": 1}";
    trinity_breaker *b = NULL;
    trinity_error *err = NULL;
    if (trinity_breaker_new(S(cfg), &b, &err) != TRINITY_OK) {
        report("resilience/breaker-opens-and-closes", false, "new: %s", trinity_error_message(err));
        trinity_error_free(err);
        return;
    }
    bool ok = state_of(b) == TRINITY_BREAKER_CLOSED;
    ok = ok && one_call(b, TRINITY_OUTCOME_SUCCESS) == TRINITY_OK;
    ok = ok && one_call(b, TRINITY_OUTCOME_SUCCESS) == TRINITY_OK;
    ok = ok && one_call(b, TRINITY_OUTCOME_FAILURE) == TRINITY_OK;
    ok = ok && state_of(b) == TRINITY_BREAKER_CLOSED; /* 3 calls < minimum_calls */
    ok = ok && one_call(b, TRINITY_OUTCOME_FAILURE) == TRINITY_OK;
    bool opened = ok && state_of(b) == TRINITY_BREAKER_OPEN; /* 2 of 4 failed: 50% */

    uint64_t t = 7;
    uint32_t rc = trinity_breaker_acquire(b, &t, &err);
    const char *details = trinity_error_details(err);
    bool rejected = ERR_IS(rc, err, TRINITY_ERR_CIRCUIT_OPEN) && details &&
                    strstr(details, "\"retry_after_ms\"") && strstr(details, "c-breaker");
    trinity_error_free(err);

    json_t *snap = breaker_snapshot(b);
    bool counted = snap && strcmp(json_string_value(json_object_get(snap, "state")), "open") == 0 &&
                   json_integer_value(json_object_get(snap, "not_permitted")) == 1;
    json_decref(snap);

    usleep(150 * 1000);
    bool probing = state_of(b) == TRINITY_BREAKER_HALF_OPEN;
    bool closed = one_call(b, TRINITY_OUTCOME_SUCCESS) == TRINITY_OK &&
                  state_of(b) == TRINITY_BREAKER_CLOSED;
    report("resilience/breaker-opens-and-closes", opened && rejected && counted && probing && closed,
           "opened %d rejected %d counted %d probing %d closed %d", opened, rejected, counted,
           probing, closed);
    trinity_breaker_free(b);
}

static void breaker_tickets_and_states(void) {
    trinity_breaker *b = NULL;
    trinity_error *err = NULL;
    if (trinity_breaker_new(NULL, 0, &b, NULL) != TRINITY_OK) {
        report("resilience/breaker-tickets-once", false, "new with defaults failed");
        return;
    }
    uint64_t t1 = 0, t2 = 0;
    bool ok = trinity_breaker_acquire(b, &t1, NULL) == TRINITY_OK &&
              trinity_breaker_acquire(b, &t2, NULL) == TRINITY_OK && t1 != t2;
    uint32_t rc = trinity_breaker_record(b, t1, 42, &err);
    ok = ok && ERR_IS(rc, err, TRINITY_ERR_INVALID_INPUT);
    trinity_error_free(err);
    ok = ok && trinity_breaker_record(b, t1, TRINITY_OUTCOME_CANCELLED, &err) == TRINITY_OK && !err;
    rc = trinity_breaker_record(b, t1, TRINITY_OUTCOME_SUCCESS, &err);
    ok = ok && ERR_IS(rc, err, TRINITY_ERR_INVALID_INPUT);
    trinity_error_free(err);
    ok = ok && trinity_breaker_record(b, 123456, TRINITY_OUTCOME_SUCCESS, NULL) ==
                   TRINITY_ERR_INVALID_INPUT;
    /* t2 is never recorded: freeing the breaker frees it (ASan checks). */
    report("resilience/breaker-tickets-once", ok, "rc %u", rc);

    ok = trinity_breaker_set_state(b, TRINITY_BREAKER_FORCED_OPEN, NULL) == TRINITY_OK &&
         state_of(b) == TRINITY_BREAKER_FORCED_OPEN &&
         one_call(b, TRINITY_OUTCOME_SUCCESS) == TRINITY_ERR_CIRCUIT_OPEN;
    ok = ok && trinity_breaker_set_state(b, TRINITY_BREAKER_DISABLED, NULL) == TRINITY_OK &&
         one_call(b, TRINITY_OUTCOME_FAILURE) == TRINITY_OK &&
         state_of(b) == TRINITY_BREAKER_DISABLED;
    rc = trinity_breaker_set_state(b, 17, &err);
    ok = ok && ERR_IS(rc, err, TRINITY_ERR_INVALID_INPUT) &&
         state_of(b) == TRINITY_BREAKER_DISABLED;
    trinity_error_free(err);
    report("resilience/breaker-set-state", ok, "rc %u", rc);
    trinity_breaker_free(b);
}

typedef struct {
    trinity_breaker *b;
    int calls, failures;
} worker;

static void *hammer(void *arg) {
    worker *w = arg;
    for (int i = 0; i < 2000; i++) {
        if (one_call(w->b, (i % 7) ? TRINITY_OUTCOME_SUCCESS : TRINITY_OUTCOME_CANCELLED) ==
            TRINITY_OK)
            w->calls++;
        else
            w->failures++;
        if (i % 100 == 0) json_decref(breaker_snapshot(w->b));
    }
    return NULL;
}

static void breaker_threads(void) {
    enum { N = 8 };
    trinity_breaker *b = NULL;
    if (trinity_breaker_new(S("{\"window_size\": 50}"), &b, NULL) != TRINITY_OK) {
        report("resilience/breaker-threads", false, "new failed");
        return;
    }
    pthread_t th[N];
    worker w[N];
    for (int i = 0; i < N; i++) {
        w[i] = (worker){.b = b};
        pthread_create(&th[i], NULL, hammer, &w[i]);
    }
    int calls = 0, failures = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        calls += w[i].calls;
        failures += w[i].failures;
    }
    json_t *snap = breaker_snapshot(b);
    bool ok = calls == N * 2000 && failures == 0 && snap &&
              json_integer_value(json_object_get(snap, "calls")) == 50 &&
              json_integer_value(json_object_get(snap, "failures")) == 0;
    json_decref(snap);
    report("resilience/breaker-threads", ok, "%d calls, %d failed", calls, failures);
    trinity_breaker_free(b);
}

static void breaker_bad_input(void) {
    trinity_error *err = NULL;
    trinity_breaker *b = (trinity_breaker *)&err;
    uint32_t rc = trinity_breaker_new(S("{\"window_size\": 0}"), &b, &err);
    const char *d = trinity_error_details(err);
    bool ok = ERR_IS(rc, err, TRINITY_ERR_CONFIG) && d && strstr(d, "breaker.window_size") &&
              b == NULL;
    trinity_error_free(err);
    rc = trinity_breaker_new(S("{\"no_such_field\": 1}"), &b, &err);
    ok = ok && ERR_IS(rc, err, TRINITY_ERR_CONFIG);
    trinity_error_free(err);
    rc = trinity_breaker_new(S("[1, 2]"), &b, &err);
    ok = ok && ERR_IS(rc, err, TRINITY_ERR_INVALID_INPUT);
    trinity_error_free(err);
    rc = trinity_breaker_new(S("{\"name\": \"\xff\"}"), &b, &err);
    ok = ok && ERR_IS(rc, err, TRINITY_ERR_INVALID_INPUT);
    trinity_error_free(err);
    ok = ok && trinity_breaker_new(NULL, 3, &b, NULL) == TRINITY_ERR_INVALID_INPUT &&
         trinity_breaker_new(NULL, 0, NULL, NULL) == TRINITY_ERR_INVALID_INPUT;

    uint64_t t;
    uint32_t st;
    trinity_string s = {0};
    ok = ok && trinity_breaker_acquire(NULL, &t, NULL) == TRINITY_ERR_INVALID_INPUT &&
         trinity_breaker_record(NULL, 1, 0, NULL) == TRINITY_ERR_INVALID_INPUT &&
         trinity_breaker_state(NULL, &st, NULL) == TRINITY_ERR_INVALID_INPUT &&
         trinity_breaker_set_state(NULL, 0, NULL) == TRINITY_ERR_INVALID_INPUT &&
         trinity_breaker_snapshot(NULL, &s, NULL) == TRINITY_ERR_INVALID_INPUT && s.ptr == NULL;
    if (trinity_breaker_new(NULL, 0, &b, NULL) == TRINITY_OK) {
        ok = ok && trinity_breaker_acquire(b, NULL, NULL) == TRINITY_ERR_INVALID_INPUT &&
             trinity_breaker_state(b, NULL, NULL) == TRINITY_ERR_INVALID_INPUT &&
             trinity_breaker_snapshot(b, NULL, NULL) == TRINITY_ERR_INVALID_INPUT;
        trinity_breaker_free(b);
    }
    trinity_breaker_free(NULL);
    report("resilience/breaker-bad-input", ok, "rc %u", rc);
}

static void limiter_try_acquire(void) {
    trinity_limiter *l = NULL;
    trinity_error *err = NULL;
    if (trinity_limiter_new(S("{\"name\": \"c\", \"rpm\": 2, \"tpm\": 100, \"window_ms\": 300}"),
                            &l, &err) != TRINITY_OK) {
        report("resilience/limiter-retry-after", false, "new: %s", trinity_error_message(err));
        trinity_error_free(err);
        return;
    }
    uint64_t a1 = 0, a2 = 0, a3 = 0, retry = 7;
    bool ok = trinity_limiter_try_acquire(l, 60, &a1, &retry, NULL) == TRINITY_OK && retry == 0;
    /* 60 + 50 > 100 tokens: wait for the first to leave the window */
    uint32_t rc = trinity_limiter_try_acquire(l, 50, &a2, &retry, &err);
    const char *d = trinity_error_details(err);
    ok = ok && ERR_IS(rc, err, TRINITY_ERR_RATE_LIMITED) && retry > 0 && retry <= 300 && d &&
         strstr(d, "retry_after_ms");
    trinity_error_free(err);
    report("resilience/limiter-retry-after", ok, "rc %u retry %lu", rc, (unsigned long)retry);

    /* the first used only 20 tokens: now 50 fit */
    ok = trinity_limiter_reconcile(l, a1, 20, NULL) == TRINITY_OK &&
         trinity_limiter_try_acquire(l, 50, &a2, NULL, NULL) == TRINITY_OK && a2 != a1 &&
         trinity_limiter_reconcile(l, 999999, 5, NULL) == TRINITY_OK; /* unknown: no-op */
    json_t *snap = limiter_snapshot(l);
    ok = ok && snap && json_integer_value(json_object_get(snap, "requests_in_window")) == 2 &&
         json_integer_value(json_object_get(snap, "tokens_in_window")) == 70 &&
         json_integer_value(json_object_get(snap, "remaining_requests")) == 0 &&
         json_integer_value(json_object_get(snap, "admitted")) == 2;
    json_decref(snap);
    report("resilience/limiter-reconcile-and-snapshot", ok, "snapshot mismatch");

    rc = trinity_limiter_try_acquire(l, 101, &a3, &retry, &err);
    d = trinity_error_details(err);
    ok = ERR_IS(rc, err, TRINITY_ERR_RATE_LIMITED) && retry == UINT64_MAX && d &&
         strstr(d, "\"retryable\":false");
    trinity_error_free(err);
    double t0 = now_ms();
    rc = trinity_limiter_acquire(l, 101, NULL, &a3, &err);
    ok = ok && ERR_IS(rc, err, TRINITY_ERR_RATE_LIMITED) && now_ms() - t0 < 100;
    trinity_error_free(err);
    report("resilience/limiter-never-fits-fails-at-once", ok, "rc %u", rc);

    /* rpm 2 reached: a blocking acquire waits until the oldest leaves the 300 ms window */
    t0 = now_ms();
    rc = trinity_limiter_acquire(l, 1, NULL, &a3, &err);
    double waited = now_ms() - t0;
    report("resilience/limiter-acquire-waits", rc == TRINITY_OK && waited > 100 && waited < 2000,
           "rc %u waited %.0f ms", rc, waited);
    trinity_error_free(err);
    trinity_limiter_free(l);
}

typedef struct {
    trinity_cancel_token *token;
    int after_ms;
} canceller;

static void *cancel_later(void *arg) {
    canceller *c = arg;
    usleep(c->after_ms * 1000);
    trinity_cancel(c->token);
    return NULL;
}

static void limiter_cancel(void) {
    trinity_limiter *l = NULL;
    trinity_cancel_token *token = NULL;
    if (trinity_limiter_new(S("{\"rpm\": 1, \"window_ms\": 60000}"), &l, NULL) != TRINITY_OK ||
        trinity_cancel_token_new(&token, NULL) != TRINITY_OK) {
        report("resilience/limiter-acquire-cancel", false, "setup failed");
        trinity_limiter_free(l);
        return;
    }
    uint64_t a = 0;
    bool ok = trinity_limiter_acquire(l, 1, token, &a, NULL) == TRINITY_OK;
    canceller c = {.token = token, .after_ms = 50};
    pthread_t th;
    pthread_create(&th, NULL, cancel_later, &c);
    trinity_error *err = NULL;
    double t0 = now_ms();
    uint32_t rc = trinity_limiter_acquire(l, 1, token, &a, &err);
    double took = now_ms() - t0;
    pthread_join(th, NULL);
    ok = ok && ERR_IS(rc, err, TRINITY_ERR_CANCELLED) && took < 2000;
    trinity_error_free(err);
    /* having left the line, the waiter is gone: try_acquire is refused for rpm, not the line */
    uint64_t retry = 0;
    ok = ok && trinity_limiter_try_acquire(l, 1, &a, &retry, NULL) == TRINITY_ERR_RATE_LIMITED &&
         retry > 50000;
    report("resilience/limiter-acquire-cancel", ok, "rc %u took %.0f ms", rc, took);
    trinity_cancel_token_free(token);
    trinity_limiter_free(l);
}

/* What trinity_limiter_acquire_async callbacks reported, guarded for the runtime threads. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int ok, cancelled, other;
    uint64_t last;
} admissions;

static void admitted(void *user_data, uint32_t code, uint64_t admission, const trinity_error *err) {
    admissions *a = user_data;
    pthread_mutex_lock(&a->mu);
    if (code == TRINITY_OK && err == NULL) {
        a->ok++;
        a->last = admission;
    } else if (code == TRINITY_ERR_CANCELLED && trinity_error_code(err) == code) {
        a->cancelled++;
    } else {
        a->other++;
    }
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

/* Waits up to `ms` for `n` callbacks; returns how many came. */
static int wait_admissions(admissions *a, int n, int ms) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&a->mu);
    while (a->ok + a->cancelled + a->other < n &&
           pthread_cond_timedwait(&a->cv, &a->mu, &until) == 0) {
    }
    int got = a->ok + a->cancelled + a->other;
    pthread_mutex_unlock(&a->mu);
    return got;
}

static void limiter_async(void) {
    admissions a = {.ok = 0};
    pthread_mutex_init(&a.mu, NULL);
    pthread_cond_init(&a.cv, NULL);
    trinity_limiter *l = NULL;
    trinity_cancel_token *token = NULL;
    bool ok = trinity_limiter_new(S("{\"rpm\": 2, \"window_ms\": 200}"), &l, NULL) == TRINITY_OK &&
              trinity_cancel_token_new(&token, NULL) == TRINITY_OK;
    /* 2 now, 2 after the window, the 5th waits a minute... until cancelled */
    double t0 = now_ms();
    for (int i = 0; ok && i < 4; i++)
        ok = trinity_limiter_acquire_async(l, 1, admitted, &a, NULL, NULL) == TRINITY_OK;
    int got = wait_admissions(&a, 4, 5000);
    double took = now_ms() - t0;
    ok = ok && got == 4 && a.ok == 4 && took > 150;
    report("resilience/limiter-acquire-async", ok, "%d callbacks (%d ok) in %.0f ms", got, a.ok, took);

    ok = trinity_limiter_acquire_async(l, 1, admitted, &a, token, NULL) == TRINITY_OK &&
         trinity_limiter_acquire_async(l, 1, admitted, &a, token, NULL) == TRINITY_OK;
    trinity_limiter_free(l); /* the waits keep the limiter alive */
    usleep(20 * 1000);
    trinity_cancel(token);
    got = wait_admissions(&a, 6, 5000);
    /* both waits end: cancelled, unless the window freed a slot first */
    ok = ok && got == 6 && a.other == 0 && a.cancelled >= 1;
    trinity_error *err = NULL;
    uint32_t rc = trinity_limiter_acquire_async(NULL, 1, admitted, &a, NULL, &err);
    ok = ok && ERR_IS(rc, err, TRINITY_ERR_INVALID_INPUT);
    trinity_error_free(err);
    report("resilience/limiter-acquire-async-cancel-after-free", ok,
           "%d callbacks: %d ok, %d cancelled, %d other", got, a.ok, a.cancelled, a.other);
    trinity_cancel_token_free(token);
    pthread_mutex_destroy(&a.mu);
    pthread_cond_destroy(&a.cv);
}

static void limiter_bad_input(void) {
    trinity_error *err = NULL;
    trinity_limiter *l = (trinity_limiter *)&err;
    uint32_t rc = trinity_limiter_new(S("{\"name\": \"x\", \"rpm\": 0}"), &l, &err);
    const char *d = trinity_error_details(err);
    bool ok = ERR_IS(rc, err, TRINITY_ERR_CONFIG) && d && strstr(d, "rate_limits.x.rpm") &&
              l == NULL;
    trinity_error_free(err);
    rc = trinity_limiter_new(S("{\"rpm\": 5, \"window_ms\": 0}"), &l, &err);
    d = trinity_error_details(err);
    ok = ok && ERR_IS(rc, err, TRINITY_ERR_CONFIG) && d && strstr(d, "window_ms");
    trinity_error_free(err);
    rc = trinity_limiter_new(S("{\"rpm\": -1}"), &l, &err);
    ok = ok && ERR_IS(rc, err, TRINITY_ERR_CONFIG);
    trinity_error_free(err);
    rc = trinity_limiter_new(S("not json"), &l, &err);
    ok = ok && ERR_IS(rc, err, TRINITY_ERR_INVALID_INPUT);
    trinity_error_free(err);

    uint64_t a;
    trinity_string s = {0};
    ok = ok && trinity_limiter_try_acquire(NULL, 1, &a, NULL, NULL) == TRINITY_ERR_INVALID_INPUT &&
         trinity_limiter_acquire(NULL, 1, NULL, &a, NULL) == TRINITY_ERR_INVALID_INPUT &&
         trinity_limiter_reconcile(NULL, 1, 1, NULL) == TRINITY_ERR_INVALID_INPUT &&
         trinity_limiter_snapshot(NULL, &s, NULL) == TRINITY_ERR_INVALID_INPUT;
    /* no limits at all: everything is admitted */
    if (trinity_limiter_new(NULL, 0, &l, NULL) == TRINITY_OK) {
        for (int i = 0; i < 1000; i++)
            ok = ok && trinity_limiter_try_acquire(l, 1000000, &a, NULL, NULL) == TRINITY_OK;
        ok = ok && trinity_limiter_try_acquire(l, 1, NULL, NULL, NULL) == TRINITY_ERR_INVALID_INPUT;
        trinity_limiter_free(l);
    } else {
        ok = false;
    }
    trinity_limiter_free(NULL);
    report("resilience/limiter-bad-input", ok, "rc %u", rc);
}

void run_resilience_checks(void) {
    breaker_lifecycle();
    breaker_tickets_and_states();
    breaker_threads();
    breaker_bad_input();
    limiter_try_acquire();
    limiter_cancel();
    limiter_async();
    limiter_bad_input();
}
