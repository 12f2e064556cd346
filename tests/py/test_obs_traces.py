"""Traces: W3C trace context, the OTLP/JSON file format, export by OTLP/HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from claude_docker.obs.tracing import Tracer, format_traceparent, parse_traceparent
from fakeintake import FakeIntake
from test_redact import Server

VALID = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.mark.parametrize("value,expected", [
    (VALID, ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", True)),
    (VALID.upper(), ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", True)),
    (VALID[:-2] + "00", ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", False)),
    ("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
     ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", True)),
    ("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", None),
    ("00-" + "0" * 32 + "-00f067aa0ba902b7-01", None),
    ("00-4bf92f3577b34da6a3ce929d0e0e4736-" + "0" * 16 + "-01", None),
    ("00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01", None),
    (VALID + "-extra", None),
    ("", None), (None, None), ("garbage", None),
])
def test_traceparent_validation(value, expected):
    assert parse_traceparent(value) == expected


def test_a_run_is_one_trace_in_otlp_json():
    tracer = Tracer("claude", VALID, **{"host.name": "box"})
    with tracer.start("sync_in") as span:
        span.attributes["claude_docker.sync.files"] = 3
    tracer.start("container", kind=3).end(error="exit 1")
    tracer.root.end()
    data = tracer.to_otlp()
    [resource_spans] = data["resourceSpans"]
    attrs = {a["key"]: a["value"] for a in resource_spans["resource"]["attributes"]}
    assert attrs["service.name"] == {"stringValue": "claude-docker"} and attrs["host.name"] == {"stringValue": "box"}
    spans = resource_spans["scopeSpans"][0]["spans"]
    root, sync, container = spans
    assert root["traceId"] == "4bf92f3577b34da6a3ce929d0e0e4736" and root["parentSpanId"] == "00f067aa0ba902b7"
    assert sync["parentSpanId"] == root["spanId"] and container["parentSpanId"] == root["spanId"]
    assert isinstance(sync["startTimeUnixNano"], str) and int(sync["endTimeUnixNano"]) >= int(sync["startTimeUnixNano"])
    assert sync["attributes"] == [{"key": "claude_docker.sync.files", "value": {"intValue": "3"}}]
    assert container["kind"] == 3 and container["status"] == {"code": 2, "message": "exit 1"}
    assert tracer.traceparent(tracer.spans[1]) == format_traceparent(root["traceId"], sync["spanId"])


def test_start_trace_then_export_each_trace_once_by_otlp_http(home):
    env = {**os.environ, "HOME": str(home)}
    out = subprocess.run([sys.executable, "-m", "claude_docker", "trace", "start", "deploy", "--shell"], env=env,
                         capture_output=True, text=True, check=True).stdout
    assert out.startswith("export TRACEPARENT=00-") and out.endswith("-01\n")
    traceparent = out.strip().split("=", 1)[1]
    traces = (home / ".claude-docker-traces" / "traces.jsonl").read_text().splitlines()
    assert json.loads(traces[0])["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["name"] == "deploy"
    with FakeIntake() as collector:
        collector.script["/v1/traces"] = [503]
        env.update(OTEL_EXPORTER_OTLP_ENDPOINT=collector.url, OTEL_EXPORTER_OTLP_HEADERS="x-team=a%20b")
        flush = subprocess.run([sys.executable, "-m", "claude_docker", "flush", "--json"], env=env, capture_output=True,
                               text=True)
        assert flush.returncode == 1 and "OTLP export" in json.loads(flush.stdout)["errors"][0]
        flush = subprocess.run([sys.executable, "-m", "claude_docker", "flush", "--json"], env=env, capture_output=True,
                               text=True)
        assert flush.returncode == 0, flush.stdout + flush.stderr
        assert json.loads(flush.stdout)["otlp_traces"] == 1
        subprocess.run([sys.executable, "-m", "claude_docker", "flush"], env=env, check=True)  # nothing new to send
    [sent] = collector.accepted("/v1/traces")
    assert sent["headers"]["content-type"] == "application/json" and sent["headers"]["x-team"] == "a b"
    span = sent["body"]["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert f"00-{span['traceId']}-{span['spanId']}-01" == traceparent


def test_an_otlp_redirect_is_not_followed_and_the_trace_goes_next_time(home):
    env = {**os.environ, "HOME": str(home)}
    subprocess.run([sys.executable, "-m", "claude_docker", "trace", "start", "deploy"], env=env, check=True,
                   capture_output=True)
    with Server() as elsewhere, Server(redirect_to=elsewhere.url) as collector:
        collector.statuses = [302]
        env["CLAUDE_DOCKER_OTLP_ENDPOINT"] = collector.url.replace("//", "//otel:OTPW@") + "/v1/traces?token=OTTOK"
        flushes = [subprocess.run([sys.executable, "-m", "claude_docker", "flush", "--json"], env=env,
                                  capture_output=True, text=True) for _ in range(3)]
    assert [f.returncode for f in flushes] == [1, 0, 0]
    [error] = json.loads(flushes[0].stdout)["errors"]
    assert error == (f"OTLP export to {collector.url.replace('//', '//***:***@')}/v1/traces?token=*** failed: "
                     "HTTP 302, a redirect, not followed")
    assert [json.loads(f.stdout).get("otlp_traces") for f in flushes[1:]] == [1, 0]  # kept, then sent once
    assert elsewhere.requests == []
    assert [(r["path"], r["status"]) for r in collector.requests] == [("/v1/traces?token=OTTOK", 302),
                                                                      ("/v1/traces?token=OTTOK", 202)]
    spans = json.loads(collector.requests[1]["body"])["resourceSpans"][0]["scopeSpans"][0]["spans"]
    assert spans[0]["name"] == "deploy"
    stored = ((home / ".claude-docker-events.jsonl").read_text()
              + (home / ".claude-docker-traces" / "traces.jsonl").read_text())
    assert "telemetry.export_failed" in stored and "OTPW" not in stored and "OTTOK" not in stored
