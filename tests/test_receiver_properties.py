"""Property tests of the webhook intake: whatever JSON arrives in whatever field, the answer is 200, 400 or
413 (never 500 or 503, which Alertmanager retries forever), and what was stored reads back through the API."""

from __future__ import annotations

import contextlib
import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from receiver.payload import PayloadError, parse_notification
from tests.receiver_stack import ReceiverStack, alert, notification

# any text, lone surrogates included (the JSON encoder writes them as \udXXX escapes)
TEXT = st.text(st.characters(exclude_categories=()), max_size=40)
# values that broke the receiver once, drawn as often as all the random ones together
EDGES = st.sampled_from(
    [
        "firing",
        "resolved",
        "4",
        "\ud800",
        "x\udfffy",
        "0001-01-01T00:00:00Z",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "2026-05-04T10:00:00",
        10**30,
        json.loads("[" * 60 + "]" * 60),
    ]
)
SCALARS = EDGES | (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | TEXT
)
STRINGS = EDGES.filter(lambda v: isinstance(v, str)) | TEXT
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)

TOP_FIELDS = ["version", "status", "receiver", "groupKey", "truncatedAlerts", "groupLabels", "commonLabels",
              "commonAnnotations", "externalURL", "alerts", "extra"]  # fmt: skip
ALERT_FIELDS = [
    "status",
    "labels",
    "annotations",
    "startsAt",
    "endsAt",
    "generatorURL",
    "fingerprint",
    "extra",
]


def base_payload() -> dict[str, Any]:
    return notification(
        "smmc-actions",
        [
            alert("MeterNotCommissioned", command="recommission_meter", meter="M1", maintenance="remote"),
            alert("ConcentratorDown", concentrator="C1", maintenance="field", procedure="SM05"),
        ],
    )


@st.composite
def mutated_payloads(draw: st.DrawFn) -> bytes:
    payload = base_payload()
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(["top", "alert", "label", "annotation"]))
        # mostly text (the type most fields take, so the payload gets past validation and is stored),
        # else any JSON value
        value = draw(st.one_of(STRINGS, STRINGS, STRINGS, JSON))
        if where == "top":
            payload[draw(st.sampled_from(TOP_FIELDS))] = value
            continue
        alerts = payload.get("alerts")
        if not isinstance(alerts, list) or not alerts or not isinstance(alerts[0], dict):
            continue
        target = alerts[draw(st.integers(0, len(alerts) - 1))]
        if not isinstance(target, dict):
            continue
        if where == "alert":
            target[draw(st.sampled_from(ALERT_FIELDS))] = value
        else:
            mapping = target.setdefault("labels" if where == "label" else "annotations", {})
            if isinstance(mapping, dict):
                mapping[draw(st.sampled_from(["alertname", "command", "meter", "summary", draw(TEXT)]))] = (
                    value
                )
    return json.dumps(payload).encode()


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300) | mutated_payloads())
def test_the_parser_returns_a_notification_or_a_payload_error(body: bytes) -> None:
    with contextlib.suppress(PayloadError):
        parse_notification(body)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with ReceiverStack(tmp_path_factory.mktemp("receiver-properties")) as s:
        yield s


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=mutated_payloads())
def test_any_json_in_any_field_is_200_400_or_413_and_reads_back(stack, body: bytes) -> None:
    r = stack.post("smmc-actions", body)
    assert r.status_code in (200, 400, 413), (r.status_code, r.text[:300])
    if r.status_code == 200:
        for created in r.json()["actions"]:
            assert stack.client.get(f"/api/actions/{created['id']}").status_code == 200
        assert stack.client.get("/api/actions", params={"status": "awaiting_approval"}).status_code == 200


def test_the_unmutated_base_payload_is_accepted(stack) -> None:
    r = stack.post("smmc-actions", copy.deepcopy(base_payload()))
    assert r.status_code == 200
