"""The approvals page in a real browser (Debian's chromium, headless, driven by selenium through
chromedriver): sign in with the operator's own token, see the action awaiting approval with its alert,
object, action and request, approve it, see the ledger row under the token's owner; plus the refusals
(a wrong token, the webhook token, a form without its CSRF token, a decision on an action no longer
waiting) and the escaping of alert text.

Screenshots of each page go to the test's directory, and to $SMMC_UI_SCREENSHOTS when set (that is how
docs/images/receiver-*.png are made: `SMMC_UI_SCREENSHOTS=docs/images pytest tests/test_receiver_ui.py`).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.receiver_stack import OPERATOR, OPERATOR_TOKEN, TOKEN, ReceiverStack, alert, notification

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
METER = "UAAXXDN18204873404"


def recommission_alert(**extra: str) -> dict:
    return alert(
        "WorkOrderMeterNeedsRecommission",
        annotations={
            "summary": extra.pop("summary", "The meter needs a recommission."),
            "description": extra.pop("description", f"Meter {METER} failed its work order."),
        },
        severity="warning",
        maintenance="remote",
        team="noc",
        command="recommission_meter",
        meter=METER,
        concentrator="TD-0011",
        **extra,
    )


@pytest.fixture()
def stack(tmp_path: Path) -> Iterator[ReceiverStack]:
    with ReceiverStack(tmp_path) as running:
        yield running


@pytest.fixture()
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--window-size=1500,900",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver: webdriver.Chrome, tmp_path: Path, name: str) -> None:
    driver.save_screenshot(str(tmp_path / f"{name}.png"))
    target = os.environ.get("SMMC_UI_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(target) / f"{name}.png"))


def wait_for(driver: webdriver.Chrome, element_id: str):
    """The element of the page a click loads (a form post answers with a redirect, then the page)."""
    return WebDriverWait(driver, 20).until(ec.presence_of_element_located((By.ID, element_id)))


def sign_in(driver: webdriver.Chrome, url: str, secret: str = OPERATOR_TOKEN) -> None:
    driver.get(f"{url}/ui/approvals")
    assert driver.current_url.endswith("/ui/login")  # not signed in: sent to the login form
    # the token names its owner: the form asks for nothing else
    assert driver.find_elements(By.ID, "operator-name") == []
    driver.find_element(By.ID, "secret").send_keys(secret)
    driver.find_element(By.ID, "sign-in").click()
    wait_for(driver, "operator" if secret == OPERATOR_TOKEN else "login-error")


def test_sign_in_approve_and_see_the_ledger_row(stack: ReceiverStack, browser, tmp_path: Path) -> None:
    response = stack.post("smmc-actions", notification("smmc-actions", [recommission_alert()]))
    assert response.status_code == 200, response.text
    (waiting,) = stack.actions(status="awaiting_approval")
    url = stack.server.url

    browser.get(f"{url}/ui/login")
    screenshot(browser, tmp_path, "receiver-login")
    sign_in(browser, url)
    assert browser.current_url.endswith("/ui/approvals")
    assert browser.find_element(By.ID, "operator").text == OPERATOR
    row = browser.find_element(By.ID, f"action-{waiting['id']}")
    text = row.text
    assert "WorkOrderMeterNeedsRecommission" in text
    assert f"meter={METER}" in text and "concentrator=TD-0011" in text
    assert "smmeplus_command" in text and "recommission_meter" in text
    assert '"POST": "/api/v1/commands"' in text  # the request it will send
    screenshot(browser, tmp_path, "receiver-approvals")

    row.find_element(By.NAME, "comment").send_keys("customer called, meter replaced yesterday")
    row.find_element(By.CSS_SELECTOR, "button.approve").click()
    assert wait_for(browser, "flash").text == f"Action {waiting['id']} approved by {OPERATOR}."
    assert browser.find_element(By.ID, "empty").text == "Nothing awaits approval."
    approved = stack.client.get(f"/api/actions/{waiting['id']}").json()
    assert (approved["status"], approved["approved_by"]) == ("pending", OPERATOR)
    # approval releases the command: the worker sends it to SMMePlus
    stack.drain()
    commands = stack.smmeplus_commands()
    assert [c["command"] for c in commands] == ["recommission_meter"]

    browser.get(f"{url}/ui/ledger?event=approved")
    rows = browser.find_elements(By.CSS_SELECTOR, "tr.ledger-row")
    assert len(rows) == 1
    assert rows[0].find_element(By.CSS_SELECTOR, "td.event").text == "approved"
    assert rows[0].find_element(By.CSS_SELECTOR, "td.by").text == OPERATOR
    assert "customer called, meter replaced yesterday" in rows[0].text
    assert "WorkOrderMeterNeedsRecommission" in rows[0].text and '"via": "ui"' in rows[0].text
    assert '"credential": "operator_token"' in rows[0].text
    screenshot(browser, tmp_path, "receiver-ledger")
    # the other filters: by operator, by alert, by action; a non-matching one empties the table
    browser.get(f"{url}/ui/ledger?by={OPERATOR}&alertname=WorkOrderMeterNeedsRecommission")
    assert len(browser.find_elements(By.CSS_SELECTOR, "tr.ledger-row")) == 1
    browser.get(f"{url}/ui/ledger?action_id={waiting['id']}")
    events = [
        r.find_element(By.CSS_SELECTOR, "td.event").text
        for r in browser.find_elements(By.CSS_SELECTOR, "tr.ledger-row")
    ]
    assert events == ["succeeded", "dispatch_started", "approved", "action_planned"]  # newest first
    browser.get(f"{url}/ui/ledger?by=someone.else")
    assert browser.find_element(By.ID, "empty").text == "No ledger entry matches."


def test_reject_records_the_operator_and_closes_the_action(stack: ReceiverStack, browser) -> None:
    stack.post("smmc-actions", notification("smmc-actions", [recommission_alert()]))
    (waiting,) = stack.actions(status="awaiting_approval")
    sign_in(browser, stack.server.url)
    row = browser.find_element(By.ID, f"action-{waiting['id']}")
    row.find_element(By.CSS_SELECTOR, "button.reject").click()
    assert wait_for(browser, "flash").text == f"Action {waiting['id']} rejected by {OPERATOR}."
    assert stack.client.get(f"/api/actions/{waiting['id']}").json()["status"] == "rejected"
    stack.drain()
    assert stack.smmeplus_commands() == []


@pytest.mark.parametrize("secret", ["not-a-token-of-anyone", TOKEN])
def test_a_wrong_token_and_the_webhook_token_are_refused(stack: ReceiverStack, browser, secret: str) -> None:
    sign_in(browser, stack.server.url, secret=secret)
    assert browser.current_url.endswith("/ui/login")
    assert "Unknown operator or wrong credential." in browser.page_source
    browser.get(f"{stack.server.url}/ui/ledger")
    assert browser.current_url.endswith("/ui/login")


def test_alert_text_is_escaped(stack: ReceiverStack, browser) -> None:
    hostile = '<img src=x onerror="document.title=1"><script>document.title="owned"</script>'
    stack.post("smmc-actions", notification("smmc-actions", [recommission_alert(summary=hostile)]))
    sign_in(browser, stack.server.url)
    assert browser.title.startswith("Awaiting approval")
    assert hostile in browser.find_element(By.ID, "approvals").text  # shown as text, not run
    assert browser.find_elements(By.TAG_NAME, "script") == []
    assert browser.find_elements(By.CSS_SELECTOR, "img") == []


def test_forms_need_the_session_and_its_csrf_token(stack: ReceiverStack) -> None:
    stack.post("smmc-actions", notification("smmc-actions", [recommission_alert()]))
    (waiting,) = stack.actions(status="awaiting_approval")
    with httpx.Client(base_url=stack.server.url, timeout=10) as client:
        # no session: to the login form, nothing decided
        r = client.post(f"/ui/approvals/{waiting['id']}", data={"decision": "approve"})
        assert r.status_code == 303 and r.headers["location"] == "/ui/login"
        signed = client.post("/ui/login", data={"secret": OPERATOR_TOKEN})
        assert signed.status_code == 303
        cookie = signed.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/ui" in cookie
        # a session but no CSRF token (a cross-site form): refused
        r = client.post(f"/ui/approvals/{waiting['id']}", data={"decision": "approve"})
        assert r.status_code == 403
        page = client.get("/ui/approvals").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert csrf is not None
        r = client.post(f"/ui/approvals/{waiting['id']}", data={"decision": "approve", "csrf": csrf[1]})
        assert r.status_code == 303
        # a second decision on the same action: it no longer waits, the page says so
        r = client.post(
            f"/ui/approvals/{waiting['id']}",
            data={"decision": "reject", "csrf": csrf[1]},
            follow_redirects=True,
        )
        assert "is &#x27;pending&#x27;" in r.text
    assert stack.client.get(f"/api/actions/{waiting['id']}").json()["approved_by"] == OPERATOR


def test_the_alerts_dashboard_links_to_the_page(stack: ReceiverStack) -> None:
    from smmc.dashboards import build_all

    board = next(b for b in build_all().values() if b["uid"] == "smmc-alerts")
    (link,) = [link for link in board["links"] if link["type"] == "link"]
    variables = {v["name"]: v for v in board["templating"]["list"]}
    url = link["url"].replace("${receiver_url}", stack.server.url)
    assert variables["receiver_url"]["query"] == "http://127.0.0.1:9820"  # compose's published port
    response = httpx.get(url, follow_redirects=True)  # not signed in: the login form
    assert response.status_code == 200 and 'id="sign-in"' in response.text
