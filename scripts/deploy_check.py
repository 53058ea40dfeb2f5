"""`make deploy-check`: template.yaml built, linted and translated as a first `sam deploy`
would have CloudFormation see it, without an AWS account; then what the stack would create
and the parameters a first deployment must set or should change.

1. `sam build` into the work folder (default .aws-sam/deploy-check/build), as `sam deploy`
   packages it: the functions' code and the dependencies layer, built for arm64.
2. `sam validate --lint` of the template (cfn-lint, for the region given).
3. The built template translated by aws-sam-translator, the SAM transform CloudFormation
   runs, with the local artifact paths replaced by placeholder S3 URIs (what `sam package`
   does after uploading them), written to <work>/template.cfn.json.

Runs in the AWS tools venv (.cache/aws-tools, scripts/install-aws-tools.sh), which holds the
SAM CLI and the translator. Nothing reaches AWS: placeholder credentials and region, no
profile or config file read, every AWS endpoint pointed at a closed local port, and the
managed-policy names resolved from the map bundled with the translator (a name outside it
stops the check instead of being looked up in IAM). `sam build` does fetch the layer's
wheels from PyPI. The report reads only the translated template (standard library only),
so it can be imported and tried on any CloudFormation template.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TOOLS_BIN = ROOT / ".cache" / "aws-tools" / "bin"
DEFAULT_WORK_DIR = ROOT / ".aws-sam" / "deploy-check"
DEFAULT_REGION = "us-east-1"
# A closed port: an AWS call that slipped through fails at once instead of reaching AWS.
NOWHERE = "http://127.0.0.1:9"
PLACEHOLDER_BUCKET = "deploy-check-placeholder"
# The SAM properties that name a local artifact `sam package` uploads to S3.
ARTIFACT_PROPERTIES = ("CodeUri", "ContentUri", "DefinitionUri")

# Parameters whose defaults run a stack but not a real service: why each should be set.
SHOULD_CHANGE = {
    "AlarmTopicArn": "empty, the alarms (dead letters, falling behind) go off and notify no one; "
    "give an SNS topic someone reads",
}
WIDTH = 100


class DeployCheckError(Exception):
    """A step failed; the message says which and why."""


# --- the steps ---------------------------------------------------------------------------


def sandbox_environment(region: str) -> dict[str, str]:
    """This environment with AWS made unreachable: placeholders only, no profile, no metadata."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "VIRTUAL_ENV"))}
    env.update(
        {
            "AWS_ACCESS_KEY_ID": "placeholder",
            "AWS_SECRET_ACCESS_KEY": "placeholder",
            "AWS_DEFAULT_REGION": region,
            "AWS_REGION": region,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_ENDPOINT_URL": NOWHERE,
            "SAM_CLI_TELEMETRY": "0",
        }
    )
    return env


def find_python312() -> Path:
    """`sam build` runs a python3.12 (the functions' runtime) to fetch the layer's wheels."""
    pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    candidates = [TOOLS_BIN / "python3.12"]
    if on_path := shutil.which("python3.12"):
        candidates.append(Path(on_path))
    candidates += sorted(pyenv_root.glob("versions/3.12*/bin/python3.12"), reverse=True)
    for candidate in candidates:
        if not candidate.exists():
            continue
        probe = subprocess.run(
            [str(candidate), "-c", "import sys; print(sys.version_info[:2] == (3, 12))"],
            capture_output=True, text=True, check=False,
        )
        if probe.stdout.strip() == "True":
            return candidate
    raise DeployCheckError(
        "sam build needs a python3.12 for the functions' runtime and none was found: "
        "install one (e.g. `pyenv install 3.12`), then rerun scripts/install-aws-tools.sh"
    )


def run_tool(step: str, args: list[str], env: dict[str, str]) -> str:
    result = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env=env, check=False)
    if result.returncode != 0:
        raise DeployCheckError(f"{step} failed (exit {result.returncode}):\n{result.stdout}{result.stderr}")
    return result.stdout + result.stderr


