"""``mlflow server --app-name revis``: MLflow's own server, opening on runs tables instead of the GenAI view.

MLflow 3.17's UI chooses between its GenAI view (traces, token usage, "Detect Issues", an
assistant) and its model-training view (runs tables, charts, compare) with one switch kept in
the browser's localStorage (``mlflow.workflowType_v1``), defaulting to GenAI; it ignores the
experiment tag ``mlflow.experimentKind`` and offers no server option for it. So every
breadcrumb, the experiments list and the home page fall back to the GenAI view unless the
user clicks "Model training" in the sidebar once.

This app is MLflow's FastAPI app unchanged, except that the one page that boots the UI
(``GET /``, index.html) carries a few lines of script that, before the UI starts, store the
choices a researcher would otherwise click -- only where the browser has none yet, so a
user's own later choice stands:

- ``mlflow.workflowType_v1 = "machine_learning"`` (the "Model training" switch);
- the MLflow Assistant's panel closed and not auto-opened on the first visit;
- the "Detect Issues" pop-up and the home page's getting-started box already seen;
- the home page (``#/``, GenAI's "Welcome / Start Demo") replaced by the experiments list.

It is registered as the ``mlflow.app`` entry point ``revis`` (pyproject.toml), MLflow's own
plugin mechanism for server apps (``basic-auth`` is one), so ``mlflow server --app-name
revis`` keeps every option of ``mlflow server``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# localStorage keys as MLflow 3.17's UI writes them (`<key>_v<version>`, JSON values).
PRESETS: dict[str, Any] = {
    "mlflow.workflowType_v1": "machine_learning",
    "mlflow.assistant.panelOpen_v1": False,
    "mlflow.assistant.fab.autoOpenedOnFirstLoad_v1": True,
    "mlflow.detectIssues.guidanceShown_v1": True,
    "mlflow.home.getting-started.collapsed_v1": True,
}
MARKER = "revis-ui-presets"


def preset_script(presets: dict[str, Any] = PRESETS) -> str:
    """The ``<script>`` that stores ``presets`` where the browser has no value yet, and skips the home page."""
    body = (
        f"var p={json.dumps(presets, separators=(',', ':'))};"
        "try{for(var k in p){if(localStorage.getItem(k)===null){localStorage.setItem(k,JSON.stringify(p[k]));}}}"
        "catch(e){}"
        'if(location.hash===""||location.hash==="#"||location.hash==="#/"){location.replace("#/experiments");}'
    )
    return f'<script id="{MARKER}">(function(){{{body}}})();</script>'


def inject(html: bytes, script: str) -> bytes:
    """``html`` with ``script`` first in its ``<head>`` (before the UI's bundle); unchanged if already there."""
    if MARKER.encode() in html:
        return html
    head = html.find(b"<head>")
    if head < 0:
        return script.encode() + html
    at = head + len(b"<head>")
    return html[:at] + script.encode() + html[at:]


class PresetUI:
    """An ASGI app: ``inner`` with the preset script injected into ``GET /`` (index.html)."""

    def __init__(self, inner: Callable[[Scope, Receive, Send], Awaitable[None]], script: str) -> None:
        self.inner = inner
        self.script = script

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "GET" or scope.get("path") not in ("/", "/index.html"):
            await self.inner(scope, receive, send)
            return
        # no compressed answer: the page is rewritten
        headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"accept-encoding"]
        start: Message = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = dict(message)
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            kept = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            if any(k.lower() == b"content-type" and v.startswith(b"text/html") for k, v in kept):
                body = inject(body, self.script)
            await send({**start, "headers": [*kept, (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})

        await self.inner({**scope, "headers": headers}, receive, capture)


def create_app() -> PresetUI:
    from mlflow.server.fastapi_app import app as mlflow_app

    return PresetUI(mlflow_app, preset_script())


class _LazyApp:
    """Imports MLflow's app on first use: MLflow's CLI imports the entry point's module to test for a factory."""

    _app: PresetUI | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._app is None:
            self._app = create_app()
        await self._app(scope, receive, send)


app = _LazyApp()
