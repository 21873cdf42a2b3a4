"""Kafka event bus, wire-compatible with edx-event-bus-kafka (event-bus.md §1.5, §3.3, §4.4).

``KafkaEventBus`` publishes exam attempt events as the LMS's ``consume_events`` (``KafkaEventConsumer``) reads them:

* topic ``<topic_prefix>-<topic>`` (the bare topic without a prefix);
* key: the course key as an Avro ``string`` with the Confluent framing (byte 0, the 4-byte big-endian schema id,
  the schemaless Avro body), under the key schema ``{"name": "course_key", "type": "string"}``;
* value: the same framing around the outbox's schemaless Avro payload, under the event's ``CloudEvent`` schema;
* headers ``ce_specversion, content-type, ce_datacontenttype, ce_type, ce_id, ce_source, ce_time,
  ce_minorversion, sourcehost, sourcelib`` (``wire.kafka_headers``);
* schemas registered in a Confluent Schema Registry with the topic-record subject strategy
  (``<full topic>-<event type>.CloudEvent``; the key under whatever subject the client library derives, which is
  what edx-event-bus-kafka does too).

Key and value are serialized with confluent-kafka's own ``AvroSerializer``, configured as edx-event-bus-kafka
configures it, so subjects and schema strings are the ones the LMS side registers. The value is rebuilt from the
stored payload and checked to carry exactly those bytes.

Delivery: one message at a time, produced by an idempotent producer (``enable.idempotence``, ``acks=all``) and
waited for; the result is ``"<partition>:<offset>"``. Kafka keeps no per-event marker, so a repeat of an event id
is recognised only within this process (a relay that crashed between publishing and recording re-sends: the LMS
handlers take an in-order duplicate as a no-op).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from typing import Any, Callable

from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient, topic_record_subject_name_strategy
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from exams.adapters.lms import avro
from exams.adapters.lms.schemas import SCHEMAS, schema_string
from exams.adapters.lms.wire import kafka_headers
from exams.ports.events import BusUnavailable, PublishRejected, WireMessage

log = logging.getLogger(__name__)

#: The key schema edx-event-bus-kafka registers: the ``course_key`` field of the event's data, as a schema.
KEY_SCHEMA = '{"name": "course_key", "type": "string"}'
CLIENT_ID = "edx-exams"
DEFAULT_DELIVERY_TIMEOUT = 10.0  # seconds; stays under the relay lease (30 s) even with a registry round trip
DEFAULT_REGISTRY_TIMEOUT = 10.0

# Registry answers a retry cannot change: the schema is incompatible with the subject's history, or invalid.
_REGISTRY_REFUSALS = {409, 422}
# Broker answers a retry cannot change.
_BROKER_REFUSALS = {
    KafkaError.MSG_SIZE_TOO_LARGE,
    KafkaError.RECORD_LIST_TOO_LARGE,
    KafkaError.INVALID_RECORD,
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.TOPIC_EXCEPTION,
    KafkaError._INVALID_ARG,
}


def topic_name(topic_prefix: str | None, topic: str) -> str:
    """The Kafka topic of an unprefixed topic: ``<prefix>-<topic>``, the same rule as the Redis stream names."""
    return f"{topic_prefix}-{topic}" if topic_prefix else topic


def producer_config(bootstrap_servers: str, api_key: str = "", api_secret: str = "", *,
                    delivery_timeout: float = DEFAULT_DELIVERY_TIMEOUT) -> dict:
    """librdkafka settings of the producer: edx-event-bus-kafka's, plus idempotence and a bounded delivery time."""
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap_servers,
        "client.id": CLIENT_ID,
        "enable.idempotence": True,
        "acks": "all",
        # A message the broker has not taken within this time fails (and is retried by the relay later).
        "message.timeout.ms": int(delivery_timeout * 1000),
    }
    if api_key:  # as EVENT_BUS_KAFKA_API_KEY/SECRET: Confluent Cloud style SASL PLAIN over TLS
        config.update({"security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN",
                       "sasl.username": api_key, "sasl.password": api_secret})
    return config


