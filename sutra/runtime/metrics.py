"""Prometheus metrics, exposed by ``sutra serve`` at ``/metrics``."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES_IN = Counter("sutra_messages_in_total", "Messages received from contacts", ["channel"])
MESSAGES_OUT = Counter(
    "sutra_messages_out_total", "Messages to contacts, by outcome", ["channel", "status"]
)
MESSAGES_HANDLED = Counter(
    "sutra_messages_handled_total", "Inbound messages a flow (or no flow) has dealt with"
)
DUPLICATES = Counter(
    "sutra_duplicate_deliveries_total", "Inbound deliveries seen before", ["channel"]
)
WEBHOOK_SECONDS = Histogram(
    "sutra_webhook_seconds",
    "Webhook and function call latency",
    ["method", "outcome"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
LLM_SECONDS = Histogram(
    "sutra_llm_seconds",
    "LLM call latency",
    ["provider", "model"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
LLM_TOKENS = Counter("sutra_llm_tokens_total", "LLM tokens used", ["provider", "model", "kind"])
ERRORS = Counter("sutra_errors_total", "Errors by kind", ["kind"])
LOOP_LAG = Histogram(
    "sutra_loop_lag_seconds",
    "How late the event loop wakes a sleeper: how long every contact's next step waits",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
ORG_LIMIT = Gauge(
    "sutra_admission_org_limit", "Contacts one organisation may hold now while others wait"
)
IN_FLIGHT = Gauge("sutra_contacts_in_flight", "Contacts this process works on now")
WAITING = Gauge("sutra_contacts_waiting", "Contacts with work waiting for room in this process")
