/* ABI edge cases: NULL pointers, invalid UTF-8, NULL out_err, frees of NULL, double string
 * frees, version macros, file loading, and one registry shared by many threads. */
#include "report.h"
#include "trinity.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S(lit) lit, sizeof(lit) - 1
#define ERR_IS(rc, err, want) ((rc) == (want) && trinity_error_code(err) == (want))

static void versions(void) {
    char built[64];
    snprintf(built, sizeof built, "%d.%d.%d", TRINITY_VERSION_MAJOR, TRINITY_VERSION_MINOR,
             TRINITY_VERSION_PATCH);
    report("abi/version-macros", strcmp(trinity_version(), TRINITY_VERSION) == 0 &&
                                     strncmp(TRINITY_VERSION, built, strlen(built)) == 0 &&
                                     trinity_abi_version() == TRINITY_ABI_VERSION,
           "library %s/%u, header %s/%d", trinity_version(), trinity_abi_version(),
           TRINITY_VERSION, TRINITY_ABI_VERSION);
}

static void error_codes(void) {
    static const uint32_t all[] = {
        TRINITY_ERR_INVALID_INPUT, TRINITY_ERR_CONFIG,       TRINITY_ERR_NOT_FOUND,
        TRINITY_ERR_CONTEXT_TOO_LARGE, TRINITY_ERR_BUDGET_EXCEEDED, TRINITY_ERR_AUTH,
        TRINITY_ERR_RATE_LIMITED,  TRINITY_ERR_TIMEOUT,      TRINITY_ERR_PROVIDER,
        TRINITY_ERR_NETWORK,       TRINITY_ERR_CIRCUIT_OPEN, TRINITY_ERR_CANCELLED,
        TRINITY_ERR_CACHE,         TRINITY_ERR_IO,           TRINITY_ERR_INTERNAL,
        TRINITY_ERR_GUARD_STOPPED};
    bool ok = true;
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) ok = ok && trinity_error_code_str(all[i]);
    report("abi/error-code-str", ok && strcmp(trinity_error_code_str(102), "not_found") == 0 &&
                                     trinity_error_code_str(TRINITY_OK) == NULL &&
                                     trinity_error_code_str(999) == NULL,
           "code names do not match the macros");
    report("abi/error-accessors-null",
           trinity_error_code(NULL) == TRINITY_OK && trinity_error_code_name(NULL) == NULL &&
               trinity_error_message(NULL) == NULL && trinity_error_details(NULL) == NULL,
           "accessors on NULL must return 0/NULL");
}

static void strings_in(void) {
    uint64_t n = 7;
    trinity_error *err = NULL;
    uint32_t rc = trinity_count_tokens(NULL, 5, NULL, 0, NULL, 0, &n, &err);
    report("abi/null-text-with-length",
           ERR_IS(rc, err, TRINITY_ERR_INVALID_INPUT) &&
               strcmp(trinity_error_code_name(err), "invalid_input") == 0 &&
               strlen(trinity_error_message(err)) > 0,
           "rc %u", rc);
    trinity_error_free(err);

    err = (trinity_error *)&n; /* must be overwritten with NULL on success */
    rc = trinity_count_tokens(NULL, 0, NULL, 0, NULL, 0, &n, &err);
    report("abi/null-text-empty", rc == TRINITY_OK && n == 0 && err == NULL, "rc %u n %lu", rc,
           (unsigned long)n);

    rc = trinity_count_tokens(S("ab\xff\xfe"), NULL, 0, NULL, 0, &n, &err);
    report("abi/invalid-utf8-text", ERR_IS(rc, err, TRINITY_ERR_INVALID_INPUT), "rc %u", rc);
    trinity_error_free(err);

    rc = trinity_count_tokens(S("hi"), S("gpt\xc3"), NULL, 0, &n, &err);
    report("abi/invalid-utf8-model", ERR_IS(rc, err, TRINITY_ERR_INVALID_INPUT), "rc %u", rc);
    trinity_error_free(err);

    rc = trinity_count_tokens(S("a\0b"), NULL, 0, S("cl100k_base"), &n, &err);
    report("abi/embedded-nul-text", rc == TRINITY_OK && n > 0, "rc %u", rc);

    rc = trinity_count_tokens(S("hi"), NULL, 0, S("r50k"), &n, &err);
    report("abi/unknown-encoding", ERR_IS(rc, err, TRINITY_ERR_INVALID_INPUT), "rc %u", rc);
    trinity_error_free(err);

    rc = trinity_count_tokens(S("hi"), NULL, 0, NULL, 0, NULL, &err);
    report("abi/null-out-count", ERR_IS(rc, err, TRINITY_ERR_INVALID_INPUT), "rc %u", rc);
    trinity_error_free(err);

    rc = trinity_count_tokens(S("hi"), S("no-such-model"), NULL, 0, &n, NULL);
    report("abi/null-out-err", rc == TRINITY_ERR_NOT_FOUND, "rc %u", rc);
}

