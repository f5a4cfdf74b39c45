package dev.runnel.interop.windows;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import dev.runnel.interop.Check;
import dev.runnel.interop.Main.Options;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.LongSerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.common.utils.Utils;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StoreQueryParameters;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.InvalidStateStoreException;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse;
import org.apache.kafka.streams.kstream.Windowed;
import org.apache.kafka.streams.processor.StateRestoreListener;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.QueryableStoreTypes;
import org.apache.kafka.streams.state.ReadOnlySessionStore;
import org.apache.kafka.streams.state.ReadOnlyWindowStore;
import org.apache.kafka.streams.state.ValueAndTimestamp;
import org.apache.kafka.streams.state.WindowStoreIterator;

/**
 * {@code windows-restore --bootstrap HOST:PORT --changelog FILE --case NAME|all [--probe FILE]}:
 * the reverse direction of the differential test. Changelog records written by another
 * implementation (Runnel) restore into Kafka Streams' own stores:
 *
 * <ol>
 *   <li>creates {@code input}, the cases' output topics and their stores' changelog topics
 *       ({@code <application.id>-<store>-changelog}, one partition each) on a fresh broker;
 *   <li>produces the file's {@code changelog} records there, byte for byte, to partition 0, with
 *       their timestamps (none: the producer stamps them, as Kafka's suppression buffer leaves
 *       it) and headers;
 *   <li>starts a real {@code KafkaStreams} per case (all at once) with the case's topology and
 *       application id, and waits until it runs, every store's restore has ended and the
 *       aggregation store answers interactive queries;
 *   <li>prints the aggregation store's entries as {@code store} lines ({@link Lines});
 *   <li>with {@code --probe}: produces the probe records to {@code input}, waits until every
 *       case's store has the last of them, closes the applications (which flushes their output)
 *       and prints each output topic's records as {@code probe} lines. For the suppressed case
 *       this is the restored buffer's flush.
 * </ol>
 *
 * The broker must be fresh: application ids and topics are fixed. Nothing is compared here;
 * tests/windows_interop.rs compares the lines with what Runnel's store held.
 */
public final class WindowsRestore {
    private WindowsRestore() {}

    /** How long any one step may take on a loaded two-core machine. */
    private static final Duration PATIENCE = Duration.ofSeconds(60);

    public static void run(Options options) throws Exception {
        String bootstrap = options.bootstrap();
        String which = options.get("case", "all");
        List<WindowCase> cases = which.equals("all") ? List.of(WindowCase.values()) : List.of(WindowCase.byId(which));
        List<Lines.Logged> changelog = new ArrayList<>();
        for (Lines.Logged r : Lines.readChangelog(Path.of(options.require("changelog")))) {
            if (cases.contains(r.windowCase())) {
                changelog.add(r);
            }
        }
        String probeFile = options.get("probe", null);
        List<Lines.Input> probe = probeFile == null ? List.of() : Lines.readInput(Path.of(probeFile));

        createTopics(bootstrap, cases);
        Map<String, Integer> produced = produceChangelogs(bootstrap, changelog);
        Check.ok("produced " + changelog.size() + " changelog records: " + produced);

        Path state = Files.createTempDirectory("windows-restore");
        List<App> apps = new ArrayList<>();
        try {
            for (WindowCase c : cases) {
                apps.add(App.start(c, bootstrap, state.resolve(c.id)));
            }
            for (App app : apps) {
                app.awaitRestored(produced);
                Check.ok(app.c.id + ": restored " + app.restored);
                for (String line : app.contents(keys(changelog, app.c))) {
                    System.out.println(line);
                }
            }
            if (!probe.isEmpty()) {
                produceInput(bootstrap, probe);
                Lines.Input last = probe.get(probe.size() - 1);
                for (App app : apps) {
                    app.awaitProbe(last);
                }
                Check.ok("every case processed the probe");
            }
        } finally {
            for (App app : apps) {
                app.streams.close(PATIENCE);
            }
            Utils.delete(state.toFile());
        }
        if (!probe.isEmpty()) {
            for (WindowCase c : cases) {
                for (ConsumerRecord<byte[], byte[]> r : readTopic(bootstrap, c.outputTopic())) {
                    System.out.println(Lines.record("probe", c, c.outputTopic(), null, r.key(), r.value(),
                            r.timestamp(), r.headers()));
                }
            }
        }
    }

    /** One case's application. */
    private static final class App {
        final WindowCase c;
        final KafkaStreams streams;
        /** Store name → records restored, once its restore ended. */
        final Map<String, Long> restored = new ConcurrentHashMap<>();
        final AtomicReference<Throwable> failure = new AtomicReference<>();

