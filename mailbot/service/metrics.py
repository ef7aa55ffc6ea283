"""Prometheus metrics of one service process, in its own registry; gauges read from the store when scraped."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from mailbot.service.health import HealthState, outbox_state, review_state
from mailbot.store import Store


class _StoreGauges:
    """Outbox and review queue depth and age, read at scrape time."""

    def __init__(self, store: Store, health: HealthState, token_expiry):
        self.store = store
        self.health = health
        self.token_expiry = token_expiry

    def collect(self):
        try:
            waiting, oldest, failed = outbox_state(self.store)
            queue, queue_oldest = review_state(self.store)
        except Exception:
            return
        yield GaugeMetricFamily("mailbot_outbox_depth", "Replies waiting to be sent", value=waiting)
        yield GaugeMetricFamily("mailbot_outbox_oldest_age_seconds", "Age of the oldest reply waiting",
                                value=oldest.total_seconds() if oldest else 0)
        yield GaugeMetricFamily("mailbot_replies_given_up", "Replies given up after failing", value=failed)
        yield GaugeMetricFamily("mailbot_review_queue_depth", "Messages held for review", value=queue)
        yield GaugeMetricFamily("mailbot_review_oldest_age_seconds", "Age of the oldest message held for review",
                                value=queue_oldest.total_seconds() if queue_oldest else 0)
        expiry = self.token_expiry()
        if expiry:
            yield GaugeMetricFamily("mailbot_token_expiry_timestamp_seconds", "When the OAuth token or client secret expires",
                                    value=expiry)
        yield GaugeMetricFamily("mailbot_standby", "1 when another node holds the mailbox", value=1 if self.health.standby else 0)


class Metrics:
    def __init__(self, store: Store, health: HealthState, token_expiry=lambda: None):
        self.registry = CollectorRegistry()
        self.messages = Counter("mailbot_messages_total", "Messages decided, by outcome", ["outcome"], registry=self.registry)
        self.poll_duration = Histogram("mailbot_poll_duration_seconds", "How long a pass over the inbox took",
                                       registry=self.registry, buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300))
        self.send_failures = Counter("mailbot_send_failures_total", "Replies that failed to send (each attempt)",
                                     registry=self.registry)
        self.replies_sent = Counter("mailbot_replies_sent_total", "Replies sent", registry=self.registry)
        self.reconnects = Counter("mailbot_imap_reconnects_total", "Times the mailbox connection was lost and made again",
                                  registry=self.registry)
        self.registry.register(_StoreGauges(store, health, token_expiry))

    def text(self) -> bytes:
        return generate_latest(self.registry)