def sam_build(template: Path, build_dir: Path, cache_dir: Path, env: dict[str, str]) -> None:
    python312 = find_python312()
    env = {**env, "PATH": os.pathsep.join([str(python312.parent), str(TOOLS_BIN), env.get("PATH", "")])}
    if build_dir.exists():
        shutil.rmtree(build_dir)
    run_tool(
        "sam build",
        [str(TOOLS_BIN / "sam"), "build", "--template-file", str(template),
         "--build-dir", str(build_dir), "--cache-dir", str(cache_dir)],
        env,
    )


def sam_validate_lint(template: Path, region: str, env: dict[str, str]) -> None:
    run_tool(
        "sam validate --lint",
        [str(TOOLS_BIN / "sam"), "validate", "--lint", "--template-file", str(template), "--region", region],
        env,
    )


def with_placeholder_artifacts(template: dict[str, Any]) -> dict[str, Any]:
    """The built template as `sam package` leaves it: each local artifact path an S3 URI."""

    def replace(lid: str, properties: dict[str, Any]) -> None:
        for name in ARTIFACT_PROPERTIES:
            value = properties.get(name)
            if isinstance(value, str) and not value.startswith("s3://"):
                properties[name] = f"s3://{PLACEHOLDER_BUCKET}/{lid}"

    for section in (template.get("Globals") or {}).values():
        replace("Globals", section)
    for lid, resource in template.get("Resources", {}).items():
        replace(lid, resource.get("Properties") or {})
    return template


def translate(built_template: Path, region: str) -> dict[str, Any]:
    """The SAM transform of the built template, offline (imports the tools venv's packages)."""
    import logging

    import boto3
    from samcli.yamlhelper import yaml_parse
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    # Feature-toggle notices for features this template does not use.
    logging.getLogger("samtranslator").setLevel(logging.ERROR)

    def managed_policy_not_bundled() -> dict[str, str]:
        # Reached only for a policy name that is neither an ARN nor in the bundled map: SAM
        # would list IAM's policies to resolve it; the check stops and names it instead.
        raise DeployCheckError(
            "a function's Policies names a managed policy the translator's bundled map does not "
            "know: give its ARN (arn:${AWS::Partition}:iam::aws:policy/...) instead"
        )

    template = with_placeholder_artifacts(yaml_parse(built_template.read_text()))
    session = boto3.session.Session(
        aws_access_key_id="placeholder", aws_secret_access_key="placeholder", region_name=region
    )
    translator = Translator(None, Parser(), boto_session=session)
    try:
        return translator.translate(template, parameter_values={}, get_managed_policy_map=managed_policy_not_bundled)
    except DeployCheckError:
        raise
    except Exception as error:  # the translator's InvalidDocumentException and kin
        raise DeployCheckError(f"the SAM transform refused the template:\n{error}") from error


# --- the report (standard library only) ----------------------------------------------------


PSEUDO_PARAMETERS = {
    "AWS::AccountId", "AWS::NotificationARNs", "AWS::NoValue", "AWS::Partition",
    "AWS::Region", "AWS::StackId", "AWS::StackName", "AWS::URLSuffix",
}
SUB_NAME = re.compile(r"\$\{(?!!)([^}.]+)(?:\.[^}]+)?\}")


