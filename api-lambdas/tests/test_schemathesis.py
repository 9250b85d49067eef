"""schemathesis against api-local, from the OpenAPI document that
`api-local --openapi` generates from routes.json (so the document
cannot drift from the routes the handlers serve).

Every route is called with generated valid and invalid requests (path
parameters, bodies, If-Match and If-None-Match headers). The checks: no 5xx
for client input, every answer in the contract's shape (JSON; the error
body; `x-served-by` on every answer), invalid input refused with a 4xx,
405 with an Allow header for methods a path does not take. The backend the
metadata and report routes call is a stub started here; api-local is
started and stopped here too.

Run: .venv/bin/python -m unittest discover -s api-lambdas/tests
(after `cargo build -p cutover-api-local`). SCHEMATHESIS_EXAMPLES sets the
examples per operation (default 150; more for a longer hunt).
"""

import http.server
import json
import os
import pathlib
import subprocess
import tempfile
import threading
import unittest
import urllib.parse

ROOT = pathlib.Path(__file__).resolve().parents[2]
API_LOCAL = ROOT / "target" / "debug" / "api-local"
ST = ROOT / ".venv" / "bin" / "st"
CHECKS = ",".join([
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "unsupported_method",
    "allow_header_conformance",
])


class Backend(http.server.BaseHTTPRequestHandler):
    """The existing backend, as the two backend routes call it."""

    def do_GET(self):  # noqa: N802 (the stdlib's name)
        parts = self.path.split("/")
        if len(parts) == 3 and parts[1] in ("metadata", "reports") and parts[2]:
            name = urllib.parse.unquote(parts[2])
            status, body = 200, {"id": name, "source": "stub backend"}
        else:
            status, body = 404, {"error": "not_found", "message": self.path}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


class SchemathesisTest(unittest.TestCase):
    def setUp(self):
        if not API_LOCAL.exists():
            self.fail(f"{API_LOCAL} is missing: run cargo build -p cutover-api-local first")
        self.backend = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Backend)
        threading.Thread(target=self.backend.serve_forever, daemon=True).start()
        self.addCleanup(self.backend.server_close)
        self.addCleanup(self.backend.shutdown)
        self.backend_url = f"http://127.0.0.1:{self.backend.server_address[1]}"
        self.url = self.start_api()

    def start_api(self, *extra):
        """api-local on a free port, stopped after the test; its URL."""
        api = subprocess.Popen(
            [API_LOCAL, "--listen", "127.0.0.1:0", "--backend-url", self.backend_url, *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.addCleanup(stop, api)
        first = api.stdout.readline().strip()
        prefix = "api-local listening on "
        self.assertTrue(first.startswith(prefix), f"api-local said {first!r}")
        return first[len(prefix):]

    def schemathesis(self, url, examples):
        """Runs schemathesis against `url`; its exit code and output."""
        with tempfile.TemporaryDirectory() as tmp:
            spec = pathlib.Path(tmp) / "openapi.json"
            spec.write_text(subprocess.run([API_LOCAL, "--openapi"], check=True, capture_output=True, text=True).stdout)
            run = subprocess.run(
                [
                    ST, "run", str(spec),
                    "--url", url,
                    "--checks", CHECKS,
                    "--mode", "all",
                    "--max-examples", str(examples),
                    "--seed", "17",
                    # One worker: schemathesis's coverage phase is not
                    # thread-safe on this Python (ast.parse in threads).
                    "--workers", "1",
                    "--request-timeout", "10",
                    "--suppress-health-check", "all",
                    "--report-dir", tmp,
                ],
                capture_output=True,
                text=True,
                cwd=tmp,
                timeout=600,
            )
        return run.returncode, run.stdout + run.stderr

    def test_the_document_is_generated_from_the_route_contract(self):
        doc = json.loads(subprocess.run([API_LOCAL, "--openapi"], check=True, capture_output=True, text=True).stdout)
        routes = json.loads((ROOT / "api-lambdas" / "routes.json").read_text())["routes"]
        operations = {(m.upper(), p): op["operationId"] for p, item in doc["paths"].items() for m, op in item.items()}
        expected = {(r["method"], r["path"]): r["function"] for r in routes}
        self.assertEqual(operations, expected)

    def test_generated_requests_get_answers_in_the_contract(self):
        code, out = self.schemathesis(self.url, int(os.environ.get("SCHEMATHESIS_EXAMPLES", "150")))
        self.assertEqual(code, 0, out[-8000:])
        summary = out[out.rfind("Test cases:"):].splitlines()[1:2]
        print(f"\nschemathesis: {summary[0].strip() if summary else out[-300:]}")

    def test_the_checks_catch_a_server_error(self):
        """The same run against an api-local that answers 500 to a quarter
        of requests (its fault knob) must fail: the checks can fail."""
        code, out = self.schemathesis(self.start_api("--error-rate", "0.25"), 20)
        self.assertNotEqual(code, 0, out[-4000:])
        self.assertIn("Server error", out)


def stop(process):
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    process.stdout.close()


if __name__ == "__main__":
    unittest.main()
