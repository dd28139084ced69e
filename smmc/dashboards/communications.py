"""Communications (OpenGate): the routers (modems) and SIM cards that connect the concentrators."""

from __future__ import annotations

from smmc.dashboards import panels as p
from smmc.dashboards.alert_thresholds import alert_steps
from smmc.dashboards.panels import Query

KEY = "communications"
TITLE = "Communications (OpenGate)"

MODEM = '{modem=~"$modem"}'
PRESENT = f"opengate_modem_present{MODEM}"
IP_PRESENCE = f"opengate_modem_ip_presence{MODEM}"
RTT = f"opengate_modem_rtt_seconds{MODEM}"
SENT = f"opengate_modem_daily_sent_bytes{MODEM}"
RECEIVED = f"opengate_modem_daily_received_bytes{MODEM}"
PRESENT_STEPS = ((None, "red"), (0.9, "orange"), (0.98, "green"))
# red where ModemRttHigh fires
RTT_STEPS = alert_steps("ModemRttHigh", "rtt_max_seconds", warn_from=0.5)
TRAFFIC_STEPS = ((None, "green"), (50 * 2**20, "orange"), (200 * 2**20, "red"))
# OpenGate's SIM administrative states: in service, on its way in or out, out of service
SIM_STATE_COLOURS = {
    "ACTIVE": ("ACTIVE", "green"),
    **{state: (state, "orange") for state in ("REQUESTED", "READY", "REPAIR", "TESTING")},
    **{state: (state, "red") for state in ("SUSPENDED", "DELETED", "RETIRED", "BANNED")},
}


