#!/usr/bin/env python3
"""Proves every panel of the committed Grafana dashboards returns data.

Starts a real `lectern serve` on a scratch database and Debian's Prometheus scraping it every
second, makes Lectern do the work each panel shows (API requests, an upload that is probed and
transcoded, a playback session, a webhook send, a deletion that asks for a CDN invalidation), then
runs each panel's query through Prometheus's HTTP API and fails for any that returns nothing.

It is deployed split, as on ECS: `lectern serve --workers 0` and, once Prometheus has seen the
upload's jobs waiting in the queue, a separate `lectern worker` that processes them and serves
its own counters on LECTERN_METRICS_LISTEN. Prometheus scrapes both as job="lectern".

    python infra/grafana/check_panels.py --lectern target/debug/lectern \
        --database-url postgres://postgres@127.0.0.1:5432/postgres
"""

import argparse
import base64
import http.server
import json
import math
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = pathlib.Path(__file__).parent
DATABASE = "lectern_grafana_check"
ADMIN_EMAIL = "dashboards@example.test"
ADMIN_PASSWORD = "dashboard-check-password"
# The window that stands in for Grafana's $__rate_interval.
RATE_WINDOW = "5m"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(method, url, body=None, headers=None, token=None, expect=None):
    headers = dict(headers or {})
    data = None
    if isinstance(body, (dict, list)):
        data = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    elif isinstance(body, bytes):
        data = body
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            status, payload, response_headers = response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        status, payload, response_headers = error.code, error.read(), error.headers
    if expect is not None and status not in expect:
        raise SystemExit(f"{method} {url} answered {status}, expected {expect}: {payload[:500]!r}")
    return status, payload, response_headers


