"""`make deploy-check` (scripts/deploy_check.py): the stack built, linted and translated to
CloudFormation without an AWS account, and the report of what it creates and what to set.

The slow tests run the script once, as the Makefile does, into a temporary work folder (its
`sam build` takes tens of seconds and fetches the layer's wheels from PyPI); the others try
the report and the offline sandbox on small inputs, importing the script's standard-library
half.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from local.sam.intrinsics import load_yaml

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = ROOT / "template.yaml"
SCRIPT = ROOT / "scripts" / "deploy_check.py"
TOOLS_PYTHON = ROOT / ".cache" / "aws-tools" / "bin" / "python"
INSTALL_TOOLS = ROOT / "scripts" / "install-aws-tools.sh"
MUST_SET = "Parameters a first deployment must set (no default):"
SHOULD_CHANGE = "Parameters a real deployment should change"
KEEP = "Parameters whose defaults serve a first deployment:"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("deploy_check", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("deploy_check", module)
    spec.loader.exec_module(module)
    return module


deploy_check_module = load_script()


def section(report: str, heading: str) -> str:
    """The paragraph of the report that starts with heading."""
    for paragraph in report.split("\n\n"):
        if paragraph.startswith(heading):
            return paragraph
    raise AssertionError(f"no {heading!r} in the report:\n{report}")


def source_template() -> dict[str, Any]:
    return load_yaml(TEMPLATE.read_text())


# --- the whole check, as `make deploy-check` runs it ------------------------------------


def run_check(work_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TOOLS_PYTHON), str(SCRIPT), "--work-dir", str(work_dir), *extra],
        capture_output=True, text=True, timeout=900, cwd=ROOT,
    )


@pytest.fixture(scope="module")
def checked(tmp_path_factory) -> tuple[Path, str]:
    """One full run (sam build included): its work folder and its report."""
    install = subprocess.run([str(INSTALL_TOOLS)], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert install.returncode == 0, f"scripts/install-aws-tools.sh failed:\n{install.stdout}\n{install.stderr}"
    work_dir = tmp_path_factory.mktemp("deploy-check")
    result = run_check(work_dir)
    assert result.returncode == 0, f"deploy check failed:\n{result.stdout}\n{result.stderr}"
    return work_dir, result.stdout


@pytest.fixture(scope="module")
def translated(checked) -> dict[str, Any]:
    work_dir, _ = checked
    return json.loads((work_dir / "template.cfn.json").read_text())


def logical_ids(template: dict[str, Any], resource_type: str) -> set[str]:
    return {lid for lid, r in template["Resources"].items() if r["Type"] == resource_type}


@pytest.mark.slow
def test_translated_template_has_every_function_table_queue_and_api(translated):
    source = source_template()
    assert "Transform" not in translated
    assert not {r["Type"] for r in translated["Resources"].values() if r["Type"].startswith("AWS::Serverless::")}
    functions = logical_ids(source, "AWS::Serverless::Function")
    assert len(functions) >= 8
    assert logical_ids(translated, "AWS::Lambda::Function") == functions
    assert logical_ids(translated, "AWS::IAM::Role") == {f"{lid}Role" for lid in functions}
    for plain in ("AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::ApiGatewayV2::Api", "AWS::ApiGatewayV2::Stage"):
        assert logical_ids(source, plain) and logical_ids(translated, plain) == logical_ids(source, plain), plain
    rest_apis = logical_ids(source, "AWS::Serverless::Api")
    assert logical_ids(translated, "AWS::ApiGateway::RestApi") == rest_apis == {"BidsApi"}
    assert logical_ids(translated, "AWS::ApiGateway::Stage") == {f"{lid}Stage" for lid in rest_apis}
    # The code as `sam package` points at it, and every function on the dependencies layer.
    (layer,) = logical_ids(translated, "AWS::Lambda::LayerVersion")
    for lid in functions:
        properties = translated["Resources"][lid]["Properties"]
        assert properties["Code"] == {"S3Bucket": "deploy-check-placeholder", "S3Key": lid}
        assert properties["Layers"] == [{"Ref": layer}]


@pytest.mark.slow
def test_report_lists_and_counts_every_resource_it_creates(checked, translated):
    _, report = checked
    resources = section(report, "Resources it creates:")
    types = {r["Type"] for r in translated["Resources"].values()}
    assert resources.splitlines()[0] == f"Resources it creates: {len(translated['Resources'])}, of {len(types)} types"
    words = set(resources.replace(",", " ").split())
    assert set(translated["Resources"]) <= words
    for resource_type in types:
        count = len(logical_ids(translated, resource_type))
        assert any(line.split()[:2] == [resource_type, str(count)] for line in resources.splitlines()), resource_type
    assert "UserPool [if CreateUserPool]" in resources


@pytest.mark.slow
def test_report_names_the_parameters_a_deployment_must_set_or_should_change(checked):
    _, report = checked
    parameters = source_template()["Parameters"]
    required = sorted(name for name, p in parameters.items() if "Default" not in p)
    must_set = section(report, MUST_SET)
    assert all(f"{name}:" in must_set for name in required)
    if not required:
        assert must_set == f"{MUST_SET} none"
    should_change = section(report, SHOULD_CHANGE)
    assert "AllowedOrigin: Required: the origin of the live lot page" in must_set  # no "*" default
    for name in ("AlarmTopicArn",):
        assert f"{name} (default {json.dumps(parameters[name]['Default'])})" in should_change
    keep = section(report, KEEP)
    for name in parameters:
        places = [f"{name}:" in must_set, f"{name} (default" in should_change, f"{name}=" in keep]
        assert places.count(True) == 1, f"{name} is in exactly one of the lists"


@pytest.mark.slow
def test_the_check_says_the_same_again_on_the_same_build(checked):
    work_dir, report = checked
    first = (work_dir / "template.cfn.json").read_bytes()
    again = run_check(work_dir, "--skip-build")
    assert again.returncode == 0, again.stderr
    assert (work_dir / "template.cfn.json").read_bytes() == first

    def without_build_line(text: str) -> list[str]:
        return [line for line in text.splitlines() if not line.lstrip().startswith("sam build ")]

    assert without_build_line(again.stdout) == without_build_line(report)


# --- the report and the sandbox on small inputs -----------------------------------------


def cfn_with(parameters: dict[str, Any]) -> dict[str, Any]:
    return {
        "Parameters": {
            "AllowedOrigin": {"Type": "String", "Default": "*", "Description": "The page's origin."},
            "AlarmTopicArn": {"Type": "String", "Default": "", "Description": "Who hears the alarms."},
            **parameters,
        },
        "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {"QueueUrl": {"Value": {"Ref": "Queue"}}},
    }


def test_a_parameter_without_a_default_is_one_a_first_deployment_must_set():
    report = deploy_check_module.report(
        cfn_with({"DomainName": {"Type": "String", "Description": "The  page's\n domain name."}})
    )
    assert section(report, MUST_SET) == f"{MUST_SET}\n  DomainName: The page's domain name."
    assert "DomainName" not in section(report, KEEP)


def test_the_report_refuses_a_template_without_a_parameter_it_explains():
    cfn = cfn_with({})
    del cfn["Parameters"]["AlarmTopicArn"]
    with pytest.raises(deploy_check_module.DeployCheckError, match="no longer has: AlarmTopicArn"):
        deploy_check_module.report(cfn)


def test_local_artifacts_become_placeholder_s3_uris_as_sam_package_makes_them():
    template = {
        "Globals": {"Function": {"CodeUri": "functions/"}},
        "Resources": {
            "Fn": {"Type": "AWS::Serverless::Function", "Properties": {"CodeUri": "Fn"}},
            "Layer": {"Type": "AWS::Serverless::LayerVersion", "Properties": {"ContentUri": "Layer"}},
            "Uploaded": {"Type": "AWS::Serverless::Function", "Properties": {"CodeUri": "s3://bucket/key"}},
        },
    }
    resources = deploy_check_module.with_placeholder_artifacts(template)["Resources"]
    assert resources["Fn"]["Properties"]["CodeUri"] == "s3://deploy-check-placeholder/Fn"
    assert resources["Layer"]["Properties"]["ContentUri"] == "s3://deploy-check-placeholder/Layer"
    assert resources["Uploaded"]["Properties"]["CodeUri"] == "s3://bucket/key"


def test_the_sandbox_keeps_real_credentials_and_aws_out_of_reach(monkeypatch):
    monkeypatch.setenv("AWS_PROFILE", "production")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "a-real-token")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAREAL")
    env = deploy_check_module.sandbox_environment("eu-west-1")
    assert "AWS_PROFILE" not in env and "AWS_SESSION_TOKEN" not in env
    assert env["AWS_ACCESS_KEY_ID"] == "placeholder"
    assert env["AWS_CONFIG_FILE"] == env["AWS_SHARED_CREDENTIALS_FILE"] == "/dev/null"
    assert env["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-west-1"


def test_a_name_the_template_does_not_define_is_found_where_cfn_lint_does_not_look():
    # A policy's resource inside a role SAM expands: cfn-lint passes it, CloudFormation refuses it.
    cfn = cfn_with({})
    cfn["Conditions"] = {"HasTopic": {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]}}
    cfn["Resources"]["FnRole"] = {
        "Type": "AWS::IAM::Role",
        "DependsOn": ["Queue", "Gone"],
        "Properties": {
            "Policies": [{"PolicyDocument": {"Statement": [
                {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": {"Fn::GetAtt": ["Queu", "Arn"]}},
                {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": {"Fn::GetAtt": "Queue.Arn"}},
                {"Effect": "Allow", "Action": "logs:*", "Resource": {"Fn::Sub": "arn:${AWS::Partition}:logs:${Region}:${!Literal}:${Queue.Arn}"}},
                {"Effect": "Allow", "Action": "sns:Publish", "Resource": {"Fn::If": ["HasTopc", {"Ref": "AlarmTopicArn"}, {"Ref": "AWS::NoValue"}]}},
                {"Effect": "Allow", "Action": "sns:Publish", "Resource": {"Fn::Sub": ["${Topic}", {"Topic": {"Ref": "AlarmTopicArn"}}]}},
            ]}}],
        },
    }
    cfn["Outputs"]["Missing"] = {"Value": {"Ref": "NoSuchThing"}, "Condition": "HasTopic"}
    assert deploy_check_module.unresolved_references(cfn) == [
        "FnRole: DependsOn Gone",
        "FnRole: Fn::GetAtt Queu",
        "FnRole: Fn::If HasTopc",
        "FnRole: Fn::Sub ${Region}",
        "Outputs.Missing: Ref NoSuchThing",
    ]
    assert deploy_check_module.unresolved_references(cfn_with({})) == []
