"""What the `samsold-bench` benchmarks share: a fresh DynamoDB Local or a fresh local stack
in a child process, the stack's CPU time, the open-files limit, the lots they bid on,
percentiles, and the JSON document they print and write (with the machine it ran on)."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import multiprocessing
import os
import platform
import resource
import signal
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from samsold_cli.shared import console

LOOPBACK = "127.0.0.1"
TEMPLATE = Path(__file__).resolve().parents[1] / "template.yaml"
STARTING_PRICE = Decimal("1.00")
STEP = Decimal("0.01")


# -- engines --------------------------------------------------------------------------------


def limits_lifted(template: Path = TEMPLATE) -> dict[str, str]:
    """Parameter overrides that lift the template's throttling and per-user quotas far above
    any run on one machine: the capacity benchmarks (and the tests' stack) measure the stack,
    not its limits; `flood` keeps the template's defaults."""
    from local.sam.intrinsics import load_yaml

    names = load_yaml(template.read_text()).get("Parameters") or {}
    return {name: "100000" for name in names if name.startswith("Quota") or name.endswith(("RateLimit", "BurstLimit"))}


@contextmanager
def fresh_dynamodb_local(table: str = "bench") -> Iterator[dict[str, str]]:
    """A fresh in-memory DynamoDB Local; yields the environment `bootstrap.build`
    takes for a Bids table on it (created on first use)."""
    from bootstrap import use_placeholder_credentials
    from local.dynamodb.launcher import DynamoDBLocal

    with DynamoDBLocal() as ddb:
        use_placeholder_credentials()
        yield {"BIDS_TABLE": table, "CREATE_TABLE": "y", "AWS_ENDPOINT_URL_DYNAMODB": ddb.endpoint_url}


@contextmanager
def fresh_stack(prefix: str, overrides: dict[str, str] | None = None) -> Iterator[tuple[Path, dict[str, Any], StackProcess]]:
    """The local stack on a temporary data directory, in a child process: yields the data
    directory, the stack's endpoints and its process (stopped, the directory removed, after).
    `overrides`: the template's parameters (default: its limits lifted)."""
    from local.runtime import read_endpoints

    with tempfile.TemporaryDirectory(prefix=prefix) as temporary:
        directory = Path(temporary) / "data"
        console.print(f"starting the local stack on {directory}")
        with StackProcess(directory, overrides=overrides) as stack:
            endpoints = read_endpoints(directory)
            if endpoints is None:
                raise RuntimeError(f"no local stack runs on {directory}")
            yield directory, endpoints, stack
            console.print("stopping the local stack")


def _serve_stack(data_dir: str, log_path: str, ready: Any, stop: Any, overrides: dict[str, str]) -> None:
    """In a child process, so the clients and the stack do not share one interpreter lock."""
    from local.runtime import REPO_ROOT, LocalStack

    with open(log_path, "ab") as log_file:
        os.dup2(log_file.fileno(), 2)  # the handlers' logs go to a file, not over the results
    logging.basicConfig(level=logging.WARNING)
    raise_open_files_limit()
    with LocalStack(REPO_ROOT / "template.yaml", data_dir, port=0, parameter_overrides=overrides):
        ready.set()
        stop.wait()


class StackProcess:
    """The local stack in a child process. Stopping waits up to `stop_timeout_s` (the stack
    runs every open WebSocket's $disconnect first), then kills the stack's whole process tree."""

    def __init__(self, data_dir: Path, stop_timeout_s: float = 60.0, overrides: dict[str, str] | None = None) -> None:
        context = multiprocessing.get_context("spawn")
        self.data_dir = data_dir
        self.stop_timeout_s = stop_timeout_s
        self._ready, self._stop = context.Event(), context.Event()
        self._process = context.Process(
            target=_serve_stack,
            args=(str(data_dir), str(data_dir / "stack.log"), self._ready, self._stop,
                  limits_lifted() if overrides is None else overrides),
            name="samsold-bench-stack", daemon=True,
        )

    def __enter__(self) -> StackProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._process.start()
        deadline = time.monotonic() + 180
        while not self._ready.wait(0.5):
            if not self._process.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the local stack did not start; see {self.data_dir / 'stack.log'}")
        return self

    @property
    def pid(self) -> int | None:
        return self._process.pid

    @property
    def exitcode(self) -> int | None:
        return self._process.exitcode

    def __exit__(self, *exc: object) -> None:
        started = {} if self._process.pid is None else \
            {pid: _command_line(pid) for pid in descendants(self._process.pid)}
        self._stop.set()
        self._process.join(self.stop_timeout_s)
        if self._process.is_alive() and self._process.pid is not None:
            # Killing only the stack would leave its DynamoDB Local and function workers running.
            for pid in [*descendants(self._process.pid), self._process.pid]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self._process.join()
        # A stack whose own stop failed part-way exits with its children still running (now
        # the init process's): stop those, if each is still the process the stack started.
        for pid, command_line in started.items():
            if command_line and _command_line(pid) == command_line:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def _processes() -> tuple[dict[int, int], dict[int, float]]:
    """Every process's parent and CPU seconds (user + system, its own and its reaped
    children's), from Linux /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        # After "pid (comm)": state ppid ... utime(12) stime(13) cutime(14) cstime(15), 1-based from state.
        parents[int(entry.name)] = int(fields[1])
        used[int(entry.name)] = sum(int(value) for value in fields[11:15]) / ticks
    return parents, used


def _command_line(pid: int) -> bytes | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None


def _tree(root_pid: int, parents: dict[int, int]) -> set[int]:
    tree, frontier = {root_pid}, [root_pid]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier += children
    return tree


def descendants(root_pid: int) -> list[int]:
    """The live descendants of a process, children first."""
    parents, _ = _processes()
    return sorted(_tree(root_pid, parents) - {root_pid}, key=lambda pid: parents.get(pid) != root_pid)


def tree_cpu_seconds(root_pid: int) -> float | None:
    """CPU time (user + system) used so far by a process and every live descendant, and by
    the children it has reaped: the stack's own cost, whatever else the machine runs at
    the same time."""
    parents, used = _processes()
    if root_pid not in used:
        return None
    return sum(used[pid] for pid in _tree(root_pid, parents))


def tree_cpu_by_process(root_pid: int) -> dict[str, float] | None:
    """`tree_cpu_seconds` broken down by what each process plays: DynamoDB Local (java), each
    function's workers (by handler), the stack's own process (gateway, local SQS, pollers)
    and the children it has reaped (stopped workers)."""
    ticks = os.sysconf("SC_CLK_TCK")
    parents, _ = _processes()
    if root_pid not in parents:
        return None
    by_process: dict[str, float] = {}
    for pid in _tree(root_pid, parents):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        own, reaped = sum(int(v) for v in fields[11:13]) / ticks, sum(int(v) for v in fields[13:15]) / ticks
        by_process[_role(pid, root_pid)] = by_process.get(_role(pid, root_pid), 0.0) + own
        if reaped:
            by_process["reaped children"] = by_process.get("reaped children", 0.0) + reaped
    return by_process


def _role(pid: int, root_pid: int) -> str:
    if pid == root_pid:
        return "stack (gateway, local SQS, pollers)"
    arguments = (_command_line(pid) or b"").split(b"\0")
    if any(argument.endswith(b"java") for argument in arguments[:1]):
        return "DynamoDB Local (java)"
    if b"local.lambda_.functions" in arguments and len(arguments) > arguments.index(b"local.lambda_.functions") + 1:
        return arguments[arguments.index(b"local.lambda_.functions") + 1].decode(errors="replace")
    return (arguments[0] or b"other").decode(errors="replace").rsplit("/", 1)[-1]


def raise_open_files_limit() -> dict[str, int | None]:
    """Raise this process's soft limit of open files to its hard limit (two thousand clients
    are two thousand sockets on each side); returns both limits before and the soft one after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))

    def finite(value: int) -> int | None:
        return None if value == resource.RLIM_INFINITY else value

    return {"soft_before": finite(soft), "hard": finite(hard), "soft_after": finite(resource.getrlimit(resource.RLIMIT_NOFILE)[0])}


