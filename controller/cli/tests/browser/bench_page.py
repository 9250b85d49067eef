"""The dashboard's first render and transfer size, in headless chromium:

    bench_page.py SERVER CUTOVER_ID TOKEN RUNS

Each run opens the cutover's page in a fresh browser context (nothing
cached) and reads, from the page's own Performance entries: the time from
navigation to the `cutover:drawn` mark (every chart, table and the audit
trail drawn from the API's answers) and the bytes transferred (the document
and each API answer, compressed as sent; the event stream, which never
ends, is left out). Prints one JSON object: every run and the medians.
"""

import json
import statistics
import sys

from playwright.sync_api import sync_playwright

SERVER, CUTOVER, TOKEN, RUNS = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

runs = []
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
    for _ in range(RUNS):
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.goto(f"{SERVER}/#/cutovers/{CUTOVER}?token={TOKEN}")
        # The page's CSP forbids eval, which wait_for_function needs: poll
        # instead (the figure is the page's own mark, not when we looked).
        for _ in range(3000):
            if page.evaluate("performance.getEntriesByName('cutover:drawn').length > 0"):
                break
            page.wait_for_timeout(10)
        else:
            raise SystemExit("the page never drew")
        run = page.evaluate("""() => {
            const drawn = performance.getEntriesByName('cutover:drawn')[0].startTime;
            const nav = performance.getEntriesByType('navigation')[0];
            const api = performance.getEntriesByType('resource').filter(r => !r.name.endsWith('/stream'));
            const by = name => api.filter(r => r.name.includes(name)).reduce((n, r) => n + r.transferSize, 0);
            return {
                first_render_ms: drawn,
                document_bytes: nav.transferSize,
                series_bytes: by('/series'),
                api_bytes: api.reduce((n, r) => n + r.transferSize, 0),
                analyses: Number(document.querySelector('[data-field=analyses]').dataset.count),
            };
        }""")
        run["total_bytes"] = run["document_bytes"] + run["api_bytes"]
        runs.append(run)
        context.close()
    browser.close()

median = lambda key: statistics.median(r[key] for r in runs)
print(json.dumps({
    "runs": runs,
    "first_render_ms": {"median": median("first_render_ms"), "min": min(r["first_render_ms"] for r in runs),
                        "max": max(r["first_render_ms"] for r in runs)},
    "total_bytes": median("total_bytes"),
    "document_bytes": median("document_bytes"),
    "series_bytes": median("series_bytes"),
}))
