package dev.runnel.interop;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Client configs and small helpers shared by the scenarios. Only timeouts are changed from the
 * Java client's defaults (idempotence, acks=all, the assignors, the classic group protocol stay
 * as they are): a scenario should fail within seconds, not hang for the defaults' minutes.
 */
final class Clients {
    private Clients() {}

    /** How long a scenario waits for anything the broker should do promptly. */
    static final Duration PATIENCE = Duration.ofSeconds(30);

    static Properties producerProps(String bootstrap) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "30000");
        p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, "15000");
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "30000");
        return p;
    }

    static KafkaProducer<String, String> producer(String bootstrap) {
        return new KafkaProducer<>(producerProps(bootstrap));
    }

    static KafkaProducer<String, String> transactionalProducer(String bootstrap, String transactionalId) {
        Properties p = producerProps(bootstrap);
        p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, transactionalId);
        // Kafka's default is 60 s; the broker must honour whatever the client asks for.
        p.put(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, "30000");
        return new KafkaProducer<>(p);
    }

    /** A consumer's config: no auto-commit (the scenarios commit what they check), earliest. */
    static Properties consumerProps(String bootstrap, String group) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        if (group != null) {
            p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        }
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
        p.put(ConsumerConfig.REQUEST_TIMEOUT_MS_CONFIG, "15000");
        // Quick heartbeats so members learn of a rebalance in well under a second; the session
        // timeout stays within the broker's default group.min/max.session.timeout.ms.
        p.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, "300");
        p.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, "6000");
        return p;
    }

    static KafkaConsumer<String, String> consumer(String bootstrap, String group) {
        return new KafkaConsumer<>(consumerProps(bootstrap, group));
    }

    static Admin admin(String bootstrap) {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "15000");
        return Admin.create(p);
    }

    static void createTopic(Admin admin, String name, int partitions) throws Exception {
        createTopic(admin, name, partitions, Map.of());
    }

    static void createTopic(Admin admin, String name, int partitions, Map<String, String> configs)
            throws Exception {
        NewTopic topic = new NewTopic(name, partitions, (short) 1).configs(configs);
        admin.createTopics(List.of(topic)).all().get(PATIENCE.toSeconds(), TimeUnit.SECONDS);
    }

    static List<TopicPartition> partitions(String topic, int count) {
        List<TopicPartition> out = new ArrayList<>();
        for (int p = 0; p < count; p++) {
            out.add(new TopicPartition(topic, p));
        }
        return out;
    }

    /**
     * Polls an assigned (not subscribed) consumer until it has {@code count} records, and a
     * little longer to catch any extra one the broker should not have returned.
     */
    static List<ConsumerRecord<String, String>> drain(KafkaConsumer<String, String> consumer, int count) {
        List<ConsumerRecord<String, String>> out = new ArrayList<>();
        long deadline = System.nanoTime() + PATIENCE.toNanos();
        while (out.size() < count) {
            Check.that(System.nanoTime() < deadline,
                    "only " + out.size() + " of " + count + " records arrived within " + PATIENCE);
            consumer.poll(Duration.ofMillis(200)).forEach(out::add);
        }
        consumer.poll(Duration.ofMillis(300)).forEach(out::add);
        Check.equal("records fetched (no more than were written)", count, out.size());
        return out;
    }

    /** Reads {@code topic}'s partitions from their beginning with a group-less consumer. */
    static List<ConsumerRecord<String, String>> readAll(String bootstrap, String topic, int partitions,
            int count, String isolation) {
        Properties p = consumerProps(bootstrap, null);
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation);
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(p)) {
            consumer.assign(partitions(topic, partitions));
            consumer.seekToBeginning(partitions(topic, partitions));
            return drain(consumer, count);
        }
    }

    /** Every record of {@code topic}'s partition 0 from its start up to its end offset now. */
    static List<ConsumerRecord<String, String>> readToEnd(String bootstrap, String topic) {
        TopicPartition tp = new TopicPartition(topic, 0);
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(consumerProps(bootstrap, null))) {
            consumer.assign(List.of(tp));
            consumer.seekToBeginning(List.of(tp));
            long end = consumer.endOffsets(List.of(tp)).get(tp);
            List<ConsumerRecord<String, String>> out = new ArrayList<>();
            long deadline = System.nanoTime() + PATIENCE.toNanos();
            while (consumer.position(tp) < end) {
                Check.that(System.nanoTime() < deadline, "did not reach " + topic + "'s end offset " + end);
                consumer.poll(Duration.ofMillis(200)).forEach(out::add);
            }
            return out;
        }
    }

    /** Records grouped by partition, each list in offset order. */
    static Map<Integer, List<ConsumerRecord<String, String>>> byPartition(
            Collection<ConsumerRecord<String, String>> records) {
        Map<Integer, List<ConsumerRecord<String, String>>> out = new HashMap<>();
        for (ConsumerRecord<String, String> r : records) {
            out.computeIfAbsent(r.partition(), k -> new ArrayList<>()).add(r);
        }
        return out;
    }

    /** Waits until {@code done}, failing with {@code what} after {@link #PATIENCE}. */
    static void await(String what, BooleanSupplier done) throws InterruptedException {
        long deadline = System.nanoTime() + PATIENCE.toNanos();
        while (!done.getAsBoolean()) {
            Check.that(System.nanoTime() < deadline, "timed out after " + PATIENCE + " waiting for " + what);
            Thread.sleep(100);
        }
    }

    static Set<Integer> partitionNumbers(Collection<TopicPartition> partitions) {
        Set<Integer> out = new java.util.TreeSet<>();
        partitions.forEach(tp -> out.add(tp.partition()));
        return out;
    }
}
