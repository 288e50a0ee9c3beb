"""A scheduled example with parameters: extract, transform and load a few rows.

With `output` unset the rows are only counted, so the flow runs anywhere (no AWS needed).
With `output` an S3 URI (`s3://bucket/key.json` or `.csv`; `{date}` in the key becomes the
run's scheduled date, YYYY-MM-DD) the rows are written there with boto3: give the flow task
role `s3:PutObject` on that bucket in stacks/compute.go (ComputeStack.FlowRunTaskRole).
Replace the bodies with your own sources and sinks.
"""

import csv
import io
import json
from urllib.parse import urlparse

import boto3
from prefect import flow, task
from prefect.runtime import flow_run

FORMATS = {".json": "application/json", ".csv": "text/csv"}


def parse_output(output: str) -> tuple[str, str]:
    """Splits s3://bucket/key.(json|csv) into bucket and key; anything else is a ValueError."""
    url = urlparse(output)
    key = url.path.lstrip("/")
    if url.scheme != "s3" or not url.netloc or not key or not key.endswith(tuple(FORMATS)):
        raise ValueError(f"output: want s3://<bucket>/<key>.json or .csv, got {output!r}")
    return url.netloc, key


@task(retries=2, retry_delay_seconds=10)
def extract(rows: int) -> list[dict]:
    return [{"id": i, "value": i * i} for i in range(rows)]


@task
def transform(records: list[dict], multiplier: int) -> list[dict]:
    return [{**r, "value": r["value"] * multiplier} for r in records]


@task(retries=2, retry_delay_seconds=10)
def load(records: list[dict], output: str | None = None) -> int:
    if output is None:
        print(f"loaded {len(records)} records (no output set)")
        return len(records)
    bucket, key = parse_output(output)
    scheduled = flow_run.scheduled_start_time
    key = key.replace("{date}", scheduled.strftime("%Y-%m-%d") if scheduled else "undated")
    suffix = "." + key.rsplit(".", 1)[1]
    if suffix == ".csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(records[0]) if records else ["id", "value"])
        writer.writeheader()
        writer.writerows(records)
        body = buf.getvalue()
    else:
        body = json.dumps(records)
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=body.encode(), ContentType=FORMATS[suffix])
    print(f"loaded {len(records)} records into s3://{bucket}/{key}")
    return len(records)


@flow(name="daily-etl", log_prints=True)
def etl(rows: int = 10, multiplier: int = 2, output: str | None = None) -> int:
    if output is not None:
        parse_output(output)  # a bad URI fails the run before any work
    return load(transform(extract(rows), multiplier), output)


if __name__ == "__main__":
    etl()
