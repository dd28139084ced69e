"""alertmanager.yml -> AlertmanagerConfig: faithful (same routing decisions under the real amtool), valid
against the CRD schema, and refusing what it cannot express."""

from __future__ import annotations

import copy
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from smmc.k8s import alertmanager as am
from smmc.k8s import manifests, sources, validate

REPO = Path(__file__).resolve().parents[1]
TOKEN = am.SecretRef("smmc-receiver-token", "token")

# Every construct the converter supports, in the forms Alertmanager accepts.
FIXTURE = yaml.safe_load(
    r"""
global:
  resolve_timeout: 5m
templates: [templates/*.tmpl]
route:
  receiver: noc
  group_by: [alertname, concentrator]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
  routes:
    - receiver: watchdog
      matchers: [alertname="Watchdog"]
      repeat_interval: 1m
    - receiver: actions
      matchers: ['maintenance=~"remote|specialist|field"', 'severity!="info"']
      continue: true
      routes:
        - receiver: field
          matchers: ['{maintenance="field", procedure=~"SM04|SM05"}']
          mute_time_intervals: [night]
        - receiver: field
          match: {maintenance: field}
          match_re: {team: "field-.*"}
    - receiver: noc
      matchers: [team=data-platform, 'job!~"cloudera|azure"']
      active_time_intervals: [office]
receivers:
  - name: noc
    webhook_configs:
      - url: http://receiver:9820/alerts/noc
        http_config:
          authorization: {type: Bearer, credentials_file: /run/smmc-secrets/receiver_token}
  - name: actions
    webhook_configs:
      - url: http://receiver:9820/alerts/actions
        send_resolved: true
        max_alerts: 500
        http_config:
          authorization: {credentials: not-a-real-token}
  - name: field
    webhook_configs:
      - url: https://field.example.invalid/hook
        send_resolved: false
  - name: watchdog
    webhook_configs:
      - url: http://receiver:9820/alerts/watchdog
inhibit_rules:
  - source_matchers: [alertname="RouterDown"]
    target_matchers: ['alertname=~"ConcentratorUnreachable|MeterUnreachable"']
    equal: [concentrator]
  - source_match: {severity: critical}
    target_match_re: {severity: "warning|info"}
    equal: [alertname]
time_intervals:
  - name: night
    time_intervals:
      - times: [{start_time: "22:00", end_time: "24:00"}, {start_time: "00:00", end_time: "06:00"}]
mute_time_intervals:
  - name: office
    time_intervals:
      - weekdays: ["monday:friday"]
        days_of_month: ["1:15"]
        months: ["january:june"]
        years: ["2024:2030"]
        times: [{start_time: "08:30", end_time: "18:00"}]
      - days_of_month: ["-1", "7"]
"""
)

REWRITE = am.url_rewriter({"receiver:9820": "smmc-receiver.smmc.svc:9820"})


def _matcher_text(m: Mapping[str, str]) -> str:
    value = m["value"].replace("\\", "\\\\").replace('"', '\\"')
    return f'{m["name"]}{m["matchType"]}"{value}"'


