"""Chat backends for the LLM questioner: an OpenAI-compatible HTTP endpoint, or a local causal LM.

Both take OpenAI-style ``messages`` (``[{"role": "system"|"user"|"assistant", "content": str}]``)
and return the reply text. Failures raise ``LLMError`` with a message that says what failed
(HTTP status and the start of the body, a timeout, a reply without ``choices[0].message.content``);
the round loop then skips the round or stops, as configured.

- ``HttpChat(url, model, api_key_env=..., timeout=..., max_failures=...)``: POSTs to ``url`` (the
  full ``.../v1/chat/completions`` address) with ``http.client``; the key, if any, comes from the
  environment variable named ``api_key_env`` (never from a file or a parameter value).
  ``timeout`` is the deadline of the whole request; refused or dropped connections, non-HTTP
  answers and short bodies are ``LLMError`` too; ``max_failures`` failures in a row raise
  ``LLMUnavailable``, which stops the stage whatever ``on_error`` says.
- ``TransformersChat(path)``: ``AutoModelForCausalLM`` + tokenizer from a local folder
  (``local_files_only``), the tokenizer's chat template when it has one, else a plain
  ``role: content`` transcript; greedy at temperature 0, else sampling from a seeded generator.
  A prompt longer than the model's context (minus the tokens to generate) loses its *oldest*
  tokens (left truncation), so the newest turn -- the answer and caption the next question
  must build on -- always survives.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import threading
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Protocol

Messages = list[dict[str, str]]


class LLMError(RuntimeError):
    """A chat backend failed; the message names the backend and the cause."""


class ChatBackend(Protocol):
    def chat(self, messages: Messages, temperature: float = 0.2, max_tokens: int = 64) -> str: ...


class LLMUnavailable(LLMError):
    """The chat endpoint failed ``max_failures`` times in a row: the stage stops whatever ``on_error`` says
    (skipping every remaining question of a dead endpoint would cost hours)."""


class HttpChat:
    """POST to an OpenAI-compatible endpoint. ``timeout`` bounds the whole request (connecting, sending,
    every byte of the reply), not each read; every transport failure becomes ``LLMError``; after
    ``max_failures`` consecutive failures ``chat`` raises ``LLMUnavailable`` (a circuit breaker)."""

    def __init__(
        self,
        url: str,
        model: str,
        api_key_env: str | None = "OPENAI_API_KEY",
        timeout: float = 30.0,
        max_failures: int = 5,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"chat url must start with http:// or https://, got {url!r}")
        self.url, self.model, self.api_key_env, self.timeout = url, model, api_key_env, timeout
        self.max_failures, self.consecutive_failures = max_failures, 0

    def request(self, messages: Messages, temperature: float, max_tokens: int) -> urllib.request.Request:
        body = {"model": self.model, "messages": messages, "temperature": temperature, "max_tokens": max_tokens}
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return urllib.request.Request(self.url, data=json.dumps(body).encode(), headers=headers, method="POST")

    def chat(self, messages: Messages, temperature: float = 0.2, max_tokens: int = 64) -> str:
        where = f"chat endpoint {self.url} (model {self.model})"
        try:
            reply = self._reply(where, self.request(messages, temperature, max_tokens))
        except LLMError as exc:
            self.consecutive_failures += 1
            if self.consecutive_failures >= self.max_failures:
                raise LLMUnavailable(
                    f"{where} failed {self.consecutive_failures} times in a row; stopping (last: {exc})"
                ) from None
            raise
        self.consecutive_failures = 0
        return reply

    def _reply(self, where: str, request: urllib.request.Request) -> str:
        status, reason, raw = self._post(where, request)
        if status >= 400:
            raise LLMError(f"{where} answered HTTP {status} {reason}: {raw[:300].decode('utf-8', 'replace')}")
        try:
            reply = json.loads(raw)
            content = reply["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise LLMError(f"{where} sent a reply without choices[0].message.content: {raw[:200]!r}") from None
        if not isinstance(content, str):
            raise LLMError(f"{where} sent non-text content: {content!r}")
        return content.strip()

    def _post(self, where: str, request: urllib.request.Request) -> tuple[int, str, bytes]:
        """(status, reason, body) within ``timeout`` overall: a watchdog shuts the socket at the deadline."""
        parts = urllib.parse.urlsplit(self.url)
        connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        connection = connection_class(parts.hostname or "", parts.port, timeout=self.timeout)
        expired = threading.Event()

        def cut() -> None:
            expired.set()
            if connection.sock is not None:
                with contextlib.suppress(OSError):
                    connection.sock.shutdown(socket.SHUT_RDWR)

        watchdog = threading.Timer(self.timeout, cut)
        watchdog.daemon = True
        watchdog.start()
        try:
            connection.connect()
            if expired.is_set():
                raise TimeoutError
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            connection.request("POST", path, request.data, dict(request.header_items()))  # type: ignore[arg-type]
            response = connection.getresponse()
            return response.status, response.reason, response.read()
        except (OSError, http.client.HTTPException, ValueError) as exc:
            if expired.is_set() or isinstance(exc, TimeoutError):
                raise LLMError(f"{where} did not answer within {self.timeout:g} s (the whole request)") from None
            raise LLMError(f"{where} {_transport_failure(exc)}") from None
        finally:
            watchdog.cancel()
            connection.close()


def _transport_failure(exc: BaseException) -> str:
    """What went wrong on the wire, in words (the exception types of http.client and socket)."""
    if isinstance(exc, http.client.RemoteDisconnected):
        return "closed the connection without a reply"
    if isinstance(exc, http.client.BadStatusLine):
        return f"answered something that is not HTTP: {str(exc)[:80]!r}"
    if isinstance(exc, http.client.IncompleteRead):
        return f"sent a short body ({len(exc.partial)} bytes, {exc.expected} more expected)"
    if isinstance(exc, ConnectionRefusedError):
        return "is unreachable: connection refused"
    if isinstance(exc, socket.gaierror):
        return f"is unreachable: unknown host ({exc.strerror})"
    if isinstance(exc, (ConnectionError, OSError)):
        return f"broke the connection: {type(exc).__name__}: {exc}"
    return f"failed: {type(exc).__name__}: {str(exc)[:200]}"


class TransformersChat:
    def __init__(self, path: str | os.PathLike, device: str = "cpu", seed: int = 0) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        folder = Path(path)
        if not folder.is_dir():
            raise LLMError(f"local language model folder {folder} does not exist")
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True)
            # transformers declares ``to`` with @wraps(nn.Module.to), which mypy reads as the unbound method
            self.model = model.to(device).eval()  # type: ignore[arg-type]
        except (OSError, ValueError) as exc:
            raise LLMError(f"cannot load a causal language model from {folder}: {str(exc)[:300]}") from None
        self.device, self.seed = device, seed

    def prompt(self, messages: Messages) -> str:
        if getattr(self.tokenizer, "chat_template", None):
            text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            if not isinstance(text, str):
                raise LLMError(f"the chat template rendered {type(text).__name__}, not text")
            return text
        return "".join(f"{m['role']}: {m['content'].strip()}\n" for m in messages) + "assistant:"

    def context_tokens(self) -> int:
        """Tokens the model can attend to: its position table (or the tokenizer's limit, when smaller)."""
        config = self.model.config
        positions = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None) or 512
        tokenizer_limit = getattr(self.tokenizer, "model_max_length", None) or positions
        return int(min(positions, tokenizer_limit))

    def encode(self, messages: Messages, max_tokens: int) -> dict[str, Any]:
        """Token ids of the prompt, left-truncated to the context minus ``max_tokens`` (the newest turn survives)."""
        import torch

        budget = max(1, self.context_tokens() - max_tokens)
        ids = self.tokenizer(self.prompt(messages), add_special_tokens=False)["input_ids"][-budget:]
        input_ids = torch.tensor([ids], dtype=torch.long, device=self.device)
        return {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}

    def chat(self, messages: Messages, temperature: float = 0.2, max_tokens: int = 64) -> str:
        import torch

        encoded = self.encode(messages, max_tokens)
        kwargs: dict[str, Any] = {"max_new_tokens": max_tokens, "do_sample": temperature > 0}
        if temperature > 0:
            kwargs["temperature"] = temperature
            torch.manual_seed(self.seed)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        with torch.no_grad():
            out = self.model.generate(**encoded, pad_token_id=pad, **kwargs)
        new = out[0, encoded["input_ids"].shape[1] :]
        decoded = self.tokenizer.decode(new, skip_special_tokens=True)
        return (decoded if isinstance(decoded, str) else "".join(decoded)).strip()


def write_tiny_causal_lm(folder: str | os.PathLike, hidden: int = 16, layers: int = 1, seed: int = 0) -> Path:
    """A random GPT-2 with the packaged MiniLM tokenizer, saved as a local folder (offline tests, smoke runs)."""
    import shutil

    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from revis.vl.tiny_models import TOKENIZER_FILES
    from revis.vl.towers import minilm_path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    source = minilm_path()
    for name in TOKENIZER_FILES:
        if (source / name).is_file():
            shutil.copy2(source / name, folder / name)
    vocab = sum(1 for _ in (source / "vocab.txt").open())
    config = GPT2Config(vocab_size=vocab, n_embd=hidden, n_layer=layers, n_head=2, n_positions=512)
    torch.manual_seed(seed)
    GPT2LMHeadModel(config).save_pretrained(folder)
    return folder
