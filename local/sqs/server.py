"""A durable SQS stand-in on one machine: an HTTP endpoint speaking the AWS JSON 1.0
protocol (what boto3 uses for SQS), so `boto3.client("sqs", endpoint_url=...)` or
`AWS_ENDPOINT_URL_SQS` work unchanged. Queues and messages live in SQLite under
`data_dir` and survive a restart.

    with LocalSqs(".data/sqs") as sqs:
        boto3.client("sqs", endpoint_url=sqs.endpoint_url).create_queue(QueueName="q")

The legacy query protocol (form-encoded `Action=...`) is not spoken.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from local.sqs.api import SqsApi
from local.sqs.errors import SqsError
from local.sqs.in_process import InProcessSqsClient
from local.sqs.store import SqsStore

log = logging.getLogger(__name__)

DB_FILE = "sqs.sqlite3"
_TARGET_PREFIX = "AmazonSQS."


class LocalSqs:
    def __init__(self, data_dir: str | Path, host: str = "127.0.0.1", port: int = 0,
                 account_id: str = "000000000000", region: str = "us-east-1") -> None:
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port
        self.account_id = account_id
        self.region = region
        self._store: SqsStore | None = None
        self._server: _SqsHttpServer | None = None
        self._serving: threading.Thread | None = None

    @property
    def endpoint_url(self) -> str:
        if self._server is None:
            raise RuntimeError("LocalSqs is not started")
        return self._server.endpoint_url

    def queue_url(self, name: str) -> str:
        return f"{self.endpoint_url}/{self.account_id}/{name}"

    def queue_arn(self, name: str) -> str:
        return f"arn:aws:sqs:{self.region}:{self.account_id}:{name}"

    def in_process_client(self) -> InProcessSqsClient:
        """A client for callers in this process (the event source mappings), without HTTP."""
        if self._server is None:
            raise RuntimeError("LocalSqs is not started")
        return InProcessSqsClient(self._server.api, self._server.endpoint_url)

    def start(self) -> LocalSqs:
        if self._server is not None:
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._store = SqsStore(self.data_dir / DB_FILE, self.account_id, self.region)
        try:
            self._server = _SqsHttpServer((self.host, self.port), SqsApi(self._store))
        except OSError:  # the port is taken: leave nothing open
            self._store.close()
            self._store = None
            raise
        self.port = self._server.server_port
        # A short poll interval keeps stop() quick: shutdown() waits for the loop to notice.
        self._serving = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                         name=f"local-sqs:{self.port}", daemon=True)
        self._serving.start()
        return self

    def stop(self) -> None:
        """Stops accepting, ends open long polls and connections, closes the database."""
        if self._server is None or self._store is None or self._serving is None:
            return
        self._server.shutdown()
        self._store.close()
        self._server.close_connections()
        self._server.server_close()
        self._serving.join()
        self._server = self._store = self._serving = None

    def __enter__(self) -> LocalSqs:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


class _SqsHttpServer(ThreadingHTTPServer):
    daemon_threads = True  # a long poll must not hold up shutdown

    def __init__(self, address: tuple[str, int], api: SqsApi) -> None:
        super().__init__(address, _SqsRequestHandler)
        self.api = api
        self.endpoint_url = f"http://{address[0]}:{self.server_port}"
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Ends kept-alive connections, so clients see the endpoint gone, not a zombie."""
        with self._connections_lock:
            for connection in self._connections:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # already closed by the client

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("connection from %s ended with an error", client_address, exc_info=True)


class _SqsRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore's connection pool expects
    disable_nagle_algorithm = True  # headers and body go out in two writes; don't hold the second for an ACK
    server: _SqsHttpServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers: dict[str, str] = {}
        try:
            status, payload = 200, self.server.api.handle(self._action(), _json_object(body), self._base_url())
        except SqsError as error:
            status, payload = error.status, error.json_body()
            headers["x-amzn-query-error"] = error.query_error_header()
        except Exception:
            log.exception("local SQS failed on %s", self.headers.get("X-Amz-Target"))
            failure = SqsError("InternalFailure", "The request processing has failed because of an unknown error.",
                               sender_fault=False, status=500)
            status, payload = failure.status, failure.json_body()
        self._respond(status, payload, headers)

    def _action(self) -> str:
        target = self.headers.get("X-Amz-Target") or ""
        if not target.startswith(_TARGET_PREFIX):
            raise SqsError("InvalidAction", "Only the AWS JSON 1.0 protocol is spoken here: "
                                            "send X-Amz-Target: AmazonSQS.<Action>.")
        return target[len(_TARGET_PREFIX):]

    def _base_url(self) -> str:
        """Queue URLs use the host the client addressed, so they work from wherever it is."""
        host = self.headers.get("Host")
        return f"http://{host}" if host else self.server.endpoint_url

    def _respond(self, status: int, payload: dict[str, Any], headers: dict[str, str]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        request = json.loads(body or b"{}")
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise SqsError("SerializationException", "The request body is not valid JSON.") from None
    if not isinstance(request, dict):
        raise SqsError("SerializationException", "The request body must be a JSON object.")
    return request
