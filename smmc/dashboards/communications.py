"""Communications (OpenGate): the routers (modems) and SIM cards that connect the concentrators."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from smmc.dashboards import panels as p
from smmc.dashboards.alert_thresholds import alert_steps
from smmc.dashboards.panels import Query

KEY = "communications"
TITLE = "Communications (OpenGate)"

MODEM = '{modem=~"$modem"}'
# The comuna -> concentrator -> router chain comes from the inventory (smmc_concentrator_info modem). A
# router is out of scope when the inventory puts every concentrator it carries outside the selected
# comunas and concentrators; a router the inventory does not know stays in every scope.
SCOPE = 'comuna=~"$comuna",concentrator=~"$concentrator"'
OUT_OF_SCOPE = (
    "(max by (modem) (smmc_concentrator_info) "
    f"unless on (modem) max by (modem) (smmc_concentrator_info{{{SCOPE}}}))"
)


def scoped(selector: str) -> str:
    return f"({selector} unless on (modem) {OUT_OF_SCOPE})"


PRESENT = scoped(f"opengate_modem_present{MODEM}")
IP_PRESENCE = scoped(f"opengate_modem_ip_presence{MODEM}")
RTT = scoped(f"opengate_modem_rtt_seconds{MODEM}")
SENT = f"opengate_modem_daily_sent_bytes{MODEM}"
RECEIVED = f"opengate_modem_daily_received_bytes{MODEM}"
PRESENT_STEPS = ((None, "red"), (0.9, "orange"), (0.98, "green"))
# routers out: orange from one (an alert fires for it), red from 40 (1 % of Enel's ~4,000 routers)
ROUTERS_OUT_STEPS = p.levels(1, 40)
# open OpenGate alarms: the seed shows 345 open on an ordinary day
OPEN_ALARM_STEPS = p.levels(500, 1000)
# red where ModemRttHigh fires
RTT_STEPS = alert_steps("ModemRttHigh", "rtt_max_seconds", warn_from=0.5)
TRAFFIC_STEPS = p.levels(50 * 2**20, 200 * 2**20)
# OpenGate's SIM administrative states: in service, on its way in or out, out of service
SIM_STATE_TEXT = p.coloured(
    {
        "ACTIVE": "green",
        **dict.fromkeys(("REQUESTED", "READY", "REPAIR", "TESTING"), "orange"),
        **dict.fromkeys(("SUSPENDED", "DELETED", "RETIRED", "BANNED"), "red"),
    }
)
ROW_CAP = 500
# (title, description, billable label) of the SIM counts by state
SIMS_BY_BILLING = (
    (
        "SIMs billable, by state",
        "SIM cards in the states the contract bills (ACTIVE, TESTING, RETIRED, SUSPENDED).",
        "true",
    ),
    (
        "SIMs not billable, by state",
        "SIM cards in states that are not billed (READY, REQUESTED, DELETED, BANNED).",
        "false",
    ),
)
OPEN_ALARMS = 'opengate_alarm_open{modem=~"$modem",severity=~"$alarm_severity"}'
# the daily traffic datastreams reset each day: their day total is their highest value in the day, read
# on a 10-minute subquery grid (144 points a day per router instead of 1,440 samples at a 60 s poll)
TRAFFIC_STEP = "10m"
# each concentrator of the selection with its comuna and router (one row per concentrator)
CHAIN = (
    f"topk({ROW_CAP}, max by (concentrator, comuna, modem) "
    f'(smmc_concentrator_info{{{SCOPE},modem=~"$modem"}}))'
)


def _per_concentrator(router_metric: str, labels: str = "") -> str:
    """A router's value on each concentrator row it carries (joined on modem)."""
    keep = f" ({labels})" if labels else " ()"
    return f"{CHAIN} * on (modem) group_left{keep} {router_metric}"


def _per_router(router_metric: str, labels: str = "") -> str:
    """A router's own series in the selection (it carries every label of the router)."""
    return scoped(f"{router_metric}{MODEM}")


