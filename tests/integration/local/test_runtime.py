"""The local runtime end to end on a fixture template (tests/fixtures/runtime/): DynamoDB
Local on disk, the local SQS, the gateway, the function workers, the pollers and schedules."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from local.cognito.user_pool import DevAuth
from local.lambda_.functions import FunctionError, FunctionTimeout
from local.runtime import ENDPOINTS_FILE, DataDirInUse, LocalStack

TEMPLATE = Path(__file__).resolve().parents[2] / "fixtures" / "runtime" / "template.yaml"
ITEMS_TABLE = "test-items"


def eventually(check: Callable[[], Any], timeout: float = 30.0, interval: float = 0.1) -> Any:
    """The first truthy result of `check`, or its last falsy one after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval)


@pytest.fixture(scope="module")
def stack(tmp_path_factory, request):
    request.getfixturevalue("leaky_environment")
    with LocalStack(TEMPLATE, tmp_path_factory.mktemp("runtime"), schedule_every=0.5, dynamodb_in_memory=True) as running:
        yield running


@pytest.fixture(scope="module")
def leaky_environment():
    """A variable of the developer's shell that no function may see."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SAMSOLD_TEST_SHELL_ONLY", "leaked")
        yield


@pytest.fixture(scope="module")
def dynamodb(stack):
    return stack.client("dynamodb")


def observations(dynamodb, pk: str) -> list[dict[str, Any]]:
    response = dynamodb.query(
        TableName="Observations",
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": pk}},
        ConsistentRead=True,
    )
    return response["Items"]


def test_endpoints_json_names_every_service_and_each_answers(stack):
    written = json.loads((stack.data_dir / ENDPOINTS_FILE).read_text())
    outputs = written.pop("outputs")
    assert written == stack.endpoints
    assert set(written) == {"rest", "websocket", "websocket_management", "sqs", "dynamodb"}
    # Outputs resolve as a deployed stack lists them, with API URLs pointing at the local gateway.
    assert outputs == {"RestUrl": written["rest"]}
    stack.client("sqs").list_queues()
    assert "test-items" in stack.client("dynamodb").list_tables()["TableNames"]
    assert requests.get(written["rest"] + "/echo/x", timeout=5).status_code == 200


def test_a_rest_route_reaches_its_function_with_the_template_environment(stack):
    response = requests.get(stack.endpoints["rest"] + "/echo/bob", timeout=10)
    assert response.status_code == 200
    seen = response.json()
    assert seen["path_parameters"] == {"name": "bob"}
    assert seen["shared_name"] == "value-a"
    environment = seen["environment"]
    assert environment["WEBSOCKET_MANAGEMENT_URL"] == stack.endpoints["websocket_management"]
    queue_url = stack.client("sqs").get_queue_url(QueueName="WorkQueue.fifo")["QueueUrl"]
    assert environment["WORK_QUEUE_URL"] == queue_url
    assert environment["AWS_ENDPOINT_URL_DYNAMODB"] == stack.endpoints["dynamodb"]
    assert environment["AWS_ENDPOINT_URL_SQS"] == stack.endpoints["sqs"]
    assert environment["AWS_LAMBDA_FUNCTION_NAME"] == "EchoA"


def test_a_guarded_route_needs_a_dev_token(stack):
    url = stack.endpoints["rest"] + "/private"
    assert requests.post(url, timeout=10).status_code == 401
    token = DevAuth(stack.data_dir).mint("alice")
    response = requests.post(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code == 200
    assert response.json()["claims"]["cognito:username"] == "alice"


def test_functions_run_isolated_with_their_own_environment_and_context(stack):
    a, b = stack.invoke("EchoA", {}), stack.invoke("EchoB", {})
    assert (a["shared_name"], b["shared_name"]) == ("value-a", "value-b")
    assert a["pid"] != b["pid"]
    assert "SAMSOLD_TEST_SHELL_ONLY" not in a["environment"]
    assert (a["function_name"], a["memory_limit_in_mb"], b["memory_limit_in_mb"]) == ("EchoA", 128, 256)
    assert a["invoked_function_arn"].endswith(":function:EchoA")
    assert 0 < b["remaining_ms"] <= 1000

    warm = stack.invoke("EchoA", {})  # the same warm worker: the handler module stays imported
    assert (warm["pid"], warm["invocations"]) == (a["pid"], a["invocations"] + 1)


def test_a_handler_exception_is_raised_to_the_caller(stack):
    with pytest.raises(FunctionError) as error:
        stack.invoke("EchoA", {"fail": "no such lot"})
    assert (error.value.error_type, error.value.error_message) == ("ValueError", "no such lot")
    assert any("ValueError" in line for line in error.value.stack_trace)


def test_a_timed_out_invocation_raises_and_its_worker_is_replaced(stack):
    with pytest.raises(FunctionTimeout):
        stack.invoke("EchoB", {"sleep_s": 3})
    assert stack.invoke("EchoB", {})["shared_name"] == "value-b"


def test_concurrency_grows_with_load_beyond_the_first_workers(stack, tmp_path):
    # Six calls at once, each holding its worker until all six are in flight: six warm workers, not two.
    barrier = {"directory": str(tmp_path), "parties": 6}
    with ThreadPoolExecutor(6) as pool:
        seen = list(pool.map(lambda _: stack.invoke("EchoA", {"barrier": barrier}), range(6)))

    assert len({result["pid"] for result in seen}) == 6
    assert all(result["shared_name"] == "value-a" for result in seen)  # each with the template's environment


def test_concurrency_stays_within_reserved_concurrent_executions(stack):
    # EchoB reserves 2: four calls at once share two workers.
    with ThreadPoolExecutor(4) as pool:
        seen = list(pool.map(lambda _: stack.invoke("EchoB", {"sleep_s": 0.3}), range(4)))

    assert len({result["pid"] for result in seen}) <= 2


def sqs_batch(*groups: str, sleep_s: float = 0) -> dict[str, Any]:
    return {"sleep_s": sleep_s,
            "Records": [{"eventSource": "aws:sqs", "messageId": uuid.uuid4().hex, "body": "{}",
                         "attributes": {"MessageGroupId": group}} for group in groups]}


def test_a_batch_goes_to_the_idle_worker_that_served_most_of_its_message_groups_last(stack, tmp_path):
    first, second = f"lot-{uuid.uuid4().hex[:6]}", f"lot-{uuid.uuid4().hex[:6]}"
    barrier = {"directory": str(tmp_path), "parties": 2}
    with ThreadPoolExecutor(2) as pool:  # at the same time (each waits for the other): two workers
        served_first, served_second = (result["pid"] for result in pool.map(
            lambda group: stack.invoke("EchoA", sqs_batch(group) | {"barrier": barrier}), [first, second]))
    assert served_first != served_second
    # Each group comes back to its worker, though the other was used more recently.
    assert stack.invoke("EchoA", sqs_batch(first))["pid"] == served_first
    assert stack.invoke("EchoA", sqs_batch(second, second))["pid"] == served_second
    assert stack.invoke("EchoA", sqs_batch(first))["pid"] == served_first
    assert stack.invoke("EchoA", sqs_batch(first, second, first))["pid"] == served_first
    # That worker served both groups last: the second follows it now.
    assert stack.invoke("EchoA", sqs_batch(second))["pid"] == served_first


def queue_counts(sqs, queue_url: str) -> tuple[int, int]:
    """(visible, in flight) messages of a queue."""
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_sqs_partial_batch_failures_come_back_and_successes_are_deleted(stack, dynamodb):
    sqs = stack.client("sqs")
    queue_url = sqs.get_queue_url(QueueName="WorkQueue.fifo")["QueueUrl"]
    # A visibility timeout no invocation outlasts, however loaded the machine: a message
    # comes back only when the test makes it visible again (below), never on its own.
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"VisibilityTimeout": "600"})
    ok, failing = f"ok-{uuid.uuid4().hex[:8]}", f"bad-{uuid.uuid4().hex[:8]}"
    sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps({"id": ok}), MessageGroupId="g1",
                     MessageAttributes={"kind": {"DataType": "String", "StringValue": "test"}})
    sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps({"id": failing, "fail": True}), MessageGroupId="g2")

    assert eventually(lambda: observations(dynamodb, f"SQS#{ok}") and observations(dynamodb, f"SQS#{failing}"),
                      timeout=60), "both were received"
    # The poller has acknowledged the batch: the success is deleted, the failure stays in flight.
    assert eventually(lambda: queue_counts(sqs, queue_url) == (0, 1), timeout=60), queue_counts(sqs, queue_url)
    (first_failure,) = observations(dynamodb, f"SQS#{failing}")
    sqs.change_message_visibility(QueueUrl=queue_url, VisibilityTimeout=0,
                                  ReceiptHandle=json.loads(first_failure["record"]["S"])["receiptHandle"])
    assert eventually(lambda: len(observations(dynamodb, f"SQS#{failing}")) >= 2, timeout=60), "a failed record comes back"
    (received,) = observations(dynamodb, f"SQS#{ok}")
    record = json.loads(received["record"]["S"])
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert set(record) >= {"messageId", "receiptHandle", "body", "attributes", "messageAttributes", "md5OfBody",
                           "eventSource", "eventSourceARN", "awsRegion"}
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == "arn:aws:sqs:us-east-1:000000000000:WorkQueue.fifo"
    assert record["attributes"]["MessageGroupId"] == "g1"
    assert {"SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp", "MessageDeduplicationId",
            "SequenceNumber"} <= set(record["attributes"])
    assert record["messageAttributes"]["kind"]["stringValue"] == "test"


def test_the_stream_filter_passes_only_modified_items_of_a_prefix(stack, dynamodb):
    lot, other = f"LOT#{uuid.uuid4().hex[:8]}", f"BID#{uuid.uuid4().hex[:8]}"
    for pk in (lot, other):
        dynamodb.put_item(TableName=ITEMS_TABLE, Item={"PK": {"S": pk}, "v": {"N": "1"}})
        dynamodb.put_item(TableName=ITEMS_TABLE, Item={"PK": {"S": pk}, "v": {"N": "2"}, "empty": {"M": {}}})
        dynamodb.delete_item(TableName=ITEMS_TABLE, Key={"PK": {"S": pk}})

    def received() -> list[dict[str, Any]]:
        records = [json.loads(item["record"]["S"]) for item in observations(dynamodb, "STREAM")]
        return [r for r in records if r["dynamodb"]["Keys"]["PK"]["S"] in (lot, other)]

    assert eventually(received, timeout=60)
    # A MODIFY written after them all: the stream is one ordered shard, so once it has come,
    # any wrongly passed INSERT/REMOVE/other-prefix record before it has come too.
    last = f"LOT#{uuid.uuid4().hex[:8]}"
    dynamodb.put_item(TableName=ITEMS_TABLE, Item={"PK": {"S": last}, "v": {"N": "1"}})
    dynamodb.put_item(TableName=ITEMS_TABLE, Item={"PK": {"S": last}, "v": {"N": "2"}})
    assert eventually(lambda: any(json.loads(item["record"]["S"])["dynamodb"]["Keys"]["PK"]["S"] == last
                                  for item in observations(dynamodb, "STREAM")), timeout=60)
    (record,) = received()
    assert (record["eventName"], record["dynamodb"]["Keys"]) == ("MODIFY", {"PK": {"S": lot}})
    assert record["dynamodb"]["OldImage"]["v"] == {"N": "1"}
    assert record["dynamodb"]["NewImage"] == {"PK": {"S": lot}, "v": {"N": "2"}, "empty": {"M": {}}}
    assert record["dynamodb"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert {"SequenceNumber", "SizeBytes", "ApproximateCreationDateTime"} <= set(record["dynamodb"])
    assert (record["eventSource"], record["awsRegion"]) == ("aws:dynamodb", "us-east-1")
    assert {"eventID", "eventVersion", "eventSourceARN"} <= set(record)


def test_a_scheduled_function_fires_every_schedule_every_seconds(stack, dynamodb):
    ticks = eventually(lambda: len(observations(dynamodb, "TICK")) >= 2 and observations(dynamodb, "TICK"))
    assert ticks
    event = json.loads(ticks[0]["event"]["S"])
    assert (event["detail-type"], event["source"], event["detail"]) == ("Scheduled Event", "aws.events", {})
    assert event["resources"][0].startswith("arn:aws:events:us-east-1:000000000000:rule/")


def test_a_restart_on_the_same_data_dir_keeps_tables_and_queued_messages(tmp_path):
    data_dir = tmp_path / "data"
    with LocalStack(TEMPLATE, data_dir) as first:
        with pytest.raises(DataDirInUse):
            LocalStack(TEMPLATE, data_dir).start()
        first.client("dynamodb").put_item(TableName="Observations", Item={"PK": {"S": "KEEP"}, "SK": {"S": "1"}})
        sqs = first.client("sqs")
        # The dead-letter queue has no consumer: what is sent there stays.
        dlq_url = sqs.get_queue_url(QueueName="WorkDeadLetterQueue.fifo")["QueueUrl"]
        sqs.send_message(QueueUrl=dlq_url, MessageBody="parked", MessageGroupId="g", MessageDeduplicationId="d1")
    assert not (data_dir / ENDPOINTS_FILE).exists()

    with LocalStack(TEMPLATE, data_dir) as second:
        assert observations(second.client("dynamodb"), "KEEP")
        sqs = second.client("sqs")
        dlq_url = sqs.get_queue_url(QueueName="WorkDeadLetterQueue.fifo")["QueueUrl"]
        messages = sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=1).get("Messages", [])
        assert [message["Body"] for message in messages] == ["parked"]


def listening_addresses(port: int) -> set[str]:
    """The local addresses of the sockets listening on `port`, from /proc/net/tcp and tcp6
    (IPv4-mapped IPv6 addresses written as IPv4)."""
    import ipaddress

    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address_hex, port_hex = local.split(":")
            if state != "0A" or int(port_hex, 16) != port:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(address_hex)
            # The kernel prints each 32-bit word in host (little-endian) order.
            packed = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
            address = ipaddress.ip_address(packed)
            if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
                address = address.ipv4_mapped
            found.add(str(address))
    return found


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's socket tables")
def test_with_host_0_0_0_0_only_the_gateway_listens_beyond_loopback(tmp_path):
    from urllib.parse import urlsplit

    with LocalStack(TEMPLATE, tmp_path / "data", host="0.0.0.0") as opened:
        ports = {name: urlsplit(opened.endpoints[name]).port for name in ("rest", "websocket", "sqs", "dynamodb")}
        bound = {name: listening_addresses(port) for name, port in ports.items()}

    assert bound["dynamodb"] == {"127.0.0.1"}
    assert bound["sqs"] == {"127.0.0.1"}
    assert bound["rest"] == {"0.0.0.0"}
    assert bound["websocket"] == {"0.0.0.0"}
