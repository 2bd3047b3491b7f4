/* Chat through the C ABI against the mock provider server: one blocking call, one stream, and
 * one async call with a callback. Swap the mock's URL for a real provider's and it is the same
 * program.
 *
 * usage: chat */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trinity.h"

#define S(lit) lit, strlen(lit)

static const char MOCK[] =
    "{\"fixtures\": {\"haiku\": {\"prompt\": \"Write a haiku about Rust\","
    " \"response\": \"Borrowed, never lost; the checker keeps its promise; memory stays calm.\"}}}";
static const char REQUEST[] =
    "{\"model\": \"mock/gpt-4o-mini\", \"messages\": [{\"role\": \"user\","
    " \"content\": \"Write a haiku about Rust\"}], \"temperature\": 0.2}";

/* Prints the failure, frees the error, and says whether the call failed. */
static int failed(uint32_t rc, trinity_error *err, const char *what) {
    if (rc == TRINITY_OK) return 0;
    fprintf(stderr, "%s: %s: %s\n", what, trinity_error_code_name(err), trinity_error_message(err));
    trinity_error_free(err);
    return 1;
}

static void print_answer(const char *how, const char *json, size_t len) {
    json_t *r = json_loadb(json, len, 0, NULL);
    json_t *usage = json_object_get(r, "usage");
    printf("%-6s %s\n       provider %s, model %s, %lld+%lld tokens, finish %s\n", how,
           json_string_value(json_object_get(r, "content")),
           json_string_value(json_object_get(r, "provider")),
           json_string_value(json_object_get(r, "model")),
           (long long)json_integer_value(json_object_get(usage, "prompt_tokens")),
           (long long)json_integer_value(json_object_get(usage, "completion_tokens")),
           json_string_value(json_object_get(r, "finish_reason")));
    json_decref(r);
}

/* Prints each delta as it arrives; returning false would stop the stream. */
static bool on_chunk(void *user_data, const char *json, size_t len) {
    int *chunks = user_data;
    json_t *c = json_loadb(json, len, 0, NULL);
    fputs(json_string_value(json_object_get(c, "delta")), stdout);
    (*chunks)++;
    json_decref(c);
    return true;
}

/* The async call's result, handed from the runtime thread to main. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    uint32_t code;
    char *json; /* copied: the callback's string is only lent */
    size_t len;
} pending;

static void on_done(void *user_data, uint32_t code, const char *json, size_t len,
                    const trinity_error *err) {
    pending *p = user_data;
    pthread_mutex_lock(&p->mu);
    p->code = code;
    p->json = code == TRINITY_OK ? strndup(json, len) : strdup(trinity_error_message(err));
    p->len = code == TRINITY_OK ? len : strlen(p->json);
    p->done = true;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static int run(trinity_client *client) {
    trinity_error *err = NULL;
    trinity_string answer = {0};
    if (failed(trinity_chat(client, S(REQUEST), &answer, &err), err, "chat")) return 1;
    print_answer("chat", answer.ptr, answer.len);
    trinity_string_free(&answer);

    int chunks = 0;
    fputs("stream ", stdout);
    if (failed(trinity_chat_stream(client, S(REQUEST), on_chunk, &chunks, NULL, &err), err, "stream"))
        return 1;
    printf("\n       (%d chunks)\n", chunks);

    pending p = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0, NULL, 0};
    if (failed(trinity_chat_async(client, S(REQUEST), on_done, &p, NULL, &err), err, "async")) return 1;
    pthread_mutex_lock(&p.mu);
    while (!p.done) pthread_cond_wait(&p.cv, &p.mu);
    pthread_mutex_unlock(&p.mu);
    int rc = p.code != TRINITY_OK;
    if (rc)
        fprintf(stderr, "async: %s: %s\n", trinity_error_code_str(p.code), p.json);
    else
        print_answer("async", p.json, p.len);
    free(p.json);
    return rc;
}

int main(void) {
    trinity_error *err = NULL;
    trinity_mock_server *srv = NULL;
    if (failed(trinity_mock_server_start(S(MOCK), &srv, &err), err, "mock server")) return 1;
    char config[256];
    snprintf(config, sizeof config,
             "{\"providers\": {\"mock\": {\"kind\": \"openai\", \"base_url\": \"%s/v1\","
             " \"api_key\": \"sk-demo\"}}}",
             trinity_mock_server_url(srv));
    printf("trinity-core %s (C) · mock server at %s\n", trinity_version(), trinity_mock_server_url(srv));
    trinity_client *client = NULL;
    int rc = failed(trinity_client_new(S(config), &client, &err), err, "client") || run(client);
    trinity_client_free(client);
    trinity_mock_server_free(srv);
    return rc;
}
