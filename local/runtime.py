"""The whole stack on one machine, driven by the SAM template: DynamoDB Local on disk, the
local SQS, development auth, the API gateway, the functions, their event sources and
schedules.

    with LocalStack("template.yaml", ".samsold", port=0) as stack:
        requests.get(stack.endpoints["rest"] + "/lots")

The application's own pages (none of them in AWS) come in from outside: `static_dir` for
files, and `site`, called with the started stack once its endpoints are known, for routes
the gateway answers before the template's (`samsold dev` and the tests pass
samsold_cli/dev_site.py's).

Each function runs with its template role's permissions: every AWS call it makes is
authorized against its `Policies` and a call not allowed fails as in AWS (local/iam/);
`iam=False` lets every call through. What the functions used and what was refused is in
`iam_usage`, and in the data directory's `iam-usage.json` (merged over runs), written as
soon as a call uses a permission for the first time or is refused.

The functions' output (their CloudWatch logs: prints, Powertools' logs and metrics) goes to
this process's stderr, or appended to `function_log`.

Everything lives under the data directory (`dynamodb/`, `sqs/`, the auth key; DynamoDB
Local's tables in memory instead with `dynamodb_in_memory=True`, for tests), made 0700
(it holds the signing key and every bid), so a second start resumes where the first stopped.
The functions get an access key made for the run (the one the gateway's `@connections`
API checks signatures against), so no other process can post to or close a connection.
The template's `AllowedOrigin` parameter, when not given, is the gateway's own origin
(`SamTemplate.set_own_origin`). `endpoints.json` there names the URLs once they
all answer, and is removed on a clean stop.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from local.apigateway.gateway import ExtraRoutes, LocalGateway
from local.apigateway.sigv4 import Credentials
from local.cognito.user_pool import DevAuth
from local.dynamodb.launcher import LOOPBACK, DynamoDBLocal
from local.iam.policy import Policies, PolicyError, ResourcePolicy
from local.iam.usage import USAGE_FILE, IamUsage
from local.lambda_.functions import CONCURRENCY_LIMIT, FunctionError, FunctionPool, concurrency_of
from local.lambda_.schedule import Schedule
from local.lambda_.sqs_poller import SqsPoller
from local.lambda_.stream_poller import StreamCheckpoint, StreamPoller
from local.sam.model import Queue, Table
from local.sam.resources import local_api_id
from local.sam.template import LocalApp, LocalEndpoints, SamTemplate, TemplateError
from local.sqs.server import LocalSqs

log = logging.getLogger("samsold.local.runtime")

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT_ID = "000000000000"
ENDPOINTS_FILE = "endpoints.json"
LOCK_FILE = "samsold.lock"
# Where S3 buckets (`s3/<bucket>/`) and KMS keys (`kms/<key>.pem`) stand in, for the functions and the CLI.
LOCAL_AWS_DIR = "aws"
LOCAL_AWS_DIR_VARIABLE = "SAMSOLD_LOCAL_AWS_DIR"
STREAM_CHECKPOINTS_DIR = "stream-positions"  # one file per stream event source mapping
# Lambda polls an SQS queue with five batches in flight at first; a FIFO queue still hands
# each message group to one batch at a time, so order per lot holds.
SQS_POLLERS_PER_SOURCE = 5
# Workers per unreserved function at most (ReservedConcurrentExecutions wins where set).
FUNCTION_CONCURRENCY_VARIABLE = "SAMSOLD_FUNCTION_CONCURRENCY"


class DataDirInUse(RuntimeError):
    pass


class LocalStack:
    def __init__(
        self,
        template_path: str | os.PathLike[str],
        data_dir: str | os.PathLike[str],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        websocket_port: int | None = None,
        parameter_overrides: Mapping[str, str] | None = None,
        schedule_every: float | None = None,
        static_dir: str | os.PathLike[str] | None = None,
        site: Callable[[LocalStack], ExtraRoutes] | None = None,
        region: str = DEFAULT_REGION,
        account_id: str = DEFAULT_ACCOUNT_ID,
        iam: bool = True,
        allowed_hosts: tuple[str, ...] = (),
        function_log: str | os.PathLike[str] | None = None,
        dynamodb_in_memory: bool = False,
    ) -> None:
        """`dynamodb_in_memory`: DynamoDB Local keeps the tables in memory, not under the
        data directory (a third less of its CPU per request): for a stack nothing restarts
        on, such as a test's; the queue, the keys and the stream positions stay on disk."""
        self.allowed_hosts = allowed_hosts  # Host names the gateway serves besides its own (a tunnel's)
        self.template = SamTemplate.load(template_path, parameter_overrides, region=region, account_id=account_id)
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port
        self.websocket_port = websocket_port
        self.schedule_every = schedule_every
        self.static_dir = Path(static_dir) if static_dir is not None else None
        self.site = site
        self.region = region
        self.account_id = account_id
        self.iam = iam
        self.function_log = function_log
        self.dynamodb_in_memory = dynamodb_in_memory
        self.iam_usage = IamUsage()
        self._iam_file_lock = threading.Lock()
        self.endpoints: dict[str, str] = {}
        self.app: LocalApp | None = None
        self._lock: IO[str] | None = None
        self._auth: DevAuth | None = None
        self._credentials = Credentials.generate()
        self._dynamodb: DynamoDBLocal | None = None
        self._sqs: LocalSqs | None = None
        self._gateway: LocalGateway | None = None
        self._functions: FunctionPool | None = None
        self._pollers: list[SqsPoller | StreamPoller | Schedule] = []

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> LocalStack:
        make_private_dir(self.data_dir)
        self._lock = _lock_data_dir(self.data_dir / LOCK_FILE)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        if self.template.not_emulated:
            log.info("not emulated locally (no local meaning): %s", ", ".join(self.template.not_emulated))
        # Names, routes, tables and queues need no URL; the functions' environment does.
        shape = self.template.resolve(LocalEndpoints.placeholder(self.region, self.account_id))
        # Only the gateway takes `host`: DynamoDB Local and the SQS endpoint check no
        # credentials, so they listen on loopback whatever the gateway is opened to.
        stop_leftover_dynamodb_local(self.data_dir / "dynamodb")
        self._dynamodb = DynamoDBLocal(
            db_path=None if self.dynamodb_in_memory else self.data_dir / "dynamodb",
            log_path=self.data_dir / "dynamodb.log",
        ).start()
        create_tables(self._client("dynamodb", self._dynamodb.endpoint_url), shape.tables)
        self._sqs = LocalSqs(self.data_dir / "sqs", host=LOOPBACK, account_id=self.account_id,
                             region=self.region).start()
        create_queues(self._client("sqs", self._sqs.endpoint_url), shape.queues)
        self._auth = DevAuth(self.data_dir)
        self._credentials = Credentials.generate()
        self._gateway = LocalGateway(
            host=self.host,
            port=self.port,
            websocket_port=self.websocket_port,
            rest_routes=shape.rest_routes,
            websocket=shape.websocket,
            invoke=self.invoke,
            auth=self._auth,
            static_dir=self.static_dir,
            stage=shape.rest_stage if shape.rest_routes or shape.websocket is None else shape.websocket.stage,
            gateway_responses=shape.gateway_responses,
            management_credentials=self._credentials,
            allowed_hosts=self.allowed_hosts,
            rest_throttles=shape.rest_throttles,
            rate_rules=shape.rate_rules,
            # As wide as the pool below runs each function: a call it cannot start in time is throttled.
            function_concurrency={function.logical_id: concurrency_of(function, _function_concurrency())
                                  for function in shape.functions},
        ).start()
        self.template.set_own_origin(self._gateway.rest_url)
        self.app = self.template.resolve(self._local_endpoints())
        self._functions = FunctionPool(
            self.app.functions, region=self.region, account_id=self.account_id, endpoints=self._endpoint_variables(),
            concurrency_limit=_function_concurrency(),
            iam=self._iam_settings(self.app) if self.iam else None, on_iam=self._record_iam,
            log_file=self.function_log,
        )
        self._pollers = self._event_sources(self.app)
        for poller in self._pollers:
            poller.start()
        self.endpoints = self._endpoint_urls()
        if self.site is not None:
            self._gateway.extra_routes = self.site(self)
        self._wait_until_answering()
        _write_json(self.data_dir / ENDPOINTS_FILE, {**self.endpoints, "outputs": self.app.outputs})

    def stop(self) -> None:
        """Drains the pollers, then stops the gateway (its WebSocket connections closed, each
        one's $disconnect run while the functions and DynamoDB Local still answer), the
        functions, SQS and DynamoDB Local, in that order."""
        for poller in self._pollers:
            poller.stop()
        for poller in self._pollers:
            poller.join()
        self._pollers = []
        for service in (self._gateway, self._functions, self._sqs, self._dynamodb):
            if service is not None:
                service.stop()
        self._gateway = self._functions = self._sqs = self._dynamodb = None
        (self.data_dir / ENDPOINTS_FILE).unlink(missing_ok=True)
        if self._lock is not None:
            self._lock.close()  # releases the lock
            self._lock = None

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    # -- what runs ------------------------------------------------------------------------

    @property
    def auth(self) -> DevAuth:
        """The user pool's stand-in: it mints development tokens and checks them."""
        if self._auth is None:
            raise RuntimeError("the local stack is not started")
        return self._auth

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        """Invokes a function of the template (the gateway and pollers call this)."""
        if self._functions is None:
            raise FunctionError(logical_id, "Runtime.NotReady", "the local stack is not started")
        return self._functions.invoke(logical_id, event)

    def client(self, service: str) -> Any:
        """A boto3 client of a local service ("dynamodb", "dynamodbstreams", "sqs", or
        "apigatewaymanagementapi", which signs with the functions' key)."""
        if service == "apigatewaymanagementapi":
            return boto3.session.Session(
                aws_access_key_id=self._credentials.access_key_id,
                aws_secret_access_key=self._credentials.secret_access_key, region_name=self.region,
            ).client(service, endpoint_url=self.endpoints["websocket_management"])
        url = self.endpoints["sqs"] if service == "sqs" else self.endpoints["dynamodb"]
        return self._client(service, url)

    def _event_sources(self, app: LocalApp) -> list[SqsPoller | StreamPoller | Schedule]:
        assert self._sqs is not None and self._dynamodb is not None
        queues = {queue.logical_id: queue for queue in app.queues}
        tables = {table.logical_id: table for table in app.tables}
        pollers: list[SqsPoller | StreamPoller | Schedule] = []
        for source in app.sqs_sources:
            name = queues[source.queue].queue_name
            pollers += [
                # In process, as Lambda's pollers are inside AWS: no HTTP hop, signing or JSON.
                SqsPoller(source, sqs_client=self._sqs.in_process_client(),
                          queue_url=self._sqs.queue_url(name), queue_arn=self._sqs.queue_arn(name),
                          region=self.region, invoke=self.invoke)
                for _ in range(SQS_POLLERS_PER_SOURCE)
            ]
        for stream in app.stream_sources:
            pollers.append(StreamPoller(
                stream, dynamodb_client=self._client("dynamodb", self._dynamodb.endpoint_url),
                streams_client=self._client("dynamodbstreams", self._dynamodb.endpoint_url),
                table_name=tables[stream.table].table_name, region=self.region, invoke=self.invoke,
                checkpoint=StreamCheckpoint(
                    self.data_dir / STREAM_CHECKPOINTS_DIR / f"{stream.function}.{stream.table}.json"),
            ))
        for schedule in app.schedules:
            pollers.append(Schedule(schedule, region=self.region, account_id=self.account_id,
                                    invoke=self.invoke, every_s=self.schedule_every))
        return pollers

    def _record_iam(self, function: str, report: dict[str, Any]) -> None:
        # Kept current while the stack runs: new uses are few once every path has run once.
        if self.iam_usage.record(function, report):
            with self._iam_file_lock:
                self.iam_usage.save(self.data_dir / USAGE_FILE)

    def _iam_settings(self, app: LocalApp) -> dict[str, dict[str, Any]]:
        """Each function's identity, policies and the local names its calls' ARNs use."""
        management = {}
        if app.websocket is not None and self._gateway is not None:
            management[self._gateway.websocket_management_url] = local_api_id(app.websocket.logical_id)
        partition_keys = {
            table.table_name: next(key["AttributeName"] for key in table.create_table_kwargs["KeySchema"]
                                   if key["KeyType"] == "HASH")
            for table in app.tables
        }
        where = {"region": self.region, "account_id": self.account_id, "management_apis": management,
                 "partition_keys": partition_keys}
        for function in app.functions:
            try:
                Policies(function.policies)
            except PolicyError as error:
                raise TemplateError(f"Resources.{function.logical_id}.Properties.{error}") from None
        for queue, documents in app.queue_policies.items():
            try:
                ResourcePolicy(documents)
            except PolicyError as error:
                raise TemplateError(f"the queue policy of {queue}: {error}") from None
        return {
            function.logical_id: {
                "identity": {"account_id": self.account_id, "role_name": function.role_name,
                             "session_name": function.logical_id},
                "policies": function.policies,
                "where": where,
                "resource_policies": app.queue_policies,
            }
            for function in app.functions
        }

    # -- endpoints ------------------------------------------------------------------------

    def _local_endpoints(self) -> LocalEndpoints:
        assert self._dynamodb is not None and self._sqs is not None and self._gateway is not None
        websocket = self._gateway.websocket_url if self._gateway.websocket_server is not None else ""
        return LocalEndpoints(
            region=self.region,
            account_id=self.account_id,
            dynamodb=self._dynamodb.endpoint_url,
            sqs=self._sqs.endpoint_url,
            rest=self._gateway.rest_url,
            websocket=websocket,
            websocket_management=self._gateway.websocket_management_url,
        )

    def _endpoint_urls(self) -> dict[str, str]:
        endpoints = self._local_endpoints()
        return {
            "rest": endpoints.rest,
            "websocket": endpoints.websocket,
            "websocket_management": endpoints.websocket_management,
            "sqs": endpoints.sqs,
            "dynamodb": endpoints.dynamodb,
        }

    def _endpoint_variables(self) -> dict[str, str]:
        """The standard endpoint variables: the functions' boto3 clients find the local
        services, and sign with the run's key (the @connections API checks it)."""
        endpoints = self._local_endpoints()
        return {
            "AWS_ACCESS_KEY_ID": self._credentials.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self._credentials.secret_access_key,
            "AWS_ENDPOINT_URL_DYNAMODB": endpoints.dynamodb,
            "AWS_ENDPOINT_URL_DYNAMODBSTREAMS": endpoints.dynamodb,
            "AWS_ENDPOINT_URL_SQS": endpoints.sqs,
            "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI": endpoints.websocket_management,
            # S3 buckets and KMS keys stand in as folders and key files here (local/sam/template.py).
            LOCAL_AWS_DIR_VARIABLE: str(self.data_dir / LOCAL_AWS_DIR),
        }

    def _wait_until_answering(self) -> None:
        assert self._dynamodb is not None
        if not self._dynamodb.answers():
            raise RuntimeError("DynamoDB Local stopped answering during start")
        self.client("sqs").list_queues()
        try:
            urllib.request.urlopen(self.endpoints["rest"] + "/", timeout=5).close()
        except urllib.error.HTTPError:
            pass  # any HTTP answer will do (a 403 or 404 for "/" is normal)

    def _client(self, service: str, endpoint_url: str) -> Any:
        # Explicit dummy credentials: nothing here may reach a real account.
        return boto3.session.Session(
            aws_access_key_id="local", aws_secret_access_key="local", region_name=self.region
        ).client(service, endpoint_url=endpoint_url, config=Config(retries={"max_attempts": 3, "mode": "standard"}))