def back_to_alertmanager(spec: Mapping[str, Any], global_config: Mapping[str, Any]) -> dict[str, Any]:
    """An AlertmanagerConfig in alertmanager.yml terms (the operator's translation in global mode)."""

    def route(r: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for src, dst in (
            ("receiver", "receiver"),
            ("groupBy", "group_by"),
            ("groupWait", "group_wait"),
            ("groupInterval", "group_interval"),
            ("repeatInterval", "repeat_interval"),
            ("continue", "continue"),
            ("muteTimeIntervals", "mute_time_intervals"),
            ("activeTimeIntervals", "active_time_intervals"),
        ):
            if src in r:
                out[dst] = r[src]
        if r.get("matchers"):
            out["matchers"] = [_matcher_text(m) for m in r["matchers"]]
        if r.get("routes"):
            out["routes"] = [route(c) for c in r["routes"]]
        return out

    def hook(h: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"url": h["url"], "send_resolved": h["sendResolved"]}
        if "maxAlerts" in h:
            out["max_alerts"] = h["maxAlerts"]
        if "httpConfig" in h:
            out["http_config"] = {"authorization": {"type": "Bearer", "credentials": "from-secret"}}
        return out

    config: dict[str, Any] = {
        "route": route(spec["route"]),
        "receivers": [
            {
                "name": r["name"],
                **(
                    {"webhook_configs": [hook(h) for h in r["webhookConfigs"]]}
                    if r.get("webhookConfigs")
                    else {}
                ),
            }
            for r in spec["receivers"]
        ],
    }
    if global_config.get("resolveTimeout"):
        config["global"] = {"resolve_timeout": global_config["resolveTimeout"]}
    if spec.get("inhibitRules"):
        config["inhibit_rules"] = [
            {
                "source_matchers": [_matcher_text(m) for m in r["sourceMatch"]],
                "target_matchers": [_matcher_text(m) for m in r["targetMatch"]],
                **({"equal": r["equal"]} if r.get("equal") else {}),
            }
            for r in spec["inhibitRules"]
        ]
    if spec.get("muteTimeIntervals"):
        config["time_intervals"] = [
            {
                "name": t["name"],
                "time_intervals": [
                    {
                        **(
                            {
                                "times": [
                                    {"start_time": x["startTime"], "end_time": x["endTime"]}
                                    for x in ti["times"]
                                ]
                            }
                            if ti.get("times")
                            else {}
                        ),
                        **{
                            dst: ti[src]
                            for src, dst in (
                                ("weekdays", "weekdays"),
                                ("months", "months"),
                                ("years", "years"),
                            )
                            if src in ti
                        },
                        **(
                            {"days_of_month": [f"{d['start']}:{d['end']}" for d in ti["daysOfMonth"]]}
                            if ti.get("daysOfMonth")
                            else {}
                        ),
                    }
                    for ti in t["timeIntervals"]
                ],
            }
            for t in spec["muteTimeIntervals"]
        ]
    return config


def _amtool() -> str:
    found = shutil.which("amtool")
    assert found, "amtool is needed (Debian package prometheus-alertmanager)"
    return found


def _receivers(config_file: Path, labels: Mapping[str, str]) -> str:
    args = [_amtool(), "config", "routes", "test", f"--config.file={config_file}"]
    args += [f"{k}={v}" for k, v in sorted(labels.items())]
    out = subprocess.run(args, capture_output=True, text=True, timeout=30, check=True)
    return out.stdout.strip()


def _label_sets(config: Mapping[str, Any]) -> list[dict[str, str]]:
    """Label sets that exercise every matcher of the config, plus every alert of the repository's rules."""
    sets: list[dict[str, str]] = [{"alertname": "Nothing"}]

    def walk(route: Mapping[str, Any]) -> None:
        matchers = am.convert_matchers("t", route.get("matchers"), route.get("match"), route.get("match_re"))
        if matchers:
            hit = {m["name"]: _sample(m) for m in matchers if m["matchType"] in ("=", "=~")}
            sets.append({"alertname": "Probe", **hit})
            for m in matchers:  # each matcher missed once
                sets.append({"alertname": "Probe", **hit, m["name"]: "zz-other"})
        for child in route.get("routes") or []:
            walk(child)

    walk(config["route"])
    for path in sorted((REPO / "rules").glob("*.rules.yml")):
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    sets.append({"alertname": rule["alert"], **rule.get("labels", {}), "job": "smmeplus"})
    return sets


def _sample(m: Mapping[str, str]) -> str:
    if m["matchType"] == "=":
        return m["value"]
    first = m["value"].split("|")[0]
    return first.replace(".*", "x").replace("\\", "")


def _configs() -> list[tuple[str, dict[str, Any]]]:
    configs = [("fixture", FIXTURE)]
    repo_config = REPO / "alertmanager" / "alertmanager.yml"
    if repo_config.exists():
        configs.append(("alertmanager.yml", yaml.safe_load(repo_config.read_text(encoding="utf-8"))))
    return configs


@pytest.mark.parametrize(("name", "config"), _configs(), ids=[c[0] for c in _configs()])
def test_routing_is_the_same_under_amtool(name: str, config: dict[str, Any], tmp_path: Path) -> None:
    converted = am.convert(config, TOKEN, REWRITE)
    original = copy.deepcopy(config)
    original.pop("templates", None)  # template files are not routing; amtool would need them on disk
    for receiver in original.get("receivers") or []:
        for hook in receiver.get("webhook_configs") or []:
            hook.get("http_config", {}).pop("authorization", None)
    before = tmp_path / "before.yml"
    before.write_text(yaml.safe_dump(original))
    after = tmp_path / "after.yml"
    after.write_text(yaml.safe_dump(back_to_alertmanager(converted.spec, converted.global_config)))
    check = subprocess.run(
        [_amtool(), "check-config", str(after)], capture_output=True, text=True, timeout=30
    )
    assert check.returncode == 0, check.stdout + check.stderr
    sets = _label_sets(config)
    assert len(sets) > 10
    for labels in sets:
        assert _receivers(after, labels) == _receivers(before, labels), labels


def test_fixture_converts_every_construct() -> None:
    converted = am.convert(FIXTURE, TOKEN, REWRITE)
    spec = converted.spec
    assert converted.global_config == {"resolveTimeout": "5m"}
    assert converted.templates == ["templates/*.tmpl"]
    route = spec["route"]
    assert route["receiver"] == "noc" and "matchers" not in route
    assert route["groupBy"] == ["alertname", "concentrator"]
    assert (route["groupWait"], route["groupInterval"], route["repeatInterval"]) == ("30s", "5m", "4h")
    actions = route["routes"][1]
    assert actions["continue"] is True
    assert actions["matchers"] == [
        {"name": "maintenance", "value": "remote|specialist|field", "matchType": "=~"},
        {"name": "severity", "value": "info", "matchType": "!="},
    ]
    assert actions["routes"][0]["matchers"] == [
        {"name": "maintenance", "value": "field", "matchType": "="},
        {"name": "procedure", "value": "SM04|SM05", "matchType": "=~"},
    ]
    assert actions["routes"][0]["muteTimeIntervals"] == ["night"]
    assert actions["routes"][1]["matchers"] == [
        {"name": "maintenance", "value": "field", "matchType": "="},
        {"name": "team", "value": "field-.*", "matchType": "=~"},
    ]
    assert route["routes"][2]["matchers"][0] == {"name": "team", "value": "data-platform", "matchType": "="}
    assert route["routes"][2]["activeTimeIntervals"] == ["office"]
    hooks = {r["name"]: r["webhookConfigs"][0] for r in spec["receivers"]}
    assert hooks["noc"]["url"] == "http://smmc-receiver.smmc.svc:9820/alerts/noc"
    assert hooks["field"]["url"] == "https://field.example.invalid/hook"  # not ours: unchanged
    assert hooks["noc"]["sendResolved"] is True and hooks["field"]["sendResolved"] is False
    assert hooks["actions"]["maxAlerts"] == 500
    for hook in (hooks["noc"], hooks["actions"]):
        assert hook["httpConfig"]["authorization"] == {
            "type": "Bearer",
            "credentials": {"name": "smmc-receiver-token", "key": "token"},
        }
    assert "not-a-real-token" not in yaml.safe_dump(spec)  # an inline secret is never copied
    assert spec["inhibitRules"][0] == {
        "sourceMatch": [{"name": "alertname", "value": "RouterDown", "matchType": "="}],
        "targetMatch": [
            {"name": "alertname", "value": "ConcentratorUnreachable|MeterUnreachable", "matchType": "=~"}
        ],
        "equal": ["concentrator"],
    }
    assert spec["inhibitRules"][1]["targetMatch"] == [
        {"name": "severity", "value": "warning|info", "matchType": "=~"}
    ]
    office = next(t for t in spec["muteTimeIntervals"] if t["name"] == "office")
    assert office["timeIntervals"] == [
        {
            "times": [{"startTime": "08:30", "endTime": "18:00"}],
            "weekdays": ["monday:friday"],
            "daysOfMonth": [{"start": 1, "end": 15}],
            "months": ["january:june"],
            "years": ["2024:2030"],
        },
        {"daysOfMonth": [{"start": -1, "end": -1}, {"start": 7, "end": 7}]},
    ]


def test_converted_fixture_validates_against_the_crd_schema() -> None:
    converted = am.convert(FIXTURE, TOKEN, REWRITE)
    obj = {
        "apiVersion": "monitoring.coreos.com/v1alpha1",
        "kind": "AlertmanagerConfig",
        "metadata": {"name": "smmc", "namespace": "smmc"},
        "spec": converted.spec,
    }
    assert validate.validate_object(obj) == []
    broken = copy.deepcopy(obj)
    broken["spec"]["inhibitRules"][0]["sourceMatch"][0]["matchType"] = "=="
    assert any("spec/inhibitRules/0/sourceMatch/0/matchType" in p for p in validate.validate_object(broken))
    broken = copy.deepcopy(obj)
    broken["spec"]["receivers"][0]["webhookConfigs"][0]["send_resolved"] = True
    assert any("'send_resolved' was unexpected" in p for p in validate.validate_object(broken))


def test_generated_alertmanager_resources_with_the_fixture(tmp_path: Path) -> None:
    """The whole generator path with an alertmanager.yml and templates, validated."""
    root = tmp_path / "repo"
    for rel in ("rules", "prometheus", "alertmanager"):
        shutil.copytree(REPO / rel, root / rel)
    (root / "alertmanager" / "alertmanager.yml").write_text(yaml.safe_dump(FIXTURE))
    (root / "alertmanager" / "templates").mkdir(exist_ok=True)
    (root / "alertmanager" / "templates" / "smmc.tmpl").write_text('{{ define "smmc.title" }}x{{ end }}\n')
    objects = manifests.build(sources.load(root), manifests.Settings())
    amc = objects["alerting/alertmanagerconfig.yaml"]
    assert amc["spec"]["route"]["receiver"] == "noc"
    alertmanager = objects["alerting/alertmanager.yaml"]["spec"]
    assert alertmanager["alertmanagerConfiguration"] == {
        "name": "smmc",
        "global": {"resolveTimeout": "5m"},
        "templates": [{"configMap": {"name": "smmc-alertmanager-templates", "key": "smmc.tmpl"}}],
    }
    assert objects["alerting/templates-configmap.yaml"]["data"] == {
        "smmc.tmpl": '{{ define "smmc.title" }}x{{ end }}\n'
    }
    problems = [f"{rel}: {p}" for rel, obj in objects.items() for p in validate.validate_object(obj)]
    assert problems == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('severity="critical"', {"name": "severity", "value": "critical", "matchType": "="}),
        ("severity=critical", {"name": "severity", "value": "critical", "matchType": "="}),
        ('job!~"cloudera|azure"', {"name": "job", "value": "cloudera|azure", "matchType": "!~"}),
        ('flag=~"EG1_F|EG2_F"', {"name": "flag", "value": "EG1_F|EG2_F", "matchType": "=~"}),
        ('summary!="say \\"hi\\""', {"name": "summary", "value": 'say "hi"', "matchType": "!="}),
        (' team = "field-ops" ', {"name": "team", "value": "field-ops", "matchType": "="}),
        ('comuna=""', {"name": "comuna", "value": "", "matchType": "="}),
    ],
)
def test_parse_matcher(text: str, expected: dict[str, str]) -> None:
    assert am.parse_matcher(text) == expected


