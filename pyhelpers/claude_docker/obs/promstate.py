"""Prometheus series, folded from the observations in ~/.claude-docker-metrics.jsonl.

Every `claude` run is its own short process, so its observations are appended to a log, and `collect`
folds what is new into cumulative series persisted in <state>/metrics/state.json. The cursor and the
series are saved in one atomic write, so a crash neither counts an observation twice nor drops one, and
counters never go back to zero because a new process started. Rendering uses prometheus_client
(imported here only: it is off the `claude` hot path).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from claude_docker import CLAUDE_CODE_VERSION, __version__
from claude_docker.fsio import write_atomic
from claude_docker.locking import state_lock
from claude_docker.obs import jsonl, settings
from claude_docker.obs.catalog import METRICS

PUSH_JOB = "claude_docker"


def _key(labels: dict) -> str:
    return json.dumps(labels, sort_keys=True, separators=(",", ":"))


def load() -> dict:
    """The persisted series; new ones if there are none. A state that is not one this tool writes is set aside
    (damage.py) and the series are folded again from what the logs still hold."""
    path = settings.metric_state_file()
    try:
        state = json.loads(path.read_bytes())
        problem = state_problem(state)
    except FileNotFoundError:
        return {"cursor": {}, "series": {}, "observations": 0}
    except (ValueError, RecursionError) as exc:  # (UnicodeDecodeError too; nested past any state)
        problem = f"not JSON: {exc}"
    if problem:
        from claude_docker import damage

        damage.set_aside(path, problem, "the metrics are folded again from the observations the logs still hold "
                                        "(counters may restart lower, which Prometheus reads as a reset)")
        return {"cursor": {}, "series": {}, "observations": 0}
    return state


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def state_problem(state: object) -> str:
    """What makes a persisted state unusable by apply() and render() ("" if nothing)."""
    if not isinstance(state, dict) or not isinstance(state.get("series"), dict) \
            or not _number(state.get("observations", 0)):
        return "not a metrics state"
    try:
        jsonl.Cursor.from_json(state.get("cursor") or {})
    except ValueError as exc:
        return f"its cursor: {exc}"
    for name, values in state["series"].items():
        metric = METRICS.get(name)
        if metric is None:
            continue  # a metric this version no longer has: never read
        if not isinstance(values, dict):
            return f"{name} is not a set of series"
        for key, value in values.items():
            try:
                labelled = isinstance(json.loads(key), dict)
            except ValueError:
                labelled = False
            if metric.kind == "histogram":
                good = isinstance(value, dict) and _number(value.get("sum")) and _number(value.get("count")) \
                    and isinstance(value.get("buckets"), list) and len(value["buckets"]) == len(metric.buckets) \
                    and all(_number(b) for b in value["buckets"])
            else:
                good = _number(value)
            if not (labelled and good):
                return f"a series of {name} is not one this tool writes"
    return ""


def apply(state: dict, record: dict) -> None:
    if not isinstance(record, dict):
        return  # a valid JSON line that is not a record: nothing to count
    metric = METRICS.get(record.get("metric", ""))
    if metric is None or metric.kind != record.get("type"):
        return
    try:
        value = float(record["value"])
    except (KeyError, TypeError, ValueError):
        return
    series = state["series"].setdefault(metric.name, {})
    key = _key({k: str(record.get("labels", {}).get(k, "")) for k in metric.labels})
    if metric.kind == "counter":
        series[key] = series.get(key, 0.0) + value
    elif metric.kind == "gauge":
        series[key] = value
    else:
        h = series.setdefault(key, {"buckets": [0] * len(metric.buckets), "sum": 0.0, "count": 0})
        for i, bound in enumerate(metric.buckets):
            if value <= bound:
                h["buckets"][i] += 1
                break
        h["sum"] += value
        h["count"] += 1
    state["observations"] = state.get("observations", 0) + 1


def _fold() -> dict:
    """Fold the observations appended since the last fold into the persisted series (hold the lock)."""
    state = load()
    new = jsonl.read_new(settings.metrics_file(), jsonl.Cursor.from_json(state.get("cursor") or {}))
    if new:
        for line, _ in new:
            try:
                apply(state, json.loads(line))
            except ValueError:
                continue
        state["cursor"] = new[-1][1].to_json()
        path = settings.metric_state_file()
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_atomic(path, json.dumps(state).encode())
    return state


def collect() -> dict:
    """Fold what is new; returns the series."""
    with state_lock("metrics"):
        return _fold()


def publish(pushgateway: str | None) -> dict:
    """Fold, then write the textfile and push, all under the one lock: a slower concurrent publish can
    never put older counters over newer ones (Prometheus would read that as a counter reset)."""
    from claude_docker.liveness import host_name

    with state_lock("metrics"):
        state = _fold()
        gauges = live_gauges()
        result = {"textfile": str(write_textfile(render(state, gauges))),
                  "observations": state.get("observations", 0), "pushgateway": None, "error": None}
        if pushgateway:
            from prometheus_client import push_to_gateway

            from claude_docker import redact

            base, _, query = pushgateway.partition("?")
            try:
                push_to_gateway(base, job=PUSH_JOB, registry=registry(state, gauges),
                                grouping_key={"instance": host_name()}, timeout=10, handler=_put_handler(query))
                result["pushgateway"] = redact.url(pushgateway)
            except Exception as exc:  # noqa: BLE001 - any failure of the push is reported, not raised
                result["error"] = f"push to {redact.url(pushgateway)} failed: {redact.text(exc)}"
    return result


def _put_handler(query: str):
    """prometheus_client's push through obs.http, so a Pushgateway's redirect is never followed and
    credentials in its URL are neither shown nor sent anywhere but in a header. The gateway's query string
    (`?token=...`, for a proxy in front of it) goes after the path the client appends."""
    from claude_docker.obs.http import describe, request

    def handler(url, method, timeout, headers, data):
        def push() -> None:
            status, _, reason = request(method, url + ("?" + query if query else ""), data, dict(headers),
                                        timeout or 10.0)
            if status is None or not 200 <= status < 300:
                raise OSError(describe(status, reason))
        return push

    return handler


def live_gauges() -> dict:
    """Series read now rather than folded: containers, interrupted sessions, state size, build info, the rollout's
    share and step (so a transition whose observation was lost to a SIGKILL can't leave them wrong), disk usage
    and the exporters' backlog."""
    from claude_docker.liveness import host_name
    from claude_docker.paths import state_dir
    from claude_docker.sessiondir import all_sessions, interrupted

    gauges: dict = {
        "claude_docker_build_info": {_key({"version": __version__, "claude_code_version": CLAUDE_CODE_VERSION}): 1.0},
        "claude_docker_interrupted_sessions": {_key({}): float(len(interrupted(all_sessions(), host_name())))},
        "claude_docker_state_bytes": {_key({}): float(_tree_size(state_dir()))},
    }
    for name, series in rollout_gauges().items():
        gauges[name] = {_key(labels): value for labels, value in series}
    try:
        gauges["claude_docker_containers"] = {_key({"state": state}): n for state, n in containers().items()}
    except Exception:  # noqa: BLE001 - no engine now: the gauge is left out rather than reported as zero
        pass
    from claude_docker.obs import machine

    for name, series in (("claude_docker_disk_usage_ratio", machine.disk_usage(machine.docker_info())),
                         ("claude_docker_export_backlog_bytes", machine.export_backlogs())):
        if series:
            gauges[name] = {_key(labels): value for labels, value in series}
    return gauges


def rollout_gauges() -> dict[str, list[tuple[dict, float]]]:
    """The rollout's share of new sessions and its step, from its state now (none when it is damaged: doctor
    says so)."""
    try:
        from claude_docker.rollout import state as rollout_state

        dep = rollout_state.load()["deployment"]
    except Exception:  # noqa: BLE001 - a damaged rollout state: doctor says so; the gauges are left out
        return {}
    return {"claude_docker_rollout_canary_weight": [({"mode": dep["mode"] if dep else "none"},
                                                     float(dep["weight"]) if dep else 0.0)],
            "claude_docker_rollout_step": [({}, float(dep["step"]) if dep else -1.0)]}


def containers() -> dict[str, float]:
    """claude_docker_containers by state: running sessions (not their egress sidecars), and orphaned containers,
    sidecars too (what cleanup removes). Raises when the engine can't be asked."""
    from claude_docker import dockerclient, inventory

    found = inventory.sessions(dockerclient.connect(timeout=5))
    return {"running": float(sum(1 for s in found if s.status == "running" and not s.orphaned
                                 and s.role == inventory.SESSION)),
            "orphaned": float(sum(1 for s in found if s.orphaned))}


def _tree_size(root: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total


def registry(state: dict, gauges: dict | None = None):
    """A prometheus_client registry holding exactly our series."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

    series = dict(state.get("series", {}))
    series.update(gauges or {})

    class Collector:
        def collect(self):
            for metric in METRICS.values():
                values = series.get(metric.name, {})
                if not values and metric.kind != "counter":
                    continue  # a gauge or histogram nothing has set yet is left out
                labels = list(metric.labels)
                family = {"counter": CounterMetricFamily, "gauge": GaugeMetricFamily,
                          "histogram": HistogramMetricFamily}[metric.kind](metric.name, metric.help, labels=labels)
                if not values and not labels:
                    family.add_metric([], 0.0)  # an unlabelled counter exists from the start, at zero
                for key, value in sorted(values.items()):
                    label_values = [json.loads(key).get(name, "") for name in labels]
                    if metric.kind == "histogram":
                        cumulative, buckets = 0, []
                        for bound, count in zip(metric.buckets, value["buckets"]):
                            cumulative += count
                            buckets.append((repr(float(bound)), cumulative))
                        buckets.append(("+Inf", value["count"]))
                        family.add_metric(label_values, buckets, value["sum"])
                    else:
                        family.add_metric(label_values, value)
                yield family

    reg = CollectorRegistry(auto_describe=False)
    reg.register(Collector())
    return reg


def render(state: dict, gauges: dict | None = None) -> bytes:
    """Text exposition format 0.0.4."""
    from prometheus_client import generate_latest

    return generate_latest(registry(state, gauges))


def write_textfile(text: bytes) -> Path:
    """For node_exporter's textfile collector: atomic (a *.prom name appears only when complete), durable,
    and world-readable (node_exporter often runs as another user)."""
    path = settings.textfile()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, text, mode=0o644)
    return path
