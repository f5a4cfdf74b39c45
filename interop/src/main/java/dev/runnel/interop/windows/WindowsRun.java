package dev.runnel.interop.windows;

import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;

import dev.runnel.interop.Check;
import dev.runnel.interop.Main.Options;

import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.LongSerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.common.utils.Utils;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.state.SessionStore;
import org.apache.kafka.streams.state.ValueAndTimestamp;
import org.apache.kafka.streams.state.WindowStore;
import org.apache.kafka.streams.test.TestRecord;

/**
 * {@code windows-run --input FILE --out DIR [--probe FILE]}: the five {@link WindowCase}s in
 * Kafka Streams' {@code TopologyTestDriver}, each over the same input, with the record cache
 * off ({@code statestore.cache.max.bytes=0}) so every update is forwarded and logged as it
 * happens. For each case writes {@code DIR/CASE.jsonl} ({@link Lines}' formats):
 *
 * <ol>
 *   <li>{@code output}: every record of the output topic, in order;
 *   <li>{@code changelog}: every record the stores' change-logging wrote, per store in order;
 *   <li>{@code store}: the aggregation store's contents at the end (the suppression buffer has
 *       no public reader; its changelog stands for it);
 *   <li>{@code probe}: then the probe records are piped, and these are the output records they
 *       cause. With a probe far in the future this is the suppression buffer's flush, which a
 *       restored application must reproduce (tests/windows_interop.rs).
 * </ol>
 *
 * Checks only that the topology wrote the topics it should (an unexpected changelog name means
 * the case's store names drifted); everything else is compared on the Rust side.
 */
public final class WindowsRun {
    private WindowsRun() {}

    public static void run(Options options) throws Exception {
        List<Lines.Input> input = Lines.readInput(Path.of(options.require("input")));
        String probeFile = options.get("probe", null);
        List<Lines.Input> probe = probeFile == null ? List.of() : Lines.readInput(Path.of(probeFile));
        Path out = Path.of(options.require("out"));
        Files.createDirectories(out);
        Set<String> keys = new TreeSet<>();
        for (Lines.Input r : input) {
            if (r.key() != null) {
                keys.add(r.key());
            }
        }
        for (WindowCase c : WindowCase.values()) {
            int lines = runCase(c, input, probe, keys, out.resolve(c.id + ".jsonl"));
            Check.ok(c.id + ": " + input.size() + " records through Kafka Streams' TopologyTestDriver, "
                    + lines + " lines written");
        }
    }

    private static int runCase(WindowCase c, List<Lines.Input> input, List<Lines.Input> probe, Set<String> keys,
            Path file) throws IOException {
        Path state = Files.createTempDirectory("windows-run-" + c.id);
        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, c.applicationId());
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "unused:9092");
        p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);
        p.put(StreamsConfig.STATE_DIR_CONFIG, state.toString());
        List<String> lines = new ArrayList<>();
        // The wall clock starts at the epoch and never moves: nothing here depends on it.
        try (TopologyTestDriver driver = new TopologyTestDriver(c.topology(), p, Instant.EPOCH)) {
            TestInputTopic<String, Long> in =
                    driver.createInputTopic(WindowCase.INPUT, new StringSerializer(), new LongSerializer());
            for (Lines.Input r : input) {
                in.pipeInput(new TestRecord<>(r.key(), r.value(), r.headers(), r.timestamp()));
            }

            Set<String> expected = new TreeSet<>();
            expected.add(c.outputTopic());
            for (WindowCase.Store s : c.stores) {
                expected.add(c.changelogTopic(s));
            }
            Check.equal(c.id + ": the topics the topology wrote", expected, new TreeSet<>(driver.producedTopicNames()));

            for (TestRecord<byte[], byte[]> r : drain(driver, c.outputTopic())) {
                lines.add(Lines.record("output", c, c.outputTopic(), null, r.key(), r.value(), r.timestamp(),
                        r.headers()));
            }
            for (WindowCase.Store s : c.stores) {
                for (TestRecord<byte[], byte[]> r : drain(driver, c.changelogTopic(s))) {
                    lines.add(Lines.record("changelog", c, c.changelogTopic(s), s.name(), r.key(), r.value(),
                            r.timestamp(), r.headers()));
                }
            }
            lines.addAll(contents(driver, c, keys));

            for (Lines.Input r : probe) {
                in.pipeInput(new TestRecord<>(r.key(), r.value(), r.headers(), r.timestamp()));
            }
            for (TestRecord<byte[], byte[]> r : drain(driver, c.outputTopic())) {
                lines.add(Lines.record("probe", c, c.outputTopic(), null, r.key(), r.value(), r.timestamp(),
                        r.headers()));
            }
        } finally {
            Utils.delete(state.toFile());
        }
        try (BufferedWriter w = Files.newBufferedWriter(file, StandardCharsets.UTF_8)) {
            for (String line : lines) {
                w.write(line);
                w.newLine();
            }
        }
        return lines.size();
    }

    /** The aggregation store's entries: what the test driver's typed accessors return. */
    private static List<String> contents(TopologyTestDriver driver, WindowCase c, Set<String> keys) {
        WindowCase.Store s = c.aggregateStore();
        return switch (s.kind()) {
            case WINDOW -> {
                WindowStore<String, ValueAndTimestamp<Long>> store = driver.getTimestampedWindowStore(s.name());
                Check.that(store != null, c.id + ": the test driver has no timestamped window store " + s.name());
                yield Contents.windows(c, s.name(), store);
            }
            case SESSION -> {
                SessionStore<String, Long> store = driver.getSessionStore(s.name());
                Check.that(store != null, c.id + ": the test driver has no session store " + s.name());
                yield Contents.sessions(c, s.name(), store, keys);
            }
            case BUFFER -> throw new IllegalStateException("a suppression buffer is never a case's aggregate store");
        };
    }

    /** Every record the driver captured for {@code topic}, as bytes; reading consumes them. */
    private static List<TestRecord<byte[], byte[]>> drain(TopologyTestDriver driver, String topic) {
        TestOutputTopic<byte[], byte[]> out =
                driver.createOutputTopic(topic, new ByteArrayDeserializer(), new ByteArrayDeserializer());
        return out.readRecordsToList();
    }
}
