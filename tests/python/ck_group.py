"""Consumes records k{i} -> value-{i} with a confluent-kafka consumer group of separate processes.

usage: ck_group.py BOOTSTRAP TOPIC GROUP MEMBERS START COUNT LINGER_SECS TIMEOUT_SECS

MEMBERS consumer processes join GROUP (auto.offset.reset=earliest, enable.auto.commit=false).
Each processes a batch, commits it synchronously, then reports the batch's indexes to this
driver. Once the union of reported indexes covers [START, START+COUNT) the driver waits
LINGER_SECS more (anything arriving then is extra: a duplicate or a record outside the range),
then tells every member to stop; members close cleanly (leaving the group).

Prints one JSON line: expected/unique/total counts, duplicates, missing and unexpected
indexes (first few), per-member counts, commit errors, seconds. Exits non-zero with a message
unless every index was delivered exactly once, nothing else arrived, no commit failed, every
member consumed something and every member stopped and closed cleanly.
"""

import json
import multiprocessing as mp
import queue
import sys
import time


def member(name, bootstrap, topic, group, reports, stop, ready):
    from confluent_kafka import Consumer, KafkaException

    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "client.id": name,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500,
        "fetch.wait.max.ms": 100,
    })
    commit_errors = []
    consumed = 0
    assignments = []

    def on_assign(c, parts):
        assignments.append(sorted(p.partition for p in parts))

    # Subscribe together, so that process start-up skew does not leave a member out of the
    # first generation (the broker's group.initial.rebalance.delay.ms gathers them).
    try:
        ready.wait(timeout=20)
        consumer.subscribe([topic], on_assign=on_assign)
        while not stop.is_set():
            msgs = consumer.consume(num_messages=1000, timeout=0.2)
            if not msgs:
                continue
            batch = []
            for m in msgs:
                if m.error():
                    commit_errors.append(f"message error: {m.error()}")
                    continue
                key = m.key().decode()
                value = m.value().decode()
                i = int(key[1:])
                if value != f"value-{i}":
                    commit_errors.append(f"key {key} has value {value!r}")
                batch.append(i)
            consumed += len(batch)
            try:
                consumer.commit(asynchronous=False)
            except KafkaException as e:
                commit_errors.append(f"commit: {e}")
            reports.put(("batch", name, batch))
    except Exception as e:  # noqa: BLE001 - reported to the driver
        commit_errors.append(f"member crashed: {e!r}")
    finally:
        consumer.close()
        reports.put(("done", name, {"consumed": consumed, "error_count": len(commit_errors),
                                    "commit_errors": commit_errors[:5],
                                    "assignments": assignments}))


def main():
    bootstrap, topic, group = sys.argv[1], sys.argv[2], sys.argv[3]
    members, start, count = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
    linger, timeout = float(sys.argv[7]), float(sys.argv[8])
    ctx = mp.get_context("spawn")
    reports = ctx.Queue()
    stop = ctx.Event()
    ready = ctx.Barrier(members)
    procs = [ctx.Process(target=member, args=(f"m{n}", bootstrap, topic, group, reports, stop, ready),
                         daemon=True) for n in range(members)]
    began = time.monotonic()
    for p in procs:
        p.start()

    expected = set(range(start, start + count))
    seen = set()
    duplicates = []
    unexpected = []
    total = 0
    per_member = {}
    done = {}
    complete_at = None
    deadline = began + timeout
    while len(done) < members:
        now = time.monotonic()
        if complete_at is None and len(seen & expected) == count:
            complete_at = now
        if not stop.is_set() and (now > deadline or (complete_at is not None and now - complete_at >= linger)):
            stop.set()
            # Members stop within one poll; give them time to close before giving up.
            deadline = now + 20
        if stop.is_set() and now > deadline:
            break
        try:
            kind, name, payload = reports.get(timeout=0.1)
        except queue.Empty:
            continue
        if kind == "done":
            done[name] = payload
            continue
        per_member[name] = per_member.get(name, 0) + len(payload)
        total += len(payload)
        for i in payload:
            if i not in expected:
                unexpected.append(i)
            elif i in seen:
                duplicates.append(i)
            seen.add(i)
    for p in procs:
        p.join(timeout=5)
    hung = [p.name for p in procs if p.is_alive()]
    for p in procs:
        if p.is_alive():
            p.kill()
    seconds = time.monotonic() - began
    missing = sorted(expected - seen)
    print(json.dumps({
        "expected": count,
        "unique": len(seen & expected),
        "total": total,
        "duplicates": len(duplicates),
        "duplicate_sample": sorted(duplicates)[:10],
        "missing": len(missing),
        "missing_sample": missing[:10],
        "unexpected": len(unexpected),
        "unexpected_sample": sorted(unexpected)[:10],
        "per_member": per_member,
        "members_done": done,
        "timed_out": complete_at is None,
        "seconds_to_complete": None if complete_at is None else round(complete_at - began, 3),
        "seconds": round(seconds, 3),
    }))
    problems = []
    if hung:
        problems.append(f"members {hung} did not stop within 25 s of being told to")
    if complete_at is None:
        problems.append(f"timed out after {timeout} s with {len(seen & expected)}/{count} records")
    if duplicates:
        problems.append(f"{len(duplicates)} records delivered more than once, e.g. {sorted(duplicates)[:5]}")
    if missing:
        problems.append(f"{len(missing)} records never delivered, e.g. {missing[:5]}")
    if unexpected:
        problems.append(f"{len(unexpected)} records outside [{start}, {start + count}), e.g. {sorted(unexpected)[:5]}")
    for name, report in sorted(done.items()):
        if report["error_count"]:
            problems.append(f"{name}: {report['error_count']} errors, first {report['commit_errors']}")
    idle = [f"m{n}" for n in range(members) if per_member.get(f"m{n}", 0) == 0]
    if idle:
        problems.append(f"members {idle} consumed nothing (assignments: "
                        f"{ {n: d['assignments'] for n, d in done.items()} })")
    if problems:
        sys.exit("ck_group: " + "; ".join(problems))


if __name__ == "__main__":
    main()
