#!/usr/bin/env python3
"""Generates Lectern's Grafana dashboard from code (grafana-foundation-sdk).

    python infra/grafana/generate.py          # writes dashboards/lectern.json
    python infra/grafana/generate.py --check  # fails if the committed JSON differs

The panels read the metrics `lectern serve` exposes on /metrics (src/metrics.rs). PANELS is also
what check_panels.py runs against a real Prometheus, so every query here is proven to return data.
Queries use Grafana's `$__rate_interval`; the check substitutes a fixed window for it.
"""

import argparse
import json
import pathlib
import sys

from grafana_foundation_sdk.builders.dashboard import Dashboard, DatasourceVariable, Row
from grafana_foundation_sdk.builders.prometheus import Dataquery as PrometheusQuery
from grafana_foundation_sdk.builders.timeseries import Panel as Timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import TimeZoneBrowser
from grafana_foundation_sdk.models.dashboard import DataSourceRef

OUTPUT = pathlib.Path(__file__).parent / "dashboards" / "lectern.json"
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
RATE = "$__rate_interval"

# (row, title, unit, description, [(expr, legend)])
PANELS = [
    ("API", "Requests by route", "reqps", "Answers per second, by route template.",
     [(f'sum by (route) (rate(lectern_http_requests_total{{job="lectern"}}[{RATE}]))', "{{route}}")]),
    ("API", "Responses by status", "reqps", "Answers per second, by HTTP status.",
     [(f'sum by (status) (rate(lectern_http_requests_total{{job="lectern"}}[{RATE}]))', "{{status}}")]),
    ("API", "5xx share", "percentunit", "Share of answers that are server errors (alert: LecternHttp5xxRate above 5%).",
     [(f'(sum(rate(lectern_http_requests_total{{job="lectern", status=~"5.."}}[{RATE}])) or vector(0))'
       f' / sum(rate(lectern_http_requests_total{{job="lectern"}}[{RATE}]))', "5xx")]),
    ("API", "Latency", "s", "Request latency quantiles over all routes.",
     [(f'histogram_quantile({q}, sum by (le) (rate(lectern_http_request_duration_seconds_bucket{{job="lectern"}}[{RATE}])))', f"p{int(q * 100)}")
      for q in (0.5, 0.95, 0.99)]),
    ("Jobs", "Queue depth", "short", "Due jobs waiting to be claimed, by kind.",
     [('sum by (kind) (max_over_time(lectern_queue_depth{job="lectern"}[5m]))', "{{kind}}")]),
    ("Jobs", "Oldest due job", "s", "How long the oldest due job of each kind has waited (alert: LecternQueueStalled).",
     [('max by (kind) (max_over_time(lectern_queue_oldest_age_seconds{job="lectern"}[5m]))', "{{kind}}")]),
    ("Jobs", "Job attempts by outcome", "ops", "Finished job attempts per second, by kind and outcome.",
     [(f'sum by (kind, outcome) (rate(lectern_jobs_finished_total{{job="lectern"}}[{RATE}]))', "{{kind}} {{outcome}}")]),
    ("Jobs", "Job duration p95", "s", "95th percentile wall time of job attempts, by kind.",
     [(f'histogram_quantile(0.95, sum by (kind, le) (rate(lectern_job_duration_seconds_bucket{{job="lectern"}}[{RATE}])))', "{{kind}}")]),
    ("Jobs", "Encode speed", "x", "Median seconds of media encoded per second of wall time, by transcoder (alert: LecternEncodeTooSlow under 0.5).",
     [(f'histogram_quantile(0.5, sum by (backend, le) (rate(lectern_encode_speed_ratio_bucket{{job="lectern"}}[{RATE}])))', "{{backend}}")]),
    ("Delivery", "Playback sessions", "ops", "POST /v1/assets/{id}/playback answers, by outcome.",
     [(f'sum by (outcome) (rate(lectern_playback_sessions_total{{job="lectern"}}[{RATE}]))', "{{outcome}}")]),
    ("Delivery", "Webhook sends", "ops", "Webhook sends per second, by outcome (alert: LecternWebhooksDropped on failed).",
     [(f'sum by (outcome) (rate(lectern_webhook_sends_total{{job="lectern"}}[{RATE}]))', "{{outcome}}")]),
    ("Delivery", "Webhook send duration p95", "s", "95th percentile wall time of webhook sends.",
     [(f'histogram_quantile(0.95, sum by (le) (rate(lectern_webhook_send_duration_seconds_bucket{{job="lectern"}}[{RATE}])))', "p95")]),
    ("Delivery", "CDN invalidations", "ops", "CloudFront invalidation attempts, by outcome.",
     [(f'sum by (outcome) (rate(lectern_cdn_invalidations_total{{job="lectern"}}[{RATE}]))', "{{outcome}}")]),
]


def build() -> dict:
    dashboard = (
        Dashboard("Lectern")
        .uid("lectern-overview")
        .tags(["lectern"])
        .refresh("30s")
        .time("now-6h", "now")
        .timezone(TimeZoneBrowser)
        .with_variable(DatasourceVariable("datasource").label("Prometheus").type("prometheus"))
    )
    current_row = None
    for row, title, unit, description, targets in PANELS:
        if row != current_row:
            dashboard = dashboard.with_row(Row(row))
            current_row = row
        panel = Timeseries().title(title).description(description).unit(unit).datasource(DATASOURCE).height(8).span(8)
        for index, (expr, legend) in enumerate(targets):
            panel = panel.with_target(
                PrometheusQuery().expr(expr).legend_format(legend).ref_id(chr(ord("A") + index)).datasource(DATASOURCE)
            )
        dashboard = dashboard.with_panel(panel)
    return json.loads(json.dumps(dashboard.build(), cls=JSONEncoder))


def render() -> str:
    return json.dumps(build(), indent=2, sort_keys=True) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed JSON instead of writing it")
    args = parser.parse_args()
    text = render()
    if args.check:
        if not OUTPUT.exists() or OUTPUT.read_text() != text:
            print(f"{OUTPUT} differs from what generate.py makes", file=sys.stderr)
            return 1
        print(f"{OUTPUT.name}: up to date ({len(PANELS)} panels)")
        return 0
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
