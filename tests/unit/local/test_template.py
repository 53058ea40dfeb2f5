"""Reading a SAM template for the local runtime (local.sam.template, local.sam.intrinsics): no I/O
beyond reading the template files."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from local.sam.intrinsics import TemplateError, load_yaml
from local.sam.model import RestRoute
from local.sam.template import LocalEndpoints, SamTemplate

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "runtime" / "template.yaml"
ENDPOINTS = LocalEndpoints(
    region="us-east-1",
    account_id="000000000000",
    dynamodb="http://127.0.0.1:8000",
    sqs="http://127.0.0.1:9324",
    rest="http://127.0.0.1:3000",
    websocket="ws://127.0.0.1:3001",
    websocket_management="http://127.0.0.1:3000/test",
)


@pytest.fixture(scope="module")
def app():
    return SamTemplate.load(FIXTURE).resolve(ENDPOINTS)


def functions_by_id(app):
    return {function.logical_id: function for function in app.functions}


def test_short_form_tags_read_as_their_long_forms():
    document = load_yaml(textwrap.dedent("""
        A: !Ref Table
        B: !GetAtt Table.StreamArn
        C: !Sub ["${X}-x", {X: !Ref Y}]
        D: !Join [",", [!Select [0, !Split ["/", "a/b"]]]]
        E: !If [Cond, 1, 2]
    """))
    assert document["A"] == {"Ref": "Table"}
    assert document["B"] == {"Fn::GetAtt": ["Table", "StreamArn"]}
    assert document["C"] == {"Fn::Sub": ["${X}-x", {"X": {"Ref": "Y"}}]}
    assert document["D"] == {"Fn::Join": [",", [{"Fn::Select": [0, {"Fn::Split": ["/", "a/b"]}]}]]}
    assert document["E"] == {"Fn::If": ["Cond", 1, 2]}


def test_functions_get_handler_code_timeout_and_globals_merged_environment(app):
    functions = functions_by_id(app)
    echo_a, echo_b = functions["EchoA"], functions["EchoB"]
    assert echo_a.handler == "echo.handler"
    assert Path(echo_a.code_uri) == FIXTURE.parent / "functions"
    assert (echo_a.timeout_s, echo_b.timeout_s) == (5, 1)
    assert echo_a.environment["OBSERVATIONS_TABLE"] == "Observations"  # from Globals
    assert echo_a.environment["STAGE"] == "test"
    assert (echo_a.environment["SHARED_NAME"], echo_b.environment["SHARED_NAME"]) == ("value-a", "value-b")
    assert echo_b.environment["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert echo_a.environment["FLAG"] == "yes"  # !If on a condition
    assert (echo_a.reserved_concurrency, echo_b.reserved_concurrency) == (None, 2)


def test_references_resolve_to_local_names_and_urls(app):
    environment = functions_by_id(app)["EchoA"].environment
    assert environment["WORK_QUEUE_URL"] == "http://127.0.0.1:9324/000000000000/WorkQueue.fifo"
    assert environment["WEBSOCKET_MANAGEMENT_URL"] == "http://127.0.0.1:3000/test"


def test_parameter_overrides_replace_defaults_everywhere():
    app = SamTemplate.load(FIXTURE, {"Stage": "dev", "EchoBValue": "other"}).resolve(ENDPOINTS)
    functions = functions_by_id(app)
    assert functions["EchoB"].environment["SHARED_NAME"] == "other"
    assert functions["EchoA"].environment["FLAG"] == "no"
    assert "dev-items" in [table.table_name for table in app.tables]
    assert app.rest_stage == "dev" and app.websocket.stage == "dev"


def test_rest_routes_follow_the_api_default_authorizer_unless_marked_none(app):
    assert app.rest_routes == [
        RestRoute(method="GET", path="/echo/{name}", function="EchoA", auth_required=False),
        RestRoute(method="POST", path="/private", function="EchoA", auth_required=True),
    ]
    assert app.rest_stage == "test"


def test_the_websocket_api_maps_route_keys_through_integrations_to_functions(app):
    assert app.websocket.route_selection_expression == "$request.body.action"
    assert app.websocket.routes == {"$connect": "EchoA"}
    assert app.websocket.stage == "test"


def test_event_sources(app):
    (sqs,) = app.sqs_sources
    assert (sqs.function, sqs.queue, sqs.batch_size, sqs.report_batch_item_failures) == (
        "WorkConsumer", "WorkQueue", 10, True)
    (stream,) = app.stream_sources
    assert (stream.function, stream.table, stream.batch_size, stream.starting_position) == (
        "ItemWatcher", "Items", 25, "LATEST")
    assert stream.filter_patterns == [
        {"eventName": ["MODIFY"], "dynamodb": {"Keys": {"PK": {"S": [{"prefix": "LOT#"}]}}}}
    ]
    (schedule,) = app.schedules
    assert (schedule.function, schedule.rate_s, schedule.input) == ("Ticker", 60.0, None)


def test_tables_become_create_table_arguments_with_stream_and_ttl(app):
    tables = {table.logical_id: table for table in app.tables}
    items = tables["Items"]
    assert items.table_name == "test-items"
    assert items.ttl_attribute == "expires_at"
    assert items.create_table_kwargs == {
        "TableName": "test-items",
        "KeySchema": [{"AttributeName": "PK", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "PK", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    }
    assert tables["Observations"].table_name == "Observations"  # no TableName: the logical id
    assert tables["Observations"].ttl_attribute is None


def test_queues_come_dead_letter_first_with_the_local_dlq_arn(app):
    dead_letter, work = app.queues
    assert (dead_letter.queue_name, work.queue_name) == ("WorkDeadLetterQueue.fifo", "WorkQueue.fifo")
    assert work.attributes["FifoQueue"] == "true"
    assert work.attributes["ContentBasedDeduplication"] == "true"
    assert work.attributes["VisibilityTimeout"] == "1"
    assert json.loads(work.attributes["RedrivePolicy"]) == {
        "deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:WorkDeadLetterQueue.fifo",
        "maxReceiveCount": 5,
    }


def test_features_without_local_meaning_are_listed_once():
    listed = SamTemplate.load(FIXTURE).not_emulated
    assert len(listed) == len(set(listed))
    assert "Outputs" not in listed  # resolved, for endpoints.json
    for expected in (
        "Globals.Function.Tracing",
        "Observations.DeletionPolicy",
        "Observations.PointInTimeRecoverySpecification",
        "EchoLogGroup (AWS::Logs::LogGroup)",
        "UserPool (AWS::Cognito::UserPool)",
        "WorkDeadLetterQueue.SqsManagedSseEnabled",
    ):
        assert expected in listed


# -- refusals ---------------------------------------------------------------------------------

BASE = """
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.12
    CodeUri: .
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: PK, AttributeType: S}]
      KeySchema: [{AttributeName: PK, KeyType: HASH}]
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.handler
"""


def load(tmp_path: Path, resources: str = "", sections: str = "", **overrides: str) -> SamTemplate:
    """BASE with more resources and more top-level sections."""
    path = tmp_path / "template.yaml"
    path.write_text(BASE + textwrap.indent(textwrap.dedent(resources), "  ") + textwrap.dedent(sections))
    return SamTemplate.load(path, overrides)


def refusal(tmp_path: Path, extra: str, **overrides: str) -> str:
    with pytest.raises(TemplateError) as error:
        load(tmp_path, extra, **overrides)
    return str(error.value)


def test_a_minimal_template_loads(tmp_path):
    app = load(tmp_path).resolve(ENDPOINTS)
    assert [function.logical_id for function in app.functions] == ["Fn"]
    assert app.rest_routes == [] and app.websocket is None


def test_an_unused_unsupported_intrinsic_does_not_matter(tmp_path):
    load(tmp_path, """
      Role:
        Type: AWS::IAM::Role
        Properties:
          Path: !ImportValue SharedPath
    """)


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ("""
      Cron:
        Type: AWS::Serverless::Function
        Properties:
          Handler: app.handler
          Events:
            Nightly: {Type: Schedule, Properties: {Schedule: "cron(0 3 * * ? *)"}}
    """, "Resources.Cron.Properties.Events.Nightly.Properties.Schedule"),
        ("""
      Rate:
        Type: AWS::Serverless::Function
        Properties:
          Handler: app.handler
          Events:
            Often: {Type: Schedule, Properties: {Schedule: rate(1 minutes)}}
    """, "Resources.Rate.Properties.Events.Often.Properties.Schedule"),
        ("""
      Http:
        Type: AWS::Serverless::Function
        Properties:
          Handler: app.handler
          Events:
            Get: {Type: HttpApi, Properties: {Path: /, Method: get}}
    """, "Resources.Http.Properties.Events.Get: event type HttpApi"),
        ("""
      Imported:
        Type: AWS::Serverless::Function
        Properties:
          Handler: app.handler
          Environment:
            Variables:
              SHARED: !ImportValue shared-table
    """, "Resources.Imported.Properties.Environment.Variables.SHARED.Fn::ImportValue"),
        ("""
      Node:
        Type: AWS::Serverless::Function
        Properties:
          Handler: app.handler
          Runtime: nodejs20.x
    """, "Resources.Node.Properties.Runtime"),
        ("""
      Rule:
        Type: AWS::Events::Rule
        Properties: {ScheduleExpression: rate(1 minute)}
    """, "Resources.Rule: type AWS::Events::Rule"),
        ("""
      Watcher:
        Type: AWS::Serverless::Function
        Properties:
          Handler: app.handler
          Events:
            Changes:
              Type: DynamoDB
              Properties:
                Stream: !GetAtt Table.StreamArn
                StartingPosition: LATEST
    """, "Table has no StreamSpecification"),
        ("""
      Api:
        Type: AWS::Serverless::Api
        Properties:
          StageName: prod
          Auth:
            DefaultAuthorizer: Custom
            Authorizers:
              Custom: {FunctionArn: !GetAtt Fn.Arn}
      Guarded:
        Type: AWS::Serverless::Function
        Properties:
          Handler: app.handler
          Events:
            Get: {Type: Api, Properties: {RestApiId: !Ref Api, Path: /, Method: get}}
    """, "Resources.Api.Properties.Auth.Authorizers.Custom"),
        ("""
      Queue:
        Type: AWS::SQS::Queue
      Missing:
        Type: AWS::Serverless::Function
        Properties:
          Handler: app.handler
          Events:
            Work: {Type: SQS, Properties: {Queue: !GetAtt Nowhere.Arn}}
    """, "Nowhere is not a resource"),
    ],
    ids=["cron", "rate-plural", "http-api", "import-value", "node-runtime", "events-rule", "no-stream",
         "lambda-authorizer", "unknown-queue"],
)
def test_what_would_change_behaviour_stops_the_start_naming_resource_and_property(tmp_path, extra, named):
    assert named in refusal(tmp_path, extra)


# A table with a stream and a function fed by it; a test adds the event source's other properties.
STREAM_WATCHER = """
      Items:
        Type: AWS::DynamoDB::Table
        Properties:
          BillingMode: PAY_PER_REQUEST
          AttributeDefinitions: [{AttributeName: PK, AttributeType: S}]
          KeySchema: [{AttributeName: PK, KeyType: HASH}]
          StreamSpecification: {StreamViewType: NEW_IMAGE}
      Watcher:
        Type: AWS::Serverless::Function
        Properties:
          Handler: app.handler
          Events:
            Changes:
              Type: DynamoDB
              Properties:
                Stream: !GetAtt Items.StreamArn
                StartingPosition: LATEST
