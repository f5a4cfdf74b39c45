package dev.runnel.interop;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.ProducerFencedException;

/**
 * Transactions (KIP-98) through the Java producer, seen by read_committed and read_uncommitted
 * consumers: committed, aborted and still-open transactions; consume-transform-produce with
 * sendOffsetsToTransaction, committed and aborted; a second producer with the same
 * transactional.id fencing the first and aborting its open transaction.
 *
 * The output topic has one partition so offsets are exact: every transaction's end writes one
 * control record (a marker) that takes an offset but never reaches a consumer.
 */
final class TxnScenario {
    private TxnScenario() {}

    static final String OUT = "txn-out";
    static final String IN = "txn-in";
    static final TopicPartition OUT0 = new TopicPartition(OUT, 0);

    static void run(Main.Options options) throws Exception {
        String bootstrap = options.bootstrap();
        try (Admin admin = Clients.admin(bootstrap)) {
            Clients.createTopic(admin, OUT, 1);
            Clients.createTopic(admin, IN, 2);

            KafkaProducer<String, String> producer = Clients.transactionalProducer(bootstrap, "tx-main");
            try {
                producer.initTransactions();
                Check.ok("initTransactions");
                visibility(bootstrap, producer);
                consumeTransformProduce(bootstrap, admin, producer);
                fencing(bootstrap, producer);
            } finally {
                producer.close(Duration.ofSeconds(5));
            }
        }
    }

    static void send(KafkaProducer<String, String> producer, String... values) {
        for (String v : values) {
            producer.send(new ProducerRecord<>(OUT, 0, "k", v));
        }
    }

    /** The values and offsets a consumer with {@code isolation} gets from txn-out's start. */
    static List<String> read(String bootstrap, String isolation, int count) {
        List<String> out = new ArrayList<>();
        for (ConsumerRecord<String, String> r : Clients.readAll(bootstrap, OUT, 1, count, isolation)) {
            out.add(r.value() + "@" + r.offset());
        }
        return out;
    }

