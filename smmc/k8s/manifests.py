"""Every Kubernetes object of the stack, built from `Sources` and a few site `Settings`.

prometheus-operator resources: a `PrometheusRule` per rule file, a `ServiceMonitor` per scrape job of our
own services in prometheus.yml, the `AlertmanagerConfig` converted from alertmanager.yml, and the
`Prometheus` and `Alertmanager` resources that select them. Plain objects: a Deployment and a Service per
exporter and for the receiver, PersistentVolumeClaims (the receiver's SQLite unless it uses PostgreSQL),
a ConfigMap with actions.yml (and the Alertmanager templates), the Prometheus ServiceAccount and RBAC.

Secrets and site settings are referenced by name only (`SITE_REFERENCES`); their values never appear here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from smmc.k8s import alertmanager as am
from smmc.k8s.sources import COMPONENTS, Component, Sources

PART_OF = "smmc-monitoring"
JOB_LABEL = "smmc-monitoring/job"
UID = 10001  # the image's `smmc` user (Dockerfile)


def _version() -> str:
    try:
        return metadata.version("smmc-monitoring")
    except metadata.PackageNotFoundError:
        return "0.0.0"


@dataclass(frozen=True)
class Settings:
    namespace: str = "smmc"
    image: str = ""  # default: smmc-monitoring:<package version>
    # Secret (key `url`) with the receiver's postgresql:// URL. None: SQLite on a PersistentVolumeClaim.
    receiver_database_secret: str | None = None
    receiver_replicas: int | None = None  # default: 1 on SQLite (one writer), 2 on PostgreSQL
    alertmanager_replicas: int = 2
    prometheus_replicas: int = 1
    prometheus_retention: str = "30d"
    prometheus_storage: str = "50Gi"
    storage_class: str | None = None
    timezone: str = "America/Santiago"

    @property
    def image_ref(self) -> str:
        return self.image or f"smmc-monitoring:{_version()}"

    @property
    def receiver_replica_count(self) -> int:
        if self.receiver_replicas is not None:
            return self.receiver_replicas
        return 2 if self.receiver_database_secret else 1


# Objects the site creates (values never in the repository); `smmc k8s` only references them.
# (kind, name, key, what). docs/kubernetes.md lists the same (a test keeps them in step).
SECRET_RECEIVER_TOKEN = ("smmc-receiver-token", "token")
SECRET_OPENGATE = ("smmc-opengate", "api-key")
SECRET_RECEIVER_TARGETS = "smmc-receiver-targets"
# one key per operator: the key is the operator's name, its value that person's token (receiver.auth)
SECRET_RECEIVER_OPERATORS = "smmc-receiver-operators"
SECRET_CLOUDERA = ("smmc-cloudera", "token")
CONFIGMAP_SITE = "smmc-site"
CONFIGMAP_CLOUDERA_SCHEDULE = ("smmc-cloudera-schedule", "jobs.yml")

ACTIONS_CONFIGMAP = "smmc-actions"
TEMPLATES_CONFIGMAP = "smmc-alertmanager-templates"
PROMETHEUS_NAME = "smmc"
ALERTMANAGER_NAME = "smmc"


def component(key: str) -> Component:
    return next(c for c in COMPONENTS if c.key == key)


def labels_for(c: Component) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": c.name,
        "app.kubernetes.io/component": c.role,
        "app.kubernetes.io/part-of": PART_OF,
    }


def _meta(name: str, settings: Settings, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": settings.namespace,
        "labels": {"app.kubernetes.io/part-of": PART_OF, **(labels or {})},
    }


def _obj(api: str, kind: str, meta: dict[str, Any], **body: Any) -> dict[str, Any]:
    return {"apiVersion": api, "kind": kind, "metadata": meta, **body}


def service_host(c: Component, settings: Settings) -> str:
    return f"{c.name}.{settings.namespace}.svc:{c.port}"


# ---------------------------------------------------------------------------------------------------
# prometheus-operator resources


def prometheus_rule(stem: str, rule_file: dict[str, Any], settings: Settings) -> dict[str, Any]:
    return _obj(
        "monitoring.coreos.com/v1",
        "PrometheusRule",
        _meta(f"smmc-{stem}", settings, {"app.kubernetes.io/component": "rules"}),
        spec={"groups": rule_file["groups"]},
    )


def service_monitor(job: Any, settings: Settings) -> dict[str, Any]:
    endpoint: dict[str, Any] = {
        "port": "http",
        "path": job.path,
        "interval": job.interval,
        "scrapeTimeout": job.timeout,
    }
    if job.honor_labels:
        endpoint["honorLabels"] = True
    if job.params:
        endpoint["params"] = job.params
    return _obj(
        "monitoring.coreos.com/v1",
        "ServiceMonitor",
        _meta(f"smmc-{job.job}", settings, {"app.kubernetes.io/component": "monitoring"}),
        spec={
            # The scrape job's name comes from this Service label, so `up{job="smmeplus"}` in the rules and
            # dashboards means the same as under docker compose.
            "jobLabel": JOB_LABEL,
            "selector": {"matchLabels": {"app.kubernetes.io/name": job.component.name}},
            "endpoints": [endpoint],
        },
    )


def alertmanager_config(
    sources: Sources, settings: Settings
) -> tuple[dict[str, Any], am.ConvertedAlertmanager]:
    assert sources.alertmanager is not None
    rewrite = am.url_rewriter({c.compose_address: service_host(c, settings) for c in COMPONENTS})
    converted = am.convert(sources.alertmanager, am.SecretRef(*SECRET_RECEIVER_TOKEN), rewrite)
    obj = _obj(
        "monitoring.coreos.com/v1alpha1",
        "AlertmanagerConfig",
        _meta(ALERTMANAGER_NAME, settings, {"app.kubernetes.io/component": "alerting"}),
        spec=converted.spec,
    )
    return obj, converted


def _pod_security() -> dict[str, Any]:
    return {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}


def alertmanager_resource(
    sources: Sources, converted: am.ConvertedAlertmanager | None, settings: Settings
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "replicas": settings.alertmanager_replicas,
        "securityContext": {**_pod_security(), "runAsUser": 1000, "runAsGroup": 2000, "fsGroup": 2000},
        "storage": {"volumeClaimTemplate": {"spec": _pvc_spec("ReadWriteOnce", "1Gi", settings)}},
        # Global mode: the AlertmanagerConfig below is the whole configuration, so the operator adds no
        # namespace matcher to its routes and inhibitions (the rules' alerts carry no namespace label).
        "alertmanagerConfigMatcherStrategy": {"type": "None"},
    }
    if converted is not None:
        configuration: dict[str, Any] = {"name": ALERTMANAGER_NAME}
        if converted.global_config:
            configuration["global"] = converted.global_config
        if sources.templates:
            configuration["templates"] = [
                {"configMap": {"name": TEMPLATES_CONFIGMAP, "key": name}} for name in sources.templates
            ]
        spec["alertmanagerConfiguration"] = configuration
    return _obj(
        "monitoring.coreos.com/v1",
        "Alertmanager",
        _meta(ALERTMANAGER_NAME, settings, {"app.kubernetes.io/component": "alerting"}),
        spec=spec,
    )


def prometheus_resource(sources: Sources, settings: Settings) -> dict[str, Any]:
    glob = sources.prometheus.get("global") or {}
    selector = {"matchLabels": {"app.kubernetes.io/part-of": PART_OF}}
    spec: dict[str, Any] = {
        "replicas": settings.prometheus_replicas,
        "serviceAccountName": "smmc-prometheus",
        "serviceMonitorSelector": selector,
        "ruleSelector": selector,
        "scrapeInterval": str(glob.get("scrape_interval", "1m")),
        "scrapeTimeout": str(glob.get("scrape_timeout", "10s")),
        "evaluationInterval": str(glob.get("evaluation_interval", "1m")),
        "retention": settings.prometheus_retention,
        "alerting": {
            "alertmanagers": [
                {
                    "namespace": settings.namespace,
                    "name": "alertmanager-operated",
                    "port": "web",
                    "apiVersion": "v2",
                }
            ]
        },
        "securityContext": {**_pod_security(), "runAsUser": 1000, "runAsGroup": 2000, "fsGroup": 2000},
        "storage": {
            "volumeClaimTemplate": {"spec": _pvc_spec("ReadWriteOnce", settings.prometheus_storage, settings)}
        },
    }
    if glob.get("external_labels"):
        spec["externalLabels"] = {str(k): str(v) for k, v in glob["external_labels"].items()}
    return _obj(
        "monitoring.coreos.com/v1",
        "Prometheus",
        _meta(PROMETHEUS_NAME, settings, {"app.kubernetes.io/component": "monitoring"}),
        spec=spec,
    )


def prometheus_rbac(settings: Settings) -> list[dict[str, Any]]:
    name = "smmc-prometheus"
    meta = _meta(name, settings, {"app.kubernetes.io/component": "monitoring"})
    return [
        _obj("v1", "ServiceAccount", dict(meta)),
        _obj(
            "rbac.authorization.k8s.io/v1",
            "Role",
            dict(meta),
            rules=[
                {
                    "apiGroups": [""],
                    "resources": ["services", "endpoints", "pods"],
                    "verbs": ["get", "list", "watch"],
                },
                {
                    "apiGroups": ["discovery.k8s.io"],
                    "resources": ["endpointslices"],
                    "verbs": ["get", "list", "watch"],
                },
                {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]},
            ],
        ),
        _obj(
            "rbac.authorization.k8s.io/v1",
            "RoleBinding",
            dict(meta),
            roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            subjects=[{"kind": "ServiceAccount", "name": name, "namespace": settings.namespace}],
        ),
    ]


# ---------------------------------------------------------------------------------------------------
# plain manifests


def _pvc_spec(access: str, size: str, settings: Settings) -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": [access], "resources": {"requests": {"storage": size}}}
    if settings.storage_class:
        spec["storageClassName"] = settings.storage_class
    return spec


def pvc(name: str, access: str, size: str, c: Component, settings: Settings) -> dict[str, Any]:
    return _obj(
        "v1",
        "PersistentVolumeClaim",
        _meta(name, settings, labels_for(c)),
        spec=_pvc_spec(access, size, settings),
    )


def _secret_env(env: str, name: str, key: str, optional: bool) -> dict[str, Any]:
    return {"name": env, "valueFrom": {"secretKeyRef": {"name": name, "key": key, "optional": optional}}}


def _site_env(env: str, optional: bool) -> dict[str, Any]:
    return {
        "name": env,
        "valueFrom": {"configMapKeyRef": {"name": CONFIGMAP_SITE, "key": env, "optional": optional}},
    }


@dataclass
class PodParts:
    args: list[str]
    env: list[dict[str, Any]]
    mounts: list[dict[str, Any]]
    volumes: list[dict[str, Any]]
    memory_limit: str = "512Mi"
    annotations: dict[str, str] | None = None


def _smmeplus_pod() -> PodParts:
    return PodParts(
        args=[
            "exporter",
            "smmeplus",
            "--listen",
            "0.0.0.0:9810",
            "--inbox",
            "/data/inbox",
            # a fresh volume has no inbox yet; SMMePlus' producer writes into the one created here
            "--create-inbox",
            "--inventory",
            "/data/inventory",
            "--state-dir",
            "/var/lib/smmc/state",
        ],
        env=[],
        mounts=[
            {"name": "data", "mountPath": "/data"},
            {"name": "state", "mountPath": "/var/lib/smmc/state"},
        ],
        volumes=[
            {"name": "data", "persistentVolumeClaim": {"claimName": "smmc-smmeplus-data"}},
            {"name": "state", "persistentVolumeClaim": {"claimName": "smmc-smmeplus-state"}},
        ],
        memory_limit="2Gi",
    )


def _opengate_pod() -> PodParts:
    name, key = SECRET_OPENGATE
    return PodParts(
        # $(VAR) is expanded by the kubelet from the container's env: the site ConfigMap's values.
        args=[
            "exporter",
            "opengate",
            "--listen",
            "0.0.0.0:9811",
            "--url",
            "$(SMMC_OPENGATE_URL)",
            "--organization",
            "$(SMMC_OPENGATE_ORGANIZATION)",
            "--interval",
            "60s",
            "--api-key-file",
            f"/run/smmc-secrets/opengate/{key}",
        ],
        env=[_site_env("SMMC_OPENGATE_URL", False), _site_env("SMMC_OPENGATE_ORGANIZATION", False)],
        mounts=[{"name": "opengate", "mountPath": "/run/smmc-secrets/opengate", "readOnly": True}],
        volumes=[{"name": "opengate", "secret": {"secretName": name, "items": [{"key": key, "path": key}]}}],
    )


def _cloudera_pod() -> PodParts:
    sched_name, sched_key = CONFIGMAP_CLOUDERA_SCHEDULE
    token_name, token_key = SECRET_CLOUDERA
    return PodParts(
        args=["exporter", "cloudera", "--listen", "0.0.0.0:9812"],
        env=[
            _site_env("SMMC_CLOUDERA_REPORT", False),
            {"name": "SMMC_CLOUDERA_SCHEDULE", "value": f"/etc/smmc/cloudera/{sched_key}"},
            _secret_env("SMMC_CLOUDERA_TOKEN", token_name, token_key, True),
            # the data lake's resources from Cloudera Manager (optional: without the URL, the report only)
            _site_env("SMMC_CLOUDERA_CM_URL", True),
            _site_env("SMMC_CLOUDERA_CM_USER", True),
            _secret_env("SMMC_CLOUDERA_CM_PASSWORD", token_name, "cm-password", True),
        ],
        mounts=[{"name": "schedule", "mountPath": "/etc/smmc/cloudera", "readOnly": True}],
        volumes=[{"name": "schedule", "configMap": {"name": sched_name}}],
    )


def receiver_env(actions: dict[str, Any]) -> list[dict[str, Any]]:
    """The variables actions.yml names: URLs from the site ConfigMap, credentials from a Secret."""
    urls: set[str] = set()
    secrets: set[str] = set()
    for spec in (actions.get("targets") or {}).values():
        if spec.get("base_url_env"):
            urls.add(spec["base_url_env"])
        for key in ("token_env", "user_env"):
            if spec.get(key):
                secrets.add(spec[key])
    for spec in (actions.get("receivers") or {}).values():
        if spec.get("forward_url_env"):
            secrets.add(spec["forward_url_env"])
    return [_site_env(v, True) for v in sorted(urls)] + [
        _secret_env(v, SECRET_RECEIVER_TARGETS, v, True) for v in sorted(secrets)
    ]


def _receiver_pod(sources: Sources, settings: Settings) -> PodParts:
    token_name, token_key = SECRET_RECEIVER_TOKEN
    args = [
        "receiver",
        "--config",
        "/etc/smmc/actions/actions.yml",
        "--listen",
        "0.0.0.0:9820",
        "--token-file",
        f"/run/smmc-secrets/receiver/{token_key}",
        "--operator-tokens",
        "/run/smmc-secrets/operators",
    ]
    env = receiver_env(sources.actions)
    mounts = [
        {"name": "actions", "mountPath": "/etc/smmc/actions", "readOnly": True},
        {"name": "token", "mountPath": "/run/smmc-secrets/receiver", "readOnly": True},
        {"name": "operators", "mountPath": "/run/smmc-secrets/operators", "readOnly": True},
    ]
    volumes: list[dict[str, Any]] = [
        {"name": "actions", "configMap": {"name": ACTIONS_CONFIGMAP}},
        {
            "name": "token",
            "secret": {"secretName": token_name, "items": [{"key": token_key, "path": token_key}]},
        },
        # every key a file named after its operator: the directory form of --operator-tokens
        {"name": "operators", "secret": {"secretName": SECRET_RECEIVER_OPERATORS}},
    ]
    if settings.receiver_database_secret:
        env.insert(0, _secret_env("SMMC_RECEIVER_DB", settings.receiver_database_secret, "url", False))
    else:
        args += ["--db", "sqlite:////var/lib/smmc/receiver/receiver.sqlite"]
        mounts.append({"name": "data", "mountPath": "/var/lib/smmc/receiver"})
        volumes.append({"name": "data", "persistentVolumeClaim": {"claimName": "smmc-receiver-data"}})
    checksum = hashlib.sha256(sources.actions_text.encode("utf-8")).hexdigest()
    return PodParts(args, env, mounts, volumes, annotations={"smmc-monitoring/actions-sha256": checksum})


def deployment(
    c: Component, parts: PodParts, replicas: int, single_writer: bool, settings: Settings
) -> dict[str, Any]:
    labels = labels_for(c)
    selector = {"app.kubernetes.io/name": c.name, "app.kubernetes.io/part-of": PART_OF}
    container = {
        "name": c.key,
        "image": settings.image_ref,
        "imagePullPolicy": "IfNotPresent",
        "args": parts.args,
        "env": [{"name": "TZ", "value": settings.timezone}, *parts.env],
        "ports": [{"name": "http", "containerPort": c.port, "protocol": "TCP"}],
        "readinessProbe": {
            # the receiver is ready only while its store commits (smmc receiver's /readyz)
            "httpGet": {"path": "/readyz" if c.key == "receiver" else "/healthz", "port": "http"},
            "periodSeconds": 10,
            "timeoutSeconds": 5,
        },
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": "http"},
            "initialDelaySeconds": 30,
            "periodSeconds": 20,
            "timeoutSeconds": 5,
            "failureThreshold": 6,
        },
        "resources": {
            "requests": {"cpu": "50m", "memory": "128Mi"},
            "limits": {"memory": parts.memory_limit},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [*parts.mounts, {"name": "tmp", "mountPath": "/tmp"}],
    }
    template_meta: dict[str, Any] = {"labels": labels}
    if parts.annotations:
        template_meta["annotations"] = parts.annotations
    return _obj(
        "apps/v1",
        "Deployment",
        _meta(c.name, settings, labels),
        spec={
            "replicas": replicas,
            # The single writer of a ReadWriteOnce volume (ledger, SQLite) stops before its successor starts.
            "strategy": {"type": "Recreate"} if single_writer else {"type": "RollingUpdate"},
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": template_meta,
                "spec": {
                    "securityContext": {
                        **_pod_security(),
                        "runAsUser": UID,
                        "runAsGroup": UID,
                        "fsGroup": UID,
                    },
                    "containers": [container],
                    "volumes": [*parts.volumes, {"name": "tmp", "emptyDir": {}}],
                },
            },
        },
    )


def service(c: Component, job: str | None, settings: Settings) -> dict[str, Any]:
    labels = labels_for(c)
    if job:
        labels[JOB_LABEL] = job
    return _obj(
        "v1",
        "Service",
        _meta(c.name, settings, labels),
        spec={
            "type": "ClusterIP",
            "selector": {"app.kubernetes.io/name": c.name, "app.kubernetes.io/part-of": PART_OF},
            "ports": [{"name": "http", "port": c.port, "targetPort": "http", "protocol": "TCP"}],
        },
    )


def config_map(name: str, data: dict[str, str], settings: Settings, component_label: str) -> dict[str, Any]:
    return _obj(
        "v1", "ConfigMap", _meta(name, settings, {"app.kubernetes.io/component": component_label}), data=data
    )


# ---------------------------------------------------------------------------------------------------


def build(sources: Sources, settings: Settings) -> dict[str, dict[str, Any]]:
    """relative path under deploy/kubernetes/ -> object, one object per file."""
    out: dict[str, dict[str, Any]] = {}
    out["namespace.yaml"] = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": settings.namespace, "labels": {"app.kubernetes.io/part-of": PART_OF}},
    }
    for stem, rule_file in sources.rule_files.items():
        out[f"rules/{stem}.yaml"] = prometheus_rule(stem, rule_file, settings)

    jobs_by_component = {}
    for job in sources.scrape_jobs:
        out[f"monitors/{job.job}.yaml"] = service_monitor(job, settings)
        jobs_by_component[job.component.key] = job.job

    pods = {
        "smmeplus": (_smmeplus_pod(), 1, True),
        "opengate": (_opengate_pod(), 1, False),
        "cloudera": (_cloudera_pod(), 1, False),
        "receiver": (
            _receiver_pod(sources, settings),
            settings.receiver_replica_count,
            settings.receiver_database_secret is None,
        ),
    }
    for c in COMPONENTS:
        parts, replicas, single_writer = pods[c.key]
        out[f"apps/{c.key}-deployment.yaml"] = deployment(c, parts, replicas, single_writer, settings)
        out[f"apps/{c.key}-service.yaml"] = service(c, jobs_by_component.get(c.key), settings)
    smmeplus = component("smmeplus")
    out["apps/smmeplus-data-pvc.yaml"] = pvc(
        "smmc-smmeplus-data", "ReadWriteMany", "50Gi", smmeplus, settings
    )
    out["apps/smmeplus-state-pvc.yaml"] = pvc(
        "smmc-smmeplus-state", "ReadWriteOnce", "1Gi", smmeplus, settings
    )
    if settings.receiver_database_secret is None:
        out["apps/receiver-data-pvc.yaml"] = pvc(
            "smmc-receiver-data", "ReadWriteOnce", "5Gi", component("receiver"), settings
        )
    out["apps/receiver-actions-configmap.yaml"] = config_map(
        ACTIONS_CONFIGMAP, {"actions.yml": sources.actions_text}, settings, "receiver"
    )

    converted = None
    if sources.alertmanager is not None:
        out["alerting/alertmanagerconfig.yaml"], converted = alertmanager_config(sources, settings)
    if sources.templates:
        out["alerting/templates-configmap.yaml"] = config_map(
            TEMPLATES_CONFIGMAP, dict(sources.templates), settings, "alerting"
        )
    out["alerting/alertmanager.yaml"] = alertmanager_resource(sources, converted, settings)
    out["monitoring/prometheus.yaml"] = prometheus_resource(sources, settings)
    for obj in prometheus_rbac(settings):
        out[f"monitoring/prometheus-{obj['kind'].lower()}.yaml"] = obj
    return out


def site_references(objects: dict[str, dict[str, Any]]) -> set[tuple[str, str]]:
    """(kind, name) of every Secret and ConfigMap the objects reference but do not contain."""
    generated = {(o["kind"], o["metadata"]["name"]) for o in objects.values()}
    found: set[tuple[str, str]] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "secretKeyRef" in node:
                found.add(("Secret", node["secretKeyRef"]["name"]))
            if "configMapKeyRef" in node:
                found.add(("ConfigMap", node["configMapKeyRef"]["name"]))
            if "secretName" in node:
                found.add(("Secret", node["secretName"]))
            if "configMap" in node and isinstance(node["configMap"], dict):
                found.add(("ConfigMap", node["configMap"]["name"]))
            if (
                "credentials" in node
                and isinstance(node["credentials"], dict)
                and "key" in node["credentials"]
            ):
                found.add(("Secret", node["credentials"]["name"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(list(objects.values()))
    return found - generated
