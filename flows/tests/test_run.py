"""`make run FLOW=name` through the Makefile, as a user types it."""

import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def make_run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-C", ROOT, "--no-print-directory", "run", *args],
                          capture_output=True, text=True, timeout=600)


def test_runs_the_deployment_with_its_parameters_and_overrides():
    # daily: prefect.yaml gives rows 100, multiplier 3; PARAMS overrides rows.
    out = make_run("FLOW=daily", 'PARAMS={"rows": 7}')
    assert out.returncode == 0, out.stdout + out.stderr
    assert 'make run: daily (etl.py:etl, flow \'daily-etl\') with {"multiplier": 3, "rows": 7}' in out.stdout
    assert "make run: daily Completed: 7" in out.stdout


@pytest.mark.parametrize("args, message", [
    ((), "make run: name a deployment of flows/prefect.yaml: make run FLOW=<name>"),
    (("FLOW=nope",), "make run: no deployment named 'nope' in flows/prefect.yaml (deployments: hello, daily)"),
    (("FLOW=daily", 'PARAMS={"rowz": 1}'), "make run: daily (etl.py:etl) takes no parameter 'rowz' (it takes: rows, multiplier, output)"),
    (("FLOW=daily", "PARAMS=[1]"), "make run: PARAMS must be a JSON object, got '[1]'"),
    (("FLOW=daily", "PARAMS={rows"), "make run: PARAMS is not JSON"),
])
def test_bad_input_is_one_line(args, message):
    out = make_run(*args)
    assert out.returncode != 0
    assert message in out.stdout + out.stderr
    assert "Traceback" not in out.stderr
