"""Produces records k{i} -> value-{i} for i in [start, start+count) with confluent-kafka.

usage: ck_produce.py BOOTSTRAP TOPIC START COUNT [PARTITIONS]

With PARTITIONS the topic is created first with the AdminClient (an existing topic is fine).
The producer is idempotent with acks=all. Prints one JSON line: {"produced", "errors", "seconds"};
exits non-zero if any delivery failed.
"""

import json
import sys
import time

from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic


def create_topic(bootstrap, topic, partitions):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)],
                                  operation_timeout=10, request_timeout=15)
    try:
        futures[topic].result(timeout=20)
    except KafkaException as e:
        if e.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise
    # Wait until the metadata shows every partition.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        md = admin.list_topics(topic=topic, timeout=5)
        t = md.topics.get(topic)
        if t is not None and t.error is None and len(t.partitions) == partitions:
            return
        time.sleep(0.1)
    raise SystemExit(f"topic {topic} did not show {partitions} partitions in metadata")


def main():
    bootstrap, topic, start, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    if len(sys.argv) > 5:
        create_topic(bootstrap, topic, int(sys.argv[5]))
    producer = Producer({
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 5,
        "message.timeout.ms": 30000,
        "partitioner": "murmur2_random",
    })
    errors = []
    delivered = [0]

    def on_delivery(err, msg):
        if err is not None:
            errors.append(str(err))
        else:
            delivered[0] += 1

    began = time.monotonic()
    for i in range(start, start + count):
        key = f"k{i}".encode()
        value = f"value-{i}".encode()
        while True:
            try:
                producer.produce(topic, value=value, key=key, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    remaining = producer.flush(60)
    seconds = time.monotonic() - began
    print(json.dumps({"produced": delivered[0], "errors": errors[:10], "error_count": len(errors),
                      "unflushed": remaining, "seconds": round(seconds, 3)}))
    if errors or remaining or delivered[0] != count:
        sys.exit(f"ck_produce: {len(errors)} delivery errors, {remaining} unflushed, "
                 f"{delivered[0]}/{count} delivered; first errors: {errors[:3]}")


if __name__ == "__main__":
    main()