def create_tables(dynamodb: Any, tables: list[Table]) -> None:
    """Creates the template's tables that do not exist yet; existing ones are left as they are."""
    existing = {name for page in dynamodb.get_paginator("list_tables").paginate() for name in page["TableNames"]}
    for table in tables:
        if table.table_name not in existing:
            dynamodb.create_table(**table.create_table_kwargs)
            dynamodb.get_waiter("table_exists").wait(TableName=table.table_name, WaiterConfig={"Delay": 0.2})
            log.info("created table %s", table.table_name)
        else:
            add_indexes(dynamodb, table)
        if table.ttl_attribute is not None:
            status = dynamodb.describe_time_to_live(TableName=table.table_name)["TimeToLiveDescription"]
            if status.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
                dynamodb.update_time_to_live(
                    TableName=table.table_name,
                    TimeToLiveSpecification={"AttributeName": table.ttl_attribute, "Enabled": True},
                )


def add_indexes(dynamodb: Any, table: Table) -> None:
    """Adds the template's global secondary indexes an existing table lacks, one at a time,
    as CloudFormation does on a stack update (items written before carry no index keys)."""
    kwargs = table.create_table_kwargs
    described = dynamodb.describe_table(TableName=table.table_name)["Table"]
    have = {index["IndexName"] for index in described.get("GlobalSecondaryIndexes", [])}
    attributes = {a["AttributeName"]: a for a in kwargs["AttributeDefinitions"]}
    for index in kwargs.get("GlobalSecondaryIndexes", []):
        if index["IndexName"] in have:
            continue
        create = {name: index[name] for name in ("IndexName", "KeySchema", "Projection")}
        if "ProvisionedThroughput" in index:
            create["ProvisionedThroughput"] = index["ProvisionedThroughput"]
        dynamodb.update_table(
            TableName=table.table_name,
            AttributeDefinitions=[attributes[key["AttributeName"]] for key in index["KeySchema"]],
            GlobalSecondaryIndexUpdates=[{"Create": create}],
        )
        log.info("added index %s to table %s", index["IndexName"], table.table_name)