def build():
    variables = [
        p.query_variable(
            "modem",
            "Router (modem)",
            "label_values(opengate_modem_info, modem)",
            "OpenGate device identifier of the router.",
        ),
        p.query_variable(
            "severity",
            "Alarm severity",
            "label_values(opengate_alarms, severity)",
            "OpenGate alarm severity (URGENT, INFORMATIVE, ...).",
        ),
    ]
    presence = [
        p.geomap(
            "Concentrators' routers by presence",
            "Each concentrator of the inventory at its coordinates, green when the router that carries "
            "it (smmc_concentrator_info modem) has IP presence in OpenGate, red when not.",
            Query(
                "max by (concentrator, comuna, modem, latitude, longitude) (smmc_concentrator_info) "
                f"* on (modem) group_left () max by (modem) ({PRESENT})"
            ),
            layer="markers",
            layer_name="Routers",
            unit="short",
            steps=((None, "red"), (1, "green")),
            links=[p.drilldown("Router ${__data.fields.modem}", KEY, {"modem": "modem"}, from_fields=True)],
        ),
        p.stat(
            "Routers present",
            "Routers whose unified presence is IP.",
            [Query(f"sum({PRESENT})")],
            unit="short",
            steps=p.OK_ONLY,
            width=3,
        ),
        p.stat(
            "Routers without presence",
            "Routers whose unified presence is not IP.",
            [Query(f"sum({PRESENT} == bool 0)")],
            unit="short",
            steps=p.ANY_IS_BAD,
            width=3,
        ),
        p.stat(
            "Share of routers present",
            "Routers with IP presence as a share of all routers.",
            [Query(f"avg({PRESENT})")],
            unit="percentunit",
            steps=PRESENT_STEPS,
            width=3,
        ),
        p.stat(
            "IP presence NOK",
            "Routers whose IP presence datastream says NOK.",
            [Query(f"sum({IP_PRESENCE} == bool 0)")],
            unit="short",
            steps=p.ANY_IS_BAD,
            width=3,
        ),
        p.timeseries(
            "Presence history",
            "Routers with and without presence, and with IP presence NOK.",
            [
                Query(f"sum({PRESENT})", "present"),
                Query(f"sum({PRESENT} == bool 0)", "without presence"),
                Query(f"sum({IP_PRESENCE} == bool 0)", "IP presence NOK"),
            ],
            unit="short",
            steps=p.OK_ONLY,
        ),
    ]
    rtt = [
        p.timeseries(
            "Round-trip time across routers",
            "Median, 95th percentile and worst RTT of the routers.",
            [
                Query(f"quantile(0.5, {RTT})", "median"),
                Query(f"quantile(0.95, {RTT})", "p95"),
                Query(f"max({RTT})", "worst"),
            ],
            unit="s",
            steps=RTT_STEPS,
        ),
        p.bargauge(
            "Top 10 routers by RTT",
            "The routers with the longest round-trip time. Click one to filter the dashboard by it.",
            [Query(f"topk(10, {RTT})", "{{modem}}")],
            unit="s",
            steps=RTT_STEPS,
            links=[p.drilldown("Router ${__field.labels.modem}", KEY, {"modem": "modem"})],
        ),
    ]
    traffic = [
        p.timeseries(
            "Traffic today",
            "Bytes sent and received by all selected routers so far in the current accounting day "
            "(OpenGate's per-day traffic datastreams, which reset each day).",
            [Query(f"sum({SENT})", "sent"), Query(f"sum({RECEIVED})", "received")],
            unit="bytes",
            steps=p.OK_ONLY,
        ),
        p.timeseries(
            "Traffic per day, last 30 days",
            "One bar per day over the month: the highest per-day value in the 24 hours before each bar, "
            "i.e. the day's total traffic of the selected routers.",
            [
                Query(f"sum(max_over_time({SENT}[1d]))", "sent"),
                Query(f"sum(max_over_time({RECEIVED}[1d]))", "received"),
            ],
            unit="bytes",
            steps=p.OK_ONLY,
            bars=True,
            interval="1d",
            time_from="30d",
            width=24,
        ),
        p.bargauge(
            "Top 10 consumers today",
            "Routers with the most bytes sent plus received today.",
            [Query(f"topk(10, {SENT} + {RECEIVED})", "{{modem}}")],
            unit="bytes",
            steps=TRAFFIC_STEPS,
            width=6,
            links=[p.drilldown("Router ${__field.labels.modem}", KEY, {"modem": "modem"})],
        ),
        p.bargauge(
            "Top 10 consumers by peak daily traffic, 30 days",
            "Routers with the highest daily traffic (sent plus received) seen in the last 30 days.",
            [Query(f"topk(10, max_over_time({SENT}[30d]) + max_over_time({RECEIVED}[30d]))", "{{modem}}")],
            unit="bytes",
            steps=TRAFFIC_STEPS,
            width=6,
            links=[p.drilldown("Router ${__field.labels.modem}", KEY, {"modem": "modem"})],
        ),
    ]
    sims_and_alarms = [
        p.bargauge(
            "SIMs billable, by state",
            "SIM cards in the states the contract bills (ACTIVE, TESTING, RETIRED, SUSPENDED).",
            [Query('sort_desc(sum by (state) (opengate_sims{billable="true"}))', "{{state}}")],
            unit="short",
            steps=p.OK_ONLY,
            width=6,
        ),
        p.bargauge(
            "SIMs not billable, by state",
            "SIM cards in states that are not billed (READY, REQUESTED, DELETED, BANNED).",
            [Query('sort_desc(sum by (state) (opengate_sims{billable="false"}))', "{{state}}")],
            unit="short",
            steps=p.OK_ONLY,
            width=6,
        ),
        p.bargauge(
            "Open device alarms by rule and severity",
            "OpenGate alarms in status OPEN per rule (maxTrafficBytesReached, "
            "presenceUnreachableThresHold...) and severity.",
            [
                Query(
                    'sort_desc(rule_severity:opengate_alarm_open:count{severity=~"$severity"})',
                    "{{rule}} ({{severity}})",
                )
            ],
            unit="short",
            steps=p.ANY_IS_WARNING,
            width=12,
        ),
        p.table(
            "Open alarms per router",
            "Every open OpenGate alarm with its router.",
            [Query('opengate_alarm_open{modem=~"$modem",severity=~"$severity"}')],
            unit="short",
            steps=p.OK_ONLY,
            columns={"modem": "Router", "rule": "Rule", "severity": "Severity"},
            width=24,
            height=8,
            links=[p.drilldown("Router ${__data.fields.modem}", KEY, {"modem": "modem"}, from_fields=True)],
        ),
    ]
    modems = [
        p.table(
            "Routers",
            "The seed's modem table: presence, its source and date, IP presence, RTT and signal, and the "
            "administrative state of the SIM in each router (not ACTIVE: SimNotActiveInService).",
            [
                Query(f"opengate_modem_presence_info{MODEM}"),
                Query(f"opengate_modem_presence_timestamp_seconds{MODEM} * 1000"),
                Query(IP_PRESENCE),
                Query(RTT),
                Query(f"opengate_modem_signal_strength_dbm{MODEM}"),
                Query(f"opengate_modem_sim_state{MODEM}"),
            ],
            unit="none",
            steps=p.OK_ONLY,
            join_by="modem",
            columns={
                "modem": "Router",
                "unified_presence": "Presence",
                "source": "Presence source",
                "Value #B": "Presence date",
                "Value #C": "IP presence",
                "Value #D": "RTT",
                "Value #E": "Signal",
                "state": "SIM state",
            },
            column_units={"Value #B": "dateTimeAsIso", "Value #D": "s", "Value #E": "dBm"},
            column_mappings={
                "Value #C": p.value_text({"1": ("OK", "green"), "0": ("NOK", "red")}),
                "state": p.value_text(SIM_STATE_COLOURS),
            },
            sort_by="RTT",
            height=12,
            links=[p.drilldown("Router ${__data.fields.modem}", KEY, {"modem": "modem"}, from_fields=True)],
        ),
    ]
    return p.dashboard(
        KEY,
        TITLE,
        "Routers and SIM cards from OpenGate: presence, RTT, traffic, SIM states and device alarms.",
        ["communications", "opengate"],
        variables,
        [
            ("Presence", presence),
            ("Round-trip time", rtt),
            ("Traffic", traffic),
            ("SIMs and alarms", sims_and_alarms),
            ("Routers", modems),
        ],
    )
