/* The cost tracker and request log handles: exact nano-USD sums, unpriced calls counted,
 * budget alerts, CSV with hostile names read back, the request log's ring, queries, exports
 * and a scrubbed key; bad input answered with an error code; NULL handles. */
#include "report.h"
#include "trinity.h"

#include <stdio.h>
#include <string.h>

#define S(lit) lit, sizeof(lit) - 1
#define ERR_IS(rc, err, want) ((rc) == (want) && trinity_error_code(err) == (want))

#include <time.h>

/* Today's UTC midnight in ms: `track` of a request adds at the current time, and the tracker
 * keeps 31 days counted back from its newest record. */
static long long T0;

static json_t *query(const trinity_cost_tracker *t, const char *q) {
    trinity_string s = {0};
    if (trinity_cost_tracker_query(t, q, strlen(q), &s, NULL) != TRINITY_OK) return NULL;
    json_t *v = json_loadb(s.ptr, s.len, JSON_DECODE_ANY, NULL);
    trinity_string_free(&s);
    return v;
}

static void tracker_checks(void) {
    trinity_cost_tracker *t = NULL;
    trinity_error *err = NULL;
    if (trinity_cost_tracker_new(NULL, 0, &t, &err) != TRINITY_OK) {
        report("observe/tracker-sums", false, "new: %s", trinity_error_message(err));
        trinity_error_free(err);
        return;
    }
    T0 = (long long)(time(NULL) / 86400) * 86400000LL;
    char rec[256], q[256];
    bool ok = true;
    for (int i = 0; i < 1000; i++) {
        snprintf(rec, sizeof rec,
                 "{\"timestamp_ms\": %lld, \"provider\": \"openai\", \"model\": \"gpt-4o-mini\","
                 " \"input_tokens\": 7, \"output_tokens\": 3, \"cost_nano_usd\": 2850}",
                 T0 + (long long)(i % 60) * 60000);
        ok = ok && trinity_cost_tracker_track(t, rec, strlen(rec), NULL, NULL) == TRINITY_OK;
    }
    snprintf(rec, sizeof rec, "{\"timestamp_ms\": %lld, \"provider\": \"x\", \"model\": \"y\", \"cost_nano_usd\": null}", T0);
    ok = ok && trinity_cost_tracker_track(t, rec, strlen(rec), NULL, NULL) == TRINITY_OK;
    snprintf(q, sizeof q, "{\"op\": \"total\", \"start_ms\": %lld, \"end_ms\": %lld}", T0, T0 + 86400000LL);
    json_t *total = query(t, q);
    report("observe/tracker-sums", ok && total &&
               json_integer_value(json_object_get(total, "nano_usd")) == 2850000 &&
               json_integer_value(json_object_get(total, "requests")) == 1001 &&
               json_integer_value(json_object_get(total, "unpriced_requests")) == 1,
           "total wrong");
    json_decref(total);

    trinity_string s = {0};
    static const char req[] = "{\"model\": \"gpt-4o-mini\", \"input_tokens\": 7, \"output_tokens\": 3}";
    uint32_t rc = trinity_cost_tracker_track(t, S(req), &s, NULL);
    json_t *cost = rc == TRINITY_OK ? json_loadb(s.ptr, s.len, 0, NULL) : NULL;
    trinity_string_free(&s);
    report("observe/tracker-track-request",
           cost && json_integer_value(json_object_get(cost, "cost_nano_usd")) == 2850, "rc %u", rc);
    json_decref(cost);

    snprintf(q, sizeof q, "{\"op\": \"budget_alerts\", \"daily_limit\": 0.000005, \"now_ms\": %lld}", T0);
    json_t *alerts = query(t, q);
    report("observe/tracker-budget-alerts",
           alerts && json_array_size(alerts) == 4 &&
               strcmp(json_string_value(json_object_get(json_array_get(alerts, 2), "severity")), "critical") == 0,
           "alerts: %zu", alerts ? json_array_size(alerts) : 0);
    json_decref(alerts);

    snprintf(rec, sizeof rec, "{\"timestamp_ms\": %lld, \"provider\": \"a,\\\"b\\\"\\nc\", \"model\": \"m\", \"cost_nano_usd\": 1}", T0);
    trinity_cost_tracker_track(t, rec, strlen(rec), NULL, NULL);
    snprintf(q, sizeof q, "{\"op\": \"export_csv\", \"start_ms\": %lld, \"end_ms\": %lld}", T0, T0 + 60000);
    json_t *csv = query(t, q);
    const char *text = csv ? json_string_value(csv) : NULL;
    report("observe/tracker-csv-quoted", text && strstr(text, "\"a,\"\"b\"\"\nc\"") != NULL,
           "csv: %s", text ? text : "(none)");
    json_decref(csv);

    err = NULL;
    rc = trinity_cost_tracker_query(t, S("{\"op\": \"budget_alerts\", \"daily_limit\": -1}"), &s, &err);
    report("observe/tracker-bad-limit", ERR_IS(rc, err, TRINITY_ERR_INVALID_INPUT), "rc %u", rc);
    trinity_error_free(err);
    err = NULL;
    rc = trinity_cost_tracker_track(t, S("{\"model\": 5}"), NULL, &err);
    report("observe/tracker-bad-record", ERR_IS(rc, err, TRINITY_ERR_INVALID_INPUT), "rc %u", rc);
    trinity_error_free(err);
    err = NULL;
    rc = trinity_cost_tracker_query(NULL, S("{\"op\": \"total\"}"), &s, &err);
    report("observe/tracker-null", ERR_IS(rc, err, TRINITY_ERR_INVALID_INPUT), "rc %u", rc);
    trinity_error_free(err);
    trinity_cost_tracker_free(t);
    trinity_cost_tracker_free(NULL);
}

