"""The image venv's recipe (make's .venv-image/.installed) on a copy of the repository: a
requirement that cannot be installed beside the Dockerfile's Prefect fails the build of the
venv (so make image-check and make test fail) before any import."""

import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV = os.path.join(ROOT, ".venv")


@pytest.fixture
def repo(tmp_path):
    shutil.copy(os.path.join(ROOT, "Dockerfile"), tmp_path / "Dockerfile")
    shutil.copytree(os.path.join(ROOT, "flows"), tmp_path / "flows", ignore=shutil.ignore_patterns("__pycache__", "tests"))
    return tmp_path


def build(root) -> subprocess.CompletedProcess:
    # The repository's Makefile run in the copy; the tools venv (uv) is the repository's and
    # is never rebuilt from here (-o).
    return subprocess.run(["make", "--no-print-directory", "-C", str(root), "-f", os.path.join(ROOT, "Makefile"),
                           f"VENV={VENV}", "-o", f"{VENV}/.installed", ".venv-image/.installed"],
                          capture_output=True, text=True, timeout=600)


def test_a_requirement_that_conflicts_with_the_images_prefect_fails(repo):
    with open(repo / "flows" / "requirements.txt", "a") as f:
        f.write("prefect==3.8.0\n")
    out = build(repo)
    assert out.returncode != 0, out.stdout
    assert "prefect==3.8.0" in out.stderr and "prefect==3.9.1" in out.stderr, out.stderr
    assert not (repo / ".venv-image" / ".installed").exists()


def test_a_dockerfile_without_a_prefect_pin_fails_naming_the_line(repo):
    text = (repo / "Dockerfile").read_text().replace("FROM prefecthq/prefect:3.9.1-python3.12", "FROM python:3.12-slim")
    (repo / "Dockerfile").write_text(text)
    out = build(repo)
    assert out.returncode != 0
    assert "Dockerfile: no FROM prefecthq/prefect:<version>-python<x.y> line" in out.stdout + out.stderr
