"""The image check (.ci/flows.py image-check, `make image-check`) on copies of the repository's
flow files: it passes on them as they are and fails, naming the entrypoint and the cause, on
each way a flow image breaks at import. Runs with this venv's Prefect (the Dockerfile's)."""

import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def repo(tmp_path):
    """A copy of what the image check reads: Dockerfile, .dockerignore and flows/."""
    for name in ("Dockerfile", ".dockerignore"):
        shutil.copy(os.path.join(ROOT, name), tmp_path / name)
    shutil.copytree(os.path.join(ROOT, "flows"), tmp_path / "flows", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def check(root) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-P", "-B", os.path.join(ROOT, ".ci", "flows.py"), "image-check", str(root)],
                          capture_output=True, text=True, timeout=300, cwd=root / "flows")


def test_the_repositorys_flows_import(repo):
    out = check(repo)
    assert out.returncode == 0, out.stderr
    assert "image check: etl.py:etl imports (flow 'daily-etl')" in out.stdout
    assert "image check: hello.py:ecs_flow imports (flow 'ecs-flow')" in out.stdout


def test_a_package_missing_from_requirements_fails(repo):
    (repo / "flows" / "hello.py").write_text("import no_such_package_xyz\n" + (repo / "flows" / "hello.py").read_text())
    out = check(repo)
    assert out.returncode == 1
    assert ("image check: hello.py:ecs_flow does not import in the flow image: "
            "ModuleNotFoundError: No module named 'no_such_package_xyz'") in out.stderr
    assert "Traceback" not in out.stderr


def test_a_missing_flow_function_fails(repo):
    text = (repo / "flows" / "hello.py").read_text().replace("def ecs_flow(", "def renamed_flow(")
    (repo / "flows" / "hello.py").write_text(text)
    out = check(repo)
    assert out.returncode == 1
    assert "image check: hello.py:ecs_flow does not import in the flow image:" in out.stderr
    assert "ecs_flow" in out.stderr.split("image:", 1)[1]


def test_a_module_the_image_leaves_out_fails(repo):
    # flows/tests/ is in the repository but not in the image (.dockerignore): a flow that
    # imports from it works on a laptop and breaks in the image; the check stages the context.
    (repo / "flows" / "tests" / "helper.py").write_text("GREETING = 'hi'\n")
    (repo / "flows" / "hello.py").write_text("from tests.helper import GREETING\n" + (repo / "flows" / "hello.py").read_text())
    out = check(repo)
    assert out.returncode == 1
    assert "No module named 'tests'" in out.stderr


def test_a_prefect_pin_other_than_this_venvs_fails(repo):
    text = (repo / "Dockerfile").read_text().replace("prefecthq/prefect:3.9.1-", "prefecthq/prefect:3.8.0-")
    (repo / "Dockerfile").write_text(text)
    out = check(repo)
    assert out.returncode == 1
    assert "the Dockerfile pins 3.8.0" in out.stderr
