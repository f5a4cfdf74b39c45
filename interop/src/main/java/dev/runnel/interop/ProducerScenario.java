package dev.runnel.interop;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.record.TimestampType;
import org.apache.kafka.common.utils.Utils;

/**
 * The Java producer with its defaults (idempotence on, acks=all): keyed records go to Kafka's
 * default-partitioner partition, and a consumer reads back exactly what was sent, at the offsets
 * the producer was told, with keys, values, headers and timestamps intact.
 */
final class ProducerScenario {
    private ProducerScenario() {}

    static final int PARTITIONS = 6;
    static final int KEYED = 120;
    /** A fixed CreateTime, far from "now", so a broker that overwrites it is caught. */
    static final long BASE_TS = 1_600_000_000_000L;
    static final String[] CODECS = {"gzip", "snappy", "lz4", "zstd"};

    /** The Java client's default partitioner for a keyed record (BuiltInPartitioner). */
    static int kafkaPartition(String key, int partitions) {
        return Utils.toPositive(Utils.murmur2(key.getBytes(StandardCharsets.UTF_8))) % partitions;
    }

    static List<Header> headersFor(int i) {
        List<Header> headers = new ArrayList<>();
        headers.add(new RecordHeader("seq", Integer.toString(i).getBytes(StandardCharsets.UTF_8)));
        // A null header value and a repeated header key: both legal, both must survive.
        headers.add(new RecordHeader("trace", null));
        headers.add(new RecordHeader("dup", "a".getBytes(StandardCharsets.UTF_8)));
        headers.add(new RecordHeader("dup", new byte[0]));
        return headers;
    }

    static void run(Main.Options options) throws Exception {
        String bootstrap = options.bootstrap();
        String topic = "java-keyed";
        try (Admin admin = Clients.admin(bootstrap)) {
            Clients.createTopic(admin, topic, PARTITIONS);
            Clients.createTopic(admin, "java-appended", 1, Map.of("message.timestamp.type", "LogAppendTime"));
            for (String codec : CODECS) {
                Clients.createTopic(admin, "java-" + codec, 1);
            }
            // java-large is left to auto-creation (the broker's default), as a producer meets it.
        }

        List<ProducerRecord<String, String>> sent = new ArrayList<>();
        for (int i = 0; i < KEYED; i++) {
            sent.add(new ProducerRecord<>(topic, null, BASE_TS + i, "key-" + i, "value-" + i, headersFor(i)));
        }
        // Edge cases: a tombstone, an empty key and value, no key (sticky partitioner), and an
        // explicit partition that overrides the key's hash.
        sent.add(new ProducerRecord<>(topic, null, BASE_TS + 1000, "tombstone", null, List.of()));
        sent.add(new ProducerRecord<>(topic, null, BASE_TS + 1001, "", "", List.of()));
        sent.add(new ProducerRecord<>(topic, null, BASE_TS + 1002, null, "no key", List.of()));
        String pinnedKey = "key-0";
        int pinned = (kafkaPartition(pinnedKey, PARTITIONS) + 1) % PARTITIONS;
        sent.add(new ProducerRecord<>(topic, pinned, BASE_TS + 1003, pinnedKey, "pinned", List.of()));

        List<RecordMetadata> acked = new ArrayList<>();
        // The defaults, untouched: enable.idempotence=true, acks=all, no compression.
        try (KafkaProducer<String, String> producer = Clients.producer(bootstrap)) {
            List<Future<RecordMetadata>> futures = new ArrayList<>();
            for (ProducerRecord<String, String> r : sent) {
                futures.add(producer.send(r));
            }
            for (Future<RecordMetadata> f : futures) {
                acked.add(f.get(Clients.PATIENCE.toSeconds(), TimeUnit.SECONDS));
            }
        }

        Map<Integer, Long> nextOffset = new HashMap<>();
        for (int i = 0; i < sent.size(); i++) {
            ProducerRecord<String, String> r = sent.get(i);
            RecordMetadata m = acked.get(i);
            if (r.partition() != null) {
                Check.equal("partition of the explicitly partitioned record", r.partition(), m.partition());
            } else if (r.key() != null) {
                Check.equal("partition of key " + r.key(), kafkaPartition(r.key(), PARTITIONS), m.partition());
                // Printed for tests/java_interop.rs, which checks Runnel's own partitioner agrees.
                System.out.println("key-partition " + r.key() + " " + m.partition());
            }
            long expected = nextOffset.getOrDefault(m.partition(), 0L);
            Check.equal("offset of record " + i + " on partition " + m.partition(), expected, m.offset());
            nextOffset.put(m.partition(), expected + 1);
            Check.equal("acked CreateTime of record " + i, r.timestamp(), m.timestamp());
        }
        Check.ok(sent.size() + " records acked on the default partitioner's partitions, offsets dense from 0");

        List<ConsumerRecord<String, String>> got = Clients.readAll(bootstrap, topic, PARTITIONS, sent.size(),
                "read_uncommitted");
        Map<String, ConsumerRecord<String, String>> at = new HashMap<>();
        for (ConsumerRecord<String, String> r : got) {
            Check.that(at.put(r.partition() + "@" + r.offset(), r) == null, "record fetched twice: " + r);
        }
        for (int i = 0; i < sent.size(); i++) {
            ProducerRecord<String, String> s = sent.get(i);
            RecordMetadata m = acked.get(i);
            ConsumerRecord<String, String> r = at.get(m.partition() + "@" + m.offset());
            Check.that(r != null, "record " + i + " not fetched at " + m.partition() + "@" + m.offset());
            Check.equal("key at " + m, s.key(), r.key());
            Check.equal("value at " + m, s.value(), r.value());
            Check.equal("timestamp at " + m, s.timestamp(), r.timestamp());
            Check.equal("timestamp type at " + m, TimestampType.CREATE_TIME, r.timestampType());
            Check.equal("headers at " + m, render(s.headers().toArray()), render(r.headers().toArray()));
        }
        Check.ok("a consumer reads every record back: keys (null, empty), values (null, empty), "
                + "headers (null value, repeated key, order), CreateTime");

        checkListOffsetsByTime(bootstrap, topic, sent, acked);
        checkCompressionCodecs(bootstrap);
        checkLargeRecord(bootstrap);
        checkLogAppendTime(bootstrap);
    }