        private App(WindowCase c, KafkaStreams streams) {
            this.c = c;
            this.streams = streams;
        }

        static App start(WindowCase c, String bootstrap, Path stateDir) {
            Properties p = new Properties();
            p.put(StreamsConfig.APPLICATION_ID_CONFIG, c.applicationId());
            p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            p.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
            p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);
            p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
            App app = new App(c, new KafkaStreams(c.topology(), p));
            app.streams.setGlobalStateRestoreListener(new StateRestoreListener() {
                @Override
                public void onRestoreStart(TopicPartition tp, String store, long start, long end) {}

                @Override
                public void onBatchRestored(TopicPartition tp, String store, long batchEnd, long count) {}

                @Override
                public void onRestoreEnd(TopicPartition tp, String store, long total) {
                    app.restored.put(store, total);
                }
            });
            app.streams.setUncaughtExceptionHandler(e -> {
                app.failure.compareAndSet(null, e);
                return StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
            });
            app.streams.start();
            return app;
        }

        /**
         * Until the application runs, the restore of every store whose changelog has records has
         * ended, and the aggregation store answers a query (only a running active task's store
         * does: one still restoring is not queryable).
         */
        void awaitRestored(Map<String, Integer> produced) throws InterruptedException {
            long deadline = System.nanoTime() + PATIENCE.toNanos();
            while (true) {
                failed();
                boolean logsDone = c.stores.stream()
                        .allMatch(s -> produced.getOrDefault(c.changelogTopic(s), 0) == 0 || restored.containsKey(s.name()));
                if (streams.state() == KafkaStreams.State.RUNNING && logsDone && queryable()) {
                    return;
                }
                Check.that(System.nanoTime() < deadline, c.id + ": not restored within " + PATIENCE + " (state "
                        + streams.state() + ", restores ended: " + restored + ")");
                Thread.sleep(100);
            }
        }

        /** Until the aggregation store holds a window of the probe's (last) record. */
        void awaitProbe(Lines.Input probe) throws InterruptedException {
            long deadline = System.nanoTime() + PATIENCE.toNanos();
            while (!holds(probe)) {
                failed();
                Check.that(System.nanoTime() < deadline,
                        c.id + ": the probe record was not processed within " + PATIENCE + " (state " + streams.state() + ")");
                Thread.sleep(100);
            }
        }

        List<String> contents(Set<String> keys) {
            String name = c.aggregateStore().name();
            return switch (c.aggregateStore().kind()) {
                case WINDOW -> Contents.windows(c, name, windowStore());
                case SESSION -> Contents.sessions(c, name, sessionStore(), keys);
                case BUFFER -> throw new IllegalStateException("a suppression buffer is never a case's aggregate store");
            };
        }

        private boolean queryable() {
            try {
                contents(Set.of());
                return true;
            } catch (InvalidStateStoreException e) {
                return false;
            }
        }

        private boolean holds(Lines.Input probe) {
            try {
                return switch (c.aggregateStore().kind()) {
                    case WINDOW -> {
                        try (WindowStoreIterator<ValueAndTimestamp<Long>> it = windowStore()
                                .fetch(probe.key(), Instant.EPOCH, Instant.ofEpochMilli(probe.timestamp()))) {
                            yield it.hasNext();
                        }
                    }
                    case SESSION -> {
                        try (KeyValueIterator<Windowed<String>, Long> it = sessionStore().fetch(probe.key())) {
                            yield it.hasNext();
                        }
                    }
                    case BUFFER -> throw new IllegalStateException("not an aggregate store");
                };
            } catch (InvalidStateStoreException e) {
                return false;
            }
        }

        private ReadOnlyWindowStore<String, ValueAndTimestamp<Long>> windowStore() {
            return streams.store(StoreQueryParameters.fromNameAndType(c.aggregateStore().name(),
                    QueryableStoreTypes.<String, Long>timestampedWindowStore()));
        }

        private ReadOnlySessionStore<String, Long> sessionStore() {
            return streams.store(StoreQueryParameters.fromNameAndType(c.aggregateStore().name(),
                    QueryableStoreTypes.<String, Long>sessionStore()));
        }