def registry_config(url: str, api_key: str = "", api_secret: str = "", *,
                    timeout: float = DEFAULT_REGISTRY_TIMEOUT) -> dict:
    """Settings of the schema registry client (basic auth as EVENT_BUS_KAFKA_SCHEMA_REGISTRY_API_KEY/SECRET)."""
    config: dict[str, Any] = {"url": url, "timeout": timeout, "max.retries": 1, "retries.wait.ms": 200}
    if api_key:
        config["basic.auth.user.info"] = f"{api_key}:{api_secret}"
    return config


def _registry_transport_errors() -> tuple[type[BaseException], ...]:
    """The exception the registry client raises when it gets no answer (its HTTP library's TransportError)."""
    try:
        from confluent_kafka.schema_registry.common._httpx_compat import httpx
        return (httpx.TransportError,)
    except (ImportError, AttributeError):  # pragma: no cover - another client version: any OSError
        return (OSError,)


_NO_ANSWER = _registry_transport_errors()


class KafkaEventBus:
    """``EventBus`` on Kafka, as read by the LMS's ``consume_events`` with edx-event-bus-kafka.

    ``producer`` and ``registry`` may be given (tests); otherwise they are built from ``producer_config`` and
    ``registry_config``. ``publish`` raises ``BusUnavailable`` when the registry or the brokers do not answer (or
    answer with a retriable error) and ``PublishRejected`` when they refuse the message for good.
    """

    def __init__(
        self,
        bootstrap_servers: str = "",
        schema_registry_url: str = "",
        *,
        topic_prefix: str | None = None,
        api_key: str = "",
        api_secret: str = "",
        schema_registry_api_key: str = "",
        schema_registry_api_secret: str = "",
        delivery_timeout: float = DEFAULT_DELIVERY_TIMEOUT,
        registry_timeout: float = DEFAULT_REGISTRY_TIMEOUT,
        producer_factory: Callable[[dict], Any] = Producer,
        registry: Any = None,
        remember: int = 10_000,
    ) -> None:
        self._prefix = topic_prefix
        self._delivery_timeout = delivery_timeout
        self._producer_config = producer_config(bootstrap_servers, api_key, api_secret,
                                                delivery_timeout=delivery_timeout)
        self._producer_config["logger"] = log
        self._producer_config["error_cb"] = self._on_client_error
        self._producer_factory = producer_factory
        self._producer = None
        self._registry = registry if registry is not None else SchemaRegistryClient(
            registry_config(schema_registry_url, schema_registry_api_key, schema_registry_api_secret,
                            timeout=registry_timeout))
        serializer_config = {"subject.name.strategy": topic_record_subject_name_strategy}
        self._key_serializer = AvroSerializer(self._registry, KEY_SCHEMA, conf=serializer_config)
        self._value_serializers = {
            event_type: AvroSerializer(self._registry, schema_string(event_type),
                                       to_dict=lambda _payload, _ctx, t=event_type: self._record(t, _payload),
                                       conf=serializer_config)
            for event_type in SCHEMAS
        }
        self._published: OrderedDict[str, str] = OrderedDict()  # event id -> "partition:offset", newest last
        self._remember = remember
        self._lock = threading.Lock()

    def stream_for(self, topic: str) -> str:
        """The Kafka topic a topic is published to (named like the Redis bus's method)."""
        return topic_name(self._prefix, topic)

    def publish(self, message: WireMessage, force: bool = False) -> str:
        """Produce the message and wait for the broker; return ``"<partition>:<offset>"``.

        An event id this bus already published is not produced again (its first position is returned) unless
        ``force`` (an operator's replay).
        """
        with self._lock:
            if not force and message.event_id in self._published:
                return self._published[message.event_id]
            topic = self.stream_for(message.topic)
            key, value = self._frame(topic, message)
            position = self._produce(topic, key, value, kafka_headers(message))
            self._published[message.event_id] = position
            self._published.move_to_end(message.event_id)
            while len(self._published) > self._remember:
                self._published.popitem(last=False)
        log.info("event %s published on %s at %s", message.event_id, topic, position,
                 extra={"event_id": message.event_id, "event_type": message.event_type, "stream": topic,
                        "broker_msg_id": position})
        return position

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is still queued (there is nothing, between publishes) and drop the producer."""
        with self._lock:
            if self._producer is not None:
                self._producer.flush(timeout)
                self._producer = None

    # --- internals ---------------------------------------------------------------------------------------------

    @staticmethod
    def _record(event_type: str, payload: bytes) -> dict:
        try:
            return avro.decode(event_type, payload)
        except avro.AvroDecodeError as exc:
            raise PublishRejected(f"stored {event_type} payload is not valid Avro: {exc}") from exc

    def _frame(self, topic: str, message: WireMessage) -> tuple[bytes, bytes]:
        """Key and value with the Confluent framing, registering their schemas on first use."""
        serializer = self._value_serializers.get(message.event_type)
        if serializer is None:
            raise PublishRejected(f"no schema for event type {message.event_type!r}")
        try:
            course_key = bytes(message.key).decode("utf-8")
            key = self._key_serializer(course_key, SerializationContext(topic, MessageField.KEY))
            value = serializer(bytes(message.value), SerializationContext(topic, MessageField.VALUE))
        except PublishRejected:
            raise
        except SchemaRegistryError as exc:
            if exc.http_status_code in _REGISTRY_REFUSALS:
                raise PublishRejected(f"schema registry refused the schema for {topic}: {exc}") from exc
            raise BusUnavailable(f"schema registry failed for {topic}: {exc}") from exc
        except _NO_ANSWER as exc:
            raise BusUnavailable(f"schema registry unreachable for {topic}: {exc}") from exc
        except (ValueError, TypeError, UnicodeDecodeError) as exc:
            raise PublishRejected(f"cannot serialize {message.event_type} for {topic}: {exc}") from exc
        if value[5:] != bytes(message.value):  # the re-encoded body must be the stored one, byte for byte
            raise PublishRejected(f"re-encoding {message.event_type} changed its payload")
        return key, value

    def _produce(self, topic: str, key: bytes, value: bytes, headers: list[tuple[str, bytes]]) -> str:
        producer = self._get_producer()
        outcome: dict[str, Any] = {}

        def delivered(err, msg) -> None:
            outcome["error"] = err
            if err is None:
                outcome["position"] = f"{msg.partition()}:{msg.offset()}"

        try:
            producer.produce(topic, key=key, value=value, headers=headers, on_delivery=delivered)
        except BufferError as exc:
            raise BusUnavailable(f"kafka producer queue full for {topic}: {exc}") from exc
        except KafkaException as exc:
            raise self._error(topic, exc.args[0]) from exc
        producer.flush(self._delivery_timeout + 5)
        if not outcome:  # never reported back: give up on this try, so it cannot land behind a later retry
            producer.purge(in_queue=True, in_flight=False)
            producer.poll(0)
            if not outcome:
                raise BusUnavailable(f"kafka did not confirm the delivery to {topic} in time")
        if outcome["error"] is not None:
            raise self._error(topic, outcome["error"])
        return outcome["position"]

    def _error(self, topic: str, err: KafkaError):
        if err.fatal():  # the idempotent producer cannot go on; the next publish gets a fresh one
            self._producer = None
            return BusUnavailable(f"kafka producer failed fatally on {topic}: {err.str()}")
        if not err.retriable() and err.code() in _BROKER_REFUSALS:
            return PublishRejected(f"kafka refused the message for {topic}: {err.str()}")
        return BusUnavailable(f"kafka could not take the message for {topic}: {err.str()}")

    def _get_producer(self):
        if self._producer is None:
            self._producer = self._producer_factory(dict(self._producer_config))
        return self._producer

    @staticmethod
    def _on_client_error(err: KafkaError) -> None:
        log.warning("kafka client: %s", err.str())
