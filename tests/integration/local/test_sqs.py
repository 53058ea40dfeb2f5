"""The local SQS through boto3's own SQS client: FIFO semantics, redrive, errors,
durability. Visibility timeouts are 0 or 1 s so the file runs in a few seconds."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from local.sqs.server import LocalSqs

Client = Any  # botocore's generated SQS client class


def sqs_client(endpoint_url: str) -> Client:
    return boto3.client("sqs", endpoint_url=endpoint_url, region_name="us-east-1",
                        config=Config(retries={"max_attempts": 1}, max_pool_connections=20))


@pytest.fixture(scope="module")
def local_sqs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSqs]:
    with LocalSqs(tmp_path_factory.mktemp("sqs")) as sqs:
        yield sqs


@pytest.fixture(scope="module")
def sqs(local_sqs: LocalSqs) -> Client:
    return sqs_client(local_sqs.endpoint_url)


def create_fifo(sqs: Client, name: str, **attributes: str) -> str:
    return sqs.create_queue(QueueName=f"{name}.fifo", Attributes={"FifoQueue": "true", **attributes})["QueueUrl"]


def send_all(sqs: Client, url: str, group: str, bodies: list[str]) -> None:
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group, MessageDeduplicationId=body)


def receive(sqs: Client, url: str, max_messages: int = 10, **options: Any) -> list[dict[str, Any]]:
    response = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=max_messages,
                                   MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"], **options)
    return response.get("Messages", [])


def bodies(messages: list[dict[str, Any]]) -> list[str]:
    return [message["Body"] for message in messages]


def counts(sqs: Client, url: str) -> tuple[int, int]:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


# --- FIFO ordering ----------------------------------------------------------------------


def test_group_comes_back_in_order_after_its_visibility_timeout(sqs: Client, unique_name: str) -> None:
    # 3 s: longer than the next call takes on a loaded machine, so the group is still in
    # flight when it asks; the long poll (20 s) ends when the timeout does, long before its own end.
    url = create_fifo(sqs, unique_name, VisibilityTimeout="3")
    send_all(sqs, url, "lot-1", ["b1", "b2", "b3"])

    received_at = time.monotonic()
    assert bodies(receive(sqs, url)) == ["b1", "b2", "b3"]
    assert receive(sqs, url) == []

    again = receive(sqs, url, WaitTimeSeconds=20)  # the long poll ends when the timeout does
    assert bodies(again) == ["b1", "b2", "b3"]
    assert [m["Attributes"]["ApproximateReceiveCount"] for m in again] == ["2", "2", "2"]
    assert 2.5 < time.monotonic() - received_at < 15


def test_later_message_of_a_group_waits_while_an_earlier_one_is_in_flight(sqs: Client, unique_name: str) -> None:
    url = create_fifo(sqs, unique_name)
    send_all(sqs, url, "lot-1", ["a1", "a2"])

    [first] = receive(sqs, url, max_messages=1)
    assert first["Body"] == "a1"
    assert receive(sqs, url) == []

    sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    assert bodies(receive(sqs, url)) == ["a2"]


def test_groups_are_independent(sqs: Client, unique_name: str) -> None:
    url = create_fifo(sqs, unique_name)
    send_all(sqs, url, "lot-a", ["a1", "a2"])
    send_all(sqs, url, "lot-b", ["b1", "b2"])

    assert bodies(receive(sqs, url, max_messages=1)) == ["a1"]
    assert bodies(receive(sqs, url)) == ["b1", "b2"]  # lot-a is held back, lot-b is not
    send_all(sqs, url, "lot-c", ["c1"])
    assert bodies(receive(sqs, url)) == ["c1"]


# --- deduplication ----------------------------------------------------------------------


def test_duplicate_deduplication_id_is_dropped_and_answers_the_original_id(sqs: Client, unique_name: str) -> None:
    url = create_fifo(sqs, unique_name)
    def send(body: str, deduplication_id: str) -> dict[str, Any]:
        return sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId="g",
                                MessageDeduplicationId=deduplication_id)

    first = send("bid 10", "cmd-1")
    retry = send("bid 10 (retry)", "cmd-1")
    other = send("bid 10", "cmd-2")

    assert retry["MessageId"] == first["MessageId"]
    assert retry["SequenceNumber"] == first["SequenceNumber"]
    assert other["MessageId"] != first["MessageId"]
    assert int(other["SequenceNumber"]) > int(first["SequenceNumber"])
    assert bodies(receive(sqs, url)) == ["bid 10", "bid 10"]


def test_content_based_deduplication_uses_the_body(sqs: Client, unique_name: str) -> None:
    url = create_fifo(sqs, unique_name, ContentBasedDeduplication="true")
    first = sqs.send_message(QueueUrl=url, MessageBody="same", MessageGroupId="g")
    again = sqs.send_message(QueueUrl=url, MessageBody="same", MessageGroupId="other-group")
    sqs.send_message(QueueUrl=url, MessageBody="different", MessageGroupId="g")

    assert again["MessageId"] == first["MessageId"]
    assert bodies(receive(sqs, url)) == ["same", "different"]


def test_fifo_send_without_deduplication_id_or_content_based_is_refused(sqs: Client, unique_name: str) -> None:
    url = create_fifo(sqs, unique_name)
    with pytest.raises(ClientError) as raised:
        sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g")
    assert raised.value.response["Error"]["Code"] == "InvalidParameterValue"


# --- receive counts and redrive -----------------------------------------------------------


def test_receive_count_and_system_attributes(sqs: Client, unique_name: str) -> None:
    url = create_fifo(sqs, unique_name)
    sent = sqs.send_message(QueueUrl=url, MessageBody="b", MessageGroupId="lot-9", MessageDeduplicationId="d-1")

    first, second = (receive(sqs, url, VisibilityTimeout=0)[0] for _ in range(2))

    assert first["Attributes"]["ApproximateReceiveCount"] == "1"
    assert second["Attributes"]["ApproximateReceiveCount"] == "2"
    first_received_at = first["Attributes"]["ApproximateFirstReceiveTimestamp"]
    assert second["Attributes"]["ApproximateFirstReceiveTimestamp"] == first_received_at
    assert first["ReceiptHandle"] != second["ReceiptHandle"]
    assert second["Attributes"]["MessageGroupId"] == "lot-9"
    assert second["Attributes"]["MessageDeduplicationId"] == "d-1"
    assert second["Attributes"]["SequenceNumber"] == sent["SequenceNumber"]
    assert abs(int(second["Attributes"]["SentTimestamp"]) - time.time() * 1000) < 10_000
    response = sqs.receive_message(QueueUrl=url, MessageSystemAttributeNames=["ApproximateReceiveCount"])
    [only_count] = response["Messages"]
    assert only_count["Attributes"] == {"ApproximateReceiveCount": "3"}


def test_message_received_three_times_moves_to_the_dead_letter_queue(
    sqs: Client, local_sqs: LocalSqs, unique_name: str
) -> None:
    dlq = create_fifo(sqs, f"{unique_name}-dlq")
    policy = {"deadLetterTargetArn": local_sqs.queue_arn(f"{unique_name}-dlq.fifo"), "maxReceiveCount": "3"}
    url = create_fifo(sqs, unique_name, RedrivePolicy=json.dumps(policy))
    sqs.send_message(QueueUrl=url, MessageBody="poison", MessageGroupId="lot-1", MessageDeduplicationId="p",
                     MessageAttributes={"kind": {"DataType": "String", "StringValue": "bid"}})
    send_all(sqs, url, "lot-1", ["next"])

    for _ in range(3):
        assert bodies(receive(sqs, url, max_messages=1, VisibilityTimeout=0)) == ["poison"]
    # The fourth receive moves it instead, and the rest of its group is free to go.
    assert bodies(receive(sqs, url, max_messages=1)) == ["next"]

    [dead] = receive(sqs, dlq)
    assert dead["Body"] == "poison"
    assert dead["Attributes"]["MessageGroupId"] == "lot-1"
    assert dead["Attributes"]["ApproximateReceiveCount"] == "1"
    assert dead["Attributes"]["DeadLetterQueueSourceArn"] == local_sqs.queue_arn(f"{unique_name}.fifo")
    assert dead["MessageAttributes"] == {"kind": {"DataType": "String", "StringValue": "bid"}}
    assert sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"] == [url]


def test_message_move_task_redrives_the_dead_letter_queue_to_its_source(
    sqs: Client, local_sqs: LocalSqs, unique_name: str
) -> None:
    dlq = create_fifo(sqs, f"{unique_name}-dlq")
    dlq_arn = local_sqs.queue_arn(f"{unique_name}-dlq.fifo")
    policy = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1}
    url = create_fifo(sqs, unique_name, RedrivePolicy=json.dumps(policy))
    send_all(sqs, url, "lot-1", ["m1", "m2"])
    receive(sqs, url, VisibilityTimeout=0)
    assert receive(sqs, url) == []  # both moved on the second receive
    assert counts(sqs, dlq) == (2, 0)

    sqs.start_message_move_task(SourceArn=dlq_arn)

    assert counts(sqs, dlq) == (0, 0)
    back = receive(sqs, url)
    assert bodies(back) == ["m1", "m2"]
    assert [m["Attributes"]["ApproximateReceiveCount"] for m in back] == ["1", "1"]
    [task] = sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"]
    assert (task["Status"], task["ApproximateNumberOfMessagesMoved"]) == ("COMPLETED", 2)


# --- after receiving ------------------------------------------------------------------------


def test_change_message_visibility_and_stale_receipt_handles(sqs: Client, unique_name: str) -> None:
    url = create_fifo(sqs, unique_name, VisibilityTimeout="30")
    send_all(sqs, url, "g", ["m"])
    [first] = receive(sqs, url)
    assert receive(sqs, url) == []

    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=0)
    [second] = receive(sqs, url)
    assert second["Attributes"]["ApproximateReceiveCount"] == "2"

    # The first handle is stale now: it must neither delete nor hide the message.
    with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid):
        sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    with pytest.raises(sqs.exceptions.ReceiptHandleIsInvalid):
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=0)
    assert counts(sqs, url) == (0, 1)

    sqs.delete_message(QueueUrl=url, ReceiptHandle=second["ReceiptHandle"])
    sqs.delete_message(QueueUrl=url, ReceiptHandle=second["ReceiptHandle"])  # deleting twice is fine, as in SQS
    assert counts(sqs, url) == (0, 0)


def test_batches_report_partial_failures(sqs: Client, unique_name: str) -> None:
    url = create_fifo(sqs, unique_name)
    sent = sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": "ok1", "MessageBody": "b1", "MessageGroupId": "g", "MessageDeduplicationId": "1"},
        {"Id": "no-group", "MessageBody": "b2", "MessageDeduplicationId": "2"},
        {"Id": "ok2", "MessageBody": "b3", "MessageGroupId": "g", "MessageDeduplicationId": "3"},
    ])
    assert [entry["Id"] for entry in sent["Successful"]] == ["ok1", "ok2"]
    assert [(f["Id"], f["Code"], f["SenderFault"]) for f in sent["Failed"]] == [("no-group", "MissingParameter", True)]

    received = receive(sqs, url)
    assert bodies(received) == ["b1", "b3"]
    deleted = sqs.delete_message_batch(QueueUrl=url, Entries=[
        {"Id": "good", "ReceiptHandle": received[0]["ReceiptHandle"]},
        {"Id": "bad", "ReceiptHandle": "not-a-handle"},
    ])
    assert deleted["Successful"] == [{"Id": "good"}]
    assert [(f["Id"], f["Code"]) for f in deleted["Failed"]] == [("bad", "ReceiptHandleIsInvalid")]
    assert counts(sqs, url) == (0, 1)

    changed = sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
        {"Id": "b3", "ReceiptHandle": received[1]["ReceiptHandle"], "VisibilityTimeout": 0},
    ])
    assert changed["Successful"] == [{"Id": "b3"}]
    assert counts(sqs, url) == (1, 0)

    with pytest.raises(sqs.exceptions.BatchEntryIdsNotDistinct):
        sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": "x", "ReceiptHandle": "h"}] * 2)


def test_purge_empties_the_queue(sqs: Client, local_sqs: LocalSqs, unique_name: str) -> None:
    url = create_fifo(sqs, unique_name)
    send_all(sqs, url, "g", ["m1", "m2"])
    send_all(sqs, url, "h", ["m3"])
    receive(sqs, url, max_messages=1)
    assert counts(sqs, url) == (2, 1)
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"] == {
        "QueueArn": local_sqs.queue_arn(f"{unique_name}.fifo")
    }

    sqs.purge_queue(QueueUrl=url)

    assert counts(sqs, url) == (0, 0)
    assert receive(sqs, url) == []


# --- queues ---------------------------------------------------------------------------


def test_create_queue_is_idempotent_only_with_the_same_attributes(
    sqs: Client, local_sqs: LocalSqs, unique_name: str
) -> None:
    url = create_fifo(sqs, unique_name, VisibilityTimeout="5")
    assert url == local_sqs.queue_url(f"{unique_name}.fifo")
    assert create_fifo(sqs, unique_name, VisibilityTimeout="5") == url
    with pytest.raises(sqs.exceptions.QueueNameExists):
        create_fifo(sqs, unique_name, VisibilityTimeout="6")
    assert sqs.get_queue_url(QueueName=f"{unique_name}.fifo")["QueueUrl"] == url
    assert url in sqs.list_queues(QueueNamePrefix=unique_name)["QueueUrls"]

    sqs.delete_queue(QueueUrl=url)
    assert sqs.list_queues(QueueNamePrefix=unique_name).get("QueueUrls", []) == []


def test_standard_queue_sends_and_receives_without_groups(sqs: Client, unique_name: str) -> None:
    url = sqs.create_queue(QueueName=unique_name)["QueueUrl"]
    assert sqs.create_queue(QueueName=unique_name, Attributes={"FifoQueue": "false"})["QueueUrl"] == url
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(3)])
    assert sorted(bodies(receive(sqs, url, max_messages=2))) == ["m0", "m1"]
    assert bodies(receive(sqs, url)) == ["m2"]


# --- errors ---------------------------------------------------------------------------


def test_missing_queue_raises_queue_does_not_exist(sqs: Client, local_sqs: LocalSqs) -> None:
    with pytest.raises(sqs.exceptions.QueueDoesNotExist) as raised:
        sqs.get_queue_url(QueueName="no-such-queue")
    assert raised.value.response["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue"
    assert raised.value.response["Error"]["QueryErrorCode"] == "QueueDoesNotExist"
    with pytest.raises(sqs.exceptions.QueueDoesNotExist):
        sqs.send_message(QueueUrl=local_sqs.queue_url("no-such-queue"), MessageBody="x")


def test_invalid_parameters_are_client_errors(sqs: Client, unique_name: str) -> None:
    url = create_fifo(sqs, unique_name)
    with pytest.raises(ClientError) as raised:
        sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=11)
    assert raised.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_unknown_action_and_malformed_body_get_json_errors(local_sqs: LocalSqs) -> None:
    headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AmazonSQS.Frobnicate"}
    unknown = requests.post(local_sqs.endpoint_url, data="{}", headers=headers, timeout=5)
    assert unknown.status_code == 400
    assert unknown.json()["__type"] == "com.amazonaws.sqs#InvalidAction"
    assert unknown.headers["x-amzn-query-error"] == "InvalidAction;Sender"

    headers["X-Amz-Target"] = "AmazonSQS.ListQueues"
    malformed = requests.post(local_sqs.endpoint_url, data="{not json", headers=headers, timeout=5)
    assert malformed.status_code == 400
    assert malformed.json()["__type"].endswith("#SerializationException")


# --- long polling and concurrency ---------------------------------------------------------------


def test_long_poll_returns_as_soon_as_a_message_is_sent(sqs: Client, unique_name: str) -> None:
    url = create_fifo(sqs, unique_name)
    sender = threading.Timer(0.3, send_all, (sqs, url, "g", ["late"]))
    started = time.monotonic()
    sender.start()
    received = receive(sqs, url, WaitTimeSeconds=20)
    sender.join()
    assert bodies(received) == ["late"]
    assert time.monotonic() - started < 15  # well before the poll's own end, however loaded the machine


def test_concurrent_long_polls_do_not_block_senders(sqs: Client, unique_name: str) -> None:
    url = create_fifo(sqs, unique_name)
    with ThreadPoolExecutor(max_workers=6) as pool:
        polls = [pool.submit(receive, sqs, url, 1, WaitTimeSeconds=20) for _ in range(6)]
        time.sleep(0.3)  # let the polls start waiting
        started = time.monotonic()
        for group in range(6):
            send_all(sqs, url, f"g{group}", [f"m{group}"])
        sending_took = time.monotonic() - started
        results = [poll.result(timeout=60) for poll in polls]
    assert sending_took < 15  # blocked senders would wait for the polls' end (20 s)
    assert sorted(message["Body"] for result in results for message in result) == [f"m{g}" for g in range(6)]


# --- durability ---------------------------------------------------------------------------


def test_queues_and_messages_survive_a_restart(tmp_path: Path) -> None:
    with LocalSqs(tmp_path) as before:
        sqs = sqs_client(before.endpoint_url)
        url = create_fifo(sqs, "bids", VisibilityTimeout="600")
        send_all(sqs, url, "lot-1", ["b1", "b2", "b3"])
        (in_flight,) = receive(sqs, url, max_messages=1)
        assert bodies([in_flight]) == ["b1"]  # in flight across the restart

    with LocalSqs(tmp_path) as after:
        sqs = sqs_client(after.endpoint_url)
        url = sqs.get_queue_url(QueueName="bids.fifo")["QueueUrl"]
        assert receive(sqs, url) == []  # b1 is still in flight, so its group waits
        # Its receipt handle still holds after the restart: its visibility timeout ends now.
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=in_flight["ReceiptHandle"], VisibilityTimeout=0)
        again = receive(sqs, url, WaitTimeSeconds=5)
        assert bodies(again) == ["b1", "b2", "b3"]
        assert [m["Attributes"]["ApproximateReceiveCount"] for m in again] == ["2", "1", "1"]
        # Deduplication ids are remembered too.
        send_all(sqs, url, "lot-1", ["b1"])
        assert counts(sqs, url) == (0, 3)


def test_stop_ends_open_long_polls(tmp_path: Path) -> None:
    local = LocalSqs(tmp_path).start()
    sqs = sqs_client(local.endpoint_url)
    url = create_fifo(sqs, "quiet")
    outcome: list[BaseException] = []

    def poll() -> None:
        try:
            receive(sqs, url, WaitTimeSeconds=20)
        except Exception as error:  # the endpoint is gone: whatever botocore makes of that
            outcome.append(error)

    poller = threading.Thread(target=poll)
    poller.start()
    time.sleep(0.2)  # let the poll start waiting
    started = time.monotonic()
    local.stop()
    poller.join(timeout=30)
    assert not poller.is_alive()
    assert time.monotonic() - started < 15  # well before the poll's own end (20 s)
    assert len(outcome) == 1


# -- the in-process client of the event source mappings ---------------------------------------


def test_the_in_process_client_answers_as_boto3_does(local_sqs: LocalSqs, sqs: Client):
    url = create_fifo(sqs, "in-process", VisibilityTimeout="0")
    attributes = {"kind": {"DataType": "String", "StringValue": "bid"},
                  "raw": {"DataType": "Binary", "BinaryValue": b"\x00\xffbytes"}}
    sqs.send_message(QueueUrl=url, MessageBody="one", MessageGroupId="g", MessageDeduplicationId="one",
                     MessageAttributes=attributes)
    in_process = local_sqs.in_process_client()
    through_boto3 = receive(sqs, url)
    direct = in_process.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"],
                                        MessageAttributeNames=["All"])["Messages"]
    assert [m["MessageAttributes"] for m in direct] == [m["MessageAttributes"] for m in through_boto3]
    assert direct[0]["MessageAttributes"]["raw"]["BinaryValue"] == b"\x00\xffbytes"
    same = ("MessageId", "Body", "MD5OfBody", "MD5OfMessageAttributes")
    assert [{k: m[k] for k in same} for m in direct] == [{k: m[k] for k in same} for m in through_boto3]
    assert direct[0]["Attributes"].keys() == through_boto3[0]["Attributes"].keys()
    assert direct[0]["Attributes"]["ApproximateReceiveCount"] == "2"

    deleted = in_process.delete_message_batch(
        QueueUrl=url, Entries=[{"Id": "0", "ReceiptHandle": direct[0]["ReceiptHandle"]}])
    assert [entry["Id"] for entry in deleted["Successful"]] == ["0"]
    assert receive(sqs, url) == []


def test_the_in_process_client_raises_the_errors_boto3_raises(local_sqs: LocalSqs, sqs: Client):
    missing = local_sqs.queue_url("no-such-queue")
    with pytest.raises(ClientError) as through_boto3:
        sqs.receive_message(QueueUrl=missing)
    with pytest.raises(ClientError) as direct:
        local_sqs.in_process_client().receive_message(QueueUrl=missing)
    assert direct.value.response["Error"]["Code"] == through_boto3.value.response["Error"]["Code"]
    assert direct.value.response["ResponseMetadata"]["HTTPStatusCode"] == \
        through_boto3.value.response["ResponseMetadata"]["HTTPStatusCode"]
