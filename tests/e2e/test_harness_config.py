"""The harness rewrites only what must differ locally; everything else is the repository's config."""

from __future__ import annotations

from pathlib import Path

from .harness import (
    ALERTMANAGER_YML,
    PROMETHEUS_YML,
    load_yaml,
    rewrite_alertmanager_config,
    rewrite_prometheus_config,
)

LOCAL = {
    "smmeplus": "127.0.0.1:1",
    "opengate": "127.0.0.1:2",
    "cloudera": "127.0.0.1:3",
    "receiver": "127.0.0.1:4",
    "prometheus": "127.0.0.1:5",
    "alertmanager": "127.0.0.1:6",
}


def test_prometheus_rewrite_keeps_jobs_and_options_and_only_moves_targets() -> None:
    repo = load_yaml(PROMETHEUS_YML)
    local, dropped = rewrite_prometheus_config(repo, LOCAL, ["/tmp/r/a.rules.yml"], "127.0.0.1:6")
    assert sorted(dropped) == ["azure-eventhub", "grafana"]
    jobs = {job["job_name"]: job for job in local["scrape_configs"]}
    assert set(jobs) == set(LOCAL)
    for name, job in jobs.items():
        assert job["static_configs"] == [{"targets": [LOCAL[name]]}]
    assert jobs["cloudera"]["honor_labels"] is True
    assert local["global"]["scrape_interval"] == "1s"
    assert local["global"]["evaluation_interval"] == "1s"
    assert local["global"]["external_labels"] == repo["global"]["external_labels"]
    assert local["rule_files"] == ["/tmp/r/a.rules.yml"]
    assert local["alerting"]["alertmanagers"][0]["static_configs"] == [{"targets": ["127.0.0.1:6"]}]
    # the repository's file is untouched by the rewrite
    assert load_yaml(PROMETHEUS_YML) == repo


def test_prometheus_yml_scrapes_every_service_and_alerts_to_alertmanager() -> None:
    repo = load_yaml(PROMETHEUS_YML)
    jobs = {job["job_name"]: job for job in repo["scrape_configs"]}
    assert {"smmeplus", "opengate", "cloudera", "receiver", "prometheus", "alertmanager", "grafana"} <= set(
        jobs
    )
    assert jobs["cloudera"].get("honor_labels") is True
    assert [t for j in jobs.values() for c in j["static_configs"] for t in c["targets"]]
    assert repo["rule_files"] == ["/etc/prometheus/rules/*.rules.yml"]
    managers = repo["alerting"]["alertmanagers"]
    assert managers[0]["static_configs"][0]["targets"] == ["alertmanager:9093"]


def test_repository_alertmanager_yml_rewrites_to_local_files(tmp_path: Path) -> None:
    repo = load_yaml(ALERTMANAGER_YML)
    token = tmp_path / "token"
    local = rewrite_alertmanager_config(repo, "127.0.0.1:9", token, ALERTMANAGER_YML.parent)
    hooks = [h for r in local["receivers"] for h in r.get("webhook_configs") or []]
    assert hooks and all(h["url"].startswith("http://127.0.0.1:9/webhook/") for h in hooks)
    for hook in hooks:
        auth = (hook.get("http_config") or {}).get("authorization")
        if auth:
            assert auth == {"credentials_file": str(token)}
    for pattern in local["templates"]:
        assert list(Path(pattern).parent.glob(Path(pattern).name)), f"no template matches {pattern}"
    assert local["inhibit_rules"] == repo["inhibit_rules"]
    assert local["route"]["group_wait"] == "1s"


def test_alertmanager_rewrite_moves_webhooks_tokens_templates_and_timers(tmp_path: Path) -> None:
    repo = {
        "templates": ["templates/*.tmpl", "/etc/alertmanager/more/*.tmpl"],
        "route": {
            "receiver": "people",
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": [
                {"receiver": "actions", "group_wait": "1m", "routes": [{"receiver": "people"}]},
            ],
        },
        "inhibit_rules": [
            {"source_matchers": ["severity=critical"], "target_matchers": ["severity=warning"]}
        ],
        "receivers": [
            {"name": "people"},
            {
                "name": "actions",
                "webhook_configs": [
                    {
                        "url": "http://receiver:9820/alerts/smmc-actions",
                        "send_resolved": True,
                        "http_config": {"authorization": {"credentials_file": "/run/smmc-secrets/t"}},
                    }
                ],
            },
        ],
    }
    token = tmp_path / "token"
    local = rewrite_alertmanager_config(repo, "127.0.0.1:7777", token, Path("/repo/alertmanager"))
    hook = local["receivers"][1]["webhook_configs"][0]
    assert hook["url"] == "http://127.0.0.1:7777/alerts/smmc-actions"
    assert hook["http_config"]["authorization"]["credentials_file"] == str(token)
    assert hook["send_resolved"] is True
    assert local["templates"] == ["/repo/alertmanager/templates/*.tmpl", "/repo/alertmanager/more/*.tmpl"]
    assert local["route"]["group_wait"] == "1s"
    assert local["route"]["group_interval"] == "2s"
    assert local["route"]["repeat_interval"] == "4h"
    child = local["route"]["routes"][0]
    assert child["group_wait"] == "1s"
    assert "group_interval" not in child  # inherited from the root, as in the repository
    assert "group_wait" not in child["routes"][0]
    assert local["inhibit_rules"] == repo["inhibit_rules"]
    assert repo["route"]["group_wait"] == "30s"  # the input is not modified