    /** ListOffsets by timestamp: the first offset whose timestamp is at or after the target. */
    private static void checkListOffsetsByTime(String bootstrap, String topic,
            List<ProducerRecord<String, String>> sent, List<RecordMetadata> acked) {
        try (KafkaConsumer<String, String> consumer = Clients.consumer(bootstrap, null)) {
            List<TopicPartition> all = Clients.partitions(topic, PARTITIONS);
            Map<TopicPartition, Long> ends = consumer.endOffsets(all);
            Map<TopicPartition, Long> starts = consumer.beginningOffsets(all);
            Map<Integer, Long> counts = new HashMap<>();
            acked.forEach(m -> counts.merge(m.partition(), 1L, Long::sum));
            for (TopicPartition tp : all) {
                Check.equal("beginning offset of " + tp, 0L, starts.get(tp));
                Check.equal("end offset of " + tp, counts.getOrDefault(tp.partition(), 0L), ends.get(tp));
            }
            for (int i : new int[] {0, 7, 59, KEYED - 1}) {
                RecordMetadata m = acked.get(i);
                TopicPartition tp = new TopicPartition(topic, m.partition());
                // The keyed records' timestamps rise with i, so on each partition the first
                // record at or after record i's timestamp is record i itself.
                OffsetAndTimestamp found = consumer.offsetsForTimes(Map.of(tp, sent.get(i).timestamp())).get(tp);
                Check.that(found != null, "offsetsForTimes found nothing for record " + i);
                Check.equal("offsetsForTimes(" + sent.get(i).timestamp() + ") on " + tp, m.offset(), found.offset());
                Check.equal("offsetsForTimes timestamp on " + tp, sent.get(i).timestamp(), found.timestamp());
                OffsetAndTimestamp past = consumer.offsetsForTimes(Map.of(tp, BASE_TS + 10_000)).get(tp);
                Check.equal("offsetsForTimes past the newest record on " + tp, null, past);
            }
        }
        Check.ok("beginning/end offsets and offsetsForTimes match the acked offsets and timestamps");
    }

