"""The local stack's data directory holds the signing key, the development users' secrets
and every bid: it is this user's only, also when it was made before with looser modes."""

from __future__ import annotations

import stat
from pathlib import Path

from local.runtime import make_private_dir


def test_the_data_directory_is_made_and_kept_private(tmp_path: Path) -> None:
    fresh, older = tmp_path / "a" / "fresh", tmp_path / "older"
    older.mkdir(mode=0o755)
    older.chmod(0o755)
    for data_dir in (fresh, older):
        make_private_dir(data_dir)
        assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700, data_dir
