"""docs/process.md proves the seed's process: every row's alert, rung, `for`, route, action and queue, and
every step of the seed has a row. Also the audit's defects, each as an assertion on the shipped config."""

from __future__ import annotations

import re
from dataclasses import dataclass

import promql_parser
import pytest

from receiver.config import ConfigError, load_config, render
from smmc.catalogs import load_catalogs
from smmc.rules import lint, routing, tools
from smmc.rules.model import REPO_ROOT, Alert, load

DOC = REPO_ROOT / "docs" / "process.md"
ACTIONS = REPO_ROOT / "alertmanager" / "actions.yml"
# The seed's SIM states (section d., "Estado de servicio Simcard"); ACTIVE is the healthy one.
SEED_SIM_STATES = ("ACTIVE", "TESTING", "RETIRED", "SUSPENDED", "READY", "REQUESTED", "DELETED", "BANNED")
FIXED_STEPS = {
    "concentrator.unreachable.remote",
    "concentrator.unreachable.field",
    "comm.presence.field",
    "comm.presence-alarm.field",
    "comm.ip-presence.field",
    "comm.rtt.field",
    "comm.traffic.field",
    "comm.sim.field",
    "comm.escalation.support",
    "comm.opengate-platform.support",
    "comm.other-alarm.record",
    "cloudera.job.critical-failed",
    "cloudera.job.critical-late",
    "cloudera.job.non-critical",
    "cloudera.resources.storage",
    "cloudera.resources.hosts",
    "cloudera.resources.services",
    "smmeplus.eventhub.support",
}
CSW_RUNGS = {
    "alta": ("remote", "specialist", "field"),
    "media": ("remote", "specialist"),
    "baja": ("record",),
}
# the work-order error's rung in the catalog -> the steps the seed's table gives it
WO_STEPS = {"field": ("retry", "field"), "retry": ("retry", "specialist"), "specialist": ("specialist",)}
WO_STEPS["remote"] = ("remote",)


@dataclass(frozen=True)
class Row:
    step: str
    seed: str
    covers: dict[str, list[str]]
    alert: str
    planned: bool
    threshold: str
    rung: str
    route: tuple[str, ...]
    action: str
    queue: str


def _cells(line: str) -> list[str]:
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def parse_rows(text: str) -> list[Row]:
    start = text.index("## Every step")
    end = text.index("\n## ", start + 1)
    rows = []
    for line in text[start:end].splitlines():
        if not line.startswith("| `"):
            continue
        cells = _cells(line)
        assert len(cells) == 9, f"a row has 9 cells: {line}"
        step, seed, covers, alert, threshold, rung, route, action, queue = cells
        cover: dict[str, list[str]] = {}
        if covers != "—":
            for part in covers.split(";"):
                label, _, values = part.partition(":")
                cover[label.strip()] = [v.strip() for v in values.split(",")]
        name = re.sub(r"^\[(\w+)\]\(.*\)$", r"\1", alert)
        planned = name.endswith("(planned)")
        rows.append(
            Row(
                step=step.strip("`"),
                seed=seed,
                covers=cover,
                alert=name.removesuffix("(planned)").strip(),
                planned=planned,
                threshold=threshold,
                rung=rung,
                route=tuple(r.strip() for r in route.split(",")),
                action=action,
                queue=queue,
            )
        )
    return rows


@pytest.fixture(scope="module")
def rs():
    return load(REPO_ROOT)


