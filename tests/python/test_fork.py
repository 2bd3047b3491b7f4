"""A forked child (multiprocessing's default on Linux, gunicorn workers) gets a working engine."""

from __future__ import annotations

import os
import sys

import pytest

import trinity_core as tc
from trinity_core.testing import MockServer


@pytest.mark.skipif(sys.platform != "linux", reason="fork semantics tested on Linux")
def test_a_forked_child_chats_on_its_own_runtime() -> None:
    with MockServer(fixtures={"hi": {"prompt": "hi", "response": "hello"}}) as server:
        client = tc.Client({"providers": {"p": {"kind": "openai", "base_url": server.url + "/v1", "api_key": "k"}}})
        ask = {"model": "p/m", "messages": [{"role": "user", "content": "hi"}]}
        assert client.chat_sync(ask).content == "hello"  # the parent's runtime is running
        pid = os.fork()
        if pid == 0:  # the child: no parent worker threads exist here
            try:
                ok = client.chat_sync(ask).content == "hello" and tc.count_tokens("hello world") == 2
                os._exit(0 if ok else 1)
            except BaseException:
                os._exit(2)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert client.chat_sync(ask).content == "hello", "the parent still works"
