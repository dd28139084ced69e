"""Receiver units: the action map (matchers, first match, templates, validation) and payload parsing."""

from __future__ import annotations

import json

import pytest

from receiver.config import ConfigError, Matcher, load_config, render
from receiver.intake import normalise_time, plan_alert
from receiver.keys import correlation_key
from receiver.payload import PayloadError, parse_notification
from tests.receiver_stack import ACTIONS_YML, alert, notification


@pytest.fixture(scope="module")
def config():
    return load_config(ACTIONS_YML, env={})


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ('severity="critical"', {"severity": "critical"}, True),
        ('severity="critical"', {"severity": "warning"}, False),
        ('severity!="critical"', {}, True),
        ('command=~"time_sync|retry_last_activity"', {"command": "retry_last_activity"}, True),
        ('command=~"time_sync"', {"command": "time_sync_extra"}, False),  # anchored, like Alertmanager
        ('command!~"time_.*"', {"command": "time_sync"}, False),
        ("procedure=SM04", {"procedure": "SM04"}, True),
        ('meter=""', {}, True),  # a missing label is the empty string, as in Alertmanager
        (r'meter=~"MED\d+"', {"meter": "MED0012"}, True),
    ],
)
def test_matcher(text, labels, expected):
    assert Matcher.parse(text).matches(labels) is expected


@pytest.mark.parametrize("bad", ["severity", 'severity=="x"', 'sev ity="x"', 'x=~"("'])
def test_bad_matcher_is_a_config_error(bad):
    with pytest.raises(ConfigError):
        Matcher.parse(bad)


@pytest.mark.parametrize(
    ("labels", "rule", "action"),
    [
        ({"maintenance": "remote", "command": "time_sync"}, "remote-command", "smmeplus_command"),
        ({"maintenance": "remote", "command": "retry_last_activity"}, "remote-command", "smmeplus_command"),
        (
            {"maintenance": "remote", "command": "concentrator_modification"},
            "remote-command",
            "smmeplus_command",
        ),
        ({"maintenance": "remote", "command": "meter_status_check"}, "remote-command", "smmeplus_command"),
        (
            {"maintenance": "remote", "command": "recommission_meter"},
            "remote-recommission-meter",
            "smmeplus_command",
        ),
        (
            {"maintenance": "remote", "command": "reboot_universe"},
            "remote-without-known-command",
            "jira_ticket",
        ),
        ({"maintenance": "field", "procedure": "SM04"}, "field-meter-sm04", "field_order"),
        ({"maintenance": "field", "procedure": "SM05"}, "field-concentrator-sm05", "field_order"),
        ({"maintenance": "field", "procedure": "SM15"}, "field-operations-sm15", "field_order"),
        ({"maintenance": "specialist", "severity": "warning"}, "specialist-ticket", "jira_ticket"),
        ({"maintenance": "specialist", "severity": "info"}, "info-only", "record"),
        ({"maintenance": "outage", "severity": "critical"}, "grid-outage", "outage_notice"),
        (
            {"maintenance": "support", "contract": "m2m-operator", "severity": "warning"},
            "mobile-operator-sla-incident",
            "jira_ticket",
        ),
        (
            {"maintenance": "support", "contract": "opengate", "severity": "warning"},
            "opengate-support",
            "jira_ticket",
        ),
        (
            {"maintenance": "support", "contract": "cloudera", "severity": "critical"},
            "datalake-support",
            "jira_ticket",
        ),
        (
            {"maintenance": "support", "contract": "smmeplus", "severity": "info"},
            "smmeplus-support",
            "jira_ticket",
        ),
        ({"maintenance": "none", "severity": "warning"}, "recorded-only", "record"),
        ({"maintenance": "platform", "severity": "critical", "team": "observability"}, "default", "record"),
        ({"maintenance": "scheduled", "severity": "warning"}, "scheduled-maintenance-ticket", "jira_ticket"),
        ({"maintenance": "scheduled", "severity": "info"}, "scheduled-maintenance", "record"),
        ({}, "default", "record"),
    ],
)
def test_shipped_action_map_routes_each_rung(config, labels, rule, action):
    got = config.route(labels)
    assert (got.name, got.action) == (rule, action)


def test_templates_fill_labels_and_annotations_recursively():
    out = render(
        {"a": "{{ labels.meter }}-{{annotations.summary}}", "b": ["{{ labels.none }}x"], "c": 3},
        {"meter": "M1"},
        {"summary": "S"},
    )
    assert out == {"a": "M1-S", "b": ["x"], "c": 3}


