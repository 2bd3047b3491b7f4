/* The chat ops of tests/fixtures/chat.json through the C ABI, as core/tests/conformance.rs
 * runs them: a mock server per case (trinity_mock_server_start) when `server` is not null, one
 * provider "p", then trinity_chat or trinity_chat_stream. */
#include "report.h"
#include "trinity.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Appends each chunk to the fold: its delta to the text, its finish_reason, a count. */
bool chat_fold_chunk(void *user_data, const char *json, size_t len) {
    chat_fold *f = user_data;
    json_t *chunk = json_loadb(json, len, 0, NULL);
    const json_t *delta = json_object_get(chunk, "delta");
    size_t n = json_string_length(delta);
    if (n) {
        f->text = realloc(f->text, f->len + n + 1);
        memcpy(f->text + f->len, json_string_value(delta), n + 1);
        f->len += n;
        f->chunks++;
    }
    const json_t *finish = json_object_get(chunk, "finish_reason");
    if (json_is_string(finish)) json_object_set(f->last, "finish_reason", (json_t *)finish);
    f->calls++;
    json_decref(chunk);
    return f->stop_after == 0 || f->calls < f->stop_after;
}

void chat_fold_init(chat_fold *f) {
    memset(f, 0, sizeof *f);
    f->last = json_object();
}

json_t *chat_fold_take(chat_fold *f) {
    json_t *finish = json_object_get(f->last, "finish_reason");
    json_t *got = json_pack("{s:s#, s:O, s:I}", "content", f->text ? f->text : "", f->len,
                            "finish_reason", finish ? finish : json_null(), "chunks", f->chunks);
    free(f->text);
    json_decref(f->last);
    return got;
}

/* The provider config of a case: its `provider` without base_path, pointed at the server. */
static json_t *provider_config(const json_t *c, const trinity_mock_server *srv) {
    json_t *p = json_deep_copy(json_object_get(c, "provider"));
    const char *base_path = json_string_value(json_object_get(p, "base_path"));
    if (srv && base_path) {
        json_object_set_new(p, "base_url", json_sprintf("%s%s", trinity_mock_server_url(srv), base_path));
        json_object_set_new(p, "api_key", json_string("sk-test"));
    }
    json_object_del(p, "base_path");
    return json_pack("{s:{s:o}}", "providers", "p", p);
}

/* A JSON value sent to the library: compact text, freed by the caller. */
static char *dump(const json_t *v) { return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY); }

json_t *run_chat(const json_t *c, bool stream, outcome *o) {
    trinity_mock_server *srv = NULL;
    const json_t *server = json_object_get(c, "server");
    if (server && !json_is_null(server)) {
        char *cfg = dump(server);
        o->rc = trinity_mock_server_start(cfg, strlen(cfg), &srv, &o->err);
        free(cfg);
        if (o->rc) {
            snprintf(o->why, sizeof o->why, "mock server: %s", trinity_error_message(o->err));
            return NULL;
        }
    }
    json_t *config = provider_config(c, srv);
    char *cfg = dump(config), *req = dump(json_object_get(c, "input"));
    json_decref(config);
    trinity_client *client = NULL;
    json_t *got = NULL;
    o->rc = trinity_client_new(cfg, strlen(cfg), &client, &o->err);
    if (o->rc) {
        snprintf(o->why, sizeof o->why, "client: %s", trinity_error_message(o->err));
    } else if (!stream) {
        trinity_string s = {0};
        o->rc = trinity_chat(client, req, strlen(req), &s, &o->err);
        if (o->rc == TRINITY_OK) {
            json_t *r = json_loadb(s.ptr, s.len, 0, NULL);
            json_t *names = json_array();
            size_t i;
            json_t *call;
            json_array_foreach(json_object_get(r, "tool_calls"), i, call) {
                json_array_append(names, json_object_get(json_object_get(call, "function"), "name"));
            }
            got = json_pack("{s:O, s:O, s:O, s:o}", "content", json_object_get(r, "content"),
                            "finish_reason", json_object_get(r, "finish_reason"), "provider",
                            json_object_get(r, "provider"), "tool_names", names);
            json_decref(r);
            trinity_string_free(&s);
        }
    } else {
        chat_fold acc;
        chat_fold_init(&acc);
        o->rc = trinity_chat_stream(client, req, strlen(req), chat_fold_chunk, &acc, NULL, &o->err);
        json_t *folded = chat_fold_take(&acc);
        got = o->rc ? NULL : folded;
        if (o->rc) json_decref(folded);
    }
    trinity_client_free(client);
    trinity_mock_server_free(srv);
    free(cfg);
    free(req);
    return got;
}
