"""`samsold iam report`: the permissions the template's functions hold that no call used.

The local stack records, in its data directory's iam-usage.json, every (action, resource)
each function's calls used, merged over runs. Every permission a function's policy allows
should be one of them, or be kept on purpose: a comment inside its statement in the
template, starting with KEPT_MARK, says why.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from samsold_cli.shared import HELP_MARKUP, DataDir

console = Console()
iam_app = typer.Typer(help="The functions' IAM permissions on the local stack.", no_args_is_help=True,
                      rich_markup_mode=HELP_MARKUP)

KEPT_MARK = "# Kept unused:"
_RESOURCE_LINE = re.compile(r"^  ([A-Za-z0-9]+):\s*$")
_SID_LINE = re.compile(r"^\s*-\s+Sid:\s*(\S+)\s*$")


def kept_statements(template_text: str) -> dict[tuple[str, str], str]:
    """(function, Sid) -> the reason written inside that statement (a line with KEPT_MARK
    after the statement's `- Sid:` and before the next statement or resource)."""
    kept: dict[tuple[str, str], str] = {}
    resource = sid = None
    for line in template_text.splitlines():
        if (match := _RESOURCE_LINE.match(line)) is not None:
            resource, sid = match.group(1), None
        elif (match := _SID_LINE.match(line)) is not None:
            sid = match.group(1)
        elif sid is not None and resource is not None and line.strip().startswith(KEPT_MARK):
            kept[(resource, sid)] = line.strip().removeprefix(KEPT_MARK).strip()
    return kept


def report_lines(template: Path, usage_file: Path) -> tuple[list[str], int]:
    """The report's lines, and how many unused permissions have no reason."""
    from local.iam.policy import Policies
    from local.iam.usage import IamUsage, UnusedPermission, unused_permissions
    from local.sam.template import LocalEndpoints, SamTemplate

    loaded = SamTemplate.load(template)
    app_ = loaded.resolve(LocalEndpoints.placeholder(loaded.region, loaded.account_id))
    policies = {function.logical_id: Policies(function.policies) for function in app_.functions}
    usage = IamUsage.load(usage_file)
    unused = unused_permissions(policies, usage.used)
    kept = kept_statements(template.read_text())
    lines: list[str] = []
    unexplained = 0
    by_function: dict[str, list[UnusedPermission]] = {}
    for item in unused:
        by_function.setdefault(item.function, []).append(item)
    for function, items in by_function.items():
        lines.append(f"{function}:")
        for item in items:
            reason = kept.get((function, item.sid or ""))
            if reason is None:
                unexplained += 1
            lines.append(f"  {item.sid or '-'}: {item.action} on {item.resource}"
                         + (f"  (kept: {reason})" if reason else "  (no reason: remove it, or say why it stays)"))
    return lines, unexplained


def _print(lines: Iterable[str]) -> None:
    for line in lines:
        console.print(line, highlight=False, soft_wrap=True, markup=False)


@iam_app.command()
def report(
    data_dir: DataDir = None,
    template: Annotated[Path, typer.Option(help="The SAM template whose policies are checked.")] = Path("template.yaml"),
) -> None:
    """List, per function, each permission its policy allows that no recorded call used
    (the data directory's iam-usage.json, written by the local stack). Exits 1 when one
    has no reason written next to it in the template."""
    from local.iam.usage import USAGE_FILE
    from local.runtime import default_data_dir
    from local.sam.intrinsics import TemplateError

    usage_file = (data_dir or default_data_dir()) / USAGE_FILE
    if not usage_file.exists():
        console.print(f"[red]no {usage_file}: run the stack (samsold dev, the tests) with IAM enforced first[/red]")
        raise typer.Exit(2)
    try:
        lines, unexplained = report_lines(template, usage_file)
    except (TemplateError, ValueError) as error:
        console.print(f"[red]samsold iam report: {error}[/red]")
        raise typer.Exit(2) from None
    _print(lines or ["Every permission was used."])
    if unexplained:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(iam_app, name="iam")