def unresolved_references(cfn: dict[str, Any]) -> list[str]:
    """Every Ref, GetAtt, Sub, DependsOn and condition name that names nothing in the template.

    CloudFormation refuses such a template before creating anything; cfn-lint does not
    look inside the IAM policies and event sources SAM expands, so the check is made here.
    """
    resources = set(cfn.get("Resources") or {})
    names = resources | set(cfn.get("Parameters") or {}) | PSEUDO_PARAMETERS
    conditions = set(cfn.get("Conditions") or {})
    problems: set[str] = set()

    def walk(where: str, value: Any) -> None:
        if isinstance(value, list):
            for item in value:
                walk(where, item)
            return
        if not isinstance(value, dict):
            return
        for key, argument in value.items():
            if key == "Ref" and isinstance(argument, str) and argument not in names:
                problems.add(f"{where}: Ref {argument}")
            elif key == "Fn::GetAtt":
                target = argument.split(".")[0] if isinstance(argument, str) else argument[0]
                if isinstance(target, str) and target not in resources:
                    problems.add(f"{where}: Fn::GetAtt {target}")
            elif key == "Fn::Sub":
                text, local = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])
                for name in SUB_NAME.findall(text) if isinstance(text, str) else ():
                    if name not in names and name not in local:
                        problems.add(f"{where}: Fn::Sub ${{{name}}}")
            elif key == "Fn::If" and isinstance(argument, list) and argument and argument[0] not in conditions:
                problems.add(f"{where}: Fn::If {argument[0]}")
            elif key == "Condition" and isinstance(argument, str) and argument not in conditions:
                problems.add(f"{where}: Condition {argument}")
            walk(where, argument)

    for lid, resource in (cfn.get("Resources") or {}).items():
        depends = resource.get("DependsOn") or []
        for target in [depends] if isinstance(depends, str) else depends:
            if target not in resources:
                problems.add(f"{lid}: DependsOn {target}")
        walk(lid, resource)
    for section in ("Conditions", "Outputs"):
        for name, body in (cfn.get(section) or {}).items():
            walk(f"{section}.{name}", body)
    return sorted(problems)



def one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def wrapped(text: str, indent: str, hanging: str = "") -> list[str]:
    return textwrap.wrap(
        text, WIDTH, initial_indent=indent, subsequent_indent=indent + hanging, break_on_hyphens=False
    )