def on_loopback(url: str) -> str:
    """The same service on 127.0.0.1: load never leaves this machine (also when the stack
    listens on 0.0.0.0)."""
    parts = urlsplit(url)
    return parts._replace(netloc=f"{LOOPBACK}:{parts.port}").geturl()


async def create_lots(session: Any, api: str, seller_token: str, count: int, prefix: str = "load") -> list[str]:
    """`count` open lots (fixed step, three hours long) through the REST API, with ids `{prefix}-...`:
    the seller's token has `prefix` as its seller handle."""
    from ledger.domain.values import format_time, utc_now

    lot_ids = []
    for index in range(count):
        lot_id = f"{prefix}-{uuid.uuid4().hex[:10]}-{index}"
        terms = {"lot_id": lot_id, "title": f"Load test lot {index + 1}", "currency": "EUR",
                 "starting_price": str(STARTING_PRICE), "increment": str(STEP),
                 "closes_at": format_time(utc_now() + timedelta(hours=3))}
        async with session.post(f"{api}/lots", json=terms, headers={"Authorization": f"Bearer {seller_token}"}) as r:
            if r.status != 201:
                raise RuntimeError(f"POST /lots answered {r.status}: {await r.text()}")
        lot_ids.append(lot_id)
    return lot_ids


# -- figures --------------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest rank."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def ms_summary(seconds: list[float]) -> dict[str, Any]:
    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000, 1)

    return {"count": len(seconds), "p50": ms(percentile(seconds, 0.5)), "p99": ms(percentile(seconds, 0.99)),
            "max": ms(max(seconds) if seconds else None)}


def machine(load_before: tuple[float, float, float] | None = None) -> dict[str, Any]:
    """The machine a benchmark ran on; with the load average before, and now (after): other
    work shares the cores with what is measured."""
    described: dict[str, Any] = {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()}
    if load_before is not None:
        described["load_average_1m_before"] = round(load_before[0], 2)
        described["load_average_1m_after"] = round(os.getloadavg()[0], 2)
    return described


def write_results(document: dict[str, Any], output: Path) -> None:
    """Print the results and write them as JSON."""
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(document, indent=2) + "\n")
    console.print_json(json.dumps(document))
    console.print(f"written to {output}")