static void batches(void) {
    trinity_error *err = NULL;
    uint32_t rc = trinity_count_tokens_batch(NULL, NULL, 0, NULL, 0, NULL, 0, NULL, &err);
    report("abi/batch-empty", rc == TRINITY_OK, "rc %u", rc);

    uint64_t counts[2] = {42, 42};
    rc = trinity_count_tokens_batch(NULL, NULL, 2, NULL, 0, NULL, 0, counts, &err);
    report("abi/batch-null-arrays", ERR_IS(rc, err, TRINITY_ERR_INVALID_INPUT), "rc %u", rc);
    trinity_error_free(err);

    const char *texts[2] = {"fine", "bad\xff"};
    size_t lens[2] = {4, 4};
    rc = trinity_count_tokens_batch(texts, lens, 2, NULL, 0, NULL, 0, counts, &err);
    report("abi/batch-invalid-element",
           ERR_IS(rc, err, TRINITY_ERR_INVALID_INPUT) && counts[0] == 42 && counts[1] == 42,
           "rc %u", rc);
    trinity_error_free(err);
}

static void strings_out(trinity_registry *reg) {
    trinity_string s = {0};
    trinity_error *err = NULL;
    uint32_t rc = trinity_registry_get(reg, S("gpt-4o"), &s, &err);
    bool ok = rc == TRINITY_OK && s.ptr && s.ptr[s.len] == '\0' && strlen(s.ptr) == s.len;
    trinity_string_free(&s);
    ok = ok && s.ptr == NULL && s.len == 0;
    trinity_string_free(&s); /* a second free is a no-op */
    trinity_string_free(NULL);
    report("abi/string-out-free-twice", ok, "rc %u", rc);

    s.ptr = (char *)"not ours";
    s.len = 8;
    rc = trinity_registry_get(reg, S("gpt-4o-mega"), &s, &err);
    const char *details = trinity_error_details(err);
    report("abi/failed-call-empties-string",
           ERR_IS(rc, err, TRINITY_ERR_NOT_FOUND) && s.ptr == NULL && s.len == 0 && details &&
               strstr(details, "\"suggestions\""),
           "rc %u", rc);
    trinity_error_free(err);

    rc = trinity_registry_get(reg, S("gpt-4o"), NULL, &err);
    report("abi/null-out-json", ERR_IS(rc, err, TRINITY_ERR_INVALID_INPUT), "rc %u", rc);
    trinity_error_free(err);

    rc = trinity_registry_get(reg, S("x\0y"), &s, &err);
    report("abi/nul-in-error-message",
           ERR_IS(rc, err, TRINITY_ERR_NOT_FOUND) && strstr(trinity_error_message(err), "x\\0y"),
           "rc %u", rc);
    trinity_error_free(err);
}

static void handles(void) {
    trinity_error *err = NULL;
    trinity_string s = {0};
    uint32_t rc = trinity_registry_get(NULL, S("gpt-4o"), &s, &err);
    report("abi/null-registry", ERR_IS(rc, err, TRINITY_ERR_INVALID_INPUT), "rc %u", rc);
    trinity_error_free(err);

    rc = trinity_registry_new(NULL, &err);
    report("abi/null-out-registry", ERR_IS(rc, err, TRINITY_ERR_INVALID_INPUT), "rc %u", rc);
    trinity_error_free(err);

    trinity_registry_free(NULL);
    trinity_error_free(NULL);
    report("abi/free-null", true, "no crash");

    trinity_registry *empty = NULL;
    uint64_t limit = 0;
    rc = trinity_registry_new_empty(&empty, &err);
    rc = rc ? rc : trinity_registry_token_limit(empty, S("gpt-4o"), &limit, &err);
    report("abi/empty-registry", ERR_IS(rc, err, TRINITY_ERR_NOT_FOUND), "rc %u", rc);
    trinity_error_free(err);
    trinity_registry_free(empty);
}

