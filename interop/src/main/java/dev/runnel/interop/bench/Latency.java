package dev.runnel.interop.bench;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;

import dev.runnel.interop.Main.Options;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * End-to-end latency at a fixed rate: a producer sends {@code --rate} records/s of {@code --size}
 * bytes for {@code --seconds}, each stamped with its send time; a consumer in the same JVM (so
 * both read one clock) takes each record's delivery time. Records sent during the first
 * {@code --warmup-seconds} are left out. Producer and consumer keep the Java client's defaults
 * (acks=all, idempotence, linger.ms=5; fetch.min.bytes=1), as an application would.
 *
 * <pre>
 *   java -cp CP dev.runnel.interop.bench.Latency --bootstrap HOST:PORT --topic T
 *        [--rate 10000] [--seconds 12] [--warmup-seconds 2] [--size 100] [--partitions 4]
 * </pre>
 *
 * Prints one line of JSON: the samples and p50/p99/p99.9/max in milliseconds. Fails if a record
 * does not come back.
 */
public final class Latency {
    private Latency() {}

    public static void main(String[] argv) throws Exception {
        Options args = Options.parse(argv, 0);
        String bootstrap = args.require("bootstrap");
        String topic = args.require("topic");
        long rate = args.getLong("rate", 10_000);
        long seconds = args.getLong("seconds", 12);
        long warmup = args.getLong("warmup-seconds", 2);
        int size = (int) args.getLong("size", 100);
        int partitions = (int) args.getLong("partitions", 4);
        long total = rate * seconds;
        long skipped = rate * warmup;

        Topics.create(bootstrap, partitions, List.of(topic));

        Properties c = new Properties();
        c.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        c.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        c.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        c.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        long[] latencies = new long[(int) (total - skipped)];
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread consumer = new Thread(() -> {
            try (KafkaConsumer<byte[], byte[]> cons = new KafkaConsumer<>(c)) {
                List<TopicPartition> tps = new ArrayList<>();
                for (PartitionInfo info : cons.partitionsFor(topic)) {
                    tps.add(new TopicPartition(topic, info.partition()));
                }
                cons.assign(tps);
                long received = 0;
                long quiet = System.nanoTime() + Duration.ofSeconds(seconds + 30).toNanos();
                while (received < total) {
                    if (System.nanoTime() > quiet) {
                        throw new IllegalStateException("only " + received + " of " + total + " records came back");
                    }
                    for (ConsumerRecord<byte[], byte[]> r : cons.poll(Duration.ofMillis(100))) {
                        long now = System.nanoTime();
                        ByteBuffer v = ByteBuffer.wrap(r.value());
                        long seq = v.getLong(0);
                        long sentAt = v.getLong(8);
                        if (seq >= skipped) {
                            latencies[(int) (seq - skipped)] = now - sentAt;
                        }
                        received++;
                    }
                }
            } catch (Throwable e) {
                failure.set(e);
            }
        });
        consumer.start();

        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p)) {
            // The consumer is assigned and polling before the first send (its metadata round
            // trip would otherwise count as latency of the first records, which are warm-up).
            producer.partitionsFor(topic);
            long start = System.nanoTime();
            for (long i = 0; i < total; i++) {
                long due = start + i * 1_000_000_000L / rate;
                long wait;
                while ((wait = due - System.nanoTime()) > 0) {
                    LockSupport.parkNanos(wait);
                }
                byte[] value = new byte[size];
                ByteBuffer.wrap(value).putLong(0, i).putLong(8, System.nanoTime());
                producer.send(new ProducerRecord<>(topic, value), (m, e) -> {
                    if (e != null) {
                        failure.compareAndSet(null, e);
                    }
                });
            }
            producer.flush();
        }
        consumer.join();
        if (failure.get() != null) {
            throw new IllegalStateException("latency run failed", failure.get());
        }
        Arrays.sort(latencies);
        System.out.printf("{\"samples\":%d,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f}%n",
                latencies.length, pct(latencies, 0.50), pct(latencies, 0.99), pct(latencies, 0.999),
                latencies[latencies.length - 1] / 1e6);
    }

    static double pct(long[] sorted, double q) {
        int i = (int) Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1);
        return sorted[Math.max(0, i)] / 1e6;
    }
}
