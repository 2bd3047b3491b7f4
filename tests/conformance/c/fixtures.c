/* The fixture replay: the same ops and the same checks as core/tests/conformance.rs, through
 * the C ABI. Each case gets a fresh builtin registry. */
#include "report.h"
#include "trinity.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STR(v) json_string_value(v), json_string_length(v)

/* An optional string input: absent means (NULL, 0). */
static void opt_str(const json_t *in, const char *key, const char **ptr, size_t *len) {
    const json_t *v = json_object_get(in, key);
    *ptr = json_is_string(v) ? json_string_value(v) : NULL;
    *len = json_is_string(v) ? json_string_length(v) : 0;
}

/* Takes ownership of a library string and parses it. */
static json_t *take_json(trinity_string *s) {
    json_t *v = json_loadb(s->ptr, s->len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    trinity_string_free(s);
    return v;
}

/* The ids of a JSON array of models, as {"models": [ids]}. */
static json_t *ids_of(json_t *models) {
    json_t *ids = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(models, i, m) { json_array_append(ids, json_object_get(m, "id")); }
    json_decref(models);
    return json_pack("{s:o}", "models", ids);
}

/* "not_found" -> "NotFoundError": the class name the Python and Node bindings use. */
static json_t *class_of(const char *code) {
    char buf[64];
    size_t n = 0;
    bool upper = true;
    for (const char *c = code; *c && n + 6 < sizeof buf; c++) {
        if (*c == '_') {
            upper = true;
            continue;
        }
        buf[n++] = upper ? (char)toupper((unsigned char)*c) : *c;
        upper = false;
    }
    strcpy(buf + n, "Error");
    return json_string(buf);
}

static json_t *error_kind(const char *code) {
    for (uint32_t n = 1; n < 1000; n++) {
        const char *name = trinity_error_code_str(n);
        if (name && strcmp(name, code) == 0) {
            return json_pack("{s:i, s:o}", "number", (json_int_t)n, "class", class_of(code));
        }
    }
    return NULL;
}

/* `text` repeated `repeat` times (malloc'd; its length in *len). */
static char *text_of(const json_t *in, size_t *len) {
    const json_t *t = json_object_get(in, "text");
    json_int_t repeat = json_is_integer(json_object_get(in, "repeat"))
                            ? json_integer_value(json_object_get(in, "repeat"))
                            : 1;
    size_t one = json_string_length(t);
    *len = one * (size_t)repeat;
    char *buf = malloc(*len + 1);
    for (json_int_t i = 0; i < repeat; i++) memcpy(buf + one * (size_t)i, json_string_value(t), one);
    buf[*len] = 0;
    return buf;
}

static json_t *count_batch(const json_t *in, outcome *o) {
    const json_t *texts = json_object_get(in, "texts");
    size_t n = json_array_size(texts);
    const char **ptrs = calloc(n + 1, sizeof *ptrs);
    size_t *lens = calloc(n + 1, sizeof *lens);
    uint64_t *counts = calloc(n + 1, sizeof *counts);
    for (size_t i = 0; i < n; i++) {
        ptrs[i] = json_string_value(json_array_get(texts, i));
        lens[i] = json_string_length(json_array_get(texts, i));
    }
    const char *model, *enc;
    size_t model_len, enc_len;
    opt_str(in, "model", &model, &model_len);
    opt_str(in, "encoding", &enc, &enc_len);
    json_t *got = NULL;
    o->rc = trinity_count_tokens_batch(ptrs, lens, n, model, model_len, enc, enc_len, counts,
                                       &o->err);
    if (o->rc == TRINITY_OK) {
        json_t *list = json_array();
        for (size_t i = 0; i < n; i++) json_array_append_new(list, json_integer((json_int_t)counts[i]));
        got = json_pack("{s:o}", "counts", list);
    }
    free(ptrs);
    free(lens);
    free(counts);
    return got;
}

/* Runs one op; sets o->rc/o->err, returns the result object on success. */
static json_t *run(const json_t *c, trinity_registry *reg, outcome *o) {
    const char *op = json_string_value(json_object_get(c, "op"));
    const json_t *in = json_object_get(c, "input");
    trinity_string s = {0};
    if (strcmp(op, "chat") == 0 || strcmp(op, "chat_stream") == 0) return run_chat(c, op[4] != 0, o);
    if (strcmp(op, "heal_html") == 0 || strcmp(op, "heal_css") == 0) return run_heal(in, op[5] == 'h', o);
    if (strcmp(op, "guard_replay") == 0) return run_guard_replay(in, o);
    static const char *context_ops[] = {"prune_context", "prioritize_context", "warn_if_too_large",
                                        "available_context_window", "validate_conversation"};
    for (size_t i = 0; i < sizeof context_ops / sizeof *context_ops; i++) {
        if (strcmp(op, context_ops[i]) == 0) return run_context(op, in, o);
    }
    const json_t *name = json_object_get(in, "name");
    if (strcmp(op, "error_kind") == 0) {
        json_t *got = error_kind(json_string_value(json_object_get(in, "code")));
        if (!got) snprintf(o->why, sizeof o->why, "no error number has this code");
        return got;
    }
    if (strcmp(op, "count_tokens") == 0) {
        size_t len;
        char *text = text_of(in, &len);
        const char *model, *enc;
        size_t model_len, enc_len;
        opt_str(in, "model", &model, &model_len);
        opt_str(in, "encoding", &enc, &enc_len);
        uint64_t count = 0;
        o->rc = trinity_count_tokens(text, len, model, model_len, enc, enc_len, &count, &o->err);
        free(text);
        return o->rc ? NULL : json_pack("{s:I}", "tokens", (json_int_t)count);
    }
    if (strcmp(op, "count_tokens_batch") == 0) return count_batch(in, o);
    if (strcmp(op, "count_message_tokens") == 0) {
        char *messages = json_dumps(json_object_get(in, "messages"),
                                    JSON_COMPACT | JSON_ENCODE_ANY);
        o->rc = trinity_count_message_tokens(messages, strlen(messages),
                                             STR(json_object_get(in, "model")), &s, &o->err);
        free(messages);
        return o->rc ? NULL : take_json(&s);
    }
    if (strcmp(op, "cost") == 0) {
        char *usage = json_dumps(json_object_get(in, "usage"), JSON_COMPACT | JSON_ENCODE_ANY);
        o->rc = trinity_cost(STR(json_object_get(in, "model")), usage, strlen(usage), false, &s,
                             &o->err);
        free(usage);
        return o->rc ? NULL : json_pack("{s:o}", "cost", take_json(&s));
    }
    if (strcmp(op, "get_model") == 0) {
        o->rc = trinity_registry_get(reg, STR(name), &s, &o->err);
        return o->rc ? NULL : json_pack("{s:o}", "model", take_json(&s));
    }
    if (strcmp(op, "token_limit") == 0) {
        uint64_t limit = 0;
        o->rc = trinity_registry_token_limit(reg, STR(name), &limit, &o->err);
        return o->rc ? NULL : json_pack("{s:I}", "value", (json_int_t)limit);
    }
    if (strcmp(op, "cost_per_1k") == 0) {
        double cost = 0;
        o->rc = trinity_registry_cost_per_1k(reg, STR(name), &cost, &o->err);
        return o->rc ? NULL : json_pack("{s:f}", "value", cost);
    }
    if (strcmp(op, "supports_feature") == 0) {
        bool yes = false;
        o->rc = trinity_registry_supports_feature(reg, STR(name), STR(json_object_get(in, "feature")),
                                                  &yes, &o->err);
        return o->rc ? NULL : json_pack("{s:b}", "value", yes);
    }
    if (strcmp(op, "by_provider") == 0) {
        o->rc = trinity_registry_by_provider(reg, STR(json_object_get(in, "provider")), &s, &o->err);
        return o->rc ? NULL : ids_of(take_json(&s));
    }
    if (strcmp(op, "by_capability") == 0) {
        o->rc = trinity_registry_by_capability(reg, STR(json_object_get(in, "capability")), &s,
                                               &o->err);
        return o->rc ? NULL : ids_of(take_json(&s));
    }
    if (strcmp(op, "by_latency") == 0) {
        o->rc = trinity_registry_by_latency(reg, json_number_value(json_object_get(in, "max_ms")),
                                            &s, &o->err);
        return o->rc ? NULL : ids_of(take_json(&s));
    }
    if (strcmp(op, "by_cost") == 0) {
        o->rc = trinity_registry_by_cost(reg, json_number_value(json_object_get(in, "max_per_1k")),
                                         &s, &o->err);
        return o->rc ? NULL : ids_of(take_json(&s));
    }
    if (strcmp(op, "add_model") == 0) {
        char *model = json_dumps(json_object_get(in, "model"), JSON_COMPACT | JSON_ENCODE_ANY);
        o->rc = trinity_registry_add_model(reg, model, strlen(model), &o->err);
        free(model);
        return o->rc ? NULL : json_pack("{s:b}", "ok", 1);
    }
    if (strcmp(op, "update_model") == 0) {
        char *updates = json_dumps(json_object_get(in, "updates"), JSON_COMPACT | JSON_ENCODE_ANY);
        o->rc = trinity_registry_update_model(reg, STR(name), updates, strlen(updates), &s, &o->err);
        free(updates);
        return o->rc ? NULL : json_pack("{s:o}", "model", take_json(&s));
    }
    if (strcmp(op, "parse_config") == 0) {
        o->rc = trinity_config_parse(STR(json_object_get(in, "text")), false, &s, &o->err);
        return o->rc ? NULL : json_pack("{s:o}", "config", take_json(&s));
    }
    if (strcmp(op, "cache_key") == 0) {
        const json_t *ns = json_object_get(in, "namespace"), *strategy = json_object_get(in, "strategy");
        json_t *cfg = json_pack("{s:s,s:s}", "namespace", ns ? json_string_value(ns) : "trinity", "strategy",
                                strategy ? json_string_value(strategy) : "content");
        char *cfg_text = json_dumps(cfg, JSON_COMPACT);
        json_decref(cfg);
        trinity_cache *cache = NULL;
        o->rc = trinity_cache_new(cfg_text, strlen(cfg_text), &cache, &o->err);
        free(cfg_text);
        if (o->rc) return NULL;
        char *req = json_dumps(json_object_get(in, "request"), JSON_COMPACT | JSON_ENCODE_ANY);
        const char *provider;
        size_t provider_len;
        opt_str(in, "provider", &provider, &provider_len);
        o->rc = trinity_cache_key(cache, req, strlen(req), provider, provider_len, &s, &o->err);
        free(req);
        trinity_cache_free(cache);
        if (o->rc) return NULL;
        json_t *key = json_stringn(s.ptr, s.len);
        trinity_string_free(&s);
        return json_pack("{s:o}", "key", key);
    }
    snprintf(o->why, sizeof o->why, "unknown op '%s': every runner must handle every op", op);
    return NULL;
}

/* serde_json's `v[key]` semantics: a missing key reads as null. */
static bool same(const json_t *got, const json_t *want) {
    json_t *null = json_null();
    bool eq = json_equal(got ? got : null, want);
    json_decref(null);
    return eq;
}

static const json_t *dotted(const json_t *v, const char *path) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *save = NULL, *k = strtok_r(buf, ".", &save); k && v; k = strtok_r(NULL, ".", &save))
        v = json_object_get(v, k);
    return v;
}