PRESENCE_COLUMNS = {"unified_presence": "Presence", "source": "Presence source"}


def _router_table(
    title: str,
    description: str,
    read: Callable[[str, str], str],
    rows: Sequence[Query],
    row_columns: dict[str, str],
    *,
    row_units: dict[str, str] | None = None,
    **options: Any,
):
    """The routers' IP presence, RTT, signal and SIM state after the `rows` queries (the rows and their
    presence, shown as `row_columns` with `row_units`): `read(metric, labels)` reads a router's metric on
    each row, with the labels to bring onto it."""
    ip, rtt, signal = (p.value_field(len(rows) + index, len(rows) + 4) for index in range(3))
    return p.table(
        title,
        description,
        [
            *rows,
            Query(read("opengate_modem_ip_presence", "")),
            Query(read("opengate_modem_rtt_seconds", "")),
            Query(read("opengate_modem_signal_strength_dbm", "")),
            Query(read("opengate_modem_sim_state", "state")),
        ],
        columns={**row_columns, ip: "IP presence", rtt: "RTT", signal: "Signal", "state": "SIM state"},
        column_units={**(row_units or {}), rtt: "s", signal: "dBm"},
        column_mappings={ip: p.one_zero("OK", "NOK"), "state": SIM_STATE_TEXT},
        column_steps={rtt: RTT_STEPS},
        sort_by="RTT",
        height=12,
        **options,
    )


def _routers_out(presence: str) -> str:
    """How many routers a presence series says are out (0)."""
    return f"sum({presence} == bool 0)"


def _router_link(*, from_fields: bool = False):
    """A link that filters this dashboard to the clicked router."""
    return p.object_link("Router", KEY, "modem", from_fields=from_fields)


def _top_routers(title: str, description: str, per_router: str, **options: Any):
    """The ten routers with the largest value of `per_router`, a bar each that filters the dashboard
    by its router."""
    return p.bargauge(
        title, description, [Query(f"topk(10, {per_router})", "{{modem}}")], links=[_router_link()], **options
    )