        private void failed() {
            Throwable t = failure.get();
            if (t != null) {
                throw new IllegalStateException(c.id + ": Kafka Streams failed (restoring the changelog?)", t);
            }
            Check.that(streams.state() != KafkaStreams.State.ERROR, c.id + ": Kafka Streams is in state ERROR");
        }
    }

    /**
     * The input topic, the output topics and the changelog topics, each with one partition. The
     * changelogs get the cleanup policy Kafka Streams gives them but no time retention: the
     * records' timestamps are from 1970, and retention by time would delete them.
     */
    private static void createTopics(String bootstrap, List<WindowCase> cases) throws Exception {
        List<NewTopic> topics = new ArrayList<>();
        topics.add(new NewTopic(WindowCase.INPUT, 1, (short) 1));
        for (WindowCase c : cases) {
            topics.add(new NewTopic(c.outputTopic(), 1, (short) 1)
                    .configs(Map.of(TopicConfig.RETENTION_MS_CONFIG, "-1")));
            for (WindowCase.Store s : c.stores) {
                String policy = s.kind() == WindowCase.StoreKind.BUFFER
                        ? TopicConfig.CLEANUP_POLICY_COMPACT
                        : TopicConfig.CLEANUP_POLICY_COMPACT + "," + TopicConfig.CLEANUP_POLICY_DELETE;
                topics.add(new NewTopic(c.changelogTopic(s), 1, (short) 1).configs(Map.of(
                        TopicConfig.CLEANUP_POLICY_CONFIG, policy,
                        TopicConfig.RETENTION_MS_CONFIG, "-1")));
            }
        }
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        try (Admin admin = Admin.create(p)) {
            admin.createTopics(topics).all().get(PATIENCE.toSeconds(), TimeUnit.SECONDS);
        }
    }

    /** Produces the records in file order; returns the count per changelog topic. */
    private static Map<String, Integer> produceChangelogs(String bootstrap, List<Lines.Logged> records) {
        Map<String, Integer> counts = new LinkedHashMap<>();
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(producerProps(bootstrap),
                new ByteArraySerializer(), new ByteArraySerializer())) {
            for (Lines.Logged r : records) {
                WindowCase.Store store = r.windowCase().stores.stream()
                        .filter(s -> s.name().equals(r.store()))
                        .findFirst()
                        .orElseThrow(() -> new IllegalArgumentException(
                                r.windowCase().id + " has no store " + r.store() + "; it has " + r.windowCase().stores));
                String topic = r.windowCase().changelogTopic(store);
                producer.send(new ProducerRecord<>(topic, 0, r.timestamp(), r.key(), r.value(), r.headers()));
                counts.merge(topic, 1, Integer::sum);
            }
            producer.flush();
        }
        return counts;
    }

    private static void produceInput(String bootstrap, List<Lines.Input> records) {
        try (KafkaProducer<String, Long> producer = new KafkaProducer<>(producerProps(bootstrap),
                new StringSerializer(), new LongSerializer())) {
            for (Lines.Input r : records) {
                producer.send(new ProducerRecord<>(WindowCase.INPUT, 0, r.timestamp(), r.key(), r.value(), r.headers()));
            }
            producer.flush();
        }
    }

    private static Properties producerProps(String bootstrap) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "30000");
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "30000");
        p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, "15000");
        return p;
    }

    /** Partition 0 of {@code topic} from its start to its end offset now. */
    private static List<ConsumerRecord<byte[], byte[]>> readTopic(String bootstrap, String topic) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        TopicPartition tp = new TopicPartition(topic, 0);
        List<ConsumerRecord<byte[], byte[]>> out = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> consumer =
                new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            consumer.assign(List.of(tp));
            consumer.seekToBeginning(List.of(tp));
            long end = consumer.endOffsets(List.of(tp)).get(tp);
            long deadline = System.nanoTime() + PATIENCE.toNanos();
            while (consumer.position(tp) < end) {
                Check.that(System.nanoTime() < deadline, "did not reach " + topic + "'s end offset " + end);
                consumer.poll(Duration.ofMillis(200)).forEach(out::add);
            }
        }
        return out;
    }

    /**
     * The inner keys of a case's aggregation store's changelog records: a session store lists its
     * sessions per key, and these are all the keys it can hold.
     */
    private static Set<String> keys(List<Lines.Logged> changelog, WindowCase c) {
        Set<String> keys = new TreeSet<>();
        WindowCase.Store store = c.aggregateStore();
        int suffix = switch (store.kind()) {
            case WINDOW -> 12;   // start (8) and sequence number (4)
            case SESSION -> 16;  // end (8) and start (8)
            case BUFFER -> 8;    // start (8)
        };
        for (Lines.Logged r : changelog) {
            if (r.windowCase() == c && r.store().equals(store.name()) && r.key().length >= suffix) {
                keys.add(new String(Arrays.copyOf(r.key(), r.key().length - suffix), StandardCharsets.UTF_8));
            }
        }
        return keys;
    }
}
