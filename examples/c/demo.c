/* Registry look-ups and token counts of a sample document through the C ABI.
 *
 * usage: demo [DOCUMENT]   (default: examples/data/sample.md)
 * JSON results are read with jansson, as a C program using libtrinity would. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trinity.h"

#define S(lit) lit, strlen(lit)

/* Prints the failure, frees the error, and says whether the call failed. */
static int failed(uint32_t rc, trinity_error *err, const char *what) {
    if (rc == TRINITY_OK) return 0;
    fprintf(stderr, "%s: %s: %s\n", what, trinity_error_code_name(err), trinity_error_message(err));
    trinity_error_free(err);
    return 1;
}

static json_t *take_json(trinity_string *s) {
    json_t *v = json_loadb(s->ptr, s->len, JSON_DECODE_ANY, NULL);
    trinity_string_free(s);
    return v;
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    rewind(f);
    char *buf = malloc((size_t)size + 1);
    *len = fread(buf, 1, (size_t)size, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

/* One table row: the model, its price and window, and the document counted as a chat message. */
static int row(trinity_registry *reg, const char *name, const char *messages) {
    trinity_error *err = NULL;
    trinity_string s = {0};
    if (failed(trinity_registry_get(reg, S(name), &s, &err), err, name)) return 1;
    json_t *m = take_json(&s);
    const char *id = json_string_value(json_object_get(m, "id"));
    if (failed(trinity_count_message_tokens(S(messages), S(id), &s, &err), err, name)) {
        json_decref(m);
        return 1;
    }
    json_t *count = take_json(&s);
    double per_1k = 0;
    trinity_registry_cost_per_1k(reg, S(id), &per_1k, NULL);
    json_int_t tokens = json_integer_value(json_object_get(count, "tokens"));
    double prompt_usd = (double)tokens * json_number_value(json_object_get(m, "input_per_1m")) / 1e6;
    printf("%-22s %-10s %9lld %7lld %6s %10.6f %9.5f\n", name,
           json_string_value(json_object_get(m, "provider")),
           json_integer_value(json_object_get(m, "context_window")), tokens,
           json_is_true(json_object_get(count, "estimated")) ? "est." : "yes", prompt_usd, per_1k);
    json_decref(count);
    json_decref(m);
    return 0;
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "examples/data/sample.md";
    size_t len = 0;
    char *doc = read_file(path, &len);
    if (!doc) {
        perror(path);
        return 1;
    }
    if (trinity_abi_version() != TRINITY_ABI_VERSION) {
        fprintf(stderr, "libtrinity ABI %u, built for %d\n", trinity_abi_version(), TRINITY_ABI_VERSION);
        return 1;
    }
    trinity_registry *reg = NULL;
    trinity_error *err = NULL;
    trinity_string s = {0};
    if (failed(trinity_registry_new(&reg, &err), err, "registry")) return 1;
    if (failed(trinity_registry_list(reg, &s, &err), err, "list")) return 1;
    json_t *all = take_json(&s);
    printf("trinity-core %s (C) · %zu models · %s: %zu bytes\n", trinity_version(),
           json_array_size(all), path, len);
    json_decref(all);

    json_t *msgs = json_pack("[{s:s, s:s%}]", "role", "user", "content", doc, len);
    char *messages = json_dumps(msgs, JSON_COMPACT);
    json_decref(msgs);
    printf("%-22s %-10s %9s %7s %6s %10s %9s\n", "model", "provider", "context", "tokens", "exact",
           "prompt $", "$/1K");
    static const char *names[] = {"gpt-4o",           "gpt-4o-mini", "gpt-3.5-turbo", "claude-sonnet",
                                  "gemini-2.5-flash", "llama3.1:8b"};
    int bad = 0;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) bad |= row(reg, names[i], messages);
    free(messages);

    static const char *encodings[] = {"cl100k_base", "o200k_base"};
    for (size_t i = 0; i < 2; i++) {
        uint64_t n = 0;
        bad |= failed(trinity_count_tokens(doc, len, NULL, 0, S(encodings[i]), &n, &err), err, encodings[i]);
        printf("%s: %llu tokens\n", encodings[i], (unsigned long long)n);
    }

    if (!failed(trinity_registry_by_cost(reg, 0.001, &s, &err), err, "by_cost")) {
        json_t *cheap = take_json(&s);
        printf("cheap (<= $0.001/1K) and fast (<= 500 ms):");
        size_t i, shown = 0;
        json_t *m;
        json_array_foreach(cheap, i, m) {
            if (shown < 5 && json_integer_value(json_object_get(m, "typical_latency_ms")) <= 500)
                printf("%s %s", shown++ ? "," : "", json_string_value(json_object_get(m, "id")));
        }
        printf("\n");
        json_decref(cheap);
    }

    uint32_t rc = trinity_registry_get(reg, S("gpt-4o-mni"), &s, &err);
    printf("unknown model -> %s: %s\n", trinity_error_code_name(err), trinity_error_message(err));
    trinity_error_free(err);
    trinity_registry_free(reg);
    free(doc);
    return bad || rc != TRINITY_ERR_NOT_FOUND;
}