def test_brace_matcher_sets_keep_commas_inside_quotes() -> None:
    assert am.convert_matchers("t", ['{a="x,y", b=~"1|2"}']) == [
        {"name": "a", "value": "x,y", "matchType": "="},
        {"name": "b", "value": "1|2", "matchType": "=~"},
    ]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda c: c["time_intervals"][0].__setitem__("location", "America/Santiago"),
            "time_intervals[0]: cannot express location",
        ),
        (
            lambda c: c["receivers"].append(
                {"name": "mail", "email_configs": [{"to": "noc@example.invalid"}]}
            ),
            "receivers[4]: cannot express email_configs",
        ),
        (
            lambda c: (
                c["route"]["routes"][0].__setitem__("group_by", ["..."])
                or c["route"].__setitem__("matchers", ["a=b"])
            ),
            "route: the root route cannot have matchers",
        ),
        (lambda c: c["route"]["routes"][0].__setitem__("receiver", "nobody"), "unknown receiver 'nobody'"),
        (
            lambda c: c["route"]["routes"][2].__setitem__("active_time_intervals", ["lunch"]),
            "unknown time interval 'lunch'",
        ),
        (lambda c: c["route"]["routes"][1].__setitem__("matchers", ["maintenance"]), "cannot parse matcher"),
        (
            lambda c: c["global"].__setitem__("smtp_smarthost", "mail:25"),
            "global: cannot express smtp_smarthost",
        ),
        (
            lambda c: c["receivers"][0]["webhook_configs"][0].__setitem__("url_file", "/x"),
            "cannot express url_file",
        ),
        (
            lambda c: c["receivers"][0]["webhook_configs"][0]["http_config"].__setitem__("tls_config", {}),
            "http_config: cannot express tls_config",
        ),
    ],
)
def test_what_cannot_be_expressed_is_refused_by_name(mutate: Any, message: str) -> None:
    config = copy.deepcopy(FIXTURE)
    mutate(config)
    with pytest.raises(
        am.ConversionError, match=message.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")
    ):
        am.convert(config, TOKEN, REWRITE)