    static long endOffset(String bootstrap, String isolation) {
        Properties p = Clients.consumerProps(bootstrap, null);
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation);
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(p)) {
            return consumer.endOffsets(List.of(OUT0)).get(OUT0);
        }
    }

    static void visibility(String bootstrap, KafkaProducer<String, String> producer) {
        producer.beginTransaction();
        send(producer, "c0", "c1", "c2", "c3", "c4");
        producer.commitTransaction();
        producer.beginTransaction();
        send(producer, "a0", "a1", "a2");
        producer.flush();
        producer.abortTransaction();
        producer.beginTransaction();
        send(producer, "o0", "o1", "o2", "o3");
        producer.flush();
        Check.ok("committed 5 (offsets 0-4, marker 5), aborted 3 (6-8, marker 9), 4 left open (10-13)");

        // The open transaction holds the last stable offset at its first record.
        Check.equal("read_committed end offset (LSO) with a transaction open", 10L, endOffset(bootstrap, "read_committed"));
        Check.equal("read_uncommitted end offset (high watermark)", 14L, endOffset(bootstrap, "read_uncommitted"));
        Check.equal("read_committed with a transaction open",
                List.of("c0@0", "c1@1", "c2@2", "c3@3", "c4@4"), read(bootstrap, "read_committed", 5));
        Check.equal("read_uncommitted sees aborted and open records too",
                List.of("c0@0", "c1@1", "c2@2", "c3@3", "c4@4", "a0@6", "a1@7", "a2@8",
                        "o0@10", "o1@11", "o2@12", "o3@13"),
                read(bootstrap, "read_uncommitted", 12));
        Check.ok("LSO 10 and HW 14; read_committed stops at the open transaction; read_uncommitted sees all");

        producer.commitTransaction();
        Check.equal("read_committed end offset after the commit", 15L, endOffset(bootstrap, "read_committed"));
        Check.equal("read_committed after the commit: no aborted records",
                List.of("c0@0", "c1@1", "c2@2", "c3@3", "c4@4", "o0@10", "o1@11", "o2@12", "o3@13"),
                read(bootstrap, "read_committed", 9));
        Check.ok("after the commit read_committed sees both committed transactions and none of the aborted one");
    }

    static void consumeTransformProduce(String bootstrap, Admin admin, KafkaProducer<String, String> producer)
            throws Exception {
        String group = "ctp-group";
        try (KafkaProducer<String, String> plain = Clients.producer(bootstrap)) {
            for (int p = 0; p < 2; p++) {
                for (int i = 0; i < 12; i++) {
                    plain.send(new ProducerRecord<>(IN, p, "k", "in" + p + "-" + i));
                }
            }
            plain.flush();
        }
        Properties props = Clients.consumerProps(bootstrap, group);
        props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        // Fetch only as far as each transaction needs, so the committed and aborted rounds each
        // take what they expect: 10 records per partition, then 2.
        props.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "1");
        Map<TopicPartition, OffsetAndMetadata> expectedCommit = Map.of(
                new TopicPartition(IN, 0), new OffsetAndMetadata(10),
                new TopicPartition(IN, 1), new OffsetAndMetadata(10));
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(props)) {
            consumer.subscribe(List.of(IN));
            producer.beginTransaction();
            Map<TopicPartition, OffsetAndMetadata> offsets = transform(consumer, producer, 10);
            Check.equal("offsets to commit with the transaction", expectedCommit, offsets);
            producer.sendOffsetsToTransaction(offsets, consumer.groupMetadata());
            producer.commitTransaction();
            Check.equal("committed offsets seen by the consumer after the commit", expectedCommit,
                    AdminScenario.withoutLeaderEpochs(consumer.committed(expectedCommit.keySet())));
            Check.equal("listConsumerGroupOffsets after the commit", expectedCommit,
                    AdminScenario.withoutLeaderEpochs(AdminScenario.get(
                            admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata())));
            Check.ok("consume-transform-produce committed: 20 outputs and the group's offsets 10/10 together");

            producer.beginTransaction();
            Map<TopicPartition, OffsetAndMetadata> more = transform(consumer, producer, 2);
            // abortTransaction drops batches still in the client's accumulator without sending
            // them; flushing first puts all 4 in the log (offsets 36-39), so later offsets are
            // fixed instead of depending on the client's timing.
            producer.flush();
            producer.sendOffsetsToTransaction(more, consumer.groupMetadata());
            producer.abortTransaction();
            Check.equal("committed offsets after an aborted transaction", expectedCommit,
                    AdminScenario.withoutLeaderEpochs(consumer.committed(expectedCommit.keySet())));
            Check.equal("listConsumerGroupOffsets after the abort", expectedCommit,
                    AdminScenario.withoutLeaderEpochs(AdminScenario.get(
                            admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata())));
            Check.ok("an aborted transaction's sendOffsetsToTransaction leaves the group's offsets at 10/10");
        }
        List<String> expected = new ArrayList<>(List.of(
                "c0@0", "c1@1", "c2@2", "c3@3", "c4@4", "o0@10", "o1@11", "o2@12", "o3@13"));
        List<String> got = read(bootstrap, "read_committed", 29);
        Check.equal("read_committed: the earlier 9, then 20 transformed records", expected, got.subList(0, 9));
        for (int i = 0; i < 20; i++) {
            Check.that(got.get(9 + i).startsWith("t-in") && got.get(9 + i).endsWith("@" + (15 + i)),
                    "transformed record at offset " + (15 + i) + ": " + got.get(9 + i));
        }
        Check.ok("read_committed sees the 20 committed outputs at offsets 15-34 and none of the 4 aborted");
    }

    /** Polls {@code perPartition} records from each of txn-in's partitions into the transaction. */
    static Map<TopicPartition, OffsetAndMetadata> transform(KafkaConsumer<String, String> consumer,
            KafkaProducer<String, String> producer, int perPartition) {
        Map<TopicPartition, OffsetAndMetadata> next = new HashMap<>();
        Map<Integer, Integer> taken = new HashMap<>();
        long deadline = System.nanoTime() + Clients.PATIENCE.toNanos();
        while (taken.getOrDefault(0, 0) < perPartition || taken.getOrDefault(1, 0) < perPartition) {
            Check.that(System.nanoTime() < deadline, "consumed only " + taken + " of " + perPartition + " per partition");
            for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(100))) {
                TopicPartition tp = new TopicPartition(r.topic(), r.partition());
                if (taken.getOrDefault(r.partition(), 0) >= perPartition) {
                    // Not ours this round: rewind so the next round starts here.
                    consumer.seek(tp, r.offset());
                    continue;
                }
                producer.send(new ProducerRecord<>(OUT, 0, r.key(), "t-" + r.value()));
                taken.merge(r.partition(), 1, Integer::sum);
                next.put(tp, new OffsetAndMetadata(r.offset() + 1));
            }
        }
        return next;
    }

    static void fencing(String bootstrap, KafkaProducer<String, String> first) {
        first.beginTransaction();
        send(first, "z0", "z1");
        first.flush();
        try (KafkaProducer<String, String> second = Clients.transactionalProducer(bootstrap, "tx-main")) {
            // Same transactional.id: the coordinator bumps the epoch and aborts first's transaction.
            second.initTransactions();
            Check.fails("committing the fenced producer's transaction", ProducerFencedException.class,
                    first::commitTransaction);
            Check.ok("a second producer with the same transactional.id fences the first");
            second.beginTransaction();
            send(second, "after-fence");
            second.commitTransaction();
        }
        List<String> got = read(bootstrap, "read_committed", 30);
        // z0, z1 at 41-42 were aborted by the fencing (marker 43); after-fence is at 44.
        Check.equal("the last record read_committed sees", "after-fence@44", got.get(29));
        Check.that(got.stream().noneMatch(v -> v.startsWith("z")), "records of the fenced transaction are visible: " + got);
        Check.equal("read_committed end offset at the end", 46L, endOffset(bootstrap, "read_committed"));
        Check.ok("the fenced producer's open transaction was aborted; the new producer's commit is visible");
    }
}
