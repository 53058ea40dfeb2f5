"""The gateway's HTTP side: aiohttp's server, the transport only. It reads each request
into an `IncomingRequest` and hands it, with its raw path, to the gateway's `answer` on the
thread line `line_of` names (a function's, or the gateway's own); what to answer is the
gateway's (`local.apigateway.gateway`). Its clocks are its own: a call its function's line
does not start in time is throttled (429), one not answered in time gets a 504."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from urllib.parse import parse_qsl, unquote, urlsplit

from aiohttp import StreamReader, web
from multidict import CIMultiDict

from local.apigateway.rest import MAX_BODY_BYTES, HttpResponse, IncomingRequest, gateway_error
from local.sam.model import GatewayResponse

# (request, raw path) -> the answer; (request, raw path) -> the function it goes to, if any.
Answer = Callable[[IncomingRequest, str], HttpResponse]
LineOf = Callable[[IncomingRequest, str], "str | None"]

log = logging.getLogger(__name__)

# Connections the kernel queues before accept(): a burst of 2,000 bids must not be refused
# (http.server's 5 lost 843 of them). Linux caps it at net.core.somaxconn.
LISTEN_BACKLOG = 2048
# Threads answering at once, per function (as many as its workers when the gateway knows its
# concurrency; more requests wait in that function's line) and for the gateway's own answers
# (@connections, files, CORS).
# Lines of their own, as each Lambda function has its own concurrency: a flood of bids must
# not hold up GET /lots or the broadcasts' @connections posts.
THREADS_PER_FUNCTION = 32
GATEWAY_THREADS = 16
# API Gateway's integration timeout: a request not answered by then gets a 504, and one
# still waiting for a thread by then is never invoked (so a burst that outlasts its
# clients does not leave a backlog of calls nobody waits for).
INTEGRATION_TIMEOUT_S = 29.0
# How long a call may wait for one of its function's workers. Lambda queues no synchronous
# call: one its function has no concurrency left for is throttled at once. A few workers on
# one machine take a burst better with a short wait, but no longer than this: a call that
# cannot start by then is throttled (429 THROTTLED with Retry-After), never left to time out
# as a 504, and one that starts still ends within the function's timeout plus this of its
# receipt, as it would in AWS.
FUNCTION_START_TIMEOUT_S = 2.0
SHUTDOWN_TIMEOUT_S = 1.0


class GatewayHttpServer:
    """aiohttp's server on an event loop of its own thread: a listen backlog that takes a
    burst of thousands of connections, and aiohttp's HTTP/1.1 parser (chunked bodies; a
    malformed request line or `Content-Length` answered 400). Answering a request (a
    function invocation, the @connections API, a file) blocks, so it runs on sized thread
    pools, one per function and one for the gateway's own answers, never on the loop."""

    def __init__(self, answer: Answer, host: str, port: int, *, line_of: LineOf,
                 gateway_responses: Mapping[str, GatewayResponse], backlog: int = LISTEN_BACKLOG,
                 integration_timeout_s: float = INTEGRATION_TIMEOUT_S,
                 function_concurrency: Mapping[str, int] | None = None,
                 function_start_timeout_s: float = FUNCTION_START_TIMEOUT_S) -> None:
        """`function_concurrency`: the functions whose concurrency the gateway knows, each
        answered by a line of that many threads, a call throttled when none of them takes it
        within `function_start_timeout_s` (`_answer_in_time`); other functions get
        THREADS_PER_FUNCTION and wait up to the integration timeout."""
        self.answer = answer
        self.line_of = line_of
        self.gateway_responses = gateway_responses
        self.host = host
        self.port = port
        self.backlog = backlog
        self.integration_timeout_s = integration_timeout_s
        self.function_concurrency = dict(function_concurrency or {})
        self.function_start_timeout_s = function_start_timeout_s
        self._lines: dict[str, ThreadPoolExecutor] = {}  # function logical id ("" for the gateway) -> threads
        self._loop = asyncio.new_event_loop()
        self._runner: web.BaseRunner | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Listens (an OSError when the address is taken) and serves on a thread of its own.
        The loop runs only on that thread, so a caller with an event loop of its own running
        (Playwright's sync API in the browser tests, say) can start the gateway too."""
        self._thread = threading.Thread(target=self._loop.run_forever, name="local-gateway-loop", daemon=True)
        self._thread.start()
        try:
            self._runner = asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result()
        except BaseException:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()
            self._thread = None
            raise

    async def _listen(self) -> web.BaseRunner:
        # A short shutdown: stopping the stack must not wait a minute for calls still in flight.
        runner = web.ServerRunner(web.Server(self._handle, access_log=None), handle_signals=False,
                                  shutdown_timeout=SHUTDOWN_TIMEOUT_S)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port, backlog=self.backlog, reuse_address=True)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self.port = runner.addresses[0][1]
        return runner

    def stop(self) -> None:
        if self._thread is None or self._runner is None:
            return
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(SHUTDOWN_TIMEOUT_S + 10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
        for line in self._lines.values():
            line.shutdown(wait=False, cancel_futures=True)
        self._lines = {}
        self._thread = self._runner = None

    def _line(self, name: str) -> ThreadPoolExecutor:
        """The threads of the function `name` (as wide as its concurrency when known), or the
        gateway's own for "" (created on first use)."""
        line = self._lines.get(name)
        if line is None:
            size = self.function_concurrency.get(name, THREADS_PER_FUNCTION) if name else GATEWAY_THREADS
            line = self._lines[name] = ThreadPoolExecutor(max(size, 1), thread_name_prefix=f"local-gateway:{name or 'own'}")
        return line

    async def _answer_in_time(self, name: str, request: IncomingRequest, raw_path: str) -> HttpResponse:
        """The answer from the line of `name`: throttled (429) when a function of known
        concurrency does not start it within the start timeout (its line is as wide as the
        function's concurrency, so a thread taking the call is a worker free for it), a 504
        when not answered within the integration timeout."""
        call = self._line(name).submit(self.answer, request, raw_path)
        answering = asyncio.wrap_future(call)
        start_timeout = self.function_start_timeout_s if name in self.function_concurrency else 0.0
        if start_timeout:
            done, _ = await asyncio.wait({answering}, timeout=start_timeout)
            if not done and call.cancel():  # never started: nothing of it ran
                return gateway_error(429, "Too Many Requests", "THROTTLED", self.gateway_responses)
        try:
            # On timeout the call is cancelled if it has not started; one already running finishes unseen.
            return await asyncio.wait_for(answering, self.integration_timeout_s - start_timeout)
        except TimeoutError:
            return gateway_error(504, "Endpoint request timed out", "INTEGRATION_TIMEOUT", self.gateway_responses)

    async def _handle(self, http_request: web.BaseRequest) -> web.StreamResponse:
        received_at = datetime.now(UTC)
        declared_length = http_request.content_length
        if declared_length is not None and declared_length > MAX_BODY_BYTES:
            # Answered before reading; aiohttp discards what the client still sends.
            return _as_aiohttp(_too_large(self.gateway_responses))
        if http_request.headers.get("Expect", "").lower() == "100-continue":
            await http_request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = await _read_body(http_request.content)
        if body is None:  # chunked, and longer than the limit
            return _as_aiohttp(_too_large(self.gateway_responses))
        url = urlsplit(http_request.raw_path)
        request = IncomingRequest(
            method=http_request.method,
            path=unquote(url.path) or "/",
            query=parse_qsl(url.query, keep_blank_values=True),
            headers=[(name.decode("latin-1"), value.decode("latin-1")) for name, value in http_request.raw_headers],
            body=body,
            source_ip=http_request.remote or "",
            received_at=received_at,
        )
        response = await self._answer_in_time(self.line_of(request, url.path) or "", request, url.path)
        return _as_aiohttp(response)


async def _read_body(stream: StreamReader) -> bytes | None:
    """The whole body, or None once it passes MAX_BODY_BYTES."""
    parts: list[bytes] = []
    size = 0
    while True:
        chunk = await stream.readany()
        if not chunk:
            return b"".join(parts)
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        parts.append(chunk)


def _too_large(gateway_responses: Mapping[str, GatewayResponse]) -> HttpResponse:
    return gateway_error(413, f"HTTP content length exceeded {MAX_BODY_BYTES} bytes.", "REQUEST_TOO_LARGE",
                         gateway_responses)


_FRAMING_HEADERS = {"content-length", "transfer-encoding", "connection"}


def _as_aiohttp(response: HttpResponse) -> web.Response:
    # aiohttp frames the body itself; a function's own framing headers would contradict it.
    headers = CIMultiDict((name, value) for name, value in response.headers if name.lower() not in _FRAMING_HEADERS)
    return web.Response(status=response.status, headers=headers, body=response.body)


