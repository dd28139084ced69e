"""Validate manifests against the published schemas, offline.

- Kubernetes kinds: the JSON schemas of the Kubernetes API that the `kubernetes-validate` package ships
  (its "strict" variant: unknown fields are errors), for every version in `KUBERNETES_VERSIONS`.
- prometheus-operator kinds (monitoring.coreos.com): the `cloudcoil-models-prometheus-operator` package,
  whose models are generated from the operator's CRD `openAPIV3Schema` of the release it is versioned
  after (types, required fields, enums and patterns). Its JSON schema is made strict here the way the API
  server treats a structural schema with field validation: an unknown field is an error.
- Every object: names and label keys/values are valid Kubernetes names.

Both packages are imported on first use, so `smmc k8s generate` does not need them.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

KUBERNETES_VERSIONS = ("1.29.0", "1.37.0")

# kind -> (module, class) in cloudcoil.models.prometheus_operator, by apiVersion
CRD_MODELS: dict[tuple[str, str], tuple[str, str]] = {
    ("monitoring.coreos.com/v1", "PrometheusRule"): ("v1", "PrometheusRule"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"): ("v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PodMonitor"): ("v1", "PodMonitor"),
    ("monitoring.coreos.com/v1", "Prometheus"): ("v1", "Prometheus"),
    ("monitoring.coreos.com/v1", "Alertmanager"): ("v1", "Alertmanager"),
    ("monitoring.coreos.com/v1alpha1", "AlertmanagerConfig"): ("v1alpha1", "AlertmanagerConfig"),
}

_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


@dataclass(frozen=True)
class Problem:
    where: str  # file (and document) the object came from
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class SchemaUnavailable(RuntimeError):
    """A schema package is not installed."""


_GO_INLINE_FLAGS = re.compile(r"\(\?([imsU]+)\)")


def python_pattern(go_pattern: str) -> str:
    """A CRD `pattern` (Go RE2) as a Python regex: inline flags such as `^(?i)...` move to the front."""
    flags = "".join(sorted(set("".join(_GO_INLINE_FLAGS.findall(go_pattern)))))
    if not flags:
        return go_pattern
    if "U" in flags:
        raise ValueError(f"pattern {go_pattern!r}: RE2's ungreedy flag has no Python equivalent")
    return f"(?{flags})" + _GO_INLINE_FLAGS.sub("", go_pattern)


def _strict(schema: Any) -> Any:
    """Every object schema with declared properties refuses undeclared ones; patterns become Python's."""
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        # The models' Optional[X] is anyOf [X, null]; the CRD field is X and simply optional.
        branches = out.get("anyOf")
        if isinstance(branches, list) and {"type": "null"} in branches and len(branches) > 1:
            kept = [b for b in branches if b != {"type": "null"}]
            del out["anyOf"]
            if len(kept) == 1:
                out = {**kept[0], **out}
            else:
                out["anyOf"] = kept
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        if isinstance(out.get("pattern"), str):
            out["pattern"] = python_pattern(out["pattern"])
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@functools.cache
def _crd_validator(api_version: str, kind: str) -> Any:
    import jsonschema

    module_name, class_name = CRD_MODELS[(api_version, kind)]
    try:
        module = __import__(f"cloudcoil.models.prometheus_operator.{module_name}", fromlist=[class_name])
    except ImportError as exc:
        raise SchemaUnavailable(
            "prometheus-operator schemas missing: "
            "pip install 'cloudcoil-models-prometheus-operator==0.80.1.0'"
        ) from exc
    model = getattr(module, class_name)
    schema = _strict(model.model_json_schema(by_alias=True, mode="validation"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def crd_schema_version() -> str:
    from importlib import metadata

    return metadata.version("cloudcoil-models-prometheus-operator")


def _path(error: Any) -> str:
    return "/".join(str(p) for p in error.absolute_path) or "(root)"


def _message(error: Any) -> str:
    text = str(error.message)
    return text if len(text) <= 300 else text[:300] + "..."


def _best(errors: list[Any]) -> list[Any]:
    import jsonschema

    best = jsonschema.exceptions.best_match(errors)
    return [best] if best is not None else []


def _validate_crd(obj: dict[str, Any]) -> Iterator[str]:
    validator = _crd_validator(obj["apiVersion"], obj["kind"])
    errors = sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path))
    # anyOf branches (Optional[...] in the models) hide the real error in its context: name the deepest.
    for error in errors:
        leaf = error
        while leaf.context:
            leaf = _best(list(leaf.context))[0]
        yield f"{_path(leaf)}: {_message(leaf)}"