static bool listed(const json_t *ids, const json_t *want) {
    size_t i;
    json_t *id;
    json_array_foreach(ids, i, id) {
        if (json_equal(id, want)) return true;
    }
    return false;
}

static double metric(trinity_registry *reg, const json_t *id, const char *key) {
    double v = NAN;
    if (strcmp(key, "blended_cost") == 0) {
        trinity_registry_cost_per_1k(reg, STR(id), &v, NULL);
        return v;
    }
    trinity_string s = {0};
    if (trinity_registry_get(reg, STR(id), &s, NULL) == TRINITY_OK) {
        json_t *m = take_json(&s);
        v = json_number_value(json_object_get(m, "typical_latency_ms"));
        json_decref(m);
    }
    return v;
}

static bool check_error(const char *id, const json_t *expect, const outcome *o) {
    const json_t *code = json_object_get(expect, "error");
    if (o->rc == TRINITY_OK) return report(id, false, "expected error %s, got success", json_string_value(code));
    const char *name = trinity_error_code_name(o->err);
    if (!name || strcmp(name, json_string_value(code)) != 0 || trinity_error_code(o->err) != o->rc)
        return report(id, false, "expected %s, got %u %s: %s", json_string_value(code), o->rc,
                      name ? name : "(none)", trinity_error_message(o->err));
    const char *text = trinity_error_details(o->err);
    json_t *details = text ? json_loads(text, 0, NULL) : NULL;
    bool ok = true;
    const json_t *path = json_object_get(expect, "path");
    if (path && !same(json_object_get(details, "path"), path)) ok = false;
    const json_t *suggestion = json_object_get(expect, "suggestions_include");
    if (suggestion && !listed(json_object_get(details, "suggestions"), suggestion)) ok = false;
    json_decref(details);
    return report(id, ok, "error details %s do not match", text ? text : "(none)");
}

