"""deploy/kubernetes/: generated from the repository's sources, fresh, and valid against the published
Kubernetes and prometheus-operator schemas (offline)."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from smmc.k8s import cli, manifests, render, sources, validate

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / render.OUT_DIR


@pytest.fixture(scope="module")
def generated() -> dict[str, str]:
    return cli.generate_files(REPO, manifests.Settings())


@pytest.fixture(scope="module")
def objects() -> dict[str, dict[str, Any]]:
    return manifests.build(sources.load(REPO), manifests.Settings())


def _load(rel: str) -> dict[str, Any]:
    return yaml.safe_load((OUT / rel).read_text(encoding="utf-8"))


def test_committed_manifests_are_fresh(generated: dict[str, str]) -> None:
    assert cli.stale_files(OUT, generated) == [], "run `smmc k8s generate` and commit deploy/kubernetes/"


def test_every_committed_manifest_validates() -> None:
    paths = sorted(OUT.rglob("*.yaml"))
    assert len(paths) > 20
    assert cli.validate_paths(paths, base=OUT) == []


def test_one_resource_per_source(objects: dict[str, dict[str, Any]]) -> None:
    src = sources.load(REPO)
    kinds: dict[str, list[str]] = {}
    for obj in objects.values():
        kinds.setdefault(obj["kind"], []).append(obj["metadata"]["name"])
    assert sorted(kinds["PrometheusRule"]) == sorted(f"smmc-{stem}" for stem in src.rule_files)
    assert sorted(kinds["ServiceMonitor"]) == [
        "smmc-cloudera",
        "smmc-opengate",
        "smmc-receiver",
        "smmc-smmeplus",
    ]
    assert len(kinds["Deployment"]) == len(kinds["Service"]) == 4
    assert ("AlertmanagerConfig" in kinds) == (REPO / "alertmanager" / "alertmanager.yml").exists()
    assert "Secret" not in kinds
    kustomization = yaml.safe_load((OUT / "kustomization.yaml").read_text(encoding="utf-8"))
    assert sorted(kustomization["resources"]) == sorted(p for p in objects)


def test_prometheus_rules_carry_the_rule_files_verbatim() -> None:
    for path in sorted((REPO / "rules").glob("*.rules.yml")):
        stem = path.name.removesuffix(".rules.yml")
        rule_file = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert _load(f"rules/{stem}.yaml")["spec"]["groups"] == rule_file["groups"]


def test_service_monitors_keep_the_scrape_jobs_of_prometheus_yml(objects: dict[str, dict[str, Any]]) -> None:
    prometheus = yaml.safe_load((REPO / "prometheus" / "prometheus.yml").read_text(encoding="utf-8"))
    jobs = {sc["job_name"]: sc for sc in prometheus["scrape_configs"]}
    for job in ("smmeplus", "opengate", "cloudera", "receiver"):
        monitor = objects[f"monitors/{job}.yaml"]
        endpoint = monitor["spec"]["endpoints"][0]
        assert endpoint.get("honorLabels", False) == jobs[job].get("honor_labels", False)
        # the job name comes from the Service's label, so up{job="..."} in the rules still matches
        selected = monitor["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]
        svc = next(
            o for o in objects.values() if o["kind"] == "Service" and o["metadata"]["name"] == selected
        )
        assert svc["metadata"]["labels"][monitor["spec"]["jobLabel"]] == job
        assert svc["spec"]["ports"][0]["name"] == endpoint["port"]
        deployment = objects[f"apps/{job}-deployment.yaml"]
        assert deployment["spec"]["template"]["metadata"]["labels"].items() >= svc["spec"]["selector"].items()
    assert objects["monitors/cloudera.yaml"]["spec"]["endpoints"][0]["honorLabels"] is True


def _env(obj: dict[str, Any]) -> dict[str, str]:
    """A stand-in for each of the container's variables; a URL looks like one (the commands refuse a URL
    without a scheme)."""
    container = obj["spec"]["template"]["spec"]["containers"][0]
    return {
        e["name"]: f"https://{e['name'].lower()}.invalid" if e["name"].endswith("_URL") else f"<{e['name']}>"
        for e in container.get("env") or []
    }


def _args(obj: dict[str, Any]) -> list[str]:
    container = obj["spec"]["template"]["spec"]["containers"][0]
    env = _env(obj)
    return [env.get(a[2:-1], a) if a.startswith("$(") else a for a in container["args"]]


def test_deployment_arguments_are_accepted_by_the_commands(
    objects: dict[str, dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exporters.cloudera.cli import build_parser as cloudera_parser
    from exporters.opengate.cli import build_parser as opengate_parser
    from exporters.smmeplus.cli import build_parser as smmeplus_parser
    from receiver import cli as receiver_cli

    for key, parser in (
        ("smmeplus", smmeplus_parser),
        ("opengate", opengate_parser),
        ("cloudera", cloudera_parser),
    ):
        deployment = objects[f"apps/{key}-deployment.yaml"]
        args = _args(deployment)
        assert args[:2] == ["exporter", key]
        with monkeypatch.context() as env:  # the container's variables stand for their options
            for name, value in _env(deployment).items():
                env.setenv(name, value)
            parser().parse_args(args[2:])  # SystemExit on an unknown or missing option
    args = _args(objects["apps/receiver-deployment.yaml"])
    assert args[0] == "receiver"
    # the mounted actions.yml is the ConfigMap's copy: check the receiver accepts that copy
    actions = tmp_path / "actions.yml"
    actions.write_text(
        objects["apps/receiver-actions-configmap.yaml"]["data"]["actions.yml"], encoding="utf-8"
    )
    argv = [str(actions) if a == "/etc/smmc/actions/actions.yml" else a for a in args[1:]]
    assert receiver_cli.main([*argv, "--check-config"]) == 0


def test_receiver_environment_covers_every_variable_actions_yml_names(
    objects: dict[str, dict[str, Any]],
) -> None:
    actions = yaml.safe_load((REPO / "alertmanager" / "actions.yml").read_text(encoding="utf-8"))
    named = {
        spec[k]
        for section in ("targets", "receivers")
        for spec in (actions.get(section) or {}).values()
        for k in ("base_url_env", "token_env", "user_env", "forward_url_env")
        if spec.get(k)
    }
    container = objects["apps/receiver-deployment.yaml"]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert named <= set(env)
    for name in named:
        assert "value" not in env[name], f"{name} must come from a Secret or the site ConfigMap"


def test_sqlite_receiver_gets_a_claim_and_one_replica(objects: dict[str, dict[str, Any]]) -> None:
    deployment = objects["apps/receiver-deployment.yaml"]
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert objects["apps/receiver-data-pvc.yaml"]["kind"] == "PersistentVolumeClaim"
    assert "sqlite:////var/lib/smmc/receiver/receiver.sqlite" in _args(deployment)


def test_receiver_reads_operator_tokens_from_their_secret(objects: dict[str, dict[str, Any]]) -> None:
    """Approvals need operators: every key of the operators' Secret is a file named after its operator in
    the directory the receiver reads with --operator-tokens."""
    pod = objects["apps/receiver-deployment.yaml"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    path = container["args"][container["args"].index("--operator-tokens") + 1]
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == path]
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert volume["secret"] == {"secretName": manifests.SECRET_RECEIVER_OPERATORS}  # every key, no items
    assert mount["readOnly"] is True
    assert ("Secret", manifests.SECRET_RECEIVER_OPERATORS) in manifests.site_references(objects)


def test_postgresql_receiver_has_no_claim_and_several_replicas() -> None:
    settings = manifests.Settings(receiver_database_secret="smmc-receiver-db", storage_class="fast")
    objects = manifests.build(sources.load(REPO), settings)
    assert "apps/receiver-data-pvc.yaml" not in objects
    deployment = objects["apps/receiver-deployment.yaml"]
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"] == {"type": "RollingUpdate"}
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert "--db" not in container["args"]
    db = next(e for e in container["env"] if e["name"] == "SMMC_RECEIVER_DB")
    assert db["valueFrom"]["secretKeyRef"] == {"name": "smmc-receiver-db", "key": "url", "optional": False}
    assert all(
        v.get("persistentVolumeClaim") is None for v in deployment["spec"]["template"]["spec"]["volumes"]
    )
    assert objects["apps/smmeplus-state-pvc.yaml"]["spec"]["storageClassName"] == "fast"
    problems = [
        p for rel, obj in objects.items() for p in validate.validate_object(obj) if rel.startswith("apps/")
    ]
    assert problems == []


def test_cli_refuses_several_sqlite_receivers(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="PostgreSQL"):
        cli.main(["generate", "--out", str(tmp_path), "--receiver-replicas", "2"])


def test_secrets_are_referenced_and_documented_never_valued(objects: dict[str, dict[str, Any]]) -> None:
    refs = manifests.site_references(objects)
    assert ("Secret", "smmc-receiver-token") in refs
    assert ("ConfigMap", "smmc-site") in refs
    doc = (REPO / "docs" / "kubernetes.md").read_text(encoding="utf-8")
    for kind, name in sorted(refs):
        assert f"`{name}`" in doc, f"docs/kubernetes.md must say how to create {kind} {name}"
    text = "\n".join((OUT / p).read_text(encoding="utf-8") for p in objects)
    assert "kind: Secret\n" not in text
    assert "credentials_file" not in text and "stringData" not in text


# --- the staleness check and the validator can fail -----------------------------------------------


def test_check_reports_stale_missing_and_extra_files(generated: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "k8s"
    shutil.copytree(OUT, out)
    assert cli.main(["check", "--out", str(out)]) == 0
    (out / "rules" / "meters.yaml").write_text(generated["rules/meters.yaml"].replace("for: 15m", "for: 16m"))
    (out / "apps" / "opengate-service.yaml").unlink()
    (out / "apps" / "left-over.yaml").write_text(generated["namespace.yaml"])
    assert cli.stale_files(out, generated) == [
        "apps/opengate-service.yaml: missing",
        "rules/meters.yaml: stale",
        "apps/left-over.yaml: not generated (remove it)",
    ]
    assert cli.main(["check", "--out", str(out)]) == 1
    assert cli.main(["generate", "--out", str(out)]) == 0
    assert cli.stale_files(out, generated) == []


def _set(obj: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node: Any = obj
    for key in parents:
        node = node[int(key)] if key.isdigit() else node[key]
    if value is _DELETE:
        del node[last]
    else:
        node[int(last) if last.isdigit() else last] = value


_DELETE = object()

BROKEN = [
    # (file, dotted path, new value, what the problem names)
    ("rules/meters.yaml", "spec.groups.0.rules.0.for", "15 minutes", "spec/groups/0/rules/0/for"),
    ("rules/meters.yaml", "spec.groups.0.rules.0.expr", _DELETE, "'expr' is a required property"),
    ("rules/meters.yaml", "spec.groups.0.rules.0.severity", "critical", "'severity' was unexpected"),
    (
        "rules/meters.yaml",
        "spec.groups.0.rules.0.labels.severity",
        3,
        "spec/groups/0/rules/0/labels/severity",
    ),
    ("rules/meters.yaml", "spec.groups.0.partial_response_strategy", "ignore", "partial_response_strategy"),
    ("monitors/cloudera.yaml", "spec.endpoints.0.honor_labels", True, "'honor_labels' was unexpected"),
    ("monitors/smmeplus.yaml", "spec.endpoints.0.interval", "30 s", "spec/endpoints/0/interval"),
    ("monitors/smmeplus.yaml", "spec.endpoints", "http", "spec/endpoints"),
    ("monitoring/prometheus.yaml", "spec.replicas", "one", "spec/replicas"),
    ("monitoring/prometheus.yaml", "spec.ruleSelectr", {}, "'ruleSelectr' was unexpected"),
    ("alerting/alertmanager.yaml", "spec.alertmanagerConfigMatcherStrategy.type", "Never", "type"),
    ("apps/receiver-deployment.yaml", "spec.replicas", "two", "spec/replicas"),
    ("apps/receiver-deployment.yaml", "spec.template.spec.containers.0.argz", ["x"], "'argz' was unexpected"),
    (
        "apps/receiver-deployment.yaml",
        "spec.template.spec.containers.0.ports.0.containerPort",
        "http",
        "containerPort",
    ),
    ("apps/receiver-service.yaml", "spec.ports.0.port", "9820", "spec/ports/0/port"),
    ("apps/receiver-data-pvc.yaml", "spec.accessModes", "ReadWriteOnce", "spec/accessModes"),
    ("apps/receiver-actions-configmap.yaml", "data.actions.yml", 1, "data/actions.yml"),
    ("apps/receiver-service.yaml", "metadata.name", "Smmc_Receiver", "metadata.name"),
    (
        "apps/receiver-service.yaml",
        "metadata.labels.app.kubernetes.io/part-of",
        "smmc monitoring",
        "label value",
    ),
    ("apps/receiver-service.yaml", "kind", "Servise", "is not a Kubernetes"),
    ("monitors/smmeplus.yaml", "kind", "ServiceMonitr", "no prometheus-operator schema"),
]


@pytest.mark.parametrize(("rel", "path", "value", "expected"), BROKEN, ids=[f"{b[0]}:{b[1]}" for b in BROKEN])
def test_validator_rejects_a_broken_manifest(rel: str, path: str, value: Any, expected: str) -> None:
    obj = _load(rel)
    assert validate.validate_object(obj) == []
    broken = copy.deepcopy(obj)
    if path.startswith("metadata.labels."):
        broken["metadata"]["labels"][path.removeprefix("metadata.labels.")] = value
    elif path == "data.actions.yml":
        broken["data"]["actions.yml"] = value
    else:
        _set(broken, path, value)
    problems = validate.validate_object(broken)
    assert problems, f"{rel}: {path}={value!r} was accepted"
    assert any(expected in p for p in problems), problems


def test_validate_command_fails_on_a_broken_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.yaml"
    good.write_text((OUT / "apps" / "receiver-service.yaml").read_text(encoding="utf-8"))
    assert cli.main(["validate", str(good)]) == 0
    bad = tmp_path / "bad.yaml"
    two = [_load("apps/receiver-service.yaml"), _load("monitors/smmeplus.yaml")]
    two[1]["spec"]["endpoints"][0]["port"] = 9810
    bad.write_text(yaml.safe_dump_all(two))
    assert cli.main(["validate", str(bad)]) == 1
    assert "bad.yaml[1]: spec/endpoints/0/port" in capsys.readouterr().err
    garbage = tmp_path / "garbage.yaml"
    garbage.write_text("kind: [unclosed\n")
    assert cli.main(["validate", str(garbage)]) == 1


def test_go_patterns_become_python_patterns() -> None:
    assert validate.python_pattern("^(?i)(abort|warn)?$") == "(?i)^(abort|warn)?$"
    assert validate.python_pattern("^[a-z]+$") == "^[a-z]+$"