static void request_log_checks(void) {
    trinity_request_log *l = NULL;
    trinity_error *err = NULL;
    if (trinity_request_log_new(S("{\"history\": 5}"), &l, &err) != TRINITY_OK) {
        report("observe/log-ring", false, "new: %s", trinity_error_message(err));
        trinity_error_free(err);
        return;
    }
    trinity_string s = {0};
    char rec[256];
    for (int i = 0; i < 20; i++) {
        snprintf(rec, sizeof rec,
                 "{\"timestamp_ms\": %d, \"provider\": \"%s\", \"model_requested\": \"gpt-4o\","
                 " \"latency_ms\": %d}",
                 i, i % 2 ? "openai" : "anthropic", i * 10);
        if (trinity_request_log_log(l, S("record"), NULL, 0, rec, strlen(rec), &s, NULL) == TRINITY_OK)
            trinity_string_free(&s);
    }
    uint32_t rc = trinity_request_log_query(l, NULL, 0, &s, NULL);
    json_t *all = rc == TRINITY_OK ? json_loadb(s.ptr, s.len, 0, NULL) : NULL;
    trinity_string_free(&s);
    report("observe/log-ring",
           all && json_array_size(all) == 5 &&
               json_integer_value(json_object_get(json_array_get(all, 0), "timestamp_ms")) == 15,
           "rc %u", rc);
    json_decref(all);

    rc = trinity_request_log_query(l, S("{\"provider\": \"openai\", \"min_latency_ms\": 170}"), &s, NULL);
    json_t *q = rc == TRINITY_OK ? json_loadb(s.ptr, s.len, 0, NULL) : NULL;
    trinity_string_free(&s);
    report("observe/log-query", q && json_array_size(q) == 2, "rc %u", rc);
    json_decref(q);

    /* A key in an error message never reaches a record or an export. */
    rc = trinity_request_log_log(l, S("request"), NULL, 0, S("{\"model\": \"gpt-4o\"}"), &s, NULL);
    json_t *id = rc == TRINITY_OK ? json_loadb(s.ptr, s.len, JSON_DECODE_ANY, NULL) : NULL;
    trinity_string_free(&s);
    const char *rid = id ? json_string_value(id) : "";
    static const char e[] = "{\"code\": \"auth\", \"message\": \"Incorrect API key provided: sk-proj-Abcdefghijklmnop1234567890\"}";
    rc = trinity_request_log_log(l, S("error"), rid, strlen(rid), S(e), &s, NULL);
    trinity_string_free(&s);
    json_decref(id);
    bool leaked = false;
    const char *formats[] = {"json", "jsonl", "csv"};
    for (int i = 0; i < 3; i++) {
        if (trinity_request_log_export(l, formats[i], strlen(formats[i]), &s, NULL) != TRINITY_OK) {
            leaked = true;
            continue;
        }
        leaked = leaked || strstr(s.ptr, "sk-proj-") != NULL || strstr(s.ptr, "[REDACTED]") == NULL;
        trinity_string_free(&s);
    }
    report("observe/log-no-key", rc == TRINITY_OK && !leaked, "rc %u", rc);

    err = NULL;
    rc = trinity_request_log_export(l, S("xml"), &s, &err);
    report("observe/log-bad-format", ERR_IS(rc, err, TRINITY_ERR_INVALID_INPUT), "rc %u", rc);
    trinity_error_free(err);
    err = NULL;
    trinity_request_log *bad = NULL;
    rc = trinity_request_log_new(S("{\"sink\": {\"path\": \"/no/such/dir/log.jsonl\"}}"), &bad, &err);
    report("observe/log-bad-sink-path", ERR_IS(rc, err, TRINITY_ERR_CONFIG) && bad == NULL, "rc %u", rc);
    trinity_error_free(err);
    trinity_request_log_free(l);
    trinity_request_log_free(NULL);
}

void run_observe_checks(void) {
    tracker_checks();
    request_log_checks();
}
