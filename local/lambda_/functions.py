"""Lambda functions on one machine: each function runs in its own worker processes (warm
containers), started with that function's environment, its code directory on sys.path
and its handler imported once per worker.

    pool = FunctionPool(functions, region="us-east-1", endpoints={"AWS_ENDPOINT_URL_DYNAMODB": ...})
    result = pool.invoke("ProcessBidFunction", event)   # raises FunctionError on failure

With IAM enforced (`iam=` the functions' roles), a worker authorizes every AWS call its
handler makes against its function's policies (local.iam.enforce) and reports, with each
reply, what it used and what was refused; the pool hands that to `on_iam`.

A worker talks to the pool over its stdin (one JSON request a line) and a private copy of
its stdout; the handler's own prints and logs go to stderr, or to the file `log_file`
names, as Lambda sends them to CloudWatch. An invocation that outlives the function's Timeout is a timeout: the worker is
killed and a fresh one takes its place on the next call, as Lambda replaces the sandbox.

A batch of SQS FIFO messages goes to the idle warm worker that last served most of its
message groups, when there is one: Lambda promises nothing about which sandbox gets a
batch, and a worker that has just decided a lot keeps that lot's state warm (ProcessBid
then writes without reading first).

Concurrency grows with load as Lambda's does: a call that finds every worker of its
function busy starts another (a cold start), up to the function's
ReservedConcurrentExecutions or else `concurrency_limit` (`concurrency_of`); past that,
calls wait for a worker (Lambda would throttle: the gateway throttles its own calls that
cannot start in time, `local.apigateway.http_server`). Workers idle longer than
IDLE_WORKER_S are stopped.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import queue
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from typing import IO, Any

from local.sam.model import Function

log = logging.getLogger("samsold.local.lambda_.functions")

# Up to this many workers of one unreserved function at once. Each is a Python process of
# roughly 100 MB; on a 2-core machine 8 keep the cores busy while others wait on DynamoDB
# Local or the queue, without memory to spare for a fleet.
CONCURRENCY_LIMIT = 8
IDLE_WORKER_S = 300.0  # as Lambda recycles sandboxes nobody calls
GROUPS_REMEMBERED = 10_000  # message group -> the worker that served it last, per function
INIT_TIMEOUT_S = 10  # Lambda's limit on a function's init phase
_INHERITED_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
_PASSTHROUGH_PREFIXES = ("POWERTOOLS_",)  # the developer's shell may tune Powertools locally


# (function logical id, {"used": [[action, resource], ...], "denied": [...]}) from a worker's reply.
IamReport = Callable[[str, dict[str, Any]], None]


class FunctionError(Exception):
    """A handler raised (or its runtime failed): Lambda's errorType / errorMessage / stackTrace."""

    def __init__(self, function: str, error_type: str, message: str, stack_trace: list[str] | None = None) -> None:
        super().__init__(f"{function}: {error_type}: {message}")
        self.function = function
        self.error_type = error_type
        self.error_message = message
        self.stack_trace = stack_trace or []


class FunctionTimeout(FunctionError):
    pass