static void json_inputs(trinity_registry *reg) {
    trinity_error *err = NULL;
    trinity_string s = {0};
    uint32_t rc = trinity_registry_add_model(reg, S("{not json"), &err);
    report("abi/bad-json", ERR_IS(rc, err, TRINITY_ERR_INVALID_INPUT), "rc %u", rc);
    trinity_error_free(err);

    rc = trinity_count_message_tokens(S("{\"role\": \"user\"}"), S("gpt-4o"), &s, &err);
    report("abi/messages-not-a-list", ERR_IS(rc, err, TRINITY_ERR_INVALID_INPUT), "rc %u", rc);
    trinity_error_free(err);

    rc = trinity_cost(NULL, 3, S("{}"), false, &s, &err);
    report("abi/cost-null-model", ERR_IS(rc, err, TRINITY_ERR_INVALID_INPUT), "rc %u", rc);
    trinity_error_free(err);
    rc = trinity_cost(S("gpt-4o"), S("{\"prompt_tokens\": -3}"), false, &s, &err);
    report("abi/cost-negative-count", ERR_IS(rc, err, TRINITY_ERR_INVALID_INPUT), "rc %u", rc);
    trinity_error_free(err);
    rc = trinity_cost(S("gpt-4o"), S("{\"prompt_tokens\": 10}"), false, NULL, &err);
    report("abi/cost-null-out", ERR_IS(rc, err, TRINITY_ERR_INVALID_INPUT), "rc %u", rc);
    trinity_error_free(err);
    rc = trinity_cost(S("gpt-4o"), S("{\"prompt_tokens\": 1000000}"), true, &s, &err);
    report("abi/cost-estimated", rc == TRINITY_OK && strstr(s.ptr, "\"total_nano_usd\":2500000000") &&
                                     strstr(s.ptr, "\"estimated\":true"),
           "rc %u %s", rc, rc ? "" : s.ptr);
    if (rc == TRINITY_OK) trinity_string_free(&s);

    rc = trinity_config_parse(S("providers: {x: {kind: telegraph}}"), false, &s, &err);
    const char *details = trinity_error_details(err);
    report("abi/config-error-path",
           ERR_IS(rc, err, TRINITY_ERR_CONFIG) && details && strstr(details, "providers.x.kind"),
           "rc %u details %s", rc, details ? details : "(none)");
    trinity_error_free(err);

    setenv("TRINITY_RETRY__MAX_ATTEMPTS", "9", 1);
    rc = trinity_config_parse(NULL, 0, true, &s, &err);
    report("abi/config-env", rc == TRINITY_OK && strstr(s.ptr, "\"max_attempts\":9"), "rc %u", rc);
    trinity_string_free(&s);
    rc = trinity_config_parse(NULL, 0, false, &s, &err);
    report("abi/config-no-env", rc == TRINITY_OK && !strstr(s.ptr, "\"max_attempts\":9"), "rc %u", rc);
    trinity_string_free(&s);
    unsetenv("TRINITY_RETRY__MAX_ATTEMPTS");
}

static void files(trinity_registry *reg, const char *fixtures_dir) {
    trinity_error *err = NULL;
    trinity_string s = {0};
    uint32_t rc = trinity_registry_load_file(reg, S("/nonexistent/models.json"), &s, &err);
    report("abi/load-missing-file", ERR_IS(rc, err, TRINITY_ERR_IO), "rc %u", rc);
    trinity_error_free(err);

    char path[] = "/tmp/trinity-models-XXXXXX";
    int fd = mkstemp(path);
    static const char doc[] =
        "models:\n  - {id: acme-1, provider: acme, context_window: 1000, max_output_tokens: 10,\n"
        "     input_per_1m: 1, output_per_1m: 2, capabilities: [chat], tokenizer: cl100k_base}\n"
        "  - {id: gpt-4o, typical_latency_ms: 7}\n";
    bool wrote = fd >= 0 && write(fd, doc, sizeof doc - 1) == (ssize_t)(sizeof doc - 1);
    if (fd >= 0) close(fd);
    rc = wrote ? trinity_registry_load_file(reg, path, strlen(path), &s, &err) : 1;
    report("abi/load-file", rc == TRINITY_OK && strstr(s.ptr, "\"added\":1") &&
                                strstr(s.ptr, "\"updated\":1"),
           "rc %u %s", rc, s.ptr ? s.ptr : "");
    trinity_string_free(&s);
    unlink(path);

    trinity_registry *empty = NULL;
    char litellm[4096];
    snprintf(litellm, sizeof litellm, "%s/litellm_model_prices_sample.json", fixtures_dir);
    trinity_registry_new_empty(&empty, NULL);
    rc = trinity_registry_load_litellm_file(empty, litellm, strlen(litellm), &s, &err);
    report("abi/load-litellm-file", rc == TRINITY_OK && !strstr(s.ptr, "\"added\":0"), "rc %u %s",
           rc, s.ptr ? s.ptr : "");
    trinity_string_free(&s);
    trinity_registry_free(empty);
}

