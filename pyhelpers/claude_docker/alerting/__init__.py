"""Alerting and incidents (docs/ALERTING.md): rules over what the tool records, evaluated with Prometheus'
semantics; notifications through an outbox to desktop, Slack, mail, Alertmanager and webhooks, throttled and
escalated; incidents; the helper's own errors tracked."""