def resources_by_type(cfn: dict[str, Any]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for lid, resource in cfn["Resources"].items():
        condition = resource.get("Condition")
        groups[resource["Type"]].append(f"{lid} [if {condition}]" if condition else lid)
    return {kind: sorted(groups[kind]) for kind in sorted(groups)}


def parameter_groups(cfn: dict[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """Parameter names: without a default, with one a real deployment should change, the rest."""
    parameters = cfn.get("Parameters") or {}
    if missing := sorted(set(SHOULD_CHANGE) - set(parameters)):
        raise DeployCheckError(f"scripts/deploy_check.py names parameters the template no longer has: {', '.join(missing)}")
    required = [name for name, p in parameters.items() if "Default" not in p]
    review = [name for name in parameters if name in SHOULD_CHANGE and name not in required]
    rest = [name for name in parameters if name not in required and name not in review]
    return required, review, rest


def shown_default(parameter: dict[str, Any]) -> str:
    return json.dumps(str(parameter["Default"]))


def report(cfn: dict[str, Any], steps: Iterable[str] = (), source: str = "template.yaml") -> str:
    """What the stack would create and the parameters to set, the same for the same template."""
    lines = [f"Deploy check: {source} as a first `sam deploy` would create it (no AWS account used)", ""]
    lines += list(steps)
    groups = resources_by_type(cfn)
    total = sum(len(ids) for ids in groups.values())
    lines += ["", f"Resources it creates: {total}, of {len(groups)} types"]
    type_width = max((len(kind) for kind in groups), default=0)
    for kind, ids in groups.items():
        head = f"  {kind.ljust(type_width)} {len(ids):3d}  "
        body = textwrap.wrap(", ".join(ids), WIDTH - len(head), break_on_hyphens=False)
        lines.append(head + body[0])
        lines += [" " * len(head) + rest for rest in body[1:]]
    conditions = cfn.get("Conditions") or {}
    for condition in sorted({r["Condition"] for r in cfn["Resources"].values() if "Condition" in r}):
        rule = json.dumps(conditions.get(condition), separators=(", ", ": "))
        lines += wrapped(f"[if {condition}]: created only when {condition} holds: {rule}", "  ", "  ")

    parameters = cfn.get("Parameters") or {}
    required, review, rest = parameter_groups(cfn)
    lines += ["", "Parameters a first deployment must set (no default):" + ("" if required else " none")]
    for name in required:
        lines += wrapped(f"{name}: {one_line(parameters[name].get('Description', ''))}", "  ", "  ")
    lines += ["", "Parameters a real deployment should change (--guided asks, or --parameter-overrides):"]
    for name in review:
        lines += wrapped(f"{name} (default {shown_default(parameters[name])}): {SHOULD_CHANGE[name]}.", "  ", "  ")
        lines += wrapped(f"The template says: {one_line(parameters[name].get('Description', ''))}", "    ", "  ")
    lines += ["", "Parameters whose defaults serve a first deployment:"]
    lines += wrapped(", ".join(f"{name}={shown_default(parameters[name])}" for name in rest), "  ")
    outputs = cfn.get("Outputs") or {}
    lines += ["", "Stack outputs (the smoke test in docs/DEPLOY.md reads them):"]
    lines += wrapped(", ".join(outputs), "  ")
    lines += ["", "Next: sam deploy --guided (docs/DEPLOY.md)"]
    return "\n".join(lines) + "\n"


# --- the command -------------------------------------------------------------------------


def shown_path(path: Path) -> str:
    """Relative to the project when inside it (.cache may be a symlink out of it)."""
    for candidate in (path, path.resolve()):
        if candidate.is_relative_to(ROOT):
            return str(candidate.relative_to(ROOT))
    return str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--template", type=Path, default=ROOT / "template.yaml", help="the SAM template (default: template.yaml)")
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR, help="where the build and the translated template go (default: .aws-sam/deploy-check)")
    parser.add_argument("--region", default=DEFAULT_REGION, help=f"the region cfn-lint checks and ARNs name (default: {DEFAULT_REGION})")
    parser.add_argument("--skip-build", action="store_true", help="translate the build already in the work folder (of this template) instead of running sam build")
    args = parser.parse_args(argv)

    if not (TOOLS_BIN / "sam").exists():
        print(f"deploy check: no SAM CLI in {shown_path(TOOLS_BIN)}: run scripts/install-aws-tools.sh (make aws-tools)", file=sys.stderr)
        return 2
    if importlib.util.find_spec("samtranslator") is None:
        print(f"deploy check: run it with {shown_path(TOOLS_BIN / 'python')} (make deploy-check): "
              "this Python has no aws-sam-translator", file=sys.stderr)
        return 2
    template: Path = args.template.resolve()
    if not template.is_file():
        print(f"deploy check: no template at {args.template}", file=sys.stderr)
        return 2
    work: Path = args.work_dir.resolve()
    build_dir, cfn_path = work / "build", work / "template.cfn.json"
    env = sandbox_environment(args.region)
    os.environ.clear()
    os.environ.update(env)  # the translator's boto3 session sees the placeholders only

    try:
        if args.skip_build:
            if not (build_dir / "template.yaml").is_file():
                raise DeployCheckError(f"--skip-build: no build in {shown_path(build_dir)}; run without it first")
            built = "skipped (--skip-build): the build already in " + shown_path(build_dir)
        else:
            sam_build(template, build_dir, work / "cache", env)
            built = "ok: " + shown_path(build_dir)
        sam_validate_lint(template, args.region, env)
        cfn = translate(build_dir / "template.yaml", args.region)
        if dangling := unresolved_references(cfn):
            raise DeployCheckError(
                "the translated template names what it does not define (CloudFormation would refuse it):\n  "
                + "\n  ".join(dangling)
            )
        cfn_path.write_text(json.dumps(cfn, indent=2) + "\n")
        steps = [
            f"  sam build             {built}",
            f"  sam validate --lint   ok: cfn-lint finds nothing (region {args.region})",
            f"  SAM transform         ok: {shown_path(cfn_path)}",
            "  references            ok: every Ref, GetAtt, Sub and DependsOn names something defined",
        ]
        sys.stdout.write(report(cfn, steps, shown_path(template)))
    except DeployCheckError as error:
        print(f"deploy check: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