def wait_for(what, predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise SystemExit(f"timed out after {timeout}s waiting for {what}")


class WebhookReceiver(http.server.BaseHTTPRequestHandler):
    """Receives Lectern's webhooks, and stands in for CloudFront's CreateInvalidation API."""

    received = []
    invalidations = []

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        if self.path.startswith("/2020-05-31/distribution/"):
            WebhookReceiver.invalidations.append(body)
            answer = (
                '<?xml version="1.0"?><Invalidation xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/">'
                "<Id>I2J0I21PCUYOIK</Id><Status>InProgress</Status><CreateTime>2026-01-01T00:00:00Z</CreateTime>"
                "<InvalidationBatch><Paths><Quantity>0</Quantity></Paths><CallerReference>check</CallerReference>"
                "</InvalidationBatch></Invalidation>"
            ).encode()
            self.send_response(201)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Location", f"https://cloudfront.amazonaws.com{self.path}/I2J0I21PCUYOIK")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
            return
        WebhookReceiver.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


class Lectern:
    def __init__(self, binary, env, log_path):
        self.binary, self.env, self.log_path = binary, env, log_path
        self.process = None

    def start(self, command, listen, **settings):
        env = dict(self.env, **settings)
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen([self.binary, command], env=env, stdout=log, stderr=log)
        base = f"http://{listen}"

        def ready():
            if self.process.poll() is not None:
                raise SystemExit(f"lectern {command} exited with {self.process.returncode}; log: {self.log_path}")
            try:
                return request("GET", f"{base}/{'readyz' if command == 'serve' else 'healthz'}")[0] == 200
            except OSError:
                return False

        wait_for(f"lectern {command} to be ready", ready, 60)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def prometheus_query(prometheus, expr):
    url = f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        status, payload, _ = request("GET", url)
    except OSError as error:  # not listening yet
        return None, str(error)
    body = json.loads(payload)
    if status != 200 or body.get("status") != "success":
        return None, body.get("error", payload[:300])
    return body["data"]["result"], None


def panels(dashboard):
    for panel in dashboard["panels"]:
        if panel.get("type") == "row":
            yield from panels({"panels": panel.get("panels", [])})
        else:
            yield panel


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lectern", required=True, help="the lectern binary to run")
    parser.add_argument("--database-url", required=True, help="any database URL of the PostgreSQL server to use")
    parser.add_argument("--prometheus", default=shutil.which("prometheus"), help="the prometheus binary")
    args = parser.parse_args()
    if not args.prometheus:
        raise SystemExit("prometheus is not on the PATH (Debian: apt-get install prometheus)")
    if not os.access(args.lectern, os.X_OK):
        raise SystemExit(f"{args.lectern} is not an executable lectern binary")
    for tool in ("ffmpeg", "psql"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is not on the PATH")

    server_url = args.database_url.rsplit("/", 1)[0]
    database_url = f"{server_url}/{DATABASE}"
    subprocess.run(["psql", f"{server_url}/postgres", "-qc", f"DROP DATABASE IF EXISTS {DATABASE}"], check=True,
                   capture_output=True)

    work = pathlib.Path(tempfile.mkdtemp(prefix="lectern-dashboards-"))
    api_port, worker_port, prometheus_port, hook_port = free_port(), free_port(), free_port(), free_port()
    api = f"http://127.0.0.1:{api_port}"
    prometheus = f"http://127.0.0.1:{prometheus_port}"
    env = dict(
        os.environ,
        DATABASE_URL=database_url,
        LECTERN_DATA_DIR=str(work / "data"),
        LECTERN_LISTEN=f"127.0.0.1:{api_port}",
        LECTERN_LOG_FORMAT="json",
        LECTERN_JOB_POLL_INTERVAL="200ms",
        LECTERN_WEBHOOK_ALLOW_HTTP="true",
        LECTERN_WEBHOOK_ALLOW_HOSTS="127.0.0.1",
        LECTERN_JOB_RETRY_DELAY="1s",
        # CloudFront's API is stood in for by the webhook receiver (it cannot run here).
        LECTERN_CLOUDFRONT_DISTRIBUTION_ID="EDFDVBD6EXAMPLE",
        LECTERN_CLOUDFRONT_ENDPOINT=f"http://127.0.0.1:{hook_port}",
        LECTERN_CDN_BASE_URL=f"http://127.0.0.1:{api_port}/cdn",
        AWS_ACCESS_KEY_ID="dashboard-check",
        AWS_SECRET_ACCESS_KEY="dashboard-check-secret",
        RUST_LOG="info",
    )
    lectern = Lectern(args.lectern, env, work / "serve.log")
    worker = Lectern(args.lectern, env, work / "worker.log")
    prometheus_process = None
    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", hook_port), WebhookReceiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    failures = 0
    try:
        # The API alone first, so queued jobs stay in the queue while Prometheus looks.
        lectern.start("serve", env["LECTERN_LISTEN"], LECTERN_WORKERS="0")
        targets = [f"127.0.0.1:{api_port}", f"127.0.0.1:{worker_port}"]
        (work / "prometheus.yml").write_text(json.dumps({
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
            "scrape_configs": [{"job_name": "lectern", "static_configs": [{"targets": targets}]}],
        }))
        prometheus_log = open(work / "prometheus.log", "wb")
        prometheus_process = subprocess.Popen(
            [args.prometheus, f"--config.file={work / 'prometheus.yml'}", f"--storage.tsdb.path={work / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{prometheus_port}"],
            stdout=prometheus_log, stderr=prometheus_log)
        wait_for("Prometheus to scrape lectern serve",
                 lambda: prometheus_query(prometheus, f'up{{job="lectern", instance="127.0.0.1:{api_port}"}} == 1')[0], 60)

        subprocess.run([args.lectern, "users", "create-admin", "--email", ADMIN_EMAIL], env=env,
                       input=ADMIN_PASSWORD.encode(), check=True, capture_output=True)
        _, payload, _ = request("POST", f"{api}/v1/auth/login", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
                                expect={200})
        login = json.loads(payload)
        token = login.get("access_token") or login["tokens"]["access_token"]
        request("POST", f"{api}/v1/webhooks", {"url": f"http://127.0.0.1:{hook_port}/hook"}, token=token, expect={201})
        request("GET", f"{api}/v1/assets/not-an-id", token=token)  # a 4xx for the status panels

        video = work / "lecture.mp4"
        subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=320x180:rate=25",
                        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "3",
                        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(video)], check=True)
        _, payload, _ = request("POST", f"{api}/v1/assets", {"title": "Dashboard check"}, token=token, expect={201})
        asset = json.loads(payload)
        body = video.read_bytes()
        _, _, headers = request("POST", asset["upload"]["tus_url"], b"", token=token, expect={201}, headers={
            "Tus-Resumable": "1.0.0", "Upload-Length": str(len(body)),
            "Upload-Metadata": "asset_id " + base64.b64encode(asset["id"].encode()).decode(),
        })
        location = urllib.parse.urljoin(api, headers["Location"])
        request("PATCH", location, body, token=token, expect={204}, headers={
            "Tus-Resumable": "1.0.0", "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream",
        })
        wait_for("Prometheus to see the queued jobs",
                 lambda: prometheus_query(prometheus, 'lectern_queue_depth{job="lectern"} > 0')[0], 60)

        # Then a worker process, which probes and transcodes the upload.
        worker.start("worker", f"127.0.0.1:{worker_port}", LECTERN_WORKERS="1",
                     LECTERN_METRICS_LISTEN=f"127.0.0.1:{worker_port}")
        wait_for("Prometheus to scrape lectern worker",
                 lambda: prometheus_query(prometheus, f'up{{job="lectern", instance="127.0.0.1:{worker_port}"}} == 1')[0], 60)

        def asset_ready():
            _, payload, _ = request("GET", f"{api}/v1/assets/{asset['id']}", token=token, expect={200})
            current = json.loads(payload)
            if current["status"] == "errored":
                raise SystemExit(f"the upload failed: {current['error']}")
            return current["status"] == "ready"

        wait_for("the asset to be transcoded", asset_ready, 600)
        # A histogram series is born at its first observation, so rate() sees an increase only
        # once Prometheus holds a sample from before an encode and one from after it. Wait until
        # it has scraped the series, then encode again until it sees the count rise: an encode
        # that finished between two scrapes, or a reprocess folded into a running one, would
        # otherwise leave the panel empty.
        wait_for("Prometheus to see the first encode",
                 lambda: prometheus_query(prometheus, 'sum(lectern_encode_speed_ratio_count{job="lectern"}) >= 1')[0], 600)
        encode_rose = f'sum(increase(lectern_encode_speed_ratio_count{{job="lectern"}}[{RATE_WINDOW}])) > 0'
        for attempt in range(3):
            time.sleep(2)  # a scrape or two of the current count first
            request("POST", f"{api}/v1/assets/{asset['id']}/reprocess", {"preset": "fast"}, token=token, expect={202})
            try:
                wait_for("Prometheus to see the encode count rise",
                         lambda: prometheus_query(prometheus, encode_rose)[0], 300)
                break
            except SystemExit:
                if attempt == 2:
                    raise
        wait_for("the reprocessed asset to be ready", asset_ready, 600)
        request("POST", f"{api}/v1/assets/{asset['id']}/playback", {}, token=token, expect={201})
        request("DELETE", f"{api}/v1/assets/{asset['id']}", token=token, expect={204})
        wait_for("a webhook delivery", lambda: WebhookReceiver.received, 120)
        for metric in ("lectern_webhook_sends_total", "lectern_cdn_invalidations_total", "lectern_encode_speed_ratio_count",
                       "lectern_playback_sessions_total"):
            wait_for(f"Prometheus to scrape {metric}",
                     lambda: prometheus_query(prometheus, f'{metric}{{job="lectern"}} > 0')[0], 120)
        time.sleep(3)  # a few more scrapes, so every rate() has two samples after the last event

        for dashboard_path in sorted((HERE / "dashboards").glob("*.json")):
            dashboard = json.loads(dashboard_path.read_text())
            for panel in panels(dashboard):
                for target in panel.get("targets", []):
                    expr = target["expr"].replace("$__rate_interval", RATE_WINDOW)
                    result, error = prometheus_query(prometheus, expr)
                    values = [float(series["value"][1]) for series in (result or [])]
                    finite = [v for v in values if not math.isnan(v)]
                    name = f"{dashboard_path.name}: {panel['title']} [{target.get('refId', '?')}]"
                    if error or not finite:
                        failures += 1
                        print(f"FAIL {name}: {error or 'no data'}\n     {expr}")
                    else:
                        print(f"ok   {name}: {len(finite)} series")
        passed = sum(len(p.get("targets", [])) for d in (HERE / "dashboards").glob("*.json")
                     for p in panels(json.loads(d.read_text()))) - failures
        print(f"dashboards: {passed} passed, {failures} failed")
    finally:
        worker.stop()
        lectern.stop()
        if prometheus_process:
            prometheus_process.terminate()
            prometheus_process.wait(timeout=30)
        receiver.shutdown()
        subprocess.run(["psql", f"{server_url}/postgres", "-qc", f"DROP DATABASE IF EXISTS {DATABASE}"],
                       capture_output=True)
        if failures == 0 and sys.exc_info()[0] is None:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"logs kept in {work}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
