/* The context ops of tests/fixtures/context.json through the C ABI: each result is the whole
 * JSON object the fixture's expect.result holds (warnings without their messages). */
#include "report.h"
#include "trinity.h"

#include <stdlib.h>
#include <string.h>

/* A JSON value of the input as text (NULL, 0 when absent), for an optional (ptr, len). */
static char *dump_opt(const json_t *v, size_t *len) {
    char *text = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    *len = text ? strlen(text) : 0;
    return text;
}

/* An optional string input: absent means (NULL, 0). */
static const char *opt_string(const json_t *in, const char *key, size_t *len) {
    const json_t *v = json_object_get(in, key);
    *len = json_is_string(v) ? json_string_length(v) : 0;
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Takes ownership of a library string and parses it. */
static json_t *take(trinity_string *s) {
    json_t *v = json_loadb(s->ptr, s->len, JSON_DECODE_ANY, NULL);
    trinity_string_free(s);
    return v;
}

/* {code, tokens, limit, path} of each warning. */
static json_t *without_messages(json_t *warnings) {
    json_t *list = json_array();
    size_t i;
    json_t *w;
    json_array_foreach(warnings, i, w) {
        json_array_append_new(list, json_pack("{s:O, s:O, s:O, s:O}", "code", json_object_get(w, "code"),
                                              "tokens", json_object_get(w, "tokens"), "limit",
                                              json_object_get(w, "limit"), "path", json_object_get(w, "path")));
    }
    json_decref(warnings);
    return json_pack("{s:o}", "warnings", list);
}

json_t *run_context(const char *op, const json_t *in, outcome *o) {
    trinity_string s = {0};
    size_t model_len, len, opts_len;
    const char *model = opt_string(in, "model", &model_len);
    if (strcmp(op, "prune_context") == 0) {
        char *messages = dump_opt(json_object_get(in, "messages"), &len);
        char *opts = dump_opt(json_object_get(in, "options"), &opts_len);
        o->rc = trinity_prune_context(messages, len, model, model_len, opts, opts_len, &s, &o->err);
        free(messages);
        free(opts);
        return o->rc ? NULL : take(&s);
    }
    if (strcmp(op, "prioritize_context") == 0) {
        char *items = dump_opt(json_object_get(in, "items"), &len);
        size_t query_len;
        const char *query = opt_string(in, "query", &query_len);
        o->rc = trinity_prioritize_context(items, len, query, query_len, &s, &o->err);
        free(items);
        return o->rc ? NULL : take(&s);
    }
    if (strcmp(op, "warn_if_too_large") == 0) {
        char *request = dump_opt(json_object_get(in, "request"), &len);
        o->rc = trinity_warn_if_too_large(request, len, model, model_len, &s, &o->err);
        free(request);
        return o->rc ? NULL : without_messages(take(&s));
    }
    if (strcmp(op, "available_context_window") == 0) {
        json_t *opts = json_object();
        const char *keys[] = {"reserve_output_tokens", "max_input_tokens"};
        for (size_t i = 0; i < 2; i++) {
            json_t *v = json_object_get(in, keys[i]);
            if (v) json_object_set(opts, keys[i], v);
        }
        char *text = dump_opt(opts, &opts_len);
        json_decref(opts);
        o->rc = trinity_available_context_window(model, model_len, text, opts_len, &s, &o->err);
        free(text);
        return o->rc ? NULL : take(&s);
    }
    if (strcmp(op, "validate_conversation") == 0) {
        char *messages = dump_opt(json_object_get(in, "messages"), &len);
        size_t dialect_len;
        const char *dialect = opt_string(in, "dialect", &dialect_len);
        o->rc = trinity_validate_conversation(messages, len, dialect, dialect_len, &s, &o->err);
        free(messages);
        return o->rc ? NULL : json_pack("{s:o}", "violation", take(&s));
    }
    snprintf(o->why, sizeof o->why, "unknown context op '%s'", op);
    return NULL;
}
