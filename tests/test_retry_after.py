"""The one Retry-After reader shared by the exporters' poller and the receiver's adapters."""

from __future__ import annotations

import httpx
import pytest

from receiver.adapters import AdapterError, check
from smmc.retry_after import retry_after_seconds

NOW = 1445412470.0  # 2015-10-21 07:27:50 UTC


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("12", 12.0),
        (" 7 ", 7.0),
        ("1.5", 1.5),
        ("-3", 0.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 10.0),
        ("Wed, 21 Oct 2015 07:00:00 GMT", 0.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("nan", None),
        ("inf", None),
    ],
)
def test_forms(value, seconds):
    assert retry_after_seconds(value, now=NOW) == seconds


def test_the_receiver_adapters_read_it_from_a_429():
    response = httpx.Response(429, headers={"Retry-After": "30"}, request=httpx.Request("POST", "http://x/"))
    with pytest.raises(AdapterError) as caught:
        check(response, "SMMePlus command")
    assert caught.value.retryable and caught.value.retry_after == 30.0


def test_an_unreadable_header_leaves_the_backoff_to_the_caller():
    response = httpx.Response(
        503, headers={"Retry-After": "later"}, request=httpx.Request("GET", "http://x/")
    )
    with pytest.raises(AdapterError) as caught:
        check(response, "JIRA search")
    assert caught.value.retryable and caught.value.retry_after is None
