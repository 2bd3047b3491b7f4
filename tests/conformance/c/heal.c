/* healer.json cases through trinity_heal_html / trinity_heal_css: {text, fix_rules, idempotent}.
 * `html_hex`/`css_hex` inputs are raw bytes (the non-UTF-8 cases). */
#include "report.h"
#include "trinity.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint32_t (*heal_fn)(const char *, size_t, const char *, size_t, trinity_string *,
                            trinity_error **);

/* The input bytes (malloc'd, length in *len): `<key>` as text or `<key>_hex` decoded. */
static char *source(const json_t *in, const char *key, size_t *len) {
    char hex_key[32];
    snprintf(hex_key, sizeof hex_key, "%s_hex", key);
    const json_t *hex = json_object_get(in, hex_key);
    if (hex) {
        const char *h = json_string_value(hex);
        *len = strlen(h) / 2;
        char *buf = malloc(*len + 1);
        for (size_t i = 0; i < *len; i++) {
            unsigned byte = 0;
            sscanf(h + 2 * i, "%2x", &byte);
            buf[i] = (char)byte;
        }
        return buf;
    }
    const json_t *text = json_object_get(in, key);
    *len = json_string_length(text);
    char *buf = malloc(*len + 1);
    memcpy(buf, json_string_value(text), *len);
    return buf;
}

/* One heal call; returns the parsed result or NULL (o->rc/o->err set). */
static json_t *heal_once(heal_fn f, const char *src, size_t len, const char *opts, outcome *o) {
    trinity_string s = {0};
    o->rc = f(src, len, opts, opts ? strlen(opts) : 0, &s, &o->err);
    if (o->rc != TRINITY_OK) return NULL;
    json_t *v = json_loadb(s.ptr, s.len, 0, NULL);
    trinity_string_free(&s);
    return v;
}

json_t *run_heal(const json_t *in, bool html, outcome *o) {
    const char *key = html ? "html" : "css";
    heal_fn f = html ? trinity_heal_html : trinity_heal_css;
    const json_t *options = json_object_get(in, "options");
    char *opts = options ? json_dumps(options, JSON_COMPACT) : NULL;
    size_t len;
    char *src = source(in, key, &len);
    json_t *got = NULL;
    json_t *out = heal_once(f, src, len, opts, o);
    if (out) {
        const json_t *text = json_object_get(out, key);
        outcome again_o = {0};
        json_t *again = heal_once(f, json_string_value(text), json_string_length(text), opts, &again_o);
        json_t *rules = json_array();
        size_t i;
        json_t *fix;
        json_array_foreach(json_object_get(out, "fixes"), i, fix) {
            json_array_append(rules, json_object_get(fix, "rule"));
        }
        got = json_pack("{s:O, s:o, s:b}", "text", text, "fix_rules", rules, "idempotent",
                        again && json_equal(json_object_get(again, key), text));
        json_decref(again);
        trinity_error_free(again_o.err);
        json_decref(out);
    }
    free(src);
    free(opts);
    return got;
}