@functools.cache
def _core_definitions(version: str) -> Any:
    return _core_schema_file(version, "_definitions.json")


def _core_schema_file(version: str, name: str) -> Any:
    try:
        import importlib.resources

        import kubernetes_validate  # noqa: F401  (the package that ships the schemas)
    except ImportError as exc:
        raise SchemaUnavailable("Kubernetes schemas missing: pip install kubernetes-validate") from exc
    folder = (
        importlib.resources.files("kubernetes_validate")
        / "kubernetes-json-schema"
        / f"v{version}-local-strict"
    )
    path = folder / name
    if not path.is_file():
        if not folder.is_dir():
            raise SchemaUnavailable(f"kubernetes-validate has no schemas for Kubernetes {version}")
        return None
    return json.loads(path.read_text(encoding="utf-8"))


@functools.cache
def _core_validator(version: str, api_version: str, kind: str) -> Any:
    """The strict schema of one kind, as kubernetes-validate names its files (apps/v1 -> apps-v1)."""
    import jsonschema
    import referencing

    group = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    schema = _core_schema_file(version, f"{kind.lower()}-{group}.json")
    if schema is None:
        return None
    # Kind schemas refer to "/api/_definitions.json", relative to their "https://kubernetes.io/api/..." $id.
    definitions = referencing.Resource.from_contents(_core_definitions(version))
    registry = referencing.Registry().with_resource(
        "https://kubernetes.io/api/_definitions.json", definitions
    )
    return jsonschema.Draft202012Validator(schema, registry=registry)


def _validate_core(obj: dict[str, Any]) -> Iterator[str]:
    for version in KUBERNETES_VERSIONS:
        validator = _core_validator(version, str(obj["apiVersion"]), str(obj["kind"]))
        if validator is None:
            yield f"{obj['apiVersion']}/{obj['kind']} is not a Kubernetes {version} kind"
            continue
        for error in sorted(validator.iter_errors(obj), key=lambda e: list(e.absolute_path)):
            leaf = error
            while leaf.context:
                leaf = _best(list(leaf.context))[0]
            yield f"Kubernetes {version}: {_path(leaf)}: {_message(leaf)}"


def _validate_names(obj: dict[str, Any]) -> Iterator[str]:
    meta = obj.get("metadata") or {}
    name = str(meta.get("name", ""))
    if obj.get("kind") in ("Namespace", "Service") and not _DNS1123_LABEL.match(name):
        yield f"metadata.name {name!r} is not a DNS-1123 label"
    elif len(name) > 253 or not _DNS1123_SUBDOMAIN.match(name):
        yield f"metadata.name {name!r} is not a DNS-1123 subdomain"
    for field in ("labels", "annotations"):
        for key, value in (meta.get(field) or {}).items():
            prefix, _, base = str(key).rpartition("/")
            if (
                (prefix and not _DNS1123_SUBDOMAIN.match(prefix))
                or len(base) > 63
                or not _LABEL_NAME.match(base)
            ):
                yield f"metadata.{field} key {key!r} is not a valid qualified name"
            if field == "labels" and (len(str(value)) > 63 or not _LABEL_VALUE.match(str(value))):
                yield f"metadata.labels[{key!r}] value {value!r} is not a valid label value"


def validate_object(obj: Any) -> list[str]:
    """Every problem of one manifest object (empty when it is valid)."""
    if not isinstance(obj, dict) or "apiVersion" not in obj or "kind" not in obj:
        return ["not a Kubernetes object (no apiVersion/kind)"]
    problems = list(_validate_names(obj))
    key = (obj["apiVersion"], obj["kind"])
    if key in CRD_MODELS:
        problems += list(_validate_crd(obj))
    elif str(obj["apiVersion"]).startswith("monitoring.coreos.com/"):
        problems.append(f"{obj['apiVersion']}/{obj['kind']}: no prometheus-operator schema for this kind")
    else:
        problems += list(_validate_core(obj))
    return problems


def validate_documents(where: str, documents: list[Any]) -> list[Problem]:
    problems = []
    for i, doc in enumerate(d for d in documents if d is not None):
        label = where if len(documents) == 1 else f"{where}[{i}]"
        problems += [Problem(label, message) for message in validate_object(doc)]
    return problems
