"""The flows' local checks, run by the Makefile with a venv's python (`python -P -B`).

    flows.py image-check <root>   make image-check: stage flows/ as the flow image holds it and
                                  import every entrypoint of prefect.yaml there
    flows.py run <name> [json]    make run: run one deployment's flow locally, with its
                                  prefect.yaml parameters (json: overrides), print the result

Every problem is one line on stderr and exit status 1 (the flow failed, an import failed) or
2 (bad input: unknown deployment, bad parameters).
"""

import json
import os
import re
import shutil
import sys
import tempfile

import yaml

# The flow image's layout (Dockerfile): COPY flows/ into this folder, which is the WORKDIR
# and the deployments' working directory (the set_working_directory pull step).
IMAGE_WORKDIR = "opt/prefect/flows"


def fail(message: str, code: int = 1) -> None:
    print(message, file=sys.stderr)
    sys.exit(code)


def deployments(folder: str) -> list[dict]:
    """The deployments of folder/prefect.yaml that name an entrypoint."""
    with open(os.path.join(folder, "prefect.yaml"), encoding="utf-8") as f:
        doc = yaml.safe_load(f) or {}
    return [d for d in doc.get("deployments") or [] if isinstance(d, dict) and d.get("entrypoint")]


def load(entrypoint: str):
    """Loads an entrypoint as the flow image does (`prefect flow-run execute`): from the cwd."""
    from prefect.flows import load_flow_from_entrypoint

    return load_flow_from_entrypoint(entrypoint, use_placeholder_flow=False)


def pattern_regex(pattern: str) -> re.Pattern:
    """A .dockerignore pattern as a regex over slash-separated paths (Docker's rules: `**`
    spans directories, `*` and `?` stay within one)."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def docker_context(root: str) -> list[str]:
    """The files under root/flows that the image's build context holds, per root/.dockerignore
    (the last matching pattern wins; a pattern that matches a folder matches what it holds)."""
    rules = []
    path = os.path.join(root, ".dockerignore")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                negate = line.startswith("!")
                line = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
                rules.append((negate, pattern_regex(line)))
    files = []
    for folder, _, names in os.walk(os.path.join(root, "flows")):
        for name in names:
            rel = os.path.relpath(os.path.join(folder, name), root).replace(os.sep, "/")
            parts = rel.split("/")
            prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
            excluded = False
            for negate, rx in rules:
                if any(rx.fullmatch(p) for p in prefixes):
                    excluded = not negate
            if not excluded:
                files.append(rel)
    return sorted(files)


def image_check(root: str) -> None:
    """Stages flows/ as the image holds it, then imports each entrypoint from there."""
    import prefect

    with open(os.path.join(root, "Dockerfile"), encoding="utf-8") as f:
        m = re.search(r"^FROM prefecthq/prefect:([^-\s]+)-python(\S+)", f.read(), re.M)
    if not m:
        fail("image check: Dockerfile has no FROM prefecthq/prefect:<version>-python<x.y> line")
    if prefect.__version__ != m.group(1):
        fail(f"image check: this venv has prefect {prefect.__version__}, the Dockerfile pins {m.group(1)}: rebuild it (rm -rf .venv-image)")
    stage = tempfile.mkdtemp(prefix="image-check-")
    try:
        workdir = os.path.join(stage, IMAGE_WORKDIR)
        for rel in docker_context(root):
            dest = os.path.join(workdir, os.path.relpath(rel, "flows"))
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copy2(os.path.join(root, rel), dest)
        os.chdir(workdir)
        entrypoints = sorted({d["entrypoint"] for d in deployments(".")})
        for entrypoint in entrypoints:
            try:
                flow = load(entrypoint)
            except BaseException as e:  # an import may raise anything, SystemExit included
                cause = getattr(e, "user_exc", None) or e  # ScriptError wraps the script's own error
                why = " ".join(f"{type(cause).__name__}: {cause}".split())
                fail(f"image check: {entrypoint} does not import in the flow image: {why} "
                     "(add what it imports to flows/requirements.txt; only the files .dockerignore lets in are there)")
            print(f"image check: {entrypoint} imports (flow {flow.name!r})")
        py = "{}.{}".format(*sys.version_info[:2])
        note = "" if py == m.group(2) else f"; python {py} here, {m.group(2)} in the image"
        print(f"image check: {len(entrypoints)} entrypoints import with prefect {prefect.__version__} "
              f"and flows/requirements.txt from /{IMAGE_WORKDIR}{note}")
    finally:
        os.chdir(root)
        shutil.rmtree(stage, ignore_errors=True)


def run(name: str, overrides: str) -> None:
    """Runs the deployment `name` of ./prefect.yaml in this process, with its parameters."""
    found = {d.get("name"): d for d in deployments(".")}
    if name not in found:
        fail(f"make run: no deployment named {name!r} in flows/prefect.yaml (deployments: {', '.join(map(str, found))})", 2)
    dep = found[name]
    params = dict(dep.get("parameters") or {})
    if overrides.strip():
        try:
            extra = json.loads(overrides)
        except ValueError as e:
            fail(f"make run: PARAMS is not JSON ({e}): want an object, e.g. PARAMS='{{\"rows\": 5}}'", 2)
        if not isinstance(extra, dict):
            fail(f"make run: PARAMS must be a JSON object, got {overrides!r}", 2)
        params.update(extra)
    flow = load(dep["entrypoint"])
    takes = list(flow.parameters.properties)
    unknown = sorted(set(params) - set(takes))
    if unknown:
        fail(f"make run: {name} ({dep['entrypoint']}) takes no parameter {unknown[0]!r} (it takes: {', '.join(takes) or 'none'})", 2)
    print(f"make run: {name} ({dep['entrypoint']}, flow {flow.name!r}) with {json.dumps(params, sort_keys=True)}", flush=True)
    state = flow(**params, return_state=True)
    result = state.result(raise_on_failure=False)
    if not state.is_completed():
        fail(f"make run: {name} ended {state.name}: {state.message or result}")
    print(f"make run: {name} {state.name}: {result!r}")


def main(argv: list[str]) -> None:
    if len(argv) >= 2 and argv[0] == "image-check":
        image_check(os.path.abspath(argv[1]))
    elif len(argv) in (2, 3) and argv[0] == "run":
        run(argv[1], argv[2] if len(argv) == 3 else "")
    else:
        fail("usage: flows.py image-check <repository root> | run <deployment> [parameters as JSON]", 2)


if __name__ == "__main__":
    main(sys.argv[1:])