static bool check_result(const char *id, const json_t *expect, json_t *got, trinity_registry *reg) {
    const json_t *result = json_object_get(expect, "result");
    if (result && !json_equal(got, result)) {
        char *text = json_dumps(got, JSON_COMPACT);
        bool ok = report(id, false, "result differs: %.200s", text ? text : "(null)");
        free(text);
        return ok;
    }
    static const char *keys[] = {"tokens", "counts", "number", "class", "estimated", "encoding", "ok",
                                 "content", "finish_reason", "provider", "tool_names", "key", "fix_rules",
                                 "idempotent"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        const json_t *want = json_object_get(expect, keys[i]);
        if (want && !same(json_object_get(got, keys[i]), want)) return report(id, false, "%s differs", keys[i]);
    }
    size_t j;
    const json_t *part;
    json_array_foreach(json_object_get(expect, "contains"), j, part) {
        if (!strstr(json_string_value(json_object_get(got, "text")), json_string_value(part)))
            return report(id, false, "no %s in the healed text", json_string_value(part));
    }
    const json_t *want = json_object_get(expect, "value");
    if (want) {
        const json_t *v = json_object_get(got, "value");
        bool ok = json_is_number(want)
                      ? json_is_number(v) && fabs(json_number_value(v) - json_number_value(want)) < 1e-9
                      : same(v, want);
        if (!ok) return report(id, false, "value differs");
    }
    const char *k;
    json_t *w;
    json_object_foreach((json_t *)json_object_get(expect, "cost"), k, w) {
        if (!same(json_object_get(json_object_get(got, "cost"), k), w)) return report(id, false, "cost.%s differs", k);
    }
    json_object_foreach((json_t *)json_object_get(expect, "model"), k, w) {
        if (!same(json_object_get(json_object_get(got, "model"), k), w)) return report(id, false, "model.%s differs", k);
    }
    json_object_foreach((json_t *)json_object_get(expect, "values"), k, w) {
        if (!same(dotted(json_object_get(got, "config"), k), w)) return report(id, false, "config %s differs", k);
    }
    const json_t *ids = json_object_get(got, "models");
    size_t i;
    json_array_foreach(json_object_get(expect, "includes"), i, w) {
        if (!listed(ids, w)) return report(id, false, "missing %s", json_string_value(w));
    }
    json_array_foreach(json_object_get(expect, "excludes"), i, w) {
        if (listed(ids, w)) return report(id, false, "has %s", json_string_value(w));
    }
    const json_t *n = json_object_get(expect, "min_count");
    if (n && (json_int_t)json_array_size(ids) < json_integer_value(n)) return report(id, false, "too few models");
    n = json_object_get(expect, "min_chunks");
    if (n && json_integer_value(json_object_get(got, "chunks")) < json_integer_value(n)) return report(id, false, "too few chunks");
    n = json_object_get(expect, "count");
    if (n && (json_int_t)json_array_size(ids) != json_integer_value(n)) return report(id, false, "wrong model count");
    const json_t *key = json_object_get(expect, "sorted_by");
    for (i = 1; key && i < json_array_size(ids); i++) {
        if (!(metric(reg, json_array_get(ids, i - 1), json_string_value(key)) <=
              metric(reg, json_array_get(ids, i), json_string_value(key))))
            return report(id, false, "not sorted by %s", json_string_value(key));
    }
    const json_t *then = json_object_get(expect, "then_get");
    if (then) {
        trinity_string s = {0};
        if (trinity_registry_get(reg, STR(json_object_get(then, "name")), &s, NULL) != TRINITY_OK)
            return report(id, false, "then_get: not found");
        json_t *model = take_json(&s);
        bool ok = true;
        json_object_foreach((json_t *)json_object_get(then, "model"), k, w) {
            if (!same(json_object_get(model, k), w)) ok = false;
        }
        json_decref(model);
        if (!ok) return report(id, false, "then_get differs");
    }
    return report(id, true, "passed");
}

static void replay(const json_t *c) {
    const char *id = json_string_value(json_object_get(c, "id"));
    const json_t *expect = json_object_get(c, "expect");
    trinity_registry *reg = NULL;
    if (trinity_registry_new(&reg, NULL) != TRINITY_OK) {
        report(id, false, "cannot make a registry");
        return;
    }
    outcome o = {0};
    json_t *got = run(c, reg, &o);
    if (o.why[0]) {
        report(id, false, "%s", o.why);
    } else if (json_object_get(expect, "error")) {
        check_error(id, expect, &o);
    } else if (o.rc != TRINITY_OK) {
        report(id, false, "%s: %s", trinity_error_code_name(o.err), trinity_error_message(o.err));
    } else {
        check_result(id, expect, got, reg);
    }
    json_decref(got);
    trinity_error_free(o.err);
    trinity_registry_free(reg);
}

int replay_fixture_file(const char *path) {
    json_error_t e;
    json_t *doc = json_load_file(path, JSON_ALLOW_NUL, &e);
    if (!doc) return -1;
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(doc, "cases"), i, c) { replay(c); }
    json_decref(doc);
    return 0;
}