def test_harmful_commands_need_approval_whatever_the_rule(config):
    # no rule sets approval for disconnect_meter: the action type's list does
    data = json.loads(json.dumps(_data()))
    data["rules"].insert(
        0,
        {
            "name": "disconnect",
            "matchers": ['alertname="Disconnect"'],
            "action": "smmeplus_command",
            "params": {"command": "disconnect_meter"},
        },
    )
    cfg = load_config(data=data, env={})
    planned = plan_alert(cfg, "smmc-actions", _alert_model(alert("Disconnect", meter="M1")))
    assert planned.status == "awaiting_approval" and planned.approval_required
    planned = plan_alert(
        cfg,
        "smmc-actions",
        _alert_model(alert("X", maintenance="remote", command="time_sync", concentrator="C1")),
    )
    assert planned.status == "pending" and not planned.approval_required


def _data():
    import yaml

    return yaml.safe_load(ACTIONS_YML.read_text())


def _alert_model(a):
    return parse_notification(json.dumps(notification("smmc-actions", [a])).encode()).alerts[0]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["rules"].append({"name": "x", "action": "teleport"}), "action 'teleport'"),
        (lambda d: d["rules"].append({"name": "remote-command", "action": "record"}), "unique"),
        (
            lambda d: d["rules"].append({"name": "y", "action": "record", "matchers": ["bad matcher"]}),
            "bad matcher",
        ),
        (lambda d: d["receivers"].update({"x": {"kind": "pager"}}), "kind must be"),
        (lambda d: d["action_types"]["jira_ticket"].pop("project"), "needs a project"),
        (lambda d: d["targets"].pop("jira"), "need a `jira` target"),
        (lambda d: d["rules"].append({"name": "z", "action": "record", "colour": "red"}), "unknown keys"),
    ],
)
def test_config_errors_name_the_problem(mutate, message):
    data = _data()
    mutate(data)
    with pytest.raises(ConfigError, match=message):
        load_config(data=data, env={})


def test_secrets_come_from_env_or_file(tmp_path):
    secret = tmp_path / "jira-token"
    secret.write_text("from-file\n")
    cfg = load_config(
        ACTIONS_YML,
        env={
            "SMMC_JIRA_TOKEN_FILE": str(secret),
            "SMMC_SMMEPLUS_TOKEN": "env-tok",
            "SMMC_JIRA_URL": "https://jira.example",
        },
    )
    assert cfg.targets["jira"].token == "from-file"
    assert cfg.targets["jira"].base_url == "https://jira.example"
    assert cfg.targets["smmeplus"].token == "env-tok"


def test_payload_accepts_unknown_fields_and_rejects_bad_ones():
    body = notification("smmc-actions", [alert("A", severity="warning")])
    body["someFutureField"] = {"x": 1}
    body["alerts"][0]["anotherNewField"] = True
    assert parse_notification(json.dumps(body).encode()).alerts[0].alertname == "A"
    for broken, reason in [
        (b"not json", "not JSON"),
        (b"[]", "JSON object"),
        (json.dumps({**body, "version": "3"}).encode(), "unsupported webhook version"),
        (json.dumps({k: v for k, v in body.items() if k != "alerts"}).encode(), "alerts"),
        (json.dumps({**body, "alerts": [{**body["alerts"][0], "status": "maybe"}]}).encode(), "status"),
        (
            json.dumps({**body, "alerts": [{**body["alerts"][0], "startsAt": "yesterday"}]}).encode(),
            "RFC 3339",
        ),
    ]:
        with pytest.raises(PayloadError, match=reason):
            parse_notification(broken)


def test_content_key_ignores_the_sender_but_not_the_alert_state():
    a = alert("A", severity="warning")
    one = parse_notification(json.dumps(notification("smmc-actions", [a], "http://am-0")).encode())
    two = parse_notification(json.dumps(notification("smmc-actions", [a], "http://am-1")).encode())
    assert one.content_key() == two.content_key()
    resolved = dict(a, status="resolved", endsAt="2026-05-04T11:00:00Z")
    three = parse_notification(json.dumps(notification("smmc-actions", [resolved])).encode())
    assert three.content_key() != one.content_key()


def test_times_and_correlation_keys_are_normalised(config):
    assert normalise_time("2026-05-04T10:00:00Z") == normalise_time("2026-05-04T06:00:00.000000000-04:00")
    labels = config.correlation_labels
    k1 = correlation_key(
        config.correlation_labels, {"alertname": "A", "concentrator": "C1", "severity": "warning"}
    )
    k2 = correlation_key(
        config.correlation_labels, {"alertname": "A", "concentrator": "C1", "severity": "critical"}
    )
    k3 = correlation_key(labels, {"alertname": "A", "concentrator": "C2"})
    assert k1 == k2 != k3
