/* The prompt optimizer through the C ABI, on the committed corpus (core/tests/fixtures/prompts):
 * counts that agree with trinity_count_tokens and never grow, every distinct number and URL kept,
 * optimizing twice is optimizing once, compress at or under its target (or
 * TRINITY_ERR_CONTEXT_TOO_LARGE with what the protected text needs), Anthropic breakpoints over
 * the registry minimum, and the error numbers of bad input. Built with ASan + UBSan (mk/c.mk);
 * every string and error is freed, so LeakSanitizer checks the ownership rules too.
 *
 *   prompt <corpus dir>
 */
#include <dirent.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "trinity.h"

static result optimize(const char *prompt_json, size_t len, const char *model, const char *goal) {
    trinity_string s = {0};
    trinity_error *err = NULL;
    uint32_t rc = trinity_prompt_optimize(prompt_json, len, model, len_of(model), goal, len_of(goal), &s, &err);
    return finish(rc, &s, err);
}

static result optimize_value(const json_t *prompt, const char *model, const char *goal) {
    char *doc = json_dumps(prompt, JSON_ENCODE_ANY | JSON_COMPACT);
    result r = optimize(doc, strlen(doc), model, goal);
    free(doc);
    return r;
}

static result for_model(const json_t *prompt, const char *model) {
    char *doc = json_dumps(prompt, JSON_ENCODE_ANY | JSON_COMPACT);
    trinity_string s = {0};
    trinity_error *err = NULL;
    uint32_t rc = trinity_prompt_optimize_for_model(doc, strlen(doc), model, len_of(model), &s, &err);
    free(doc);
    return finish(rc, &s, err);
}

static result compress(const char *text, size_t len, uint64_t target, const char *model) {
    trinity_string s = {0};
    trinity_error *err = NULL;
    uint32_t rc = trinity_prompt_compress(text, len, target, model, len_of(model), &s, &err);
    return finish(rc, &s, err);
}

static uint64_t count(const char *text, size_t len) {
    uint64_t n = 0;
    if (trinity_count_tokens(text, len, NULL, 0, NULL, 0, &n, NULL) != TRINITY_OK) abort();
    return n;
}

static json_int_t num(const json_t *o, const char *key) { return json_integer_value(json_object_get(o, key)); }

/* ------------------------------------------------------------------ spans (the test's own reader) */

typedef struct {
    char **items;
    size_t n, cap;
} set;

static void set_add(set *s, const char *p, size_t len) {
    for (size_t i = 0; i < s->n; i++)
        if (strlen(s->items[i]) == len && memcmp(s->items[i], p, len) == 0) return;
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->items = realloc(s->items, s->cap * sizeof *s->items);
    }
    s->items[s->n++] = strndup(p, len);
}

static bool set_contains(const set *s, const char *p) {
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->items[i], p) == 0) return true;
    return false;
}

static void set_free(set *s) {
    for (size_t i = 0; i < s->n; i++) free(s->items[i]);
    free(s->items);
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* Distinct numbers (digits, an optional decimal part) and URLs of `text`, lines that are repeat
 * references ("[same as ...]") left out. */
static void spans_of(const char *text, set *out) {
    const char *line = text;
    while (*line) {
        const char *end = strchr(line, '\n');
        if (!end) end = line + strlen(line);
        if (strncmp(line, "[same as ", 9) != 0) {
            for (const char *p = line; p < end;) {
                if (strncmp(p, "http://", 7) == 0 || strncmp(p, "https://", 8) == 0) {
                    const char *q = p;
                    while (q < end && !strchr(" \t<>\"'`", *q)) q++;
                    set_add(out, p, (size_t)(q - p));
                    p = q;
                } else if (is_digit(*p)) {
                    const char *q = p;
                    while (q < end && is_digit(*q)) q++;
                    if (q + 1 < end && *q == '.' && is_digit(q[1]))
                        for (q++; q < end && is_digit(*q); q++) {
                        }
                    set_add(out, p, (size_t)(q - p));
                    p = q;
                } else {
                    /* Skip the rest of a word (so "v2" or "x86" count as one span each). */
                    p++;
                }
            }
        }
        line = *end ? end + 1 : end;
    }
}

/* Every string of a JSON value, for conversations. */
static void spans_of_json(const json_t *v, set *out) {
    size_t i;
    const char *k;
    json_t *x;
    if (json_is_string(v)) spans_of(json_string_value(v), out);
    if (json_is_array(v)) json_array_foreach(v, i, x) spans_of_json(x, out);
    if (json_is_object(v)) json_object_foreach((json_t *)v, k, x) spans_of_json(x, out);
}

static size_t spans_checked;

static bool same_spans(const json_t *a, const json_t *b, const char *name) {
    set x = {0}, y = {0};
    spans_of_json(a, &x);
    spans_of_json(b, &y);
    spans_checked += x.n;
    bool ok = x.n == y.n;
    for (size_t i = 0; ok && i < x.n; i++) ok = set_contains(&y, x.items[i]);
    if (!ok) fprintf(stderr, "%s: %zu distinct numbers/URLs before, %zu after\n", name, x.n, y.n);
    set_free(&x);
    set_free(&y);
    return ok;
}

/* ------------------------------------------------------------------ the corpus */

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    *len = fread(buf, 1, (size_t)n, f);
    buf[*len] = 0;
    fclose(f);
    return buf;
}

