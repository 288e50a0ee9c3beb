import csv
import io
import json
import re
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from moto import mock_aws

import etl as etl_module
from etl import etl, parse_output

BUCKET = "etl-sink"


@pytest.fixture
def s3(aws):
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        yield client


def body(s3, key: str) -> str:
    return s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()


def test_without_output_counts_the_rows():
    assert etl() == 10
    assert etl(rows=3, multiplier=5) == 3


def test_json_output_lands_in_s3(s3):
    assert etl(rows=4, multiplier=3, output=f"s3://{BUCKET}/daily/out.json") == 4
    assert json.loads(body(s3, "daily/out.json")) == [{"id": i, "value": i * i * 3} for i in range(4)]
    assert s3.head_object(Bucket=BUCKET, Key="daily/out.json")["ContentType"] == "application/json"


def test_csv_output_lands_in_s3(s3):
    assert etl(rows=3, output=f"s3://{BUCKET}/out.csv") == 3
    rows = list(csv.DictReader(io.StringIO(body(s3, "out.csv"))))
    assert rows == [{"id": "0", "value": "0"}, {"id": "1", "value": "2"}, {"id": "2", "value": "8"}]


def test_date_in_the_key_is_the_runs_scheduled_date(s3):
    etl(rows=1, output=f"s3://{BUCKET}/etl/{{date}}.json")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    # The run's scheduled start is "now" for a direct call; allow a run across midnight.
    now = datetime.now(timezone.utc)
    days = {(now - timedelta(days=d)).strftime("etl/%Y-%m-%d.json") for d in (0, 1)}
    assert len(keys) == 1 and keys[0] in days, keys


@pytest.mark.parametrize("output", ["/tmp/out.json", "s3://bucket", "s3:///k.json", "s3://b/out.parquet", "gs://b/k.json"])
def test_bad_output_fails_the_run_naming_it(output):
    with pytest.raises(ValueError, match="output: want s3://<bucket>/<key>.json or .csv"):
        parse_output(output)
    state = etl(output=output, return_state=True)
    assert state.is_failed()
    with pytest.raises(ValueError, match=re.escape(repr(output))):
        state.result()


def test_missing_bucket_fails_the_run(s3, monkeypatch):
    # load retries twice, as deployed, without the 10 s waits.
    monkeypatch.setattr(etl_module, "load", etl_module.load.with_options(retry_delay_seconds=0))
    state = etl(rows=1, output="s3://no-such-bucket/out.json", return_state=True)
    assert state.is_failed()
    with pytest.raises(Exception, match="NoSuchBucket"):
        state.result()
