"""What the functions did with their permissions: every (action, resource) a call used,
every call refused, and the permissions nothing used.

    usage = IamUsage()
    usage.record("PlaceBidFunction", {"used": [[action, resource], ...], "denied": [...]})
    usage.denials                       # each refused call: function, action, resource, message
    usage.save(data_dir / USAGE_FILE)   # merged with what earlier runs recorded there
    unused_permissions(functions, IamUsage.load(path).used)   # per function, what nothing used

The functions' workers report their calls with each reply (local.lambda_.functions); the
stack keeps one IamUsage and writes it to its data directory when it stops.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local.iam.policy import Policies, matches

log = logging.getLogger("samsold.local.iam")

USAGE_FILE = "iam-usage.json"
# The Lambda runtime's own calls (logs, traces), never the handler's: no local call uses them.
_RUNTIME_SERVICES = ("logs:", "xray:")


@dataclass(frozen=True)
class Denial:
    function: str
    action: str
    resource: str
    code: str
    message: str


class IamUsage:
    def __init__(self, used: Mapping[str, Iterable[Iterable[str]]] | None = None) -> None:
        self._lock = threading.Lock()
        self.used: dict[str, set[tuple[str, str]]] = {
            function: {(action, resource) for action, resource in pairs} for function, pairs in (used or {}).items()
        }
        self.denials: list[Denial] = []

    def record(self, function: str, report: Mapping[str, Any]) -> bool:
        """Adds a worker's report; True when it held a denial or a use not seen before."""
        denials = [Denial(function, item["action"], item["resource"], item["code"], item["message"])
                   for item in report.get("denied", [])]
        with self._lock:
            known = self.used.setdefault(function, set())
            fresh = {(action, resource) for action, resource in report.get("used", [])} - known
            known.update(fresh)
            self.denials += denials
        for denial in denials:
            log.warning("IAM denied %s: %s on %s (%s)", denial.function, denial.action, denial.resource, denial.code)
        return bool(fresh or denials)

    def denial_counts(self) -> dict[str, int]:
        """Refused calls per function."""
        counts: dict[str, int] = {}
        for denial in list(self.denials):
            counts[denial.function] = counts.get(denial.function, 0) + 1
        return counts

    @classmethod
    def load(cls, path: Path) -> IamUsage:
        try:
            content = json.loads(path.read_text())
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as error:
            raise ValueError(f"{path}: not an IAM usage record ({error})") from None
        return cls(content.get("used", {}))

    def save(self, path: Path) -> None:
        """Writes what was used, merged with what `path` already holds, and the denials of this run."""
        merged = IamUsage.load(path)
        with self._lock:
            for function, pairs in self.used.items():
                merged.used.setdefault(function, set()).update(pairs)
            denials = [vars(denial) for denial in self.denials]
        content = {
            "used": {function: sorted([action, resource] for action, resource in pairs)
                     for function, pairs in sorted(merged.used.items())},
            "denied": denials,
        }
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(content, indent=2) + "\n")
        temporary.replace(path)


@dataclass(frozen=True)
class UnusedPermission:
    function: str
    sid: str | None
    action: str  # as the policy writes it (may hold wildcards)
    resource: str


def unused_permissions(policies: Mapping[str, Policies], used: Mapping[str, Iterable[tuple[str, str]]]) -> list[UnusedPermission]:
    """Per function, each (action, resource) its Allow statements name that no recorded call
    matched (conditions aside: a call that used the pair counts). A NotAction or NotResource
    statement is listed whole ("*") when no call fell under it."""
    unused = []
    for function, function_policies in policies.items():
        calls = list(used.get(function, ()))
        for statement in function_policies.statements:
            if statement.effect != "Allow":
                continue
            if statement.not_actions or statement.not_resources:
                if not any(statement.applies(action, resource, _NO_CONDITIONS) for action, resource in calls):
                    unused.append(UnusedPermission(function, statement.sid, "*", "*"))
                continue
            for action in statement.actions:
                if action.lower().startswith(_RUNTIME_SERVICES):
                    continue
                for resource in statement.resources:
                    if not any(matches(action, call_action, ignore_case=True) and matches(resource, call_resource)
                               for call_action, call_resource in calls):
                        unused.append(UnusedPermission(function, statement.sid, action, resource))
    return unused


_NO_CONDITIONS: Mapping[str, list[str]] = {}
