#!/usr/bin/env python3
"""Smoke test of the local AWS-protocol servers started by infra/local/start.sh.

Run with the tools venv python, after start.sh:

    ~/.cache/vidstega-tools/venv/bin/python infra/local/smoke.py [--no-sam]

Endpoints come from $VIDSTEGA_LOCAL_STATE/env (default
~/.cache/vidstega-tools/run/env, written by start.sh) when it exists, else from
the standard AWS_ENDPOINT_URL_<SERVICE> variables already set. Checks:
  * S3 -> SQS event notification (prefix filter), presigned PUT (key with a
    space, no Content-Type and application/octet-stream), URL-encoded key in
    the event;
  * SQS redrive to a DLQ after maxReceiveCount=2 receives;
  * DynamoDB Local: conditional put, atomic ADD counter;
  * Step Functions (moto engine): inline Map + Lambda Task (echoed payload),
    lambda:invoke integration, distributed Map with an S3 ItemReader;
  * `sam validate --lint` on a tiny SAM template, offline (unless --no-sam).
Exits non-zero on the first failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import unquote_plus

import boto3
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

TOOLS_DIR = Path(os.environ.get("VIDSTEGA_TOOLS_DIR", Path.home() / ".cache/vidstega-tools"))
REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account id
RUN = uuid.uuid4().hex[:8]  # unique suffix: the servers may be reused across runs


def step(msg: str) -> None:
    print(f"[smoke] {msg}", flush=True)


def check(cond: bool, msg: str) -> None:
    if not cond:
        raise AssertionError(msg)
    print(f"[smoke]   ok: {msg}", flush=True)


def load_env() -> None:
    """Use $VIDSTEGA_LOCAL_STATE/env when it exists (it describes the servers
    running now); otherwise rely on AWS_ENDPOINT_URL_* already in the env."""
    state = Path(os.environ.get("VIDSTEGA_LOCAL_STATE", TOOLS_DIR / "run"))
    env_file = state / "env"
    if env_file.exists():
        for line in env_file.read_text().splitlines():
            line = line.strip()
            if line.startswith("export ") and "=" in line:
                k, v = line[len("export "):].split("=", 1)
                os.environ[k] = v
        step(f"loaded endpoints from {env_file}")
    elif not (os.environ.get("AWS_ENDPOINT_URL_S3") and os.environ.get("AWS_ENDPOINT_URL_DYNAMODB")):
        sys.exit(f"[smoke] ERROR: {env_file} missing and AWS_ENDPOINT_URL_* not set: run infra/local/start.sh")
    for k in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_SFN", "AWS_ENDPOINT_URL_DYNAMODB"):
        if not os.environ.get(k):
            sys.exit(f"[smoke] ERROR: {k} not set")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    os.environ.setdefault("AWS_REGION", REGION)


def client(service: str):
    # No endpoint_url: boto3 picks up AWS_ENDPOINT_URL_<SERVICE> from the env,
    # which is exactly what the env file is meant to provide.
    return boto3.client(service, region_name=os.environ.get("AWS_REGION", REGION),
                        config=Config(retries={"max_attempts": 2}))


# --------------------------------------------------------------------------- S3/SQS
def s3_sqs() -> None:
    s3, sqs = client("s3"), client("sqs")
    bucket = f"vidstega-uploads-{RUN}"
    step(f"S3 bucket {bucket} + SQS queue with DLQ")
    s3.create_bucket(Bucket=bucket)

    dlq_url = sqs.create_queue(QueueName=f"uploads-dlq-{RUN}")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    q_url = sqs.create_queue(
        QueueName=f"uploads-{RUN}",
        Attributes={
            "VisibilityTimeout": "30",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}),
        },
    )["QueueUrl"]
    q_arn = sqs.get_queue_attributes(QueueUrl=q_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    step(f"  queue url {q_url}")
    check(q_url.startswith(os.environ["AWS_ENDPOINT_URL_SQS"]), "QueueUrl uses the moto port (MOTO_PORT set)")

    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [{
                "Id": "uploads-created",
                "QueueArn": q_arn,
                "Events": ["s3:ObjectCreated:*"],
                "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "uploads/"}]}},
            }]
        },
    )
    # moto (like AWS) sends an s3:TestEvent message when the config is set.
    test_msgs = receive_all(sqs, q_url, wait=1)
    for m in test_msgs:
        step(f"  message after configuring notifications: {m['Body']}")
        sqs.delete_message(QueueUrl=q_url, ReceiptHandle=m["ReceiptHandle"])
    check(any(json.loads(m["Body"]).get("Event") == "s3:TestEvent" for m in test_msgs),
          "s3:TestEvent delivered on notification setup")

    # Object outside the prefix: must not notify.
    s3.put_object(Bucket=bucket, Key="other/ignored.bin", Body=b"x")

    uploads = {
        "uploads/my video 1.bin": (b"\x00\x01hello-bytes", {}),
        "uploads/clip+2 (final).bin": (b"octet-stream body", {"Content-Type": "application/octet-stream"}),
    }
    # Presign with SigV4 like the Rust SDK does (boto3's default for S3
    # presigned URLs is still SigV2: ?AWSAccessKeyId=..&Signature=..).
    s3v4 = boto3.client("s3", region_name=REGION, config=Config(signature_version="s3v4"))
    for key, (body, headers) in uploads.items():
        params = {"Bucket": bucket, "Key": key}
        if "Content-Type" in headers:
            # If the URL is presigned with a ContentType, the PUT must send the same header.
            params["ContentType"] = headers["Content-Type"]
        url = s3v4.generate_presigned_url("put_object", Params=params, ExpiresIn=300)
        step(f"  presigned PUT {url[:110]}...")
        r = requests.put(url, data=body, headers=headers, timeout=10)
        check(r.status_code == 200, f"presigned PUT {key!r} -> {r.status_code} {r.text[:200]}")
        head = s3.head_object(Bucket=bucket, Key=key)
        check(head["ContentLength"] == len(body),
              f"stored {head['ContentLength']} bytes == sent {len(body)} (Content-Type {head.get('ContentType')})")
        got = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        check(got == body, "GET returns the uploaded bytes")

    msgs = receive_all(sqs, q_url, wait=2, want=len(uploads))
    events = []
    for m in msgs:
        body = json.loads(m["Body"])
        for rec in body.get("Records", []):
            events.append(rec)
        sqs.delete_message(QueueUrl=q_url, ReceiptHandle=m["ReceiptHandle"])
    step("  first notification body: " + (msgs[0]["Body"] if msgs else "<none>"))
    raw_keys = sorted(r["s3"]["object"]["key"] for r in events)
    step(f"  raw keys in events: {raw_keys}")
    check(sorted(unquote_plus(k) for k in raw_keys) == sorted(uploads),
          "one ObjectCreated event per presigned upload; keys decode with unquote_plus; prefix filter honoured")
    # AWS encodes like quote_plus but keeps '/': "uploads/my+video+1.bin".
    # moto uses quote_plus on the whole key, so '/' arrives as %2F:
    # "uploads%2Fmy+video+1.bin". Decoding with unquote_plus handles both.
    check(any(k in raw_keys for k in ("uploads/my+video+1.bin", "uploads%2Fmy+video+1.bin")),
          "space in key arrives as '+' (form-URL-encoded; moto also encodes '/' as %2F)")
    check(all(r["eventName"].startswith("ObjectCreated:") for r in events),
          f"eventName values {sorted({r['eventName'] for r in events})}")
    sizes = {unquote_plus(r["s3"]["object"]["key"]): r["s3"]["object"]["size"] for r in events}
    check(all(sizes[k] == len(v[0]) for k, v in uploads.items()), f"event object sizes {sizes}")

    # DLQ: a message received maxReceiveCount (2) times without being deleted
    # is moved to the DLQ on the next receive.
    step("SQS redrive: receive a poison message twice without deleting it")
    sqs.send_message(QueueUrl=q_url, MessageBody=json.dumps({"poison": RUN}))
    for i in (1, 2):
        got = sqs.receive_message(QueueUrl=q_url, MaxNumberOfMessages=1, WaitTimeSeconds=1,
                                  VisibilityTimeout=0, AttributeNames=["ApproximateReceiveCount"])
        msgs = got.get("Messages", [])
        check(len(msgs) == 1 and msgs[0]["Attributes"]["ApproximateReceiveCount"] == str(i),
              f"receive #{i} returns it (ApproximateReceiveCount={msgs[0]['Attributes']['ApproximateReceiveCount'] if msgs else '-'})")
    third = sqs.receive_message(QueueUrl=q_url, MaxNumberOfMessages=1, WaitTimeSeconds=1).get("Messages", [])
    check(third == [], "receive #3 returns nothing from the main queue")
    dead = receive_all(sqs, dlq_url, wait=1)
    check(len(dead) == 1 and json.loads(dead[0]["Body"]) == {"poison": RUN}, "message is now in the DLQ")


def receive_all(sqs, url: str, wait: int, want: int | None = None, max_rounds: int = 10) -> list[dict]:
    out: list[dict] = []
    for _ in range(max_rounds):
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait,
                                  VisibilityTimeout=30).get("Messages", [])
        out += got
        if (want is None and not got) or (want is not None and len(out) >= want):
            break
    return out


# --------------------------------------------------------------------------- DynamoDB
def dynamodb() -> None:
    ddb = client("dynamodb")
    table = f"vidstega-jobs-{RUN}"
    step(f"DynamoDB Local table {table}")
    ddb.create_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 20})
    item = {"pk": {"S": "job#1"}, "status": {"S": "PENDING"}}
    ddb.put_item(TableName=table, Item=item, ConditionExpression="attribute_not_exists(pk)")
    check(True, "conditional put (attribute_not_exists) on a new key succeeds")
    try:
        ddb.put_item(TableName=table, Item=item, ConditionExpression="attribute_not_exists(pk)")
        raise AssertionError("second conditional put should have failed")
    except ClientError as e:
        code = e.response["Error"]["Code"]
        check(code == "ConditionalCheckFailedException", f"second conditional put fails with {code}")
    counts = []
    for _ in range(3):
        r = ddb.update_item(
            TableName=table, Key={"pk": {"S": "job#1"}},
            UpdateExpression="ADD chunks_done :one SET #s = :running",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":one": {"N": "1"}, ":running": {"S": "RUNNING"}},
            ReturnValues="UPDATED_NEW",
        )
        counts.append(int(r["Attributes"]["chunks_done"]["N"]))
    check(counts == [1, 2, 3], f"atomic ADD counter returns {counts}")
    ddb.delete_table(TableName=table)


# --------------------------------------------------------------------------- Step Functions
def wait_execution(sfn, arn: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        d = sfn.describe_execution(executionArn=arn)
        if d["status"] != "RUNNING":
            return d
        if time.monotonic() > deadline:
            raise AssertionError(f"execution {arn} still RUNNING after {timeout}s")
        time.sleep(0.3)


def stepfunctions() -> None:
    sfn, s3 = client("stepfunctions"), client("s3")
    role = f"arn:aws:iam::{ACCOUNT}:role/vidstega-sfn"
    fn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:vidstega-encode"

    step("Step Functions: inline Map over chunks, Lambda Task per chunk, then lambda:invoke")
    definition = {
        "StartAt": "Fanout",
        "States": {
            "Fanout": {
                "Type": "Map",
                "ItemsPath": "$.chunks",
                "MaxConcurrency": 2,
                "ItemSelector": {"job.$": "$.job", "chunk.$": "$$.Map.Item.Value"},
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "Encode",
                    "States": {"Encode": {"Type": "Task", "Resource": fn, "End": True}},
                },
                "ResultPath": "$.results",
                "Next": "Summarize",
            },
            "Summarize": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": fn, "Payload": {"count.$": "States.ArrayLength($.results)"}},
                "ResultSelector": {"summary.$": "$.Payload"},
                "ResultPath": "$.summary",
                "End": True,
            },
        },
    }
    sm = sfn.create_state_machine(name=f"vidstega-map-{RUN}", definition=json.dumps(definition), roleArn=role)
    inp = {"job": "job-1", "chunks": [{"i": 0}, {"i": 1}, {"i": 2}]}
    t0 = time.monotonic()
    ex = sfn.start_execution(stateMachineArn=sm["stateMachineArn"], input=json.dumps(inp))
    d = wait_execution(sfn, ex["executionArn"])
    out = json.loads(d.get("output") or "null")
    step(f"  status {d['status']} in {time.monotonic() - t0:.1f}s, output {json.dumps(out)}")
    if d["status"] != "SUCCEEDED":
        dump_history(sfn, ex["executionArn"])
    check(d["status"] == "SUCCEEDED", "inline Map execution SUCCEEDED")
    check(out["results"] == [{"job": "job-1", "chunk": c} for c in inp["chunks"]],
          "Lambda Task result == its input (moto's no-docker Lambda echoes the payload)")
    check(out["summary"] == {"summary": {"count": 3}}, "lambda:invoke integration returns Payload (echoed)")

    step("Step Functions: distributed Map with ItemReader (S3 JSON array)")
    bucket = f"vidstega-manifests-{RUN}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="manifest.json", Body=json.dumps([{"i": i} for i in range(4)]).encode())
    dist = {
        "StartAt": "Fanout",
        "States": {
            "Fanout": {
                "Type": "Map",
                "ItemReader": {
                    "Resource": "arn:aws:states:::s3:getObject",
                    "ReaderConfig": {"InputType": "JSON"},
                    "Parameters": {"Bucket.$": "$.bucket", "Key.$": "$.key"},
                },
                "MaxConcurrency": 2,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "Encode",
                    "States": {"Encode": {"Type": "Task", "Resource": fn, "End": True}},
                },
                "End": True,
            }
        },
    }
    sm2 = sfn.create_state_machine(name=f"vidstega-dmap-{RUN}", definition=json.dumps(dist), roleArn=role)
    t0 = time.monotonic()
    ex2 = sfn.start_execution(stateMachineArn=sm2["stateMachineArn"],
                              input=json.dumps({"bucket": bucket, "key": "manifest.json"}))
    d2 = wait_execution(sfn, ex2["executionArn"])
    out2 = json.loads(d2.get("output") or "null")
    step(f"  status {d2['status']} in {time.monotonic() - t0:.1f}s, output {json.dumps(out2)}")
    if d2["status"] != "SUCCEEDED":
        dump_history(sfn, ex2["executionArn"])
    check(d2["status"] == "SUCCEEDED", "distributed Map (ItemReader from S3) SUCCEEDED")
    check(out2 == [{"i": i} for i in range(4)], "distributed Map output = echoed items")


def dump_history(sfn, arn: str) -> None:
    for ev in sfn.get_execution_history(executionArn=arn, maxResults=100)["events"]:
        details = {k: v for k, v in ev.items() if k.endswith("EventDetails")}
        print(f"[smoke]     history: {ev['type']} {json.dumps(details, default=str)[:300]}")


# --------------------------------------------------------------------------- SAM
SAM_TEMPLATE = """\
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Description: smoke-test template (not the project's)
Resources:
  EncodeFunction:
    Type: AWS::Serverless::Function
    Metadata:
      BuildMethod: rust-cargolambda
    Properties:
      CodeUri: .
      Handler: bootstrap
      Runtime: provided.al2023
      Architectures: [arm64]
      MemorySize: 512
      Timeout: 30
"""


def sam_validate() -> None:
    sam = os.environ.get("VIDSTEGA_SAM") or str(TOOLS_DIR / "sam-venv/bin/sam")
    if not (os.path.exists(sam) or shutil.which(sam)):
        raise AssertionError(f"sam not found at {sam}: run infra/local/install.sh")
    step("sam validate --lint on a tiny template (offline, dummy credentials)")
    with tempfile.TemporaryDirectory() as d:
        Path(d, "template.yaml").write_text(SAM_TEMPLATE)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", d),
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
            "SAM_CLI_TELEMETRY": "0",
        }
        t0 = time.monotonic()
        r = subprocess.run([sam, "validate", "--lint", "--template-file", "template.yaml"],
                           cwd=d, env=env, capture_output=True, text=True, timeout=300)
        took = time.monotonic() - t0
        out = (r.stdout + r.stderr).strip()
        step(f"  exit {r.returncode} in {took:.1f}s: {out[:400]}")
        check(r.returncode == 0, "sam validate --lint passes")


def main() -> int:
    load_env()
    step(f"moto {os.environ['AWS_ENDPOINT_URL_S3']}  dynamodb {os.environ['AWS_ENDPOINT_URL_DYNAMODB']}")
    t0 = time.monotonic()
    try:
        s3_sqs()
        dynamodb()
        stepfunctions()
        if "--no-sam" not in sys.argv[1:]:
            sam_validate()
    except Exception as e:  # noqa: BLE001 - report and fail
        print(f"[smoke] FAILED: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    step(f"all checks passed in {time.monotonic() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
