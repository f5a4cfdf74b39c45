"""confluent-kafka's AvroSerializer / AvroDeserializer exchanging records with Runnel's Avro
serde over a real topic on `runnel serve`, through its schema registry.

Usage:
  sr_serde.py produce BOOTSTRAP REGISTRY_URL TOPIC N
      Serializes N users with AvroSerializer (schema USER_V1, auto-registered under
      TOPIC-value by the Python SchemaRegistryClient) and produces them, keyed "k<i>".
  sr_serde.py consume BOOTSTRAP REGISTRY_URL TOPIC N
      Consumes N records that Runnel wrote (schema USER_V2, which adds an optional email)
      and reads each twice: with AvroDeserializer as written (the writer schema fetched by
      id) and resolved into USER_V1 (the email dropped). Checks every field.

Prints a JSON summary; exits non-zero with a readable message on the first failed check.
"""

import json
import struct
import sys
import time

from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

USER_V1 = {"type": "record", "name": "User", "namespace": "runnel.test",
           "fields": [{"name": "name", "type": "string"},
                      {"name": "age", "type": "int"}]}

# What the Rust side writes: v1 plus an optional email (a compatible change).
USER_V2 = {"type": "record", "name": "User", "namespace": "runnel.test",
           "fields": [{"name": "name", "type": "string"},
                      {"name": "age", "type": "int"},
                      {"name": "email", "type": ["null", "string"], "default": None}]}

summary = {}


def check(cond, what):
    if not cond:
        print(json.dumps(summary, default=str))
        sys.exit(f"check failed: {what}")


def user(i):
    """The i-th user, as both sides derive it."""
    return {"name": f"user-{i}", "age": i % 90}


def email(i):
    return f"user{i}@example.com" if i % 2 == 0 else None


def header(data):
    check(len(data) >= 5, f"record of {len(data)} bytes has no Confluent header")
    magic, schema_id = struct.unpack(">bI", data[:5])
    return magic, schema_id


def produce(bootstrap, url, topic, n):
    client = SchemaRegistryClient({"url": url})
    serializer = AvroSerializer(client, json.dumps(USER_V1))
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    errors = []
    ids = set()

    def delivered(err, _msg):
        if err is not None:
            errors.append(str(err))

    ctx = SerializationContext(topic, MessageField.VALUE)
    for i in range(n):
        value = serializer(user(i), ctx)
        magic, schema_id = header(value)
        check(magic == 0, f"magic byte {magic}")
        ids.add(schema_id)
        producer.produce(topic, key=f"k{i}".encode(), value=value, on_delivery=delivered)
        producer.poll(0)
    remaining = producer.flush(30)
    check(remaining == 0, f"{remaining} records not delivered within 30 s")
    check(not errors, f"delivery errors: {errors[:3]}")
    check(len(ids) == 1, f"one schema id for every record, got {ids}")
    registered = client.get_latest_version(f"{topic}-value")
    check(registered.schema_id in ids, f"latest {topic}-value is id {registered.schema_id}, records carry {ids}")
    summary.update(produced=n, schema_id=ids.pop())


def consume(bootstrap, url, topic, n):
    client = SchemaRegistryClient({"url": url})
    as_written = AvroDeserializer(client)
    as_v1 = AvroDeserializer(client, json.dumps(USER_V1))
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": f"sr-serde-{topic}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    })
    consumer.subscribe([topic])
    seen = {}
    ids = set()
    ctx = SerializationContext(topic, MessageField.VALUE)
    deadline = time.monotonic() + 60
    while len(seen) < n:
        check(time.monotonic() < deadline, f"only {len(seen)} of {n} records within 60 s")
        msg = consumer.poll(0.2)
        if msg is None:
            continue
        check(msg.error() is None, f"consumer error {msg.error()}")
        key = msg.key().decode()
        i = int(key[1:])
        magic, schema_id = header(msg.value())
        check(magic == 0, f"magic byte {magic} in {key}")
        ids.add(schema_id)
        full = as_written(msg.value(), ctx)
        expected = dict(user(i), email=email(i))
        check(full == expected, f"{key}: read {full}, expected {expected}")
        resolved = as_v1(msg.value(), ctx)
        check(resolved == user(i), f"{key} resolved into v1: {resolved}")
        seen[i] = full
    consumer.close()
    check(sorted(seen) == list(range(n)), "every record exactly once")
    writer = json.loads(client.get_schema(ids.pop()).schema_str) if len(ids) == 1 else None
    check(writer is not None and [f["name"] for f in writer["fields"]] == ["name", "age", "email"],
          f"writer schema of Runnel's records: {writer}")
    summary.update(consumed=len(seen), writer_fields=[f["name"] for f in writer["fields"]])


def main():
    mode, bootstrap, url, topic, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
    summary["mode"] = mode
    if mode == "produce":
        produce(bootstrap, url, topic, n)
    elif mode == "consume":
        consume(bootstrap, url, topic, n)
    else:
        sys.exit(f"unknown mode {mode!r}")
    summary["ok"] = True
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
