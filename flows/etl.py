"""A scheduled example with parameters: extract, transform and load a few rows.

Replace the bodies with your own sources and sinks; give the flow task role the access
it needs in stacks/compute.go (ComputeStack.FlowRunTaskRole).
"""

from prefect import flow, task


@task(retries=2, retry_delay_seconds=10)
def extract(rows: int) -> list[dict]:
    return [{"id": i, "value": i * i} for i in range(rows)]


@task
def transform(records: list[dict], multiplier: int) -> list[dict]:
    return [{**r, "value": r["value"] * multiplier} for r in records]


@task
def load(records: list[dict]) -> int:
    print(f"loaded {len(records)} records")
    return len(records)


@flow(name="daily-etl", log_prints=True)
def etl(rows: int = 10, multiplier: int = 2) -> int:
    return load(transform(extract(rows), multiplier))


if __name__ == "__main__":
    etl()
