"""Transactions through confluent-kafka (librdkafka): commit, abort, commit, read back.

usage: ck_txn.py BOOTSTRAP TOPIC_A TOPIC_B SOURCE GROUP COUNT

TOPIC_A, TOPIC_B and SOURCE must have (or be auto-created with) two partitions. A consumer
joins GROUP on SOURCE, so that the transactional offset commit carries real group metadata
(generation, member id: KIP-447). A transactional producer then runs three transactions, each
writing COUNT records spread over both partitions of both topics:

  1. "c1-{i}", with SOURCE-0's offset 4 sent to the transaction for GROUP: committed;
  2. "a2-{i}", with SOURCE-0's offset 8: aborted;
  3. "c3-{i}", without offsets: committed.

Then a read_committed consumer must see exactly the records of transactions 1 and 3, in
order per partition, and a read_uncommitted consumer those of all three; GROUP's committed
offset for SOURCE-0 must be 4 (the committed transaction's, not the aborted one's).

Prints one JSON line with the counts and the committed offset; exits non-zero with a message
when a check fails.
"""

import json
import sys
import time

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition


def produce_transaction(producer, topics, prefix, count, offsets=None, consumer=None, commit=True):
    producer.begin_transaction()
    for i in range(count):
        topic = topics[i % 2]
        partition = (i // 2) % 2
        producer.produce(topic, key=f"k{i}", value=f"{prefix}-{i}", partition=partition)
        producer.poll(0)
    if offsets is not None:
        producer.send_offsets_to_transaction(offsets, consumer.consumer_group_metadata(), 30)
    if commit:
        producer.commit_transaction(30)
    else:
        # Deliver the records first, so the abort has written records to undo.
        producer.flush(30)
        producer.abort_transaction(30)


def join(bootstrap, source, group):
    """A group member of SOURCE, polled until it has its assignment."""
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 6000,
    })
    assigned = []
    consumer.subscribe([source], on_assign=lambda c, parts: assigned.extend(parts))
    deadline = time.monotonic() + 30
    while not assigned:
        if time.monotonic() > deadline:
            sys.exit("ck_txn: the group member got no assignment within 30 s")
        consumer.poll(0.1)
    return consumer


def read_all(bootstrap, topics, isolation):
    """Every record of both partitions of `topics`, from the start to the end, per partition."""
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": f"reader-{isolation}",
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "isolation.level": isolation,
    })
    parts = [TopicPartition(t, p, 0) for t in topics for p in (0, 1)]
    consumer.assign(parts)
    seen = {(t, p): [] for t in topics for p in (0, 1)}
    at_end = set()
    errors = []
    deadline = time.monotonic() + 30
    while len(at_end) < len(parts) and time.monotonic() < deadline:
        m = consumer.poll(0.2)
        if m is None:
            continue
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                at_end.add((m.topic(), m.partition()))
            else:
                errors.append(str(m.error()))
            continue
        seen[(m.topic(), m.partition())].append(m.value().decode())
    consumer.close()
    if len(at_end) < len(parts):
        sys.exit(f"ck_txn: {isolation} consumer reached the end of only {sorted(at_end)} in 30 s")
    return seen, errors


def expected(topics, prefixes, count):
    want = {(t, p): [] for t in topics for p in (0, 1)}
    for prefix in prefixes:
        for i in range(count):
            want[(topics[i % 2], (i // 2) % 2)].append(f"{prefix}-{i}")
    return want


def main():
    bootstrap, topic_a, topic_b, source, group = sys.argv[1:6]
    count = int(sys.argv[6])
    topics = [topic_a, topic_b]
    began = time.monotonic()

    # SOURCE exists with records, so the member has partitions to be assigned.
    seed = Producer({"bootstrap.servers": bootstrap})
    for i in range(10):
        seed.produce(source, value=f"s{i}", partition=i % 2)
    seed.flush(30)

    member = join(bootstrap, source, group)
    producer = Producer({
        "bootstrap.servers": bootstrap,
        "transactional.id": "ck-txn",
        "transaction.timeout.ms": 60000,
    })
    producer.init_transactions(30)
    produce_transaction(producer, topics, "c1", count, [TopicPartition(source, 0, 4)], member)
    produce_transaction(producer, topics, "a2", count, [TopicPartition(source, 0, 8)], member, commit=False)
    produce_transaction(producer, topics, "c3", count)

    committed, committed_errors = read_all(bootstrap, topics, "read_committed")
    uncommitted, uncommitted_errors = read_all(bootstrap, topics, "read_uncommitted")
    offset = member.committed([TopicPartition(source, 0)], timeout=30)[0].offset
    member.close()

    problems = []
    if committed != expected(topics, ["c1", "c3"], count):
        problems.append(f"read_committed saw {committed}")
    if uncommitted != expected(topics, ["c1", "a2", "c3"], count):
        problems.append(f"read_uncommitted saw {uncommitted}")
    if committed_errors or uncommitted_errors:
        problems.append(f"consumer errors {committed_errors + uncommitted_errors}")
    if offset != 4:
        problems.append(f"{group}'s committed offset of {source}-0 is {offset}, not 4")
    print(json.dumps({
        "read_committed": sum(len(v) for v in committed.values()),
        "read_uncommitted": sum(len(v) for v in uncommitted.values()),
        "committed_offset": offset,
        "seconds": round(time.monotonic() - began, 3),
    }))
    if problems:
        sys.exit("ck_txn: " + "; ".join(problems))


if __name__ == "__main__":
    main()
