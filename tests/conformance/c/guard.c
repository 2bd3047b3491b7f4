/* guard.json cases (op guard_replay) through trinity_guard_record_step: each step goes in as
 * {action, outcome} until the guard stops the run; the result is {stopped: {at, reason, rule,
 * steps} | null, steps, failed_steps} from the stop's details and the performance report, as
 * `guard_replay` in core/tests/conformance.rs builds it. */
#include "report.h"
#include "trinity.h"

#include <stdlib.h>
#include <string.h>

/* `v[key]` as serde_json reads it: a missing key is null. */
static json_t *field(const json_t *v, const char *key) {
    json_t *f = json_object_get(v, key);
    return f ? json_incref(f) : json_null();
}

json_t *run_guard_replay(const json_t *in, outcome *o) {
    const json_t *config = json_object_get(in, "config");
    char *cfg = config ? json_dumps(config, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    trinity_guard *g = NULL;
    o->rc = trinity_guard_new(cfg, cfg ? strlen(cfg) : 0, &g, &o->err);
    free(cfg);
    if (o->rc != TRINITY_OK) return NULL;
    json_t *stopped = json_null();
    size_t i;
    json_t *step;
    json_array_foreach(json_object_get(in, "steps"), i, step) {
        char *text = json_dumps(step, JSON_COMPACT);
        uint64_t number = 0;
        trinity_error *err = NULL;
        uint32_t rc = trinity_guard_record_step(g, text, strlen(text), &number, &err);
        free(text);
        if (rc == TRINITY_OK) continue;
        if (rc != TRINITY_ERR_GUARD_STOPPED) {
            /* Anything but a stop is the runner's failure, as the Rust runner asserts. */
            o->rc = rc;
            o->err = err;
            json_decref(stopped);
            trinity_guard_free(g);
            return NULL;
        }
        json_t *d = json_loads(trinity_error_details(err), 0, NULL);
        json_decref(stopped);
        stopped = json_pack("{s:I, s:o, s:o, s:o}", "at", (json_int_t)(i + 1), "reason", field(d, "reason"), "rule",
                            field(d, "rule"), "steps", field(d, "steps"));
        json_decref(d);
        trinity_error_free(err);
        break;
    }
    trinity_string s = {0};
    o->rc = trinity_guard_report(g, &s, &o->err);
    trinity_guard_free(g);
    if (o->rc != TRINITY_OK) {
        json_decref(stopped);
        return NULL;
    }
    json_t *r = json_loadb(s.ptr, s.len, 0, NULL);
    trinity_string_free(&s);
    json_t *got = json_pack("{s:o, s:o, s:o}", "stopped", stopped, "steps", field(r, "steps"), "failed_steps",
                            field(r, "failed_steps"));
    json_decref(r);
    return got;
}
