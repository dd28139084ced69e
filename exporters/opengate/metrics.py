"""The OpenGate exporter's metric families: fleet data (published on each good poll) and health
(published after every poll, good or bad)."""

from __future__ import annotations

from exporters.core.exposition import MetricFamily, counter, gauge, single
from exporters.core.poller import PollHealth
from exporters.opengate.fold import FleetState

SIM_STATES = (
    "REQUESTED",
    "READY",
    "REPAIR",
    "TESTING",
    "ACTIVE",
    "SUSPENDED",
    "DELETED",
    "RETIRED",
    "BANNED",
)


def data_families(state: FleetState, billable_states: frozenset[str]) -> list[MetricFamily]:
    m = ("modem",)
    present = gauge("opengate_modem_present", "1 when the modem's unified presence is IP, else 0.", m)
    presence_info = gauge(
        "opengate_modem_presence_info",
        "The modem's unified presence value and the source that reported it (e.g. DEVICE_PING); always 1.",
        ("modem", "unified_presence", "source"),
    )
    presence_ts = gauge(
        "opengate_modem_presence_timestamp_seconds",
        "When the modem's unified presence was last measured (the datastream's _current.date).",
        m,
    )
    ip_presence = gauge("opengate_modem_ip_presence", "IP presence (ping) of the modem: OK = 1, NOK = 0.", m)
    rtt = gauge("opengate_modem_rtt_seconds", "Round-trip time of the modem's last IP presence check.", m)
    sent = gauge(
        "opengate_modem_daily_sent_bytes",
        "Bytes the modem's SIM sent in the current accounting day (per-day value; resets each day).",
        m,
    )
    received = gauge(
        "opengate_modem_daily_received_bytes",
        "Bytes the modem's SIM received in the current accounting day (per-day value; resets each day).",
        m,
    )
    traffic_ts = gauge(
        "opengate_modem_traffic_timestamp_seconds",
        "When the modem's traffic accounting was last updated (the datastream's _current.date).",
        m,
    )
    month_sent = gauge(
        "opengate_modem_monthly_sent_bytes",
        "Bytes the modem's SIM sent in the current accounting month so far (resets each month).",
        m,
    )
    month_received = gauge(
        "opengate_modem_monthly_received_bytes",
        "Bytes the modem's SIM received in the current accounting month so far (resets each month).",
        m,
    )
    sessions = gauge(
        "opengate_modem_daily_sessions_started",
        "Data sessions the modem's SIM started in the current accounting day (resets each day).",
        m,
    )
    address = gauge(
        "opengate_modem_address_info",
        "The IP address and APN of the modem's data session; always 1.",
        ("modem", "ip", "apn"),
    )
    signal = gauge("opengate_modem_signal_strength_dbm", "Mobile signal strength of the modem, in dBm.", m)
    info = gauge(
        "opengate_modem_info",
        "Identity of the modem (router) and its SIM; always 1. Join on `modem` with smmc_concentrator_info.",
        ("modem", "iccid", "imsi", "msisdn", "admin_state", "latitude", "longitude"),
    )
    sim_state = gauge(
        "opengate_modem_sim_state",
        "Administrative state of the SIM in the modem (ACTIVE, SUSPENDED, ...); 1 for its current state, "
        "one series per modem.",
        ("modem", "state"),
    )
    for modem in state.modems:
        labels = (modem.id,)
        identity = (modem.iccid, modem.imsi, modem.msisdn, modem.admin_state, modem.latitude, modem.longitude)
        info.add((modem.id, *identity), 1)
        if modem.sim_state is not None:
            sim_state.add((modem.id, modem.sim_state), 1)
        if modem.ip:
            address.add((modem.id, modem.ip, modem.apn), 1)
        if modem.present is not None:
            present.add(labels, modem.present)
            presence_info.add((modem.id, modem.unified_presence, modem.presence_source or ""), 1)
        for family, sample in (
            (presence_ts, modem.presence_timestamp),
            (ip_presence, modem.ip_presence),
            (rtt, modem.rtt_seconds),
            (sent, modem.sent_bytes),
            (received, modem.received_bytes),
            (traffic_ts, modem.traffic_timestamp),
            (month_sent, modem.month_sent_bytes),
            (month_received, modem.month_received_bytes),
            (sessions, modem.sessions_started),
            (signal, modem.signal_dbm),
        ):
            if sample is not None:
                family.add(labels, sample)

    sims = gauge(
        "opengate_sims",
        "SIM cards (OpenGate subscriptions) by administrative state; billable per the M2M contract.",
        ("state", "billable"),
    )
    for state_name in sorted(set(SIM_STATES) | set(state.sims)):
        sims.add((state_name, "true" if state_name in billable_states else "false"), state.sims[state_name])
    alarms = gauge(
        "opengate_alarms",
        "OpenGate device alarms by rule, severity and status (closed ones within the configured window).",
        ("rule", "severity", "status"),
    )
    for (rule, severity, status), count in sorted(state.alarms.items()):
        alarms.add((rule, severity, status), count)
    open_alarm = gauge(
        "opengate_alarm_open",
        "1 for each modem with an alarm not yet closed (OPEN or ATTEND), by rule and severity.",
        ("modem", "rule", "severity"),
    )
    for key in sorted(state.open_alarms):
        open_alarm.add(key, 1)
    open_since = gauge(
        "opengate_alarm_open_since_timestamp_seconds",
        "Opening date of the modem's oldest alarm of that rule and severity not yet closed (its age).",
        ("modem", "rule", "severity"),
    )
    open_since.add_many(sorted(state.open_since.items()))
    sim_alarms = gauge(
        "opengate_sim_alarms",
        "OpenGate SIM (subscription) alarms by rule, severity and status (closed ones within the window).",
        ("rule", "severity", "status"),
    )
    sim_alarms.add_many(sorted(state.sim_alarms.items()))
    sim_open_since = gauge(
        "opengate_sim_alarm_open_since_timestamp_seconds",
        "Opening date of the SIM's oldest alarm of that rule and severity not yet closed; `sim` is the "
        "subscription identifier.",
        ("sim", "rule", "severity"),
    )
    sim_open_since.add_many(sorted(state.sim_open_since.items()))
    modems = gauge("opengate_modems", "Modems (router devices) seen in the last good poll.")
    modems.add((), len(state.modems))
    rejected = gauge(
        "opengate_records_rejected",
        "Records of the last good poll skipped or values dropped, by kind and reason.",
        ("kind", "reason"),
    )
    rejected.add_many(sorted(state.rejected.items()))
    return [
        present,
        presence_info,
        presence_ts,
        ip_presence,
        rtt,
        sent,
        received,
        traffic_ts,
        month_sent,
        month_received,
        sessions,
        address,
        signal,
        info,
        sim_state,
        sims,
        alarms,
        open_alarm,
        open_since,
        sim_alarms,
        sim_open_since,
        modems,
        rejected,
    ]


def health_families(health: PollHealth) -> list[MetricFamily]:
    requests = counter(
        "opengate_requests_total",
        "HTTP responses from the North API by endpoint and status code.",
        ("endpoint", "code"),
    )
    requests.add_many(sorted(health.requests.items()))
    failures = counter(
        "opengate_poll_failures_total",
        "Failed poll cycles by reason (timeout, transport, http_401, http_403, http_429, http_500, "
        "malformed_json, ...).",
        ("reason",),
    )
    failures.add_many(((reason,), count) for reason, count in sorted(health.failures.items()))
    return [
        single(
            gauge("opengate_up", "1 when the last poll of the OpenGate North API succeeded, else 0."),
            health.up,
        ),
        single(
            gauge(
                "opengate_last_success_timestamp_seconds",
                "When the last successful poll finished; the fleet metrics are from that poll.",
            ),
            health.last_success,
        ),
        single(
            gauge("opengate_poll_duration_seconds", "Wall time of the last poll cycle, good or bad."),
            health.poll_duration,
        ),
        single(counter("opengate_polls_total", "Poll cycles started."), health.polls),
        requests,
        failures,
    ]
