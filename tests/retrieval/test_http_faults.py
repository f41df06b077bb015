"""Every transport fault of the chat endpoint becomes ``LLMError`` within the request's deadline; a trickling
server cannot stretch the deadline; consecutive failures open the circuit breaker; check-params wants a scheme."""

import json
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from revis.config.schema import ParameterError, validate_params
from revis.retrieval.embedding import CachedTextEmbedder
from revis.retrieval.interactive import run_rounds
from revis.retrieval.llm import HttpChat, LLMError, LLMUnavailable
from revis.retrieval.queries import Query
from revis.retrieval.questioners import LLMQuestioner

REPO = Path(__file__).resolve().parents[2]

OK_BODY = json.dumps({"choices": [{"message": {"content": "Which colour?"}}]}).encode()


def _reply(mode: str, connection: socket.socket) -> None:
    """What a faulty server does once it has read the request."""
    if mode == "close":
        return
    if mode == "not_http":
        connection.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
    elif mode == "short_body":
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + OK_BODY[:10])
    elif mode == "trickle":  # one byte every 0.4 s: each read is quick, the whole reply is not
        reply = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(OK_BODY) + OK_BODY
        for byte in reply:
            connection.sendall(bytes([byte]))
            time.sleep(0.4)
    elif mode == "hang":
        time.sleep(10)
    elif mode == "garbage_json":
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n{nope!!")
    elif mode == "http_429":
        connection.sendall(b"HTTP/1.1 429 Too Many Requests\r\nContent-Length: 9\r\n\r\nslow down")
    elif mode == "ok":
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(OK_BODY) + OK_BODY)


@pytest.fixture
def faulty_server():
    """``(url, set_mode)`` of a raw TCP server that misbehaves as told."""
    server = socket.create_server(("127.0.0.1", 0))
    state = {"mode": "ok"}

    def answer(connection: socket.socket) -> None:
        with connection:
            connection.settimeout(5)
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    data += connection.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
                while len(body) < length:
                    body += connection.recv(65536)
                _reply(state["mode"], connection)
            except OSError:
                pass

    def serve() -> None:  # one thread per connection: a hanging answer does not block the next request
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=answer, args=(connection,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/v1/chat/completions", lambda mode: state.update(mode=mode)
    server.close()


FAULTS = {
    "close": "closed the connection without a reply",
    "not_http": "answered something that is not HTTP",
    "short_body": "sent a short body (10 bytes, 90 more expected)",
    "trickle": "did not answer within 1.5 s (the whole request)",
    "hang": "did not answer within 1.5 s",
    "garbage_json": "without choices[0].message.content",
    "http_429": "answered HTTP 429 Too Many Requests: slow down",
}


@pytest.mark.parametrize("mode", sorted(FAULTS))
def test_each_transport_fault_is_an_llm_error_within_the_deadline(faulty_server, mode):
    url, set_mode = faulty_server
    set_mode(mode)
    chat = HttpChat(url, "m", api_key_env=None, timeout=1.5)
    started = time.perf_counter()
    with pytest.raises(LLMError) as error:
        chat.chat([{"role": "user", "content": "hi"}])
    seconds = time.perf_counter() - started
    assert FAULTS[mode] in str(error.value) and url in str(error.value)
    assert seconds < 1.5 + 1.0, f"{mode}: {seconds:.1f} s"  # the deadline, plus scheduling slack
    set_mode("ok")
    assert chat.chat([{"role": "user", "content": "hi"}]) == "Which colour?"  # and the client still works


def test_a_refused_connection_is_an_llm_error():
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(LLMError, match="unreachable: connection refused"):
        HttpChat(f"http://127.0.0.1:{port}/v1", "m", api_key_env=None, timeout=2).chat([])


def test_the_breaker_opens_after_n_consecutive_failures_and_a_success_resets_it(faulty_server):
    url, set_mode = faulty_server
    chat = HttpChat(url, "m", api_key_env=None, timeout=1.0, max_failures=3)
    set_mode("close")
    for _ in range(2):
        with pytest.raises(LLMError) as error:
            chat.chat([])
        assert not isinstance(error.value, LLMUnavailable)
    set_mode("ok")
    chat.chat([])  # a success: the count starts again
    set_mode("close")
    for _ in range(2):
        with pytest.raises(LLMError):
            chat.chat([])
    with pytest.raises(LLMUnavailable, match="failed 3 times in a row; stopping"):
        chat.chat([])


def test_a_dead_endpoint_stops_the_round_loop_even_with_on_error_skip(faulty_server):
    url, set_mode = faulty_server
    set_mode("close")
    queries = [Query(i, f"v{i}", i, 0, ("colour",), "some red shapes") for i in range(2)]
    embedder = CachedTextEmbedder(lambda texts: np.ones((len(texts), 4)))
    questioner = LLMQuestioner(HttpChat(url, "m", api_key_env=None, timeout=1.0, max_failures=3))
    with pytest.raises(LLMUnavailable):
        run_rounds(
            queries,
            np.eye(4)[:2],
            np.eye(4)[:2],
            ["a", "b"],
            questioner,
            None,
            embedder,  # type: ignore[arg-type]
            rounds=5,
            k=2,
            on_error="skip",
        )


@pytest.mark.parametrize("url", ["localhost:8000/v1/chat/completions", "ftp://host/v1", "127.0.0.1/v1"])
def test_check_params_rejects_a_chat_url_without_an_http_scheme(url):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["merlin"]["evaluate"]["llm"] = {"backend": "http", "url": url}
    params["merlin"]["evaluate"]["questioners"] = ["rule", "llm"]
    with pytest.raises(ParameterError, match=r"'merlin.evaluate.llm.url': .*needs a scheme"):
        validate_params(params)