def create_queues(sqs: Any, queues: list[Queue]) -> None:
    """Creates the template's queues that do not exist yet (dead-letter queues come first)."""
    for queue in queues:
        try:
            sqs.get_queue_url(QueueName=queue.queue_name)
            continue
        except ClientError as error:
            if "NonExistentQueue" not in error.response["Error"]["Code"] and \
                    "QueueDoesNotExist" not in error.response["Error"]["Code"]:
                raise
        sqs.create_queue(QueueName=queue.queue_name, Attributes=queue.attributes)
        log.info("created queue %s", queue.queue_name)


def read_endpoints(data_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The URLs of a running stack on this data directory (and, under "outputs", the
    template's Outputs resolved locally), or None when none runs. A stack killed with
    SIGKILL leaves its endpoints.json behind; no process holds the lock then, so it is
    ignored rather than naming ports nothing answers on."""
    try:
        endpoints = json.loads((Path(data_dir) / ENDPOINTS_FILE).read_text())
    except FileNotFoundError:
        return None
    return endpoints if _held(Path(data_dir) / LOCK_FILE) else None


def _held(lock_file: Path) -> bool:
    """Whether a process holds the data directory's lock (tried, and let go at once)."""
    try:
        handle = open(lock_file)
    except FileNotFoundError:
        return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def stop_leftover_dynamodb_local(db_path: Path, timeout: float = 10.0) -> None:
    """Kills a DynamoDB Local still running on `db_path` (Linux: found through /proc).

    A stack killed with SIGKILL cannot stop its DynamoDB Local, and two on the same files
    would both write them. The caller holds the data directory's lock, so whatever runs on
    its files belongs to a stack that is gone.
    """
    target = str(db_path.resolve()).encode()
    leftovers = [pid for pid, arguments in _processes() if b"-dbPath" in arguments
                 and arguments[arguments.index(b"-dbPath") + 1:][:1] == [target]]
    for pid in leftovers:
        log.warning("stopping DynamoDB Local (pid %d) left running on %s by a stack that died", pid, db_path)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
    deadline = time.monotonic() + timeout
    while leftovers and time.monotonic() < deadline:
        alive = {pid for pid, arguments in _processes() if arguments != [b""]}
        leftovers = [pid for pid in leftovers if pid in alive]  # a zombie's command line is empty
        time.sleep(0.05)


def _processes() -> list[tuple[int, list[bytes]]]:
    """(pid, command line) of the processes this user can see."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            found.append((int(entry.name), (entry / "cmdline").read_bytes().rstrip(b"\0").split(b"\0")))
        except (OSError, ValueError):
            continue  # gone meanwhile, or not ours to read
    return found


def _function_concurrency() -> int:
    value = os.environ.get(FUNCTION_CONCURRENCY_VARIABLE, "")
    if not value:
        return CONCURRENCY_LIMIT
    if not value.isdigit() or not 1 <= int(value) <= 64:
        raise ValueError(f"{FUNCTION_CONCURRENCY_VARIABLE}: a whole number from 1 to 64, not {value!r}")
    return int(value)


def make_private_dir(path: Path) -> None:
    """`path`, for this user only (0700): the data directory holds the signing key, the
    development users' secrets and every bid. One made before (mkdir -p, an older run) is
    closed too."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)


def default_data_dir() -> Path:
    return Path(os.environ.get("SAMSOLD_DATA_DIR") or ".samsold")


def _lock_data_dir(path: Path) -> IO[str]:
    # Two stacks on one data directory would run two DynamoDB Locals on the same files.
    handle = open(path, "a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise DataDirInUse(f"another samsold dev is running on {path.parent}") from None
    return handle


def _write_json(path: Path, content: Mapping[str, Any]) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(content, indent=2) + "\n")
    temporary.replace(path)