def function_environment(
    function: Function, *, region: str, endpoints: Mapping[str, str],
    parent_environment: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """What a Lambda sandbox's environment holds locally: nothing of the developer's shell
    but a few basics, so two functions never see each other's settings."""
    parent = os.environ if parent_environment is None else parent_environment
    environment = {name: parent[name] for name in _INHERITED_VARIABLES if name in parent}
    environment.update(
        {
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            # Keep ~/.aws out of it: no profile may send a call to a real account.
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_LAMBDA_FUNCTION_NAME": function.logical_id,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.logical_id}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"local/{uuid.uuid4().hex}",
            "LAMBDA_TASK_ROOT": function.code_uri,
            "_HANDLER": function.handler,
            "TZ": "UTC",
            "PYTHONUNBUFFERED": "1",
            "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon locally
        }
    )
    environment.update(function.environment)
    environment.update(endpoints)
    environment.update({name: value for name, value in parent.items() if name.startswith(_PASSTHROUGH_PREFIXES)})
    return environment


def concurrency_of(function: Function, limit: int = CONCURRENCY_LIMIT) -> int:
    """How many calls of `function` run at once: its ReservedConcurrentExecutions, else `limit`."""
    return limit if function.reserved_concurrency is None else function.reserved_concurrency


class _Worker:
    """One warm container: a Python process that imported the handler."""

    def __init__(self, function: Function, environment: Mapping[str, str], iam: str | None = None,
                 on_iam: IamReport | None = None, log_file: str | None = None) -> None:
        self.function = function
        self.idle_since = time.monotonic()
        self._on_iam = on_iam
        protocol_read, protocol_write = os.pipe()
        # The worker's own descriptor: the file stays open as long as the worker runs.
        log = open(log_file, "ab") if log_file is not None else None
        self.process = subprocess.Popen(
            [sys.executable, "-m", "local.lambda_.functions", function.handler, str(protocol_write),
             *([iam] if iam is not None else [])],
            stdin=subprocess.PIPE,
            stdout=log if log is not None else sys.stderr.fileno() if _has_fileno(sys.stderr) else None,
            stderr=log,
            env=dict(environment),
            cwd=function.code_uri,
            pass_fds=(protocol_write,),
            # Out of the terminal's process group: Ctrl-C stops the stack, which stops the workers.
            start_new_session=True,
        )
        os.close(protocol_write)
        if log is not None:
            log.close()
        self._replies: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._protocol: IO[bytes] = os.fdopen(protocol_read, "rb")
        threading.Thread(target=self._read_replies, name=f"worker-{function.logical_id}", daemon=True).start()

    def _read_replies(self) -> None:
        for line in self._protocol:
            reply = json.loads(line)
            report = reply.pop("iam", None)
            if report and self._on_iam is not None and (report["used"] or report["denied"]):
                self._on_iam(self.function.logical_id, report)
            self._replies.put(reply)
        self._replies.put(None)  # the worker exited

    def wait_until_ready(self) -> None:
        """Waits out the init phase (imports), which Lambda does not count in Timeout."""
        try:
            reply = self._replies.get(timeout=INIT_TIMEOUT_S)
        except queue.Empty:
            reply = None
        if reply is None:
            self.stop()
            raise FunctionError(self.function.logical_id, "Runtime.InitError",
                                f"the worker did not start within {INIT_TIMEOUT_S} s")

    def invoke(self, event: Any, request_id: str, function_arn: str, deadline: float) -> Any:
        assert self.process.stdin is not None
        request = {"event": event, "request_id": request_id, "function_arn": function_arn,
                   "deadline_ms": int(deadline * 1000)}
        try:
            self.process.stdin.write(json.dumps(request).encode() + b"\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            pass  # the worker died; the reply queue says so below
        try:
            reply = self._replies.get(timeout=max(0.0, deadline - time.time()))
        except queue.Empty:
            raise FunctionTimeout(self.function.logical_id, "Sandbox.Timedout",
                                  f"Task timed out after {self.function.timeout_s:.2f} seconds") from None
        if reply is None:
            raise FunctionError(self.function.logical_id, "Runtime.ExitError",
                                f"the worker exited with status {self.process.wait()}")
        if not reply["ok"]:
            raise FunctionError(self.function.logical_id, reply["errorType"], reply["errorMessage"],
                                reply.get("stackTrace"))
        return reply["result"]

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.alive:
            self.process.kill()
        self.process.wait()
        if self.process.stdin is not None:
            self.process.stdin.close()
        self._protocol.close()


class _FunctionWorkers:
    """A function's warm workers: started on demand when all are busy, at most `limit` at once."""

    def __init__(self, function: Function, environment: Mapping[str, str], arn: str, limit: int,
                 iam: str | None = None, on_iam: IamReport | None = None, log_file: str | None = None) -> None:
        self.function = function
        self.environment = environment
        self.iam = iam
        self.on_iam = on_iam
        self.log_file = log_file
        self.arn = arn
        self.limit = limit
        self._slots = threading.BoundedSemaphore(max(limit, 1))
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()
        self._closed = False
        self._served_last: dict[str, _Worker] = {}  # message group -> worker (see the module docstring)
        self.started = 0  # workers started so far (cold starts), for tests and logs

    def invoke(self, event: Any) -> Any:
        if self.limit == 0:
            # ReservedConcurrentExecutions: 0 throttles every call, as in Lambda.
            raise FunctionError(self.function.logical_id, "TooManyRequestsException", "Rate Exceeded.")
        request_id = str(uuid.uuid4())
        groups = _message_groups(event)
        with self._slots:
            worker = self._take(groups)
            started = time.monotonic()
            outcome = "error"
            try:
                result = worker.invoke(event, request_id, self.arn, time.time() + self.function.timeout_s)
                outcome = "ok"
                return result
            except FunctionTimeout:
                outcome = "timeout"
                raise
            finally:
                self._give_back(worker, keep=outcome != "timeout", groups=groups)
                log.info("REPORT %s request_id=%s duration_ms=%.1f outcome=%s", self.function.logical_id,
                         request_id, (time.monotonic() - started) * 1000, outcome)

    def _take(self, groups: list[str] | None = None) -> _Worker:
        """An idle warm worker (the one that served most of `groups` last, else the most
        recently used), or a new one: holding a slot means fewer than `limit` workers are
        busy, so a new one stays within the limit."""
        expired: list[_Worker] = []
        chosen: _Worker | None = None
        with self._lock:
            if self._closed:
                raise FunctionError(self.function.logical_id, "Runtime.Stopped", "the function pool is stopped")
            now = time.monotonic()
            expired = [worker for worker in self._idle if now - worker.idle_since > IDLE_WORKER_S]
            self._idle = [worker for worker in self._idle if worker not in expired]
            if groups:
                served = [self._served_last.get(group) for group in groups]
                # max() keeps the first of equals: the most recently used among them.
                best = max(reversed(self._idle), key=served.count, default=None)
                if best is not None and served.count(best) > 0:
                    self._idle.remove(best)
                    self._idle.append(best)  # popped next, as the chosen one
            while self._idle and chosen is None:
                worker = self._idle.pop()
                if worker.alive:
                    chosen = worker
                else:
                    expired.append(worker)
            if chosen is None:
                self.started += 1
        for worker in expired:
            worker.stop()
        if chosen is not None:
            return chosen
        log.info("starting a worker of %s (cold start)", self.function.logical_id)
        worker = _Worker(self.function, self.environment, self.iam, self.on_iam, self.log_file)
        worker.wait_until_ready()
        return worker

    def _give_back(self, worker: _Worker, keep: bool, groups: list[str] | None = None) -> None:
        with self._lock:
            for group in groups or []:
                self._served_last.pop(group, None)  # re-inserted last: the oldest go first
                if keep and worker.alive:
                    self._served_last[group] = worker
            while len(self._served_last) > GROUPS_REMEMBERED:
                del self._served_last[next(iter(self._served_last))]
            if keep and worker.alive and not self._closed:
                worker.idle_since = time.monotonic()
                self._idle.append(worker)
                return
        worker.stop()

    def stop(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.stop()


class FunctionPool:
    def __init__(
        self,
        functions: list[Function],
        *,
        region: str,
        account_id: str,
        endpoints: Mapping[str, str],
        concurrency_limit: int = CONCURRENCY_LIMIT,
        iam: Mapping[str, Mapping[str, Any]] | None = None,
        on_iam: IamReport | None = None,
        log_file: str | os.PathLike[str] | None = None,
    ) -> None:
        """`iam`: per function, the worker's enforcement settings (identity, policies, where;
        see `_enforcement`); a function not in it runs unchecked. `log_file`: where the
        workers' output goes (appended), instead of this process's stderr."""
        self._functions = {
            function.logical_id: _FunctionWorkers(
                function,
                function_environment(function, region=region, endpoints=endpoints),
                f"arn:aws:lambda:{region}:{account_id}:function:{function.logical_id}",
                concurrency_of(function, concurrency_limit),
                json.dumps(iam[function.logical_id]) if iam and function.logical_id in iam else None,
                on_iam,
                None if log_file is None else os.fspath(log_file),
            )
            for function in functions
        }

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        workers = self._functions.get(logical_id)
        if workers is None:
            raise KeyError(f"no function {logical_id} in the template")
        return workers.invoke(event)

    def workers_started(self, logical_id: str) -> int:
        """How many workers of the function have started so far (each a cold start)."""
        return self._functions[logical_id].started

    def stop(self) -> None:
        for workers in self._functions.values():
            workers.stop()


def _message_groups(event: Any) -> list[str]:
    """The distinct message groups of an SQS FIFO event, in order (none for other events)."""
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list):
        return []
    groups = (record.get("attributes", {}).get("MessageGroupId") for record in records
              if isinstance(record, dict) and record.get("eventSource") == "aws:sqs")
    return list(dict.fromkeys(group for group in groups if isinstance(group, str)))


def _has_fileno(stream: Any) -> bool:
    try:
        stream.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    return True


# -- inside a worker process ------------------------------------------------------------------


class LambdaContext:
    """The context object a Python handler receives."""

    def __init__(self, request_id: str, function_arn: str, deadline_ms: int) -> None:
        name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_name = name
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = function_arn
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", f"/aws/lambda/{name}")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "local")
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


def _error_reply(error: BaseException, error_type: str | None = None) -> dict[str, Any]:
    return {
        "ok": False,
        "errorType": error_type or type(error).__name__,
        "errorMessage": str(error),
        "stackTrace": traceback.format_exception(error),
    }


def _load_handler(handler: str) -> Any:
    module_name, function_name = handler.rsplit(".", 1)
    sys.path.insert(0, os.getcwd())
    return getattr(importlib.import_module(module_name), function_name)


def _enforcement(settings: str) -> Any:
    """IAM for this worker's calls, installed before the handler (and its clients) load."""
    from local.iam.calls import Where
    from local.iam.enforce import Enforcement, Identity
    from local.iam.policy import Policies, ResourcePolicy

    config = json.loads(settings)
    resource_policies = {arn: ResourcePolicy(documents) for arn, documents in config.get("resource_policies", {}).items()}
    enforcement = Enforcement(Identity(**config["identity"]), Policies(config["policies"]), Where(**config["where"]),
                              resource_policies)
    enforcement.install()
    return enforcement


def _serve(handler_name: str, protocol: IO[str], iam_settings: str | None = None) -> None:
    enforcement = _enforcement(iam_settings) if iam_settings else None

    def with_iam(reply: str) -> str:
        if enforcement is None:
            return reply
        return json.dumps({**json.loads(reply), "iam": enforcement.drain()})

    try:
        handler = _load_handler(handler_name)
        init_error = None
    except Exception as error:  # reported on every call, as Lambda reports Runtime.ImportModuleError
        handler, init_error = None, json.dumps(_error_reply(error, "Runtime.ImportModuleError"))
    _send(protocol, with_iam(json.dumps({"ready": True})))
    for line in sys.stdin:
        request = json.loads(line)
        _send(protocol, with_iam(init_error or _invoke_handler(handler, request)))


def _invoke_handler(handler: Any, request: dict[str, Any]) -> str:
    try:
        context = LambdaContext(request["request_id"], request["function_arn"], request["deadline_ms"])
        result = handler(request["event"], context)
    except Exception as error:
        return json.dumps(_error_reply(error))
    try:
        return json.dumps({"ok": True, "result": result})
    except (TypeError, ValueError) as error:
        return json.dumps(_error_reply(error, "Runtime.MarshalError"))


def _send(protocol: IO[str], line: str) -> None:
    protocol.write(line + "\n")
    protocol.flush()


if __name__ == "__main__":
    _protocol_fd = int(sys.argv[2])
    _serve(sys.argv[1], os.fdopen(_protocol_fd, "w"), sys.argv[3] if len(sys.argv) > 3 else None)
