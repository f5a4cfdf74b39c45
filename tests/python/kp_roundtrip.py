"""kafka-python round trip against runnel: produce, a 3-member group with sync commits,
resume at the committed offsets, and offsets_for_times.

usage: kp_roundtrip.py BOOTSTRAP TOPIC COUNT TIMEOUT_SECS group|resume

Phase "group":
1. Creates TOPIC (3 partitions) with KafkaAdminClient, produces COUNT records k{i} -> value-{i}
   with KafkaProducer(acks="all").
2. Three KafkaConsumer threads in group "kp" (earliest, no auto-commit) poll, commit
   synchronously after each batch, and stop once together they have every record; every
   index must be seen exactly once across them.
3. Produces 1000 more.
Phase "resume" (meant to run after a broker restart):
4. A fresh consumer in group "kp" must get exactly those 1000, nothing else.
5. A 1-partition topic TOPIC-times with explicit timestamps: offsets_for_times must give the
   first offset at or after each query, None past the end.
Prints one JSON line with the findings; exits non-zero with a message when a check fails.
"""

import json
import sys
import threading
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

GROUP = "kp"
BASE = 1_700_000_000_000


def create(bootstrap, topic, partitions):
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    try:
        admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
    except TopicAlreadyExistsError:
        pass
    finally:
        admin.close()


def produce(bootstrap, topic, start, count):
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                             request_timeout_ms=15000)
    futures = [producer.send(topic, key=f"k{i}".encode(), value=f"value-{i}".encode())
               for i in range(start, start + count)]
    producer.flush(timeout=60)
    failed = [f.exception for f in futures if not f.succeeded()]
    producer.close(timeout=10)
    if failed:
        sys.exit(f"kp_roundtrip: {len(failed)} of {count} sends failed, first: {failed[0]!r}")


def consumer(bootstrap, topic):
    return KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=GROUP,
                         auto_offset_reset="earliest", enable_auto_commit=False,
                         session_timeout_ms=6000, heartbeat_interval_ms=500,
                         fetch_max_wait_ms=100, request_timeout_ms=15000)


def consume_group(bootstrap, topic, members, start, count, linger, timeout):
    """Runs MEMBERS consumer threads until they together saw [start, start+count), plus LINGER s."""
    lock = threading.Lock()
    seen = {}
    per_member = {}
    errors = []
    stop = threading.Event()
    ready = threading.Barrier(members)

    def run(name):
        c = consumer(bootstrap, topic)
        try:
            # Join together (first poll), so all members are in the first generation.
            ready.wait(timeout=20)
            while not stop.is_set():
                polled = c.poll(timeout_ms=200, max_records=1000)
                batch = []
                for records in polled.values():
                    for r in records:
                        i = int(r.key.decode()[1:])
                        if r.value.decode() != f"value-{i}":
                            errors.append(f"key {r.key!r} has value {r.value!r}")
                        batch.append(i)
                if not batch:
                    continue
                try:
                    c.commit()
                except Exception as e:  # noqa: BLE001 - reported
                    errors.append(f"{name} commit: {e!r}")
                with lock:
                    per_member[name] = per_member.get(name, 0) + len(batch)
                    for i in batch:
                        seen[i] = seen.get(i, 0) + 1
        except Exception as e:  # noqa: BLE001 - reported
            errors.append(f"{name} crashed: {e!r}")
        finally:
            c.close()

    threads = [threading.Thread(target=run, args=(f"m{n}",), daemon=True) for n in range(members)]
    began = time.monotonic()
    for t in threads:
        t.start()
    expected = range(start, start + count)
    complete_at = None
    while time.monotonic() - began < timeout:
        with lock:
            if complete_at is None and all(i in seen for i in expected):
                complete_at = time.monotonic()
        if complete_at is not None and time.monotonic() - complete_at >= linger:
            break
        time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join(timeout=20)
    if any(t.is_alive() for t in threads):
        sys.exit("kp_roundtrip: a consumer thread did not stop within 20 s")
    return {
        "expected": count,
        "unique": sum(1 for i in expected if i in seen),
        "duplicates": sum(n - 1 for i, n in seen.items() if i in expected and n > 1),
        "unexpected": sorted(i for i in seen if i not in expected)[:10],
        "per_member": per_member,
        "errors": errors[:5],
        "seconds_to_complete": None if complete_at is None else round(complete_at - began, 3),
    }


def times(bootstrap, topic):
    create(bootstrap, topic, 1)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for batch in range(10):
        for n in range(batch * 10, batch * 10 + 10):
            producer.send(topic, key=f"t{n}".encode(), value=b"x", partition=0,
                          timestamp_ms=BASE + 10 * n)
        producer.flush(timeout=20)
    producer.close(timeout=10)
    cases = [(0, 0), (BASE, 0), (BASE + 1, 1), (BASE + 370, 37), (BASE + 379, 38),
             (BASE + 990, 99), (BASE + 991, None), (BASE + 10**9, None)]
    c = KafkaConsumer(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    tp = TopicPartition(topic, 0)
    results = []
    failures = []
    for ts, want in cases:
        got = c.offsets_for_times({tp: ts})[tp]
        offset = None if got is None else got.offset
        results.append({"timestamp": ts, "want": want, "got": offset,
                        "got_timestamp": None if got is None else got.timestamp})
        if offset != want or (got is not None and got.timestamp != BASE + 10 * want):
            failures.append(f"timestamp {ts}: want offset {want}, got {got}")
    c.close()
    return {"results": results, "failures": failures}


def main():
    bootstrap, topic, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    timeout, phase = float(sys.argv[4]), sys.argv[5]
    began = time.monotonic()
    problems = []
    out = {"phase": phase}
    if phase == "group":
        create(bootstrap, topic, 3)
        produce(bootstrap, topic, 0, count)
        produced_at = time.monotonic()
        group = consume_group(bootstrap, topic, 3, 0, count, 0.5, timeout)
        consumed_at = time.monotonic()
        # More records for the "resume" phase, which runs after a broker restart.
        produce(bootstrap, topic, count, 1000)
        out["group"] = group
        out["seconds"] = {"produce": round(produced_at - began, 3),
                          "group": round(consumed_at - produced_at, 3)}
        checks = [("group", group)]
        if len(group["per_member"]) != 3:
            problems.append(f"group: not all 3 members consumed: {group['per_member']}")
    elif phase == "resume":
        resumed = consume_group(bootstrap, topic, 1, count, 1000, 2.0, timeout)
        resumed_at = time.monotonic()
        offsets = times(bootstrap, topic + "-times")
        out["resumed"] = resumed
        out["offsets_for_times"] = offsets
        out["seconds"] = {"resume": round(resumed_at - began, 3),
                          "offsets_for_times": round(time.monotonic() - resumed_at, 3)}
        checks = [("resumed", resumed)]
        problems += offsets["failures"]
    else:
        sys.exit(f"kp_roundtrip: unknown phase {phase!r}")
    print(json.dumps(out))
    for name, r in checks:
        if r["unique"] != r["expected"] or r["duplicates"] or r["unexpected"] or r["errors"]:
            problems.append(f"{name}: {r}")
    if problems:
        sys.exit("kp_roundtrip: " + "; ".join(problems))


if __name__ == "__main__":
    main()