"""


def test_a_bad_filter_pattern_is_refused_with_its_place(tmp_path):
    message = refusal(tmp_path, STREAM_WATCHER + """
                FilterCriteria:
                  Filters: [{Pattern: '{"eventName": "MODIFY"}'}]
    """)
    assert "Watcher.Properties.Events.Changes.Properties.FilterCriteria.Filters[0].Pattern" in message


def test_a_stream_s_parallelization_factor_and_batching_window_are_read(tmp_path):
    template = load(tmp_path, STREAM_WATCHER + """
                ParallelizationFactor: 10
                MaximumBatchingWindowInSeconds: 2
                BatchSize: 50
    """)
    (source,) = template.resolve(ENDPOINTS).stream_sources
    assert (source.parallelization_factor, source.batching_window_s, source.batch_size) == (10, 2.0, 50)
    assert not [entry for entry in template.not_emulated if "Watcher.Events" in entry]


def test_a_stream_s_defaults_are_lambda_s(tmp_path):
    (source,) = load(tmp_path, STREAM_WATCHER).resolve(ENDPOINTS).stream_sources
    assert (source.parallelization_factor, source.batching_window_s, source.batch_size) == (1, 0.0, 100)


@pytest.mark.parametrize("setting", ["ParallelizationFactor: 11", "ParallelizationFactor: 0", "BatchSize: 0",
                                     "MaximumBatchingWindowInSeconds: 301", "ParallelizationFactor: '2.5'",
                                     "BatchSize: true"])
def test_a_stream_number_outside_lambda_s_limits_is_refused_with_its_place(tmp_path, setting):
    message = refusal(tmp_path, STREAM_WATCHER + f"""
                {setting}
    """)
    assert f"Watcher.Properties.Events.Changes.Properties.{setting.split(':')[0]}" in message


def test_parameters_need_a_default_or_an_override_and_overrides_must_exist(tmp_path):
    required = """
    Parameters:
      Needed: {Type: String}
    """
    path = tmp_path / "template.yaml"
    path.write_text(textwrap.dedent(required) + BASE)
    with pytest.raises(TemplateError, match="Parameters.Needed"):
        SamTemplate.load(path)
    SamTemplate.load(path, {"Needed": "x"})
    with pytest.raises(TemplateError, match="Typo"):
        SamTemplate.load(path, {"Needed": "x", "Typo": "y"})


def test_intrinsic_functions_resolve_in_the_values_the_runtime_needs(tmp_path):
    template = load(tmp_path, """
      Queue:
        Type: AWS::SQS::Queue
      Socket:
        Type: AWS::ApiGatewayV2::Api
        Properties: {ProtocolType: WEBSOCKET, RouteSelectionExpression: $request.body.action}
      Env:
        Type: AWS::Serverless::Function
        Properties:
          Handler: app.handler
          Environment:
            Variables:
              SIZE: !FindInMap [Sizes, !Ref Tier, Memory]
              SECOND: !Select [1, !Split [",", "a,b,c"]]
              JOINED: !Join ["-", [!Ref AWS::AccountId, !GetAtt Queue.QueueName]]
              SUBBED: !Sub ["${Name}/${!Literal}/${AWS::Region}", {Name: !Ref Table}]
              DROPPED: !If [Never, "kept", !Ref AWS::NoValue]
              CALLBACKS: !Sub "https://${Socket}.execute-api.${AWS::Region}.amazonaws.com/prod/@connections"
              NUMBER: 5
              TRUTH: true
    """, sections="""
    Parameters:
      Tier: {Type: String, Default: small}
    Mappings:
      Sizes:
        small: {Memory: 256}
    Conditions:
      Never: !Equals [a, b]
    """)
    environment = {f.logical_id: f for f in template.resolve(ENDPOINTS).functions}["Env"].environment
    assert environment["SIZE"] == "256"
    assert environment["SECOND"] == "b"
    assert environment["JOINED"] == "000000000000-Queue"
    assert environment["SUBBED"] == "Table/${Literal}/us-east-1"
    assert "DROPPED" not in environment
    assert environment["CALLBACKS"] == "http://127.0.0.1:3000/test/@connections"
    assert (environment["NUMBER"], environment["TRUTH"]) == ("5", "true")


def test_gateway_responses_are_read_from_the_rest_api():
    app = SamTemplate.load(FIXTURE.parents[3] / "template.yaml").resolve(
        LocalEndpoints.placeholder("us-east-1", "000000000000")
    )
    unauthorized = app.gateway_responses["UNAUTHORIZED"]
    # Locally the CORS origin is the gateway's own (localhost until it listens), never "*".
    assert unauthorized.status == 401 and unauthorized.headers == {"Access-Control-Allow-Origin": "http://localhost"}
    assert "$context.error.messageString" in unauthorized.template
    assert {"ACCESS_DENIED", "DEFAULT_4XX", "DEFAULT_5XX"} <= set(app.gateway_responses)


def test_buckets_and_kms_keys_stand_in_by_local_names_the_functions_can_use(tmp_path):
    template = load(tmp_path, """
    Tiles:
      Type: AWS::S3::Bucket
    Named:
      Type: AWS::S3::Bucket
      Properties: {BucketName: my-archive}
    Signer:
      Type: AWS::KMS::Key
      Properties: {KeySpec: ECC_NIST_P256, KeyUsage: SIGN_VERIFY}
    User:
      Type: AWS::Serverless::Function
      Properties:
        Handler: app.handler
        Environment:
          Variables: {TILES: !Ref Tiles, ARCHIVE: !Ref Named, KEY: !Ref Signer, TILES_ARN: !GetAtt Tiles.Arn}
    """)
    (user,) = [f for f in template.resolve(ENDPOINTS).functions if f.logical_id == "User"]
    assert {k: user.environment[k] for k in ("TILES", "ARCHIVE", "KEY", "TILES_ARN")} == {
        "TILES": "samsold-local-tiles", "ARCHIVE": "my-archive", "KEY": "samsold-local-signer",
        "TILES_ARN": "arn:aws:s3:::samsold-local-tiles"}


@pytest.mark.parametrize(("overrides", "expected"), [(None, "false"), ({"AnyoneMaySell": "true"}, "true")])
def test_the_local_stack_takes_who_may_sell_from_the_template(overrides, expected):
    """`samsold dev --parameter-overrides AnyoneMaySell=true` opens selling to anyone signed in, as in AWS."""
    template = SamTemplate.load(Path(__file__).resolve().parents[3] / "template.yaml", overrides)
    app = template.resolve(LocalEndpoints.placeholder("us-east-1", "000000000000"))
    lot_api = next(f for f in app.functions if f.logical_id == "LotApiFunction")
    assert lot_api.environment["ANYONE_MAY_SELL"] == expected
