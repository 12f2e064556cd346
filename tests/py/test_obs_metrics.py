"""Metrics: the fold across processes, and real consumers (promtool, node_exporter, Prometheus, Pushgateway)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest

from daemons import daemon, free_port, http_get
from test_redact import Server

ROOT = Path(__file__).resolve().parents[2]

RECORD = """
from claude_docker.obs.catalog import observe
for _ in range(3):
    observe("claude_docker_sessions_total", 1, slot="v1", outcome="ok")
observe("claude_docker_sessions_total", 1, slot="v2", outcome="error")
for v in (0.3, 4.0, 12.0):
    observe("claude_docker_session_startup_seconds", v, slot="v1")
observe("claude_docker_sync_duration_seconds", 0.004, direction="out")
observe("claude_docker_last_success_timestamp_seconds", 1700000000.0)
"""


def need(*programs):
    missing = [p for p in programs if not shutil.which(p)]
    if missing:
        if os.environ.get("CLAUDE_DOCKER_REQUIRE_DOCKER") == "1":
            pytest.fail(f"missing {missing} (tests/run installs them)")
        pytest.skip(f"missing {missing}")


def helper(home, *args, env=None):
    return subprocess.run([sys.executable, "-m", "claude_docker", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HOME": str(home), "NO_COLOR": "1", **(env or {})})


def record(home, times: int = 1):
    for _ in range(times):
        subprocess.run([sys.executable, "-c", RECORD], env={**os.environ, "HOME": str(home)}, check=True)


def samples(text: str) -> dict:
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def test_counters_and_histograms_accumulate_across_processes(home):
    record(home)
    assert helper(home, "metrics", "collect").returncode == 0
    record(home)  # a later run, another process: counters go on from where they were
    result = helper(home, "metrics", "collect", "--json")
    assert result.returncode == 0, result.stderr
    text = Path(json.loads(result.stdout)["textfile"]).read_text()
    s = samples(text)
    assert s['claude_docker_sessions_total{outcome="ok",slot="v1"}'] == 6.0
    assert s['claude_docker_session_startup_seconds_bucket{le="10.0",slot="v1"}'] == 4.0
    assert s['claude_docker_session_startup_seconds_bucket{le="15.0",slot="v1"}'] == 6.0
    assert s['claude_docker_session_startup_seconds_count{slot="v1"}'] == 6.0
    assert s['claude_docker_session_startup_seconds_bucket{le="+Inf",slot="v1"}'] == 6.0
    assert s["claude_docker_last_success_timestamp_seconds"] == 1700000000.0
    assert 'claude_docker_build_info{claude_code_version="2.1.197",version="0.1.0"} 1.0' in text
    assert not any("session=" in line or "trace" in line for line in text.splitlines() if not line.startswith("#"))
    assert Path(json.loads(result.stdout)["textfile"]).stat().st_mode & 0o777 == 0o644
    assert helper(home, "metrics", "collect").returncode == 0  # nothing new: nothing counted twice
    again = samples(Path(json.loads(result.stdout)["textfile"]).read_text())
    folded = [k for k in s if not k.startswith(("claude_docker_state_bytes", "claude_docker_interrupted",
                                                "claude_docker_containers"))]
    assert {k: again[k] for k in folded} == {k: s[k] for k in folded}


def test_promtool_accepts_our_output_and_rules(home):
    need("promtool")
    record(home)
    result = helper(home, "metrics", "collect", "--json")
    textfile = json.loads(result.stdout)["textfile"]
    with open(textfile) as fh:
        check = subprocess.run(["promtool", "check", "metrics"], stdin=fh, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.strip() == "" and check.stderr.strip() == ""  # not even a lint warning
    rules = subprocess.run(["promtool", "check", "rules", str(ROOT / "contrib/prometheus/alerts.yml")],
                           capture_output=True, text=True)
    assert rules.returncode == 0, rules.stdout + rules.stderr


def test_promtool_unit_tests_of_the_rollout_rules():
    need("promtool")
    # Run from the tests' directory: promtool resolves their rule_files from there.
    result = subprocess.run(["promtool", "test", "rules", "rollout_test.yml"], cwd=ROOT / "tests/prometheus",
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_rules_and_the_dashboard_read_only_metrics_we_export():
    from claude_docker.obs.catalog import METRICS
    exported = {m.name + suffix for m in METRICS.values()
                for suffix in (("_bucket", "_count", "_sum") if m.kind == "histogram" else ("",))}
    text = "".join((ROOT / "contrib" / f).read_text() for f in ("prometheus/alerts.yml", "grafana/claude-docker.json"))
    # (a recording rule's name, level:metric:operations, is not a metric of ours)
    read = set(re.findall(r"(?<![\w:])claude_docker_\w+", text))
    assert {"claude_docker_rollout_sessions_total", "claude_docker_session_startup_seconds_bucket"} <= read
    assert read - exported == set()


def test_dashboard_panels_have_unique_ids_and_do_not_overlap():
    dashboard = json.loads((ROOT / "contrib/grafana/claude-docker.json").read_text())
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    cells = [(x, y) for p in panels for g in [p["gridPos"]]
             for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])]
    assert len(cells) == len(set(cells)) and all(x < 24 for x, _ in cells)
    # Each row heads the panels of its capability, down to the next row.
    rows = sorted((p for p in panels if p["type"] == "row"), key=lambda p: p["gridPos"]["y"])
    assert [r["title"] for r in rows] == ["Rollouts", "Alerts and incidents"]
    for row, reads in zip(rows, ("claude_docker_rollout_canary_weight", "claude_docker_incident_ack_seconds")):
        end = next((r["gridPos"]["y"] for r in rows if r["gridPos"]["y"] > row["gridPos"]["y"]), 10 ** 6)
        below = [p for p in panels if row["gridPos"]["y"] < p["gridPos"]["y"] < end]
        assert below and all(p["type"] != "row" and p["targets"] for p in below)
        assert any(reads in t["expr"] for p in below for t in p["targets"])


def test_node_exporter_serves_our_textfile(home, tmp_path):
    need("prometheus-node-exporter")
    textdir = tmp_path / "textfile"
    record(home)
    assert helper(home, "metrics", "collect", env={"CLAUDE_DOCKER_TEXTFILE_DIR": str(textdir)}).returncode == 0
    port = free_port()
    argv = ["prometheus-node-exporter", f"--web.listen-address=127.0.0.1:{port}", "--collector.disable-defaults",
            "--collector.textfile", f"--collector.textfile.directory={textdir}"]
    with daemon(argv, f"http://127.0.0.1:{port}/metrics", tmp_path / "node.log"):
        text = http_get(f"http://127.0.0.1:{port}/metrics")
    s = samples(text)
    assert s['claude_docker_sessions_total{outcome="ok",slot="v1"}'] == 3.0
    assert s["node_textfile_scrape_error"] == 0.0


def test_prometheus_scrapes_metrics_serve_and_answers_promql(home, tmp_path):
    need("prometheus")
    record(home)
    serve = subprocess.Popen([sys.executable, "-m", "claude_docker", "metrics", "serve", "--listen", "127.0.0.1:0"],
                             env={**os.environ, "HOME": str(home)}, stdout=subprocess.PIPE, text=True)
    try:
        url = serve.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        assert http_get(url + "/health/live").startswith('{"status": "ok"')
        target = url.removeprefix("http://")
        config = tmp_path / "prometheus.yml"
        config.write_text(f"global: {{scrape_interval: 1s}}\nscrape_configs:\n  - job_name: claude-docker\n"
                          f"    static_configs: [{{targets: ['{target}']}}]\n")
        port = free_port()
        argv = ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}"]
        with daemon(argv, f"http://127.0.0.1:{port}/-/ready", tmp_path / "prometheus.log"):
            api = f"http://127.0.0.1:{port}/api/v1/query?query="
            deadline, result = time.time() + 60, []
            while time.time() < deadline and not result:
                time.sleep(1)
                answer = json.loads(http_get(api + urllib.parse.quote("claude_docker_sessions_total")))
                result = answer["data"]["result"]
            ok = {r["metric"]["slot"]: float(r["value"][1]) for r in result if r["metric"]["outcome"] == "ok"}
            assert ok == {"v1": 3.0}
            # Every dashboard and alert expression is valid PromQL against our series.
            dashboard = json.loads((ROOT / "contrib/grafana/claude-docker.json").read_text())
            exprs = [t["expr"] for p in dashboard["panels"] if p["type"] != "row" for t in p["targets"]]
            for expr in exprs:
                answer = json.loads(http_get(api + urllib.parse.quote(expr)))
                assert answer["status"] == "success", (expr, answer)
    finally:
        serve.terminate()
        serve.wait(timeout=15)


def test_pushgateway_receives_a_push(home, tmp_path):
    need("prometheus-pushgateway")
    record(home)
    port = free_port()
    argv = ["prometheus-pushgateway", f"--web.listen-address=127.0.0.1:{port}"]
    with daemon(argv, f"http://127.0.0.1:{port}/-/ready", tmp_path / "pushgateway.log"):
        result = helper(home, "metrics", "collect", "--json", env={"CLAUDE_DOCKER_PUSHGATEWAY": f"http://127.0.0.1:{port}"})
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["pushgateway"] == f"http://127.0.0.1:{port}"
        text = http_get(f"http://127.0.0.1:{port}/metrics")
    line = next(x for x in text.splitlines() if x.startswith('claude_docker_sessions_total{') and 'slot="v1"' in x)
    assert 'job="claude_docker"' in line and 'outcome="ok"' in line and line.endswith(" 3")


def test_a_push_that_fails_is_one_line_and_status_1(home):
    record(home)
    result = helper(home, "metrics", "collect", env={"CLAUDE_DOCKER_PUSHGATEWAY": f"http://127.0.0.1:{free_port()}"})
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "push to http://127.0.0.1:" in result.stderr


def test_a_pushgateway_redirect_is_not_followed_and_url_credentials_go_as_basic_auth(home):
    record(home)
    with Server() as elsewhere, Server(redirect_to=elsewhere.url) as gateway:
        gateway.statuses = [307]
        url = gateway.url.replace("//", "//pusher:pw%40PGPW@") + "/?token=PGTOK"
        refused = helper(home, "metrics", "collect", env={"CLAUDE_DOCKER_PUSHGATEWAY": url})
        pushed = helper(home, "metrics", "collect", "--json", env={"CLAUDE_DOCKER_PUSHGATEWAY": url})
    assert refused.returncode == 1 and "HTTP 307, a redirect, not followed" in refused.stderr
    assert pushed.returncode == 0, pushed.stderr
    assert json.loads(pushed.stdout)["pushgateway"] == gateway.url.replace("//", "//***:***@") + "/?token=***"
    assert elsewhere.requests == []
    assert [(r["method"], r["status"]) for r in gateway.requests] == [("PUT", 307), ("PUT", 202)]
    second = gateway.requests[1]
    assert second["path"].startswith("/metrics/job/claude_docker/instance/")
    assert second["path"].endswith("?token=PGTOK")  # the query stays at the end, after the path the client adds
    assert second["headers"]["authorization"] == "Basic cHVzaGVyOnB3QFBHUFc="  # pusher:pw@PGPW
    assert b'claude_docker_sessions_total{outcome="ok",slot="v1"} 3.0' in second["body"]
    for secret in ("PGPW", "PGTOK"):
        assert secret not in refused.stdout + refused.stderr + pushed.stdout + pushed.stderr


def test_health_live_and_ready(home):
    live = helper(home, "health", "--live", "--json")
    assert live.returncode == 0 and json.loads(live.stdout)["status"] == "ok"
    (home / ".claude.json").write_text("{broken")
    ready = helper(home, "health", "--json", env={"CLAUDE_DOCKER_IMAGE": "claude-docker-test/absent:0"})
    assert ready.returncode == 1
    failing = {c["name"] for c in json.loads(ready.stdout)["checks"] if c["status"] == "fail"}
    assert failing == {"docker", ".claude.json"}


def test_concurrent_collects_never_lower_a_counter(home):
    appender = subprocess.Popen([sys.executable, "-c", RECORD.replace("range(3)", "range(300)")],
                                env={**os.environ, "HOME": str(home)})
    collectors = [subprocess.Popen([sys.executable, "-m", "claude_docker", "metrics", "collect"],
                                   env={**os.environ, "HOME": str(home)}, stdout=subprocess.DEVNULL) for _ in range(6)]
    textfile = home / ".claude-docker" / "textfile" / "claude_docker.prom"
    values = []
    while any(p.poll() is None for p in collectors + [appender]):
        if textfile.exists():
            values.append(samples(textfile.read_text()).get('claude_docker_sessions_total{outcome="ok",slot="v1"}', 0))
    assert helper(home, "metrics", "collect").returncode == 0
    values.append(samples(textfile.read_text())['claude_docker_sessions_total{outcome="ok",slot="v1"}'])
    assert values == sorted(values) and values[-1] == 300.0
