"""Where the `samsold` commands point: the local stack (its data directory's
endpoints.json) or a deployed stack (its CloudFormation outputs), with any name given
as an option taking precedence."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import boto3

from bootstrap import App, build, use_placeholder_credentials


class TargetError(Exception):
    pass


@dataclass
class Target:
    outputs: dict[str, str]  # the template's Outputs: BidsTableName, ProcessBidQueueUrl, ...
    endpoints: dict[str, str] = field(default_factory=dict)  # local service URLs; empty in AWS
    data_dir: Path | None = None  # the local stack's, for minting development tokens

    def output(self, name: str) -> str:
        try:
            return self.outputs[name]
        except KeyError:
            raise TargetError(f"the stack has no output {name}; give it as an option") from None

    @cached_property
    def app(self) -> App:
        env = {"BIDS_TABLE": self.output("BidsTableName")}
        if "dynamodb" in self.endpoints:
            env["AWS_ENDPOINT_URL_DYNAMODB"] = self.endpoints["dynamodb"]
        # The public log, read from its table and bucket; locally signed with the stack's key file
        # (in AWS only LogSequencerFunction may sign: `samsold log checkpoint` invokes it).
        log_outputs = {"LOG_TABLE": "LogTableName", "LOG_BUCKET": "LogBucketName", "LOG_ORIGIN": "LogOrigin"}
        if all(name in self.outputs for name in log_outputs.values()):
            env |= {variable: self.outputs[name] for variable, name in log_outputs.items()}
            if self.data_dir is not None:
                from local.runtime import LOCAL_AWS_DIR, LOCAL_AWS_DIR_VARIABLE

                env[LOCAL_AWS_DIR_VARIABLE] = str(self.data_dir / LOCAL_AWS_DIR)
                env["LOG_KEY_ID"] = self.outputs.get("LogSigningKeyId", "")
                env["LOG_ARCHIVE_BUCKET"] = self.outputs.get("LogArchiveBucketName", "")
        return build(env)

    @cached_property
    def sqs(self) -> Any:
        return boto3.client("sqs", endpoint_url=self.endpoints.get("sqs"))

    @property
    def api_url(self) -> str:
        return self.endpoints.get("rest") or self.output("BidsApiEndpoint")

    def token_for(self, user: str | None, token: str | None, admin: bool = False, seller: bool = False) -> str | None:
        if token:
            return token
        if user is None:
            return None
        if self.data_dir is None:
            raise TargetError("--as mints development tokens for the local stack; against AWS give --token")
        return dev_token(self.data_dir, user, admin=admin, seller=seller)


def dev_token(data_dir: Path, user: str, *, admin: bool = False, seller: bool = False) -> str:
    """A development token of `user` (in the admin and/or sellers groups); an administrator or
    a seller has their name as seller handle when it can be one (ledger/domain/sellers.py),
    as an administrator would give it."""
    from ledger.domain.sellers import is_handle
    from local.cognito.user_pool import DevAuth

    handle = user if (admin or seller) and is_handle(user) else None
    return DevAuth(data_dir).mint(user, admin=admin, seller=seller, handle=handle)


def resolve_target(
    data_dir: Path | None = None,
    stack: str | None = None,
    overrides: dict[str, str | None] | None = None,
) -> Target:
    given = {name: value for name, value in (overrides or {}).items() if value}
    if stack:
        cloudformation = boto3.client("cloudformation")
        described = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
        return Target(outputs=outputs | given)
    from local.runtime import default_data_dir, read_endpoints

    directory = data_dir or default_data_dir()
    endpoints = read_endpoints(directory)
    if endpoints is None:
        if given.get("BidsTableName"):  # plain AWS with names given as options
            return Target(outputs=given)
        raise TargetError(
            f"no local stack found in {directory} (start it with `samsold dev` or `make run`), "
            "or pass --stack NAME for a deployed one"
        )
    use_placeholder_credentials()
    outputs = dict(endpoints.get("outputs", {}))
    return Target(outputs=outputs | given, endpoints={k: v for k, v in endpoints.items() if isinstance(v, str)}, data_dir=directory)


def as_json(value: Any) -> str:
    return json.dumps(value, indent=2, default=str)
