"""Shared fixtures of the flows' tests (`make flows-test`). The flow image leaves this folder
out (.dockerignore); the tests import the flows from the folder above, as the image does."""

import os
import sys

import pytest
from prefect.testing.utilities import prefect_test_harness

FLOWS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, FLOWS)


@pytest.fixture(autouse=True, scope="session")
def prefect_server():
    """One temporary Prefect server (own SQLite database) for the whole session."""
    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def aws(monkeypatch):
    """Fake credentials and a region: boto3 then talks only to moto, never to AWS."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