static int lossy, refused, files;

static void check_file(const char *path, const char *name) {
    size_t len;
    char *raw = read_file(path, &len);
    if (!check(raw != NULL, "%s: unreadable", path)) return;
    files++;
    bool messages = strstr(name, ".messages.json") != NULL;
    json_t *prompt = messages ? json_loads(raw, 0, NULL) : json_stringn(raw, len);

    result once = optimize_value(prompt, "gpt-4o", NULL);
    if (check(once.rc == TRINITY_OK, "%s: optimize failed: %s", name, once.code)) {
        json_t *out = json_object_get(once.out, "prompt");
        check(num(once.out, "tokens_after") <= num(once.out, "tokens_before"), "%s: tokens grew", name);
        check(json_typeof(out) == json_typeof(prompt), "%s: the prompt changed kind", name);
        check(same_spans(prompt, out, name), "%s: a number or URL changed", name);
        if (!messages) {
            const char *t = json_string_value(out);
            check((uint64_t)num(once.out, "tokens_before") == count(raw, len), "%s: tokens_before", name);
            check((uint64_t)num(once.out, "tokens_after") == count(t, strlen(t)), "%s: tokens_after", name);
        }
        result twice = optimize_value(out, "gpt-4o", "quality");
        check(twice.rc == TRINITY_OK && json_equal(json_object_get(twice.out, "prompt"), out) &&
                  json_array_size(json_object_get(twice.out, "applied")) == 0 &&
                  num(twice.out, "tokens_before") == num(once.out, "tokens_after"),
              "%s: optimizing twice changed it again", name);
        check(twice.rc == TRINITY_OK && strcmp(json_string_value(json_object_get(twice.out, "goal")), "quality") == 0,
              "%s: goal", name);
        result again = optimize_value(prompt, "gpt-4o", NULL);
        check(again.rc == TRINITY_OK && json_equal(again.out, once.out), "%s: not deterministic", name);
        result_free(&twice);
        result_free(&again);

        const int pcts[] = {95, 80, 60};
        for (size_t i = 0; !messages && i < sizeof pcts / sizeof *pcts; i++) {
            uint64_t target = (uint64_t)num(once.out, "tokens_after") * (uint64_t)pcts[i] / 100;
            result c = compress(raw, len, target, "gpt-4o");
            if (c.rc == TRINITY_OK) {
                const char *t = json_string_value(json_object_get(c.out, "text"));
                json_t *text = json_string(t);
                check((uint64_t)num(c.out, "tokens_after") <= target, "%s: compress over target", name);
                check((uint64_t)num(c.out, "tokens_after") == count(t, strlen(t)), "%s: compress count", name);
                check(same_spans(prompt, text, name), "%s: compress changed a number or URL", name);
                lossy += !json_boolean_value(json_object_get(c.out, "lossless"));
                json_decref(text);
            } else {
                check(c.rc == TRINITY_ERR_CONTEXT_TOO_LARGE && strcmp(c.code, "context_too_large") == 0 &&
                          (uint64_t)num(c.details, "min_tokens") > target,
                      "%s: compress failed with %s", name, c.code);
                refused++;
            }
            result_free(&c);
        }
    }
    result_free(&once);
    json_decref(prompt);
    free(raw);
}

static void check_corpus(const char *root) {
    const char *slices[] = {"json", "logs", "history", "boilerplate", "chat"};
    for (size_t i = 0; i < sizeof slices / sizeof *slices; i++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%s", root, slices[i]);
        struct dirent **names;
        int n = scandir(dir, &names, NULL, alphasort);
        if (!check(n > 2, "%s: no corpus files", dir)) continue;
        for (int k = 0; k < n; k++) {
            if (names[k]->d_name[0] != '.') {
                char path[8192];
                snprintf(path, sizeof path, "%s/%s", dir, names[k]->d_name);
                check_file(path, names[k]->d_name);
            }
            free(names[k]);
        }
        free(names);
    }
    check(files >= 35, "only %d corpus files", files);
    check(spans_checked > 500, "only %zu numbers and URLs checked", spans_checked);
    check(lossy >= 20 && refused >= 1, "compress: %d lossy fits, %d refused", lossy, refused);
}

/* ------------------------------------------------------------------ layout and errors */

