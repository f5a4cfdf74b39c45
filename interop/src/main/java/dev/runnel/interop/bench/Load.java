package dev.runnel.interop.bench;

import java.io.BufferedReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicReference;

import dev.runnel.interop.Main.Options;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Loads a bench input file into a new topic, untimed, so that a stream-processing run starts with
 * all of its input in the log (as Runnel's side does on the embedded cluster):
 *
 * <pre>
 *   java -cp CP dev.runnel.interop.bench.Load --bootstrap HOST:PORT --topic T --file F
 *        [--partitions 4] [--keyed true]
 * </pre>
 *
 * Unkeyed: one record per line. Keyed: {@code key TAB value} per line, an empty value being a
 * tombstone. Timestamped ({@code --timestamped true}, keyed): {@code key TAB value TAB timestamp},
 * the record stamped with that event time. Records are sent in file order with the Java client's default partitioner, so keyed
 * records land where Runnel's producer puts them (murmur2). Prints the number of records sent.
 */
public final class Load {
    private Load() {}

    public static void main(String[] argv) throws Exception {
        Options args = Options.parse(argv, 0);
        String bootstrap = args.require("bootstrap");
        String topic = args.require("topic");
        Path file = Path.of(args.require("file"));
        int partitions = (int) args.getLong("partitions", 4);
        boolean timestamped = Boolean.parseBoolean(args.get("timestamped", "false"));
        boolean keyed = timestamped || Boolean.parseBoolean(args.get("keyed", "false"));

        Topics.create(bootstrap, partitions, List.of(topic));

        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.LINGER_MS_CONFIG, "20");
        p.put(ProducerConfig.BATCH_SIZE_CONFIG, Integer.toString(256 << 10));
        AtomicReference<Exception> failure = new AtomicReference<>();
        long sent = 0;
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(p);
                BufferedReader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            String line;
            while ((line = in.readLine()) != null) {
                ProducerRecord<String, String> record;
                if (timestamped) {
                    String[] parts = line.split("\t", 3);
                    if (parts.length != 3) {
                        throw new IllegalArgumentException("timestamped line without key, value and time: " + line);
                    }
                    record = new ProducerRecord<>(topic, null, Long.parseLong(parts[2]), parts[0],
                            parts[1].isEmpty() ? null : parts[1]);
                } else if (keyed) {
                    int tab = line.indexOf('\t');
                    if (tab < 0) {
                        throw new IllegalArgumentException("keyed line without a tab: " + line);
                    }
                    String value = line.substring(tab + 1);
                    record = new ProducerRecord<>(topic, line.substring(0, tab), value.isEmpty() ? null : value);
                } else {
                    record = new ProducerRecord<>(topic, line);
                }
                producer.send(record, (metadata, e) -> {
                    if (e != null) {
                        failure.compareAndSet(null, e);
                    }
                });
                sent++;
            }
            producer.flush();
        }
        if (failure.get() != null) {
            throw failure.get();
        }
        System.out.println(sent);
    }
}
