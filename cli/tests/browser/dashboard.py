#!/usr/bin/env python3
"""The dashboard in a real browser (issue #17): Debian's Chromium, headless, driven over the
WebDriver protocol by chromedriver (plain HTTP and JSON, so the standard library is enough).

Usage: dashboard.py <chromedriver URL> <serve URL> <operator token> <screenshot dir> <metrics line>
Signs in through the form, then checks each page and saves a screenshot of it: the runs list, a
running build's page (its log grows while the slow step runs: the page reloads itself), the
environments page (the rollback marked), the metrics page (the line `slipway metrics` prints).
Fails on any message the browser logged at SEVERE level (console errors, policy refusals,
failed loads). Prints what it checked; exits 1 on the first failure.
"""
import base64
import json
import sys
import time
import urllib.request

driver, base, token, shots, metrics_line = sys.argv[1:6]
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


def call(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(driver + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)["value"]


def fail(why):
    print(f"FAIL: {why}")
    sys.exit(1)


options = {
    "binary": "/usr/bin/chromium",
    # As the machine's notes say Chromium runs here; a phone-sized window.
    "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--disable-quic", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--window-size=412,900"],
}
session = call("POST", "/session", {"capabilities": {"alwaysMatch": {
    "browserName": "chrome", "goog:chromeOptions": options,
    "goog:loggingPrefs": {"browser": "ALL"}}}})["sessionId"]
s = f"/session/{session}"


def visit(path):
    call("POST", f"{s}/url", {"url": base + path})


def source():
    return call("GET", f"{s}/source")


def page_showing(*texts, seconds=10):
    """The page's source once it holds every one of `texts`, or the last one read after
    `seconds`: a click returns before the navigation it starts (a form's POST and its 303) ends."""
    deadline = time.time() + seconds
    while True:
        page = source()
        if all(text in page for text in texts) or time.time() > deadline:
            return page
        time.sleep(0.2)


def find(css):
    return call("POST", f"{s}/element", {"using": "css selector", "value": css})[ELEMENT]


def screenshot(name):
    with open(f"{shots}/{name}.png", "wb") as f:
        f.write(base64.b64decode(call("GET", f"{s}/screenshot")))
    print(f"screenshot {shots}/{name}.png")


def console_errors():
    return [entry for entry in call("POST", f"{s}/se/log", {"type": "browser"})
            if entry.get("level") == "SEVERE"]


try:
    visit("/runs")
    if "Operator token" not in source():
        fail("without a session the runs list is not shown; the sign-in form is")
    screenshot("sign-in")
    field = find("input[name=token]")
    call("POST", f"{s}/element/{field}/value", {"text": token})
    call("POST", f"{s}/element/{find('button[type=submit]')}/click", {})
    page = page_showing("<h1>Runs</h1>", "succeeded")
    if "<h1>Runs</h1>" not in page or "succeeded" not in page:
        screenshot("signed-in")
        fail(f"after signing in, the runs list with the builds; the page was: {page[:2000]}")
    screenshot("runs")
    print("ok: signed in through the form; the runs list shows the builds")

    call("POST", f"{s}/element/{find('td.wait a')}/click", {})
    page = page_showing("first-half")
    if "first-half" not in page or "second-half" in page:
        fail("the running build's page shows the first half of its log only")
    screenshot("run-running")
    deadline = time.time() + 90
    while "second-half" not in source():
        if time.time() > deadline:
            fail("the running build's log did not grow on its page")
        time.sleep(1)
    screenshot("run-grown")
    print("ok: the running build's log grew on its page while the step ran")

    visit("/environments")
    page = source()
    if "rolled back" not in page or "rollback" not in page:
        fail("the environments page marks the rollback")
    screenshot("environments")
    print("ok: the environments page shows the rollback")

    visit("/metrics")
    page = source().replace("&amp;", "&")
    if metrics_line not in page or "<svg" not in page:
        fail(f"the metrics page shows what slipway metrics prints: {metrics_line}")
    screenshot("metrics")
    print("ok: the metrics page shows the figures slipway metrics prints")

    errors = console_errors()
    if errors:
        fail(f"the browser logged errors: {errors}")
    print("ok: no console errors")
finally:
    call("DELETE", s)
