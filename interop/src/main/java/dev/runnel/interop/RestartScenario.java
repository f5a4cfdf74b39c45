package dev.runnel.interop;

import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.header.internals.RecordHeaders;

/**
 * Commits and resumption across a broker restart, in two runs with the restart between them
 * (tests/java_interop.rs restarts `runnel serve` on the same port and data directory):
 * {@code restart-before} writes records and commits offsets with metadata; {@code restart-after}
 * finds the same records, the same committed offsets and metadata, a group member that resumes
 * exactly there, and a new idempotent producer whose records continue the offsets.
 */
final class RestartScenario {
    private RestartScenario() {}

    static final String TOPIC = "durable";
    static final String GROUP = "durable-group";
    static final int PARTITIONS = 3;
    static final int PER_PARTITION = 100;
    /** Committed before the restart, partition by partition: not all at the end, not all equal. */
    static final long[] COMMITTED = {70, 0, 100};

    static ProducerRecord<String, String> record(int partition, int i) {
        RecordHeaders headers = new RecordHeaders();
        headers.add(new RecordHeader("n", Integer.toString(i).getBytes(StandardCharsets.UTF_8)));
        return new ProducerRecord<>(TOPIC, partition, ProducerScenario.BASE_TS + i, "k" + partition + "-" + i,
                "v" + partition + "-" + i, headers);
    }

    static void before(Main.Options options) throws Exception {
        String bootstrap = options.bootstrap();
        try (Admin admin = Clients.admin(bootstrap)) {
            Clients.createTopic(admin, TOPIC, PARTITIONS);
        }
        try (KafkaProducer<String, String> producer = Clients.producer(bootstrap)) {
            for (int p = 0; p < PARTITIONS; p++) {
                for (int i = 0; i < PER_PARTITION; i++) {
                    producer.send(record(p, i));
                }
            }
            producer.flush();
        }
        try (KafkaConsumer<String, String> consumer = Clients.consumer(bootstrap, GROUP)) {
            consumer.subscribe(List.of(TOPIC));
            Map<TopicPartition, OffsetAndMetadata> commits = new HashMap<>();
            long deadline = System.nanoTime() + Clients.PATIENCE.toNanos();
            int seen = 0;
            while (seen < PARTITIONS * PER_PARTITION) {
                Check.that(System.nanoTime() < deadline, "only " + seen + " records consumed before the restart");
                seen += consumer.poll(java.time.Duration.ofMillis(200)).count();
            }
            for (int p = 0; p < PARTITIONS; p++) {
                commits.put(new TopicPartition(TOPIC, p), new OffsetAndMetadata(COMMITTED[p], "before-restart-" + p));
            }
            consumer.commitSync(commits);
            Map<TopicPartition, OffsetAndMetadata> read = consumer.committed(commits.keySet());
            Check.equal("committed offsets read back before the restart", commits, read);
        }
        Check.ok("300 records written, offsets " + java.util.Arrays.toString(COMMITTED) + " committed with metadata");
    }

    static void after(Main.Options options) throws Exception {
        String bootstrap = options.bootstrap();
        try (Admin admin = Clients.admin(bootstrap)) {
            Map<TopicPartition, OffsetAndMetadata> listed = admin.listConsumerGroupOffsets(GROUP)
                    .partitionsToOffsetAndMetadata().get(Clients.PATIENCE.toSeconds(), TimeUnit.SECONDS);
            for (int p = 0; p < PARTITIONS; p++) {
                OffsetAndMetadata o = listed.get(new TopicPartition(TOPIC, p));
                Check.that(o != null, "no committed offset for partition " + p + " after the restart: " + listed);
                Check.equal("committed offset of partition " + p + " after the restart", COMMITTED[p], o.offset());
                Check.equal("commit metadata of partition " + p, "before-restart-" + p, o.metadata());
            }
        }
        Check.ok("listConsumerGroupOffsets after the restart: the same offsets and metadata");

        // Every record survived, byte for byte.
        List<ConsumerRecord<String, String>> all = Clients.readAll(bootstrap, TOPIC, PARTITIONS,
                PARTITIONS * PER_PARTITION, "read_uncommitted");
        for (ConsumerRecord<String, String> r : all) {
            ProducerRecord<String, String> expected = record(r.partition(), (int) r.offset());
            Check.equal("key at " + r.partition() + "@" + r.offset(), expected.key(), r.key());
            Check.equal("value at " + r.partition() + "@" + r.offset(), expected.value(), r.value());
            Check.equal("timestamp at " + r.partition() + "@" + r.offset(), expected.timestamp(), r.timestamp());
            Check.equal("headers at " + r.partition() + "@" + r.offset(),
                    ProducerScenario.render(expected.headers().toArray()), ProducerScenario.render(r.headers().toArray()));
        }
        Check.ok("all 300 records read back after the restart with keys, values, timestamps and headers");

        // A new idempotent producer (a new producer id) continues each partition's offsets.
        try (KafkaProducer<String, String> producer = Clients.producer(bootstrap)) {
            for (int p = 0; p < PARTITIONS; p++) {
                for (int i = PER_PARTITION; i < PER_PARTITION + 10; i++) {
                    RecordMetadata m = producer.send(record(p, i)).get(Clients.PATIENCE.toSeconds(), TimeUnit.SECONDS);
                    Check.equal("offset of a record written after the restart", (long) i, m.offset());
                }
            }
        }
        Check.ok("records written after the restart continue at offset 100");

        // A member of the same group resumes at the commits: exactly the records after them.
        try (KafkaConsumer<String, String> consumer = Clients.consumer(bootstrap, GROUP)) {
            consumer.subscribe(List.of(TOPIC));
            long expectedCount = 0;
            Map<Integer, Long> next = new HashMap<>();
            for (int p = 0; p < PARTITIONS; p++) {
                next.put(p, COMMITTED[p]);
                expectedCount += PER_PARTITION + 10 - COMMITTED[p];
            }
            long deadline = System.nanoTime() + Clients.PATIENCE.toNanos();
            long seen = 0;
            while (seen < expectedCount) {
                Check.that(System.nanoTime() < deadline, "only " + seen + " of " + expectedCount + " records resumed");
                for (ConsumerRecord<String, String> r : consumer.poll(java.time.Duration.ofMillis(200))) {
                    Check.equal("offset resumed on partition " + r.partition(), next.get(r.partition()), r.offset());
                    next.put(r.partition(), r.offset() + 1);
                    seen++;
                }
            }
            Check.equal("records after the commits, and no more", expectedCount,
                    seen + consumer.poll(java.time.Duration.ofMillis(500)).count());
        }
        Check.ok("a group member resumed at the committed offsets: partition 0 at 70, 1 at 0, 2 at 100");
    }
}