/* Many threads on one registry: reads, counts and writes to distinct models interleave. */
static void *worker(void *arg) {
    trinity_registry *reg = arg;
    for (int i = 0; i < 50; i++) {
        trinity_string s = {0};
        uint64_t n = 0;
        if (trinity_registry_get(reg, S("claude-sonnet-4-5"), &s, NULL) != TRINITY_OK) return arg;
        trinity_string_free(&s);
        if (trinity_count_tokens(S("hello threads"), S("gpt-4o"), NULL, 0, &n, NULL) || n == 0) return arg;
        if (trinity_registry_update_model(reg, S("gpt-4o-mini"), S("{\"typical_latency_ms\": 5}"), &s,
                                          NULL))
            return arg;
        trinity_string_free(&s);
    }
    return NULL;
}

static void threads(trinity_registry *reg) {
    pthread_t t[8];
    bool ok = true;
    for (int i = 0; i < 8; i++) ok = ok && pthread_create(&t[i], NULL, worker, reg) == 0;
    for (int i = 0; i < 8; i++) {
        void *res = reg;
        ok = ok && pthread_join(t[i], &res) == 0 && res == NULL;
    }
    report("abi/threads-share-registry", ok, "a thread failed");
}

/* The cache handle: put, get, a miss, an invalid-UTF-8 key (a miss, never an error), stats, and
 * NULL handles. */
static void cache_handle(void) {
    trinity_cache *c = NULL;
    trinity_error *err = NULL;
    uint32_t rc = trinity_cache_new(S("{\"backend\": \"memory\", \"max_size\": 10}"), &c, &err);
    if (rc != TRINITY_OK) {
        report("abi/cache-new", false, "rc %u: %s", rc, trinity_error_message(err));
        trinity_error_free(err);
        return;
    }
    rc = trinity_cache_put(c, S("k"), S("v\u00e9"), 60, &err);
    trinity_string v = {0};
    bool found = false;
    uint32_t rc2 = trinity_cache_get(c, S("k"), &v, &found, &err);
    report("abi/cache-put-get", rc == TRINITY_OK && rc2 == TRINITY_OK && found && v.len == 3 &&
                                    memcmp(v.ptr, "v\xc3\xa9", 3) == 0,
           "rc %u/%u found %d", rc, rc2, found);
    trinity_string_free(&v);
    rc = trinity_cache_get(c, S("missing"), &v, &found, &err);
    report("abi/cache-miss", rc == TRINITY_OK && !found && v.ptr == NULL, "rc %u", rc);
    rc = trinity_cache_get(c, "\xff\xfe../", 5, &v, &found, &err);
    report("abi/cache-bad-utf8-key-is-a-miss", rc == TRINITY_OK && !found, "rc %u", rc);
    trinity_string stats = {0};
    rc = trinity_cache_stats(c, &stats, &err);
    report("abi/cache-stats", rc == TRINITY_OK && strstr(stats.ptr, "\"hits\":1,\"misses\":2") != NULL,
           "rc %u %s", rc, stats.ptr ? stats.ptr : "");
    trinity_string_free(&stats);
    rc = trinity_cache_get(NULL, S("k"), &v, &found, &err);
    report("abi/cache-null-handle", ERR_IS(rc, err, TRINITY_ERR_INVALID_INPUT), "rc %u", rc);
    trinity_error_free(err);
    trinity_cache_free(c);
    trinity_cache_free(NULL);
}

void run_abi_checks(const char *fixtures_dir) {
    trinity_registry *reg = NULL;
    if (trinity_registry_new(&reg, NULL) != TRINITY_OK) {
        report("abi/registry-new", false, "cannot make a registry");
        return;
    }
    versions();
    error_codes();
    strings_in();
    batches();
    strings_out(reg);
    handles();
    json_inputs(reg);
    files(reg, fixtures_dir);
    threads(reg);
    cache_handle();
    trinity_registry_free(reg);
}
