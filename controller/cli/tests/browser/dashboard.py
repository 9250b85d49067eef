"""The web dashboard in a real browser (Debian's chromium, headless, driven by
Playwright), against a daemon running a demo cutover. Started by
controller/cli/tests/dashboard.rs, which starts and stops the demo:

    dashboard.py SERVER CUTOVER_ID OPERATOR_TOKEN VIEWER_TOKEN EDGE_ADMIN OUT_DIR

Checks, in order: the page loads with no console error; the numbers it shows
equal the API's; a new analysis appears on the page within 2 s of being
written; it fits a phone's width; a viewer's token sees no buttons; the
rollback button (reason, confirmation) rolls the cutover back and the edge
ends at 0. Screenshots go to OUT_DIR. Exits non-zero with what went wrong.
"""

import json
import sys
import time
import urllib.request

from playwright.sync_api import sync_playwright

SERVER, CUTOVER, OPERATOR, VIEWER, EDGE_ADMIN, OUT = sys.argv[1:7]
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def api(path, token=OPERATOR):
    request = urllib.request.Request(SERVER + path, headers={"authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)


def weight_text(bps):
    """As the page writes a weight: at most two decimals, no trailing zeros."""
    text = f"{bps / 100:.2f}".rstrip("0").rstrip(".")
    return f"{text} %"


def ms(v):
    return "–" if v is None else f"{v:.1f} ms"


def pct(v):
    return "–" if v is None else f"{v:.2f} %"


def expected(view):
    """What the page must show for the API's view of the cutover."""
    fields = {
        "weight": weight_text(view["weight_bps"]),
        "step": f"{view['step']} / {view['steps']}",
        "phase": view["phase"].replace("_", " ", 1) + (f" ({view['reason']})" if view["reason"] else ""),
    }
    analysis = view.get("analysis")
    if analysis:
        fields["verdict"] = analysis["verdict"]
        for side in ("legacy", "serverless"):
            s = analysis[side]
            fields[f"{side}-requests"] = f"{s['requests']:,}"
            fields[f"{side}-p50"] = ms(s["p50_ms"])
            fields[f"{side}-p99"] = ms(s["p99_ms"])
            fields[f"{side}-errors"] = pct(s["error_percent"])
    return fields


def shown(page, names):
    out = {}
    for name in names:
        locator = page.locator(f"[data-part=head] [data-field={name}]")
        out[name] = locator.inner_text().strip() if locator.count() else None
    if "verdict" in out and out["verdict"]:
        out["verdict"] = page.locator("[data-part=head] [data-field=verdict] [data-verdict]").get_attribute("data-verdict")
    return out


def fail(message):
    print(f"FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def main():
    problems = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)

        def open_page(token, width=1280, height=900):
            page = browser.new_page(viewport={"width": width, "height": height})
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.goto(f"{SERVER}/#/cutovers/{CUTOVER}?token={token}")
            page.wait_for_selector("[data-part=head] [data-field=weight]", timeout=15000)
            return page

        page = open_page(OPERATOR)
        if "token=" in page.url:
            fail(f"the token stayed in the address: {page.url}")

        # Wait for an analysis of this step, then compare page and API on a
        # version both API reads agree on (the cutover moves meanwhile).
        deadline = time.time() + 60
        while True:
            before = api(f"/v1/cutovers/{CUTOVER}")
            want = expected(before)
            got = shown(page, want.keys())
            after = api(f"/v1/cutovers/{CUTOVER}")
            measured = want.get("legacy-p50", "–") != "–" and want.get("serverless-p50", "–") != "–"
            if before["version"] == after["version"] and measured and got == want:
                break
            if time.time() > deadline:
                fail(f"the page never showed the API's numbers:\n  api  {want}\n  page {got}")
            time.sleep(0.2)
        print(f"page = API at version {before['version']}: {got}")

        # The chain's status: intact, over as many events as the API counted
        # (read around it: the trail grows meanwhile).
        before_count = api(f"/v1/cutovers/{CUTOVER}/series?events=0")["chain"]["events"]
        chain = page.locator("[data-field=chain]").inner_text()
        after_count = api(f"/v1/cutovers/{CUTOVER}/series?events=0")["chain"]["events"]
        counted = int(chain.split("intact: ")[1].split(" events")[0].replace(",", "")) if "intact: " in chain else -1
        if not (before_count - 50 <= counted <= after_count):
            fail(f"chain status: page {chain!r}, API {before_count}..{after_count} events")

        # A new analysis: seen by the API, then on the page within 2 s.
        count = lambda: int(page.locator("[data-field=analyses]").get_attribute("data-count"))
        start = len(api(f"/v1/cutovers/{CUTOVER}/series?events=0")["analyses"]["at_ms"])
        while True:
            now = len(api(f"/v1/cutovers/{CUTOVER}/series?events=0")["analyses"]["at_ms"])
            if now > start:
                written = time.time()
                break
            if time.time() > deadline + 30:
                fail("no new analysis was written")
            time.sleep(0.05)
        while count() < now:
            if time.time() - written > 2.0:
                fail(f"analysis {now} not on the page 2 s after it was written (page has {count()})")
            time.sleep(0.02)
        print(f"analysis {now} on the page {time.time() - written:.2f} s after the API had it")

        for part in ("weight", "latency", "errors"):
            if page.locator(f"[data-part={part}] svg.chart polyline").count() == 0:
                fail(f"the {part} chart drew no line")
        for side in ("legacy", "serverless"):
            hops = page.locator(f"[data-part=hops] [data-side={side}] [data-hop]")
            hops.first.wait_for(timeout=30000)
            names = [hops.nth(i).get_attribute("data-hop") for i in range(hops.count())]
            if names != ["edge", "origin", "handler"]:
                fail(f"the {side} waterfall shows {names}")
        page.screenshot(path=f"{OUT}/dashboard.png", full_page=True)

        # A phone: nothing wider than the screen.
        phone = open_page(OPERATOR, 390, 844)
        phone.wait_for_selector("[data-part=weight] svg.chart")
        overflow = phone.evaluate("document.scrollingElement.scrollWidth - innerWidth")
        if overflow > 1:
            fail(f"on a 390 px screen the page is {overflow} px too wide")
        phone.screenshot(path=f"{OUT}/phone.png", full_page=True)
        phone.close()

        # A viewer sees, and has no buttons.
        viewer = open_page(VIEWER)
        viewer.wait_for_selector("[data-part=checks] table")
        if viewer.locator("[data-command]").count():
            fail("a viewer's page shows operator buttons")
        viewer.screenshot(path=f"{OUT}/viewer.png", full_page=True)
        viewer.close()

        # Rollback: a reason is required, then it goes through the API.
        page.click("[data-command=rollback]")
        page.wait_for_selector("#confirm[open]")
        page.click("#confirm-ok")
        if "reason" not in page.locator("#confirm-error").inner_text().lower():
            fail("an empty reason was not refused")
        page.fill("#confirm-reason", "browser test: rollback from the dashboard")
        page.click("#confirm-ok")
        page.wait_for_selector("#confirm:not([open])", state="attached", timeout=5000)
        try:
            page.wait_for_selector("[data-field=phase]:has-text('rolled back')", timeout=60000)
        except Exception:
            page.screenshot(path=f"{OUT}/failed.png", full_page=True)
            phase = page.locator("[data-field=phase]").inner_text()
            fail(f"the page still shows {phase!r} ({page.locator('#conn').inner_text()}); the API: {api(f'/v1/cutovers/{CUTOVER}')['phase']}")
        view = api(f"/v1/cutovers/{CUTOVER}")
        if view["phase"] != "rolled_back" or view["reason"] != "operator" or view["edge_weight_bps"] != 0:
            fail(f"after the rollback the API says {view['phase']} ({view['reason']}), edge {view['edge_weight_bps']}")
        with urllib.request.urlopen(f"{EDGE_ADMIN}/_cutover/weight", timeout=10) as answer:
            edge = json.load(answer)
        if edge.get("weight_bps") != 0:
            fail(f"the edge holds {edge}, not 0")
        page.wait_for_selector("[data-part=events] [data-event=rolled_back]", timeout=10000)
        if page.locator("[data-command]").count():
            fail("buttons remain on a rolled-back cutover")
        page.screenshot(path=f"{OUT}/rolled-back.png", full_page=True)
        browser.close()

    if problems:
        fail("the browser reported:\n  " + "\n  ".join(problems))
    print("dashboard: all checks passed")


if __name__ == "__main__":
    main()
