/* Replays tests/fixtures/{errors,tokens,registry,config,chat,cache,healer,cost,context,guard}.json
 * through the C ABI, then checks the ABI's edge cases and the async, cancel and stream calls;
 * writes the ids that passed for scripts/check_conformance.py.
 *
 * usage: conformance FIXTURES_DIR OUT_JSON */
#include "report.h"

#include <stdio.h>
#include <string.h>

#include "trinity.h"

/* Every runner counts with the open-model tokenizers in <repo>/target/tokenizers (fetched once),
 * so Gemini, Llama, Qwen and Mistral counts are exact and the same in every language. */
static void install_tokenizers(const char *fixtures_dir) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/../../target/tokenizers", fixtures_dir);
    trinity_error *err = NULL;
    trinity_string s = {0};
    if (trinity_set_tokenizer_dir(dir, strlen(dir), &err) != TRINITY_OK ||
        trinity_fetch_tokenizers(NULL, 0, &s, &err) != TRINITY_OK) {
        report("install tokenizers", false, err ? trinity_error_message(err) : "?");
    }
    trinity_string_free(&s);
    trinity_error_free(err);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s FIXTURES_DIR OUT_JSON\n", argv[0]);
        return 2;
    }
    static const char *files[] = {"errors", "tokens", "registry", "config", "chat", "cache", "healer", "cost",
                                  "context", "guard"};
    report_init();
    install_tokenizers(argv[1]);
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.json", argv[1], files[i]);
        if (replay_fixture_file(path) != 0) {
            report(path, false, "cannot read the fixture file");
        }
    }
    run_abi_checks(argv[1]);
    run_chat_checks();
    run_resilience_checks();
    run_observe_checks();
    if (report_write(argv[2]) != 0) {
        report(argv[2], false, "cannot write the report");
    }
    int passed = report_passed(), failed = report_failed();
    report_free();
    printf("c: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