static void check_layout(void) {
    json_t *msgs = json_array();
    char line[256], *system = calloc(1, 64 * 1024);
    for (int i = 0; i < 150; i++) {
        snprintf(line, sizeof line, "Rule %d: cite the handbook section and keep customer data private.\n", i);
        strcat(system, line);
    }
    strcat(system, "Current date: 2026-05-01");
    json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "system", "content", system));
    for (int i = 0; i < 30; i++) {
        snprintf(line, sizeof line, "Question %d about order %d?", i, 1000 + i);
        json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "user", "content", line));
        json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "assistant", "content", "Noted."));
    }
    json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "user", "content", "And the last one?"));
    free(system);

    result r = for_model(msgs, "claude-opus-5");
    if (check(r.rc == TRINITY_OK, "optimize_for_model failed: %s", r.code)) {
        json_t *bps = json_object_get(r.out, "breakpoints");
        json_int_t min = num(r.out, "cache_min_tokens");
        size_t i;
        json_t *b;
        bool over = true;
        json_array_foreach(bps, i, b) over = over && num(b, "prefix_tokens") >= min;
        check(min == 512 && json_array_size(bps) >= 1 && json_array_size(bps) <= 4 && over,
              "breakpoints: %zu, minimum %lld", json_array_size(bps), (long long)min);
        check(strcmp(json_string_value(json_object_get(r.out, "caching")), "breakpoints") == 0, "caching");
        json_t *moved = json_array_get(json_object_get(r.out, "moved"), 0);
        check(moved && strcmp(json_string_value(moved), "Current date: 2026-05-01") == 0, "moved line");
    }
    result_free(&r);
    result o = for_model(msgs, "gpt-4o");
    check(o.rc == TRINITY_OK && strcmp(json_string_value(json_object_get(o.out, "caching")), "automatic") == 0 &&
              json_array_size(json_object_get(o.out, "breakpoints")) == 0,
          "gpt-4o layout");
    result_free(&o);
    json_decref(msgs);
}

static void expect(result r, uint32_t rc, const char *code, const char *what) {
    check(r.rc == rc && strcmp(r.code, code) == 0, "%s: got %u (%s), want %u (%s)", what, r.rc, r.code, rc, code);
    result_free(&r);
}

static void check_errors(void) {
    const char *hi = "\"hi\"";
    expect(optimize("42", 2, NULL, NULL), TRINITY_ERR_INVALID_INPUT, "invalid_input", "a number");
    expect(optimize("{\"role\":\"user\"}", 15, NULL, NULL), TRINITY_ERR_INVALID_INPUT, "invalid_input", "an object");
    expect(optimize("[\"hi\"]", 6, NULL, NULL), TRINITY_ERR_INVALID_INPUT, "invalid_input", "a string message");
    expect(optimize("not json", 8, NULL, NULL), TRINITY_ERR_INVALID_INPUT, "invalid_input", "bad JSON");
    expect(optimize(NULL, 4, NULL, NULL), TRINITY_ERR_INVALID_INPUT, "invalid_input", "NULL with a length");
    expect(optimize("\"\xff\"", 3, NULL, NULL), TRINITY_ERR_INVALID_INPUT, "invalid_input", "invalid UTF-8");
    expect(optimize(hi, 4, "no-such-model", NULL), TRINITY_ERR_NOT_FOUND, "not_found", "unknown model");
    expect(optimize(hi, 4, NULL, "speed"), TRINITY_ERR_INVALID_INPUT, "invalid_input", "unknown goal");
    json_t *h = json_string("hi");
    expect(for_model(h, "no-such-model"), TRINITY_ERR_NOT_FOUND, "not_found", "layout, unknown model");
    expect(for_model(h, NULL), TRINITY_ERR_NOT_FOUND, "not_found", "layout, no model");
    json_decref(h);
    expect(compress("\xfe", 1, 10, NULL), TRINITY_ERR_INVALID_INPUT, "invalid_input", "compress, invalid UTF-8");
    expect(compress("hi", 2, 10, "no-such-model"), TRINITY_ERR_NOT_FOUND, "not_found", "compress, unknown model");
    const char *nums = "Order 1 2 3 4 5 6 7 8 9 at https://a.example/x";
    result r = compress(nums, strlen(nums), 3, NULL);
    check(r.rc == TRINITY_ERR_CONTEXT_TOO_LARGE && num(r.details, "min_tokens") > 3 && num(r.details, "target_tokens") == 3,
          "impossible target: %s", r.code);
    result_free(&r);
    /* A NULL out-parameter and a NULL out_err: still the number, never a crash. */
    check(trinity_prompt_optimize(hi, 4, NULL, 0, NULL, 0, NULL, NULL) == TRINITY_ERR_INVALID_INPUT, "NULL out_json");
    check(trinity_prompt_compress(nums, strlen(nums), 3, NULL, 0, NULL, NULL) == TRINITY_ERR_INVALID_INPUT,
          "NULL out_json (compress)");
    trinity_string s = {0};
    check(trinity_prompt_compress(nums, strlen(nums), 3, NULL, 0, &s, NULL) == TRINITY_ERR_CONTEXT_TOO_LARGE &&
              s.ptr == NULL,
          "NULL out_err");
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s <core/tests/fixtures/prompts>\n", argv[0]);
        return 2;
    }
    check_corpus(argv[1]);
    check_layout();
    check_errors();
    printf("c prompt: %d passed, %d failed (%d corpus files, %d lossy fits, %d refused targets)\n", passed, failed,
           files, lossy, refused);
    return failed ? 1 : 0;
}
