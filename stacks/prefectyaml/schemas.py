"""Writes the parameter schema of every entrypoint in flows/prefect.yaml (`make schemas`).

Run from flows/ with the pinned Prefect (the venv): for each entrypoint it loads the flow the
way `prefect deploy` does and records Prefect's own `parameter_schema(flow)`, dumped as
`prefect deploy` sends it (`parameter_openapi_schema`), with the sha256 of the entrypoint's
file. Synth (stacks/prefectyaml/params.go) embeds the output, stops when a file's hash no
longer matches, and checks each deployment's parameters against its schema.
"""

import hashlib
import json
import sys

import yaml
from prefect.flows import load_flow_from_entrypoint
from prefect.utilities.callables import parameter_schema


def main() -> None:
    with open("prefect.yaml", encoding="utf-8") as f:
        doc = yaml.safe_load(f) or {}
    entrypoints = sorted({d["entrypoint"] for d in doc.get("deployments") or [] if isinstance(d, dict) and d.get("entrypoint")})
    out = {}
    for entrypoint in entrypoints:
        path = entrypoint.rsplit(":", 1)[0]
        with open(path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        flow = load_flow_from_entrypoint(entrypoint)
        schema = parameter_schema(flow).model_dump(exclude_unset=True)
        out[entrypoint] = {"file": path, "sha256": digest, "schema": schema}
    json.dump(out, sys.stdout, indent=2, sort_keys=True, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    sys.path.insert(0, ".")
    main()