def build():
    variables = [
        *p.location_variables(),
        p.query_variable(
            "modem",
            "Router (modem)",
            "label_values(opengate_modem_info, modem)",
            "OpenGate device identifier of the router.",
        ),
        p.query_variable(
            "alarm_severity",
            "OpenGate alarm severity",
            "label_values(opengate_alarms, severity)",
            "OpenGate alarm severity (URGENT, INFORMATIVE, ...).",
        ),
    ]
    now = [
        p.share(
            "Share of routers present",
            "Routers (of the selected comunas and concentrators) with IP presence, as a share of them all.",
            f"avg({PRESENT})",
            steps=PRESENT_STEPS,
        ),
        p.count(
            "Routers without presence",
            "Routers whose unified presence is not IP. Orange from one (ModemWithoutPresence), red from 40 "
            "(1 % of the fleet).",
            _routers_out(PRESENT),
            steps=ROUTERS_OUT_STEPS,
        ),
        p.count(
            "IP presence NOK",
            "Routers whose IP presence datastream says NOK. Orange from one, red from 40 (1 % of the fleet).",
            _routers_out(IP_PRESENCE),
            steps=ROUTERS_OUT_STEPS,
        ),
        p.count(
            "Open device alarms",
            "OpenGate alarms in status OPEN (of the selected severities); the seed shows 345 on an ordinary "
            "day, so orange from 500 and red from 1,000.",
            'sum(rule_severity:opengate_alarm_open:count{severity=~"$alarm_severity"}) or on () vector(0)',
            steps=OPEN_ALARM_STEPS,
        ),
    ]
    chain = [
        _router_table(
            "Concentrators and their routers",
            "The seed's modem table, one row per concentrator of the selection (at most "
            f"{ROW_CAP}): its comuna and router, the router's presence, its source and date, IP presence, "
            "RTT, signal and the administrative state of its SIM (not ACTIVE: SimNotActiveInService). "
            "Click the comuna, concentrator or router for its dashboard.",
            _per_concentrator,
            [
                Query(_per_concentrator("opengate_modem_presence_info", "unified_presence, source")),
                Query(_per_concentrator("opengate_modem_presence_timestamp_seconds") + " * 1000"),
            ],
            {
                **p.object_columns("comuna", "concentrator", "modem"),
                **PRESENCE_COLUMNS,
                "Value #B": "Presence date",
            },
            row_units={"Value #B": "dateTimeAsIso"},
            join_by="concentrator",
            column_links=p.object_cell_links("comuna", "concentrator", "modem"),
        ),
    ]
    presence = [
        p.geomap(
            "Concentrators' routers by presence",
            "Each concentrator of the selection at its coordinates, green when the router that carries "
            "it (smmc_concentrator_info modem) has IP presence in OpenGate, red when not.",
            Query(
                "max by (concentrator, comuna, modem, latitude, longitude) "
                f'(smmc_concentrator_info{{{SCOPE},modem=~"$modem"}}) '
                f"* on (modem) group_left () max by (modem) ({PRESENT})"
            ),
            layer="markers",
            layer_name="Routers",
            unit="short",
            steps=((None, "red"), (1, "green")),
            links=[_router_link(from_fields=True)],
        ),
        p.timeseries(
            "Presence history",
            "Routers with and without presence, and with IP presence NOK.",
            [
                Query(f"sum({PRESENT})", "present"),
                Query(_routers_out(PRESENT), "without presence"),
                Query(_routers_out(IP_PRESENCE), "IP presence NOK"),
            ],
            unit="short",
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
        _top_routers(
            "Top 10 routers by RTT",
            "The routers with the longest round-trip time. Click one to filter the dashboard by it.",
            RTT,
            unit="s",
            steps=RTT_STEPS,
        ),
    ]
    traffic = [
        p.timeseries(
            "Traffic today",
            "Bytes sent and received by all selected routers so far in the current accounting day "
            "(OpenGate's per-day traffic datastreams, which reset each day).",
            [Query(f"sum({scoped(SENT)})", "sent"), Query(f"sum({scoped(RECEIVED)})", "received")],
            unit="bytes",
        ),
        p.timeseries(
            "Traffic per day, last 30 days",
            "One bar per day over the month: the highest per-day value in the 24 hours before each bar, "
            "i.e. the day's total traffic of the selected routers (read on a 10-minute grid, so a peak "
            "inside the 10 minutes before a reset can be missed).",
            [
                Query(f"sum({scoped(p.coarse_over_time('max', SENT, '1d', TRAFFIC_STEP))})", "sent"),
                Query(f"sum({scoped(p.coarse_over_time('max', RECEIVED, '1d', TRAFFIC_STEP))})", "received"),
            ],
            unit="bytes",
            bars=True,
            interval="1d",
            time_from="30d",
            width=24,
        ),
        _top_routers(
            "Top 10 consumers today",
            "Routers with the most bytes sent plus received today.",
            f"{scoped(SENT)} + {scoped(RECEIVED)}",
            unit="bytes",
            steps=TRAFFIC_STEPS,
        ),
        _top_routers(
            "Top 10 consumers by peak daily traffic, 30 days",
            "Routers with the highest daily traffic (sent plus received) seen in the last 30 days, read on "
            "an hourly grid (720 points per router instead of every sample).",
            f"{scoped(p.coarse_over_time('max', SENT, '30d', '1h'))} "
            f"+ {scoped(p.coarse_over_time('max', RECEIVED, '30d', '1h'))}",
            unit="bytes",
            steps=TRAFFIC_STEPS,
        ),
    ]
    sims_and_alarms = [
        *(
            p.breakdown(
                title,
                description,
                f'opengate_sims{{billable="{billable}"}}',
                ["state"],
                steps=p.NEUTRAL,
                width=6,
            )
            for title, description, billable in SIMS_BY_BILLING
        ),
        p.bargauge(
            "Open device alarms by rule and severity",
            "OpenGate alarms in status OPEN per rule (maxTrafficBytesReached, "
            "presenceUnreachableThresHold...) and severity.",
            [
                Query(
                    'sort_desc(rule_severity:opengate_alarm_open:count{severity=~"$alarm_severity"})',
                    "{{rule}} ({{severity}})",
                )
            ],
            unit="short",
            steps=OPEN_ALARM_STEPS,
            width=12,
        ),
        p.table(
            "Open alarms per router",
            f"Open OpenGate alarms with their router (at most {ROW_CAP}). Click the router for its detail.",
            [Query(f"topk({ROW_CAP}, {scoped(OPEN_ALARMS)})")],
            unit="short",
            columns={"modem": "Router", "rule": "Rule", "severity": "Severity"},
            column_links=p.object_cell_links("modem"),
            width=24,
            height=8,
        ),
    ]
    routers = [
        _router_table(
            "Routers",
            "Every router OpenGate knows (also those the inventory does not link to a concentrator), by "
            f"OpenGate id (at most {ROW_CAP}): presence, IP presence, RTT, signal and SIM state.",
            _per_router,
            [Query(f"topk({ROW_CAP}, {_per_router('opengate_modem_presence_info')})")],
            {**p.object_columns("modem"), **PRESENCE_COLUMNS},
            join_by="modem",
            column_links=p.object_cell_links("modem"),
        ),
    ]
    return p.dashboard(
        KEY,
        TITLE,
        "Routers and SIM cards from OpenGate, by comuna and concentrator: presence, RTT, traffic, SIM "
        "states and device alarms.",
        ["communications", "opengate"],
        variables,
        [
            ("Now", now),
            ("Concentrators and their routers", chain),
            ("Presence", presence, True),
            ("Round-trip time", rtt, True),
            ("Traffic", traffic, True),
            ("SIMs and alarms", sims_and_alarms, True),
            ("Routers (OpenGate view)", routers, True),
            ("Traffic accounting", accounting_panels(), True),
            ("SIM cards", sim_panels(), True),
            ("Alarm lists", alarm_panels(), True),
        ],
        refresh="1m",
    )


MONTH_SENT = f"opengate_modem_monthly_sent_bytes{MODEM}"
MONTH_RECEIVED = f"opengate_modem_monthly_received_bytes{MODEM}"
SESSIONS = f"opengate_modem_daily_sessions_started{MODEM}"
ALARM_FILTER = '{modem=~"$modem",severity=~"$alarm_severity"}'
SIM_ALARMS_SINCE = 'opengate_sim_alarm_open_since_timestamp_seconds{severity=~"$alarm_severity"}'
ALARMS = 'opengate_alarms{severity=~"$alarm_severity"}'
# the seed's device alarm summary: (title, description, label)
ALARMS_BY = (
    (
        "Device alarms by status",
        "Device alarms per status (OPEN, ATTEND, CLOSED), as the seed's summary.",
        "status",
    ),
    ("Device alarms by rule", "Device alarms per rule, every status.", "rule"),
    ("Device alarms by severity", "Device alarms per severity, every status.", "severity"),
)


def accounting_panels() -> list:
    """The seed's "Summarized Accounting" and "SIM Traffic Accounting"."""
    return [
        _day_and_month(
            "Sent",
            "Bytes the selected routers sent today and so far this month (OpenGate's per-day and per-month "
            "traffic datastreams).",
            "Sent",
            f"sum({SENT})",
            f"sum({MONTH_SENT})",
        ),
        _day_and_month(
            "Received",
            "Bytes the selected routers received today and so far this month.",
            "Rcvd",
            f"sum({RECEIVED})",
            f"sum({MONTH_RECEIVED})",
        ),
        _day_and_month(
            "Total",
            "Bytes sent plus received today and so far this month.",
            "Total",
            f"sum({SENT}) + sum({RECEIVED})",
            f"sum({MONTH_SENT}) + sum({MONTH_RECEIVED})",
        ),
        p.count(
            "Sessions started today",
            "Data sessions the selected routers started in the current accounting day (the seed's \"Start "
            'Sess.").',
            f"sum({SESSIONS})",
            legend="Start Sess.",
            steps=p.OK_ONLY,
            width=6,
        ),
        p.table(
            "SIM traffic accounting",
            "Per router: its SIM's data number (MSISDN), the IP of its data session, and its bytes (sent "
            "plus received) today and this month; the busiest first.",
            [
                Query(f"max by (modem, msisdn) (opengate_modem_info{MODEM})"),
                Query(f"max by (modem, ip) (opengate_modem_address_info{MODEM})"),
            ],
            columns={"modem": "Router", "msisdn": "Data number", "ip": "IP"},
            values={
                "Total bytes / day": Query(f"sum by (modem) ({SENT} + {RECEIVED})"),
                "Total bytes / month": Query(f"sum by (modem) ({MONTH_SENT} + {MONTH_RECEIVED})"),
            },
            join_by="modem",
            column_units={"Total bytes / day": "bytes", "Total bytes / month": "bytes"},
            sort_by="Total bytes / month",
            height=10,
            links=[_router_link(from_fields=True)],
        ),
    ]


def _day_and_month(title: str, description: str, short: str, day: str, month: str):
    """Bytes of the current accounting day and month, side by side (legends `short / Day`, `/ Month`)."""
    return p.stat(
        title,
        description,
        [Query(day, f"{short} / Day"), Query(month, f"{short} / Month")],
        unit="bytes",
        steps=p.OK_ONLY,
        width=6,
    )


def sim_panels() -> list:
    """The seed's SIM table: each router's SIM with its state and identity."""
    return [
        p.table(
            "SIM identity",
            "The SIM in each router: its state, MSISDN (voice and data number), IMSI and ICCID.",
            [
                Query(f"max by (modem, msisdn, imsi, iccid) (opengate_modem_info{MODEM})"),
                Query(f"max by (modem, state) (opengate_modem_sim_state{MODEM})"),
            ],
            join_by="modem",
            columns={
                "modem": "Router",
                "state": "SIM state",
                "msisdn": "MSISDN",
                "imsi": "IMSI",
                "iccid": "ICCID",
            },
            column_mappings={"state": SIM_STATE_TEXT},
            height=10,
            links=[_router_link(from_fields=True)],
        ),
    ]


def alarm_panels() -> list:
    """The seed's "Device alarm summary" (by rule, severity and status, with totals), its "Device Alarm
    List" with opening dates, oldest first, and the SIM alarm list."""
    return [
        p.count(
            "Device alarms, total",
            "OpenGate device alarms: open and attended ones, and closed ones within the exporter's window "
            "(7 days by default).",
            f"sum({ALARMS})",
            steps=p.OK_ONLY,
            width=6,
        ),
        *(
            p.breakdown(title, description, ALARMS, [label], steps=p.OK_ONLY, width=6)
            for title, description, label in ALARMS_BY
        ),
        _open_alarms(
            "Open device alarms, oldest first",
            "Every router alarm not yet closed with its opening date and age, the oldest at the top.",
            f"opengate_alarm_open_since_timestamp_seconds{ALARM_FILTER}",
            p.object_columns("modem"),
            height=10,
            links=[_router_link(from_fields=True)],
        ),
        _open_alarms(
            "SIM alarms",
            "Every SIM (subscription) alarm not yet closed, with its opening date and age, oldest first.",
            SIM_ALARMS_SINCE,
            {"sim": "SIM"},
            height=8,
        ),
    ]


def _open_alarms(title: str, description: str, since: str, on: dict[str, str], **options: Any):
    """Alarms not yet closed, one row each (the two frames merged): rule, what it is `on`, severity,
    opening date and age (from `since`, the opening timestamps), the oldest on top."""
    return p.table(
        title,
        description,
        [],
        columns={"rule": "Rule", **on, "severity": "Severity"},
        values={"Opening date": Query(f"{since} * 1000"), "Age": Query(f"time() - {since}")},
        column_units={"Opening date": "dateTimeAsIso", "Age": "s"},
        sort_by="Age",
        **options,
    )
