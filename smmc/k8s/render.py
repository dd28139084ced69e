"""Objects -> the text of deploy/kubernetes/ (one object per file, plus kustomization.yaml)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from smmc.artifacts import Artifacts, header

OUT_DIR = "deploy/kubernetes"
GENERATE = "smmc k8s generate"
HEADER = header(GENERATE, "rules/, prometheus/ and alertmanager/ (docs/kubernetes.md)", "smmc k8s check")


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # Multi-line text (PromQL, actions.yml, templates) as a literal block, as a person would write it.
    if "\n" in value and not any(line != line.rstrip() for line in value.splitlines()):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str)


def dump(obj: Any) -> str:
    return yaml.dump(
        obj, Dumper=_Dumper, sort_keys=False, width=120, allow_unicode=True, default_flow_style=False
    )


def kustomization(paths: list[str], namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": namespace,
        "resources": paths,
    }


def artifacts(out_dir: Path, files: dict[str, str]) -> Artifacts:
    """The rendered files as generated artifacts: every *.yaml under `out_dir` is the generator's."""
    return Artifacts(out_dir, files, GENERATE, owns=("**/*.yaml",))


def render(objects: dict[str, dict[str, Any]], namespace: str) -> dict[str, str]:
    """relative path under deploy/kubernetes/ -> file text."""
    files = {path: HEADER + "---\n" + dump(obj) for path, obj in sorted(objects.items())}
    files["kustomization.yaml"] = HEADER + dump(kustomization(sorted(objects), namespace))
    return files
