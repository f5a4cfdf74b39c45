"""offsets_for_times with confluent-kafka against a 1-partition topic.

usage: ck_times.py BOOTSTRAP TOPIC

Creates TOPIC with one partition and produces 100 records in 10 separate batches, record n
carrying the explicit timestamp BASE + 10*n. Then asks offsets_for_times for timestamps
before, at, between and past them, and checks each answer is the first offset whose
timestamp is at or after the query (-1 past the end). Prints JSON; exits non-zero on a mismatch.
"""

import json
import sys

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

BASE = 1_700_000_000_000
N = 100


def main():
    bootstrap, topic = sys.argv[1], sys.argv[2]
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(timeout=20)

    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True})
    for batch in range(10):
        for n in range(batch * 10, batch * 10 + 10):
            producer.produce(topic, key=f"t{n}".encode(), value=f"at {BASE + 10 * n}".encode(),
                             timestamp=BASE + 10 * n)
        if producer.flush(20):
            sys.exit("ck_times: produce did not complete")

    # query timestamp -> expected offset (-1: no record at or after it)
    cases = [(0, 0), (BASE - 1, 0), (BASE, 0), (BASE + 1, 1), (BASE + 10 * 37, 37),
             (BASE + 10 * 37 + 9, 38), (BASE + 10 * 50 - 1, 50), (BASE + 10 * 99, 99),
             (BASE + 10 * 99 + 1, -1), (BASE + 10**9, -1)]
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "ck-times"})
    results = []
    failures = []
    for ts, want in cases:
        got = consumer.offsets_for_times([TopicPartition(topic, 0, ts)], timeout=10)[0]
        if got.error is not None:
            failures.append(f"timestamp {ts}: error {got.error}")
        offset = got.offset
        results.append({"timestamp": ts, "want": want, "got": offset})
        if offset != want:
            failures.append(f"timestamp {ts}: want offset {want}, got {offset}")
    # The record at an answered offset really has a timestamp at or after the query.
    check = []
    for ts, want in cases:
        if want < 0:
            continue
        consumer.assign([TopicPartition(topic, 0, want)])
        msg = consumer.poll(10)
        if msg is None or msg.error():
            failures.append(f"no record at offset {want}: {msg and msg.error()}")
            continue
        _, record_ts = msg.timestamp()
        check.append({"offset": msg.offset(), "timestamp": record_ts})
        if msg.offset() != want or record_ts != BASE + 10 * want or record_ts < ts:
            failures.append(f"record at offset {want} has offset {msg.offset()} timestamp {record_ts}")
    consumer.close()
    print(json.dumps({"results": results, "records": check, "failures": failures}))
    if failures:
        sys.exit("ck_times: " + "; ".join(failures))


if __name__ == "__main__":
    main()