@pytest.fixture(scope="module")
def rows() -> list[Row]:
    return parse_rows(DOC.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def config():
    return load_config(ACTIONS, env={})


def _alert(rs, name: str) -> Alert | None:
    try:
        return rs.alert(name)
    except KeyError:
        return None


def _selectors(expr: str) -> list[promql_parser.VectorSelector]:
    return lint._selectors(expr)


def covers(a: Alert, wanted: dict[str, list[str]]) -> list[str]:
    """The row's values its alert's expression does not select (a selector with a matcher on one of the
    row's labels must accept every combination of the row's values)."""
    missing = []
    selectors = [s for s in _selectors(a.expr) if any(m.name in wanted for m in s.matchers.matchers)]
    if not selectors:
        return [f"no selector of {a.name} matches on {sorted(wanted)}"]
    combos: list[dict[str, str]] = [{}]
    for label, values in wanted.items():
        combos = [{**c, label: v} for c in combos for v in values]
    for combo in combos:
        ok = any(
            all(lint._matches(m.op, m.value, combo[m.name]) for m in s.matchers.matchers if m.name in combo)
            for s in selectors
        )
        if not ok:
            missing.append(f"{a.name} does not select {combo}")
    return missing


def test_the_table_parses_and_steps_are_unique(rows):
    assert len(rows) >= 70
    steps = [r.step for r in rows]
    assert len(steps) == len(set(steps)), "a step id appears twice"


def test_every_row_alert_exists_with_its_rung_for_and_selection(rs, rows):
    problems = []
    for r in rows:
        a = _alert(rs, r.alert)
        if a is None:
            if not (r.planned and r.step.startswith("cloudera.resources.")):
                problems.append(f"{r.step}: alert {r.alert} does not exist")
            continue
        rung = "none" if r.rung == "record" else r.rung
        if a.labels["maintenance"] != rung:
            problems.append(
                f"{r.step}: {a.name} is on rung {a.labels['maintenance']}, the table says {r.rung}"
            )
        m = re.search(r"`for: (\w+)`", r.threshold)
        if not m:
            problems.append(f"{r.step}: the threshold cell gives no `for: ...`")
        elif m.group(1) != (a.for_text if a.for_seconds else "0s"):
            problems.append(f"{r.step}: {a.name} has for {a.for_text}, the table says {m.group(1)}")
        if r.covers:
            problems += [f"{r.step}: {p}" for p in covers(a, r.covers)]
    assert problems == []


def test_every_row_routes_to_its_receivers_and_queue(rs, rows, config):
    amtool = tools.amtool()
    problems = []
    for r in rows:
        a = _alert(rs, r.alert)
        if a is None:
            continue
        labels = routing._labels(a)
        args = [amtool, "config", "routes", "test", f"--config.file={REPO_ROOT / routing.CONFIG}"]
        result = tools.run(args + [f'{k}="{v}"' for k, v in sorted(labels.items())])
        got = tuple(x for x in result.stdout.strip().split(",") if x)
        if got != r.route:
            problems.append(f"{r.step}: amtool routes {a.name} to {got}, the table says {r.route}")
        rule = config.route(labels)
        if rule.action != r.action:
            problems.append(
                f"{r.step}: the receiver runs {rule.action} for {a.name}, the table says {r.action}"
            )
            continue
        if rule.action == "smmeplus_command":
            got_queue = render(rule.params["command"], labels, {})
            if labels.get("command") != got_queue:
                problems.append(f"{r.step}: command {got_queue} is not the alert's {labels.get('command')}")
        elif rule.action == "record":
            got_queue = "—"
        else:
            got_queue = str(rule.params.get("queue"))
            procedure = (
                config.queues[got_queue].settings.get("procedure") if got_queue in config.queues else None
            )
            if procedure is not None and procedure != labels.get("procedure"):
                problems.append(
                    f"{r.step}: queue {got_queue} is {procedure}, the alert says {labels.get('procedure')}"
                )
        if got_queue != r.queue:
            problems.append(f"{r.step}: {a.name} goes to {got_queue}, the table says {r.queue}")
    assert problems == []


def test_every_meter_flag_with_a_step_has_a_row_on_that_step(rows):
    cat = load_catalogs()
    first_rows = {}
    for r in rows:
        for flag in r.covers.get("flag", []):
            first_rows.setdefault(flag, set()).add(r.rung)
    missing = [
        f"{f.acronym} ({f.maintenance})"
        for f in cat.meter_flags
        if f.maintenance != "none" and f.maintenance not in first_rows.get(f.acronym, set())
    ]
    assert missing == [], "meter flags whose step has no row"


def test_every_work_order_error_row_of_the_seed_has_its_steps(rows):
    by_step = {r.step: r for r in rows}
    cat = load_catalogs()
    missing = []
    for e in cat.wo_error_rules:
        for rung in WO_STEPS[e.maintenance]:
            r = by_step.get(f"wo.{e.id}.{rung}")
            if r is None:
                missing.append(f"wo.{e.id}.{rung}")
            else:
                assert r.covers == {"category": [e.category], "maintenance": [e.maintenance]}, r.step
                assert e.error in r.seed, f"{r.step} quotes the seed's error text"
    assert missing == []
    assert len(cat.wo_error_rules) >= 18


def test_every_csw_priority_communications_case_cloudera_and_event_hub_has_a_row(rows):
    steps = {r.step for r in rows}
    priorities = {f.priority for f in load_catalogs().csw_flags}
    assert priorities == set(CSW_RUNGS)
    required = {f"csw.{p}.{rung}" for p, rungs in CSW_RUNGS.items() for rung in rungs} | FIXED_STEPS
    assert sorted(required - steps) == []
    sim = next(r for r in rows if r.step == "comm.sim.field")
    for state in SEED_SIM_STATES:
        assert state in sim.seed, f"the SIM row quotes the seed's state {state}"
    assert set(sim.covers["state"]) == set(SEED_SIM_STATES) - {"ACTIVE"}


def test_a_missing_step_fails_the_test(rows):
    """The coverage checks bite: drop one row and the seed's step is reported."""
    text = DOC.read_text(encoding="utf-8")
    line = next(x for x in text.splitlines() if x.startswith("| `wo.repeater_failure.field`"))
    fewer = parse_rows(text.replace(line + "\n", ""))
    with pytest.raises(AssertionError):
        test_every_work_order_error_row_of_the_seed_has_its_steps(fewer)
    line = next(x for x in text.splitlines() if x.startswith("| `meter.provisional-key.specialist`"))
    with pytest.raises(AssertionError):
        test_every_meter_flag_with_a_step_has_a_row_on_that_step(parse_rows(text.replace(line + "\n", "")))


# -- the audit's defects, each on the shipped configuration ------------------------------------------------
COMMUNICATION_CASES = (
    "ModemWithoutPresence",
    "ModemIpPresenceNok",
    "ModemRttHigh",
    "ModemTrafficOverLimit",
    "SimNotActiveInService",
)


def test_communications_go_to_the_field_first_then_the_operators_sla(rs, config):
    for name in COMMUNICATION_CASES:
        a = rs.alert(name)
        assert (a.labels["maintenance"], a.labels.get("procedure")) == ("field", "SM05"), name
        rule = config.route(routing._labels(a))
        assert (rule.action, rule.params["queue"]) == ("field_order", "field-sm05"), name
    escalation = rs.alert("ModemIncidentEscalation")
    assert escalation.for_seconds > max(rs.alert(n).for_seconds for n in COMMUNICATION_CASES)
    assert set(rs.params["communication_field_alerts"]) == set(COMMUNICATION_CASES)
    rule = config.route(routing._labels(escalation))
    assert (rule.action, rule.params["queue"], rule.params["project"]) == (
        "jira_ticket",
        "m2m-operator-sla",
        "M2M",
    )
    platform = config.route(routing._labels(rs.alert("OpenGatePlatformUnavailable")))
    assert (platform.params["queue"], platform.params["project"]) == ("opengate-support", "OGS")
    # OpenGate's presenceUnreachableThresHold alarm is acted on (SM05), not only recorded
    assert covers(rs.alert("ModemWithoutPresence"), {"rule": ["presenceUnreachableThresHold"]}) == []
    assert covers(rs.alert("OpenGateAlarmOpen"), {"rule": ["presenceUnreachableThresHold"]}) != []


def test_each_kind_of_ticket_goes_to_its_queue(rs, config):
    """A specialist alert goes to SpringLab only when it is the specialist team's; a support alert to its
    contract's queue; a field alert to its procedure's."""
    contract_queue = {
        "m2m-operator": "m2m-operator-sla",
        "opengate": "opengate-support",
        "cloudera": "datalake-support",
        "smmeplus": "smmeplus-support",
    }
    for a in rs.alerts:
        labels = routing._labels(a)
        rule = config.route(labels)
        m = a.labels["maintenance"]
        if m == "support":
            assert rule.params["queue"] == contract_queue[a.labels["contract"]], a.name
        elif m == "specialist" and a.labels["severity"] != "info":
            assert (a.labels["team"], rule.params["queue"]) == ("specialist", "springlab"), a.name
        elif m == "field":
            assert rule.params["queue"] == f"field-{a.labels['procedure'].lower()}", a.name
        elif m == "remote":
            assert rule.action == "smmeplus_command", a.name
    projects = {name: q.settings["project"] for name, q in config.queues.items()}
    assert len({projects[q] for q in contract_queue.values()} | {projects["springlab"]}) == 5


def test_concentrator_conditions_start_remote(rs, config):
    for name in ("ConcentratorConditionHigh", "ConcentratorConditionMedium"):
        a = rs.alert(name)
        assert a.labels["maintenance"] == "remote"
        rule = config.route(routing._labels(a))
        assert (rule.action, render(rule.params["command"], routing._labels(a), {})) == (
            "smmeplus_command",
            "concentrator_status_check",
        )
        specialist = rs.alert(name + "Specialist")
        assert specialist.labels["maintenance"] == "specialist" and specialist.for_seconds > a.for_seconds


def test_event_hub_goes_to_smmeplus_support_at_azure_severity_3(rs, config):
    a = rs.alert("SmmeplusEventHubNoOutgoingBytes")
    # Azure Monitor's Severity 3 is "Informational": info here (nobody paged), still a ticket
    assert (a.labels["severity"], a.labels["team"], a.labels["contract"]) == (
        "info",
        "smmeplus-support",
        "smmeplus",
    )
    rule = config.route(routing._labels(a))
    assert (rule.action, rule.params["queue"], rule.params["project"]) == (
        "jira_ticket",
        "smmeplus-support",
        "SMP",
    )
    assert routing.expected_receivers(routing._labels(a)) == ("smmc-actions",)


def test_the_action_map_rejects_an_unknown_queue_or_a_queue_on_a_command():
    data = __import__("yaml").safe_load(ACTIONS.read_text(encoding="utf-8"))
    data["rules"][0] = {
        "name": "x",
        "matchers": ['alertname="X"'],
        "action": "jira_ticket",
        "queue": "nowhere",
    }
    with pytest.raises(ConfigError, match="queue 'nowhere' is not one of"):
        load_config(data=data, env={})
    data["rules"][0] = {"name": "x", "matchers": ['alertname="X"'], "action": "record", "queue": "springlab"}
    with pytest.raises(ConfigError, match="a queue is for ticket actions"):
        load_config(data=data, env={})


# -- the queues through the real receiver and the fake JIRA ----------------------------------------------
@pytest.mark.parametrize(
    ("alertname", "project", "issue_type", "queue"),
    [
        ("ModemIncidentEscalation", "M2M", "Incident", "m2m-operator-sla"),
        ("OpenGatePlatformUnavailable", "OGS", "Incident", "opengate-support"),
        ("CriticalDataJobFailed", "DLK", "Incident", "datalake-support"),
        ("SmmeplusEventHubNoOutgoingBytes", "SMP", "Incident", "smmeplus-support"),
        ("MeterEventRegisterNearFull", "SPEC", "Task", "springlab"),
        ("MeterProgrammingStuck", "SPEC", "Scheduled Maintenance", "springlab-scheduled"),
        ("ModemWithoutPresence", "FIELD", "Work Order", "field-sm05"),
        ("MeterHardwareFaultField", "FIELD", "Work Order", "field-sm04"),
    ],
)
def test_the_receiver_opens_each_kind_of_ticket_in_its_queue(
    rs, tmp_path, alertname, project, issue_type, queue
):
    from tests.receiver_stack import ReceiverStack, alert, notification, settle

    labels = {k: v for k, v in routing._labels(rs.alert(alertname)).items() if k != "alertname"}
    with ReceiverStack(tmp_path) as stack:
        stack.post("smmc-actions", notification("smmc-actions", [alert(alertname, **labels)]))
        [done] = settle(stack)
        assert done["status"] == "succeeded", done
        [issue] = stack.jira_issues()
    assert issue["key"].startswith(project + "-")
    assert issue["fields"]["issuetype"]["name"] == issue_type
    assert f"smmc-queue-{queue}" in issue["fields"]["labels"]


def test_every_alert_outside_the_monitoring_itself_traces_to_a_step(rs, rows):
    """An alert that acts on the utility's equipment or contracts has a row: a new one must say which step
    of the seed it implements (the platform alerts watch this stack itself, not the seed's process)."""
    traced = {r.alert for r in rows}
    untraced = [a.name for a in rs.alerts if a.labels["maintenance"] != "platform" and a.name not in traced]
    assert untraced == []
