"""Where the public log's tiles and checkpoints live: S3 in AWS, folders of the data directory locally.

Tiles (`tlog.tiles.TileStore`): one object per tile, entry bundle and checkpoint, under the
C2SP tlog-tiles paths, in the log's bucket (its folder locally). The archive
(`ledger.service.public_log.CheckpointArchive`) keeps a write-once copy of every checkpoint
at `checkpoints/<size>`: in AWS a bucket with S3 Object Lock in compliance mode (the table's
writers cannot delete or change what it holds), the object written only if absent; locally
a folder whose files are created exclusively and made read-only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from ledger.service.public_log import checkpoint_path


def _safe(root: Path, path: str) -> Path:
    target = (root / path).resolve()
    if not target.is_relative_to(root.resolve()):
        raise ValueError(f"{path!r} is outside the store")
    return target


class FolderTiles:
    def __init__(self, root: Path) -> None:
        self.root = root

    def read(self, path: str) -> bytes | None:
        try:
            return _safe(self.root, path).read_bytes()
        except FileNotFoundError:
            return None

    def write(self, path: str, data: bytes) -> None:
        target = _safe(self.root, path)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        temporary.write_bytes(data)
        os.replace(temporary, target)  # readers see the old object or the new, never half of one


class S3Tiles:
    def __init__(self, s3_client: Any, bucket: str) -> None:
        self.s3 = s3_client
        self.bucket = bucket

    def read(self, path: str) -> bytes | None:
        try:
            return bytes(self.s3.get_object(Bucket=self.bucket, Key=path)["Body"].read())
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise

    def write(self, path: str, data: bytes) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=path, Body=data)


class FolderArchive:
    def __init__(self, root: Path) -> None:
        self.root = root

    def keep(self, size: int, note: str) -> None:
        target = _safe(self.root, checkpoint_path(size))
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        except FileExistsError:
            if target.read_text() != note:
                raise RuntimeError(f"the archive holds another checkpoint of size {size}") from None
            return
        with os.fdopen(fd, "w") as file:
            file.write(note)


class S3Archive:
    def __init__(self, s3_client: Any, bucket: str) -> None:
        self.s3 = s3_client
        self.bucket = bucket

    def keep(self, size: int, note: str) -> None:
        try:
            # Object Lock needs a checksum on each PUT; the bucket's default retention locks it.
            self.s3.put_object(Bucket=self.bucket, Key=checkpoint_path(size), Body=note.encode(), IfNoneMatch="*",
                               ChecksumAlgorithm="SHA256")
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "PreconditionFailed":
                raise
            kept = self.s3.get_object(Bucket=self.bucket, Key=checkpoint_path(size))["Body"].read().decode()
            if kept != note:
                raise RuntimeError(f"the archive holds another checkpoint of size {size}") from None