    /** Each codec the Java client offers, decoded by the broker's checks and back by the consumer. */
    private static void checkCompressionCodecs(String bootstrap) throws Exception {
        for (String codec : CODECS) {
            String topic = "java-" + codec;
            var props = Clients.producerProps(bootstrap);
            props.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, codec);
            props.put(ProducerConfig.LINGER_MS_CONFIG, "50");
            List<String> values = new ArrayList<>();
            try (KafkaProducer<String, String> producer = new KafkaProducer<>(props)) {
                List<Future<RecordMetadata>> futures = new ArrayList<>();
                for (int i = 0; i < 200; i++) {
                    String v = codec + " value " + i + " " + "x".repeat(i % 50);
                    values.add(v);
                    futures.add(producer.send(new ProducerRecord<>(topic, 0, "k" + i, v)));
                }
                for (int i = 0; i < futures.size(); i++) {
                    Check.equal(codec + " record " + i + " offset", (long) i,
                            futures.get(i).get(Clients.PATIENCE.toSeconds(), TimeUnit.SECONDS).offset());
                }
            }
            List<ConsumerRecord<String, String>> got = Clients.readAll(bootstrap, topic, 1, values.size(),
                    "read_uncommitted");
            for (int i = 0; i < values.size(); i++) {
                Check.equal(codec + " value at offset " + i, values.get(i), got.get(i).value());
            }
        }
        Check.ok("gzip, snappy, lz4 and zstd batches round-trip");
    }

    /** A record near the Java client's default max.request.size (1 MiB) but under the broker's limit. */
    private static void checkLargeRecord(String bootstrap) throws Exception {
        String big = "b".repeat(900_000);
        try (KafkaProducer<String, String> producer = Clients.producer(bootstrap)) {
            RecordMetadata m = producer.send(new ProducerRecord<>("java-large", 0, "big", big))
                    .get(Clients.PATIENCE.toSeconds(), TimeUnit.SECONDS);
            Check.equal("offset of the large record", 0L, m.offset());
        }
        List<ConsumerRecord<String, String>> got = Clients.readAll(bootstrap, "java-large", 1, 1, "read_uncommitted");
        Check.equal("size of the large record read back", big.length(), got.get(0).value().length());
        Check.ok("a 900 kB record round-trips");
    }

    /** A LogAppendTime topic: the broker's clock, not the client's, in the ack and in the log. */
    private static void checkLogAppendTime(String bootstrap) throws Exception {
        long before = System.currentTimeMillis();
        RecordMetadata m;
        try (KafkaProducer<String, String> producer = Clients.producer(bootstrap)) {
            m = producer.send(new ProducerRecord<>("java-appended", 0, BASE_TS, "k", "v"))
                    .get(Clients.PATIENCE.toSeconds(), TimeUnit.SECONDS);
        }
        long after = System.currentTimeMillis();
        Check.that(m.timestamp() >= before - 1000 && m.timestamp() <= after + 1000,
                "acked LogAppendTime " + m.timestamp() + " is not the broker's clock (" + before + ".." + after + ")");
        ConsumerRecord<String, String> r = Clients.readAll(bootstrap, "java-appended", 1, 1, "read_uncommitted").get(0);
        Check.equal("timestamp type on a LogAppendTime topic", TimestampType.LOG_APPEND_TIME, r.timestampType());
        Check.equal("fetched LogAppendTime equals the acked one", m.timestamp(), r.timestamp());
        Check.ok("LogAppendTime topic: the broker stamps the record and the consumer sees LOG_APPEND_TIME");
    }

    /**
     * Every record of {@code --topic} (written by another client, e.g. `runnel produce`) is on
     * the partition the Java client's default partitioner gives its key.
     */
    static void partitioning(Main.Options options) throws Exception {
        String topic = options.require("topic");
        int partitions = options.getInt("partitions", 1);
        int count = options.getInt("count", 0);
        List<ConsumerRecord<String, String>> got = Clients.readAll(options.bootstrap(), topic, partitions, count,
                "read_uncommitted");
        for (ConsumerRecord<String, String> r : got) {
            Check.that(r.key() != null, "record without a key at " + r.partition() + "@" + r.offset());
            Check.equal("partition of key " + r.key(), kafkaPartition(r.key(), partitions), r.partition());
        }
        Check.ok(count + " keyed records of " + topic + " are on Kafka's default-partitioner partitions");
    }

    static String render(Header[] headers) {
        StringBuilder out = new StringBuilder("[");
        for (Header h : headers) {
            out.append(h.key()).append('=')
                    .append(h.value() == null ? "null" : Arrays.toString(h.value())).append(' ');
        }
        return out.append(']').toString();
    }
}
