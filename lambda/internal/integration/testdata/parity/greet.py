"""Flows of the parity test: `prefect deploy` imports them, so they import only prefect."""

from prefect import flow


@flow(name="parity-greeter", log_prints=True)
def greet(who: str = "world", times: int = 1) -> None:
    """Greets someone."""
    for _ in range(times):
        print(f"hello {who}")


@flow
def nightly_report(rows: int = 10, region: str = "eu") -> int:
    return rows
