package dev.runnel.interop.joins;

import java.io.BufferedWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import dev.runnel.interop.Check;
import dev.runnel.interop.Main.Options;

import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.common.utils.Utils;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Joined;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.KTable;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.test.TestRecord;

/**
 * {@code joins-run --input FILE --out FILE}: the stream-table joins of tests/joins_interop.rs in
 * Kafka Streams' {@code TopologyTestDriver} (record cache off). Input lines are
 * {@code topic TAB key TAB value TAB timestamp} ({@code \N}: null), piped in order; the output
 * lines, in the same format, are every record of each output topic in order, topic by topic.
 */
public final class JoinsRun {
    private JoinsRun() {}

    static final String NULL = "\\N";
    static final List<String> OUTPUTS = List.of("inner", "left", "rekeyed", "filtered");

    static Topology topology() {
        StreamsBuilder builder = new StreamsBuilder();
        Consumed<String, String> strings = Consumed.with(Serdes.String(), Serdes.String());
        Produced<String, String> out = Produced.with(Serdes.String(), Serdes.String());
        KTable<String, String> regions = builder.table("regions", strings, Materialized.as("regions"));
        KStream<String, String> clicks = builder.stream("clicks", strings);
        clicks.join(regions, (page, region) -> page + "@" + region).to("inner", out);
        clicks.leftJoin(regions, (page, region) -> page + "@" + (region == null ? "-" : region)).to("left", out);
        builder.stream("visits", strings)
                .selectKey((id, visit) -> visit.split(" ")[0])
                .leftJoin(regions, (visit, region) -> visit + "@" + (region == null ? "-" : region),
                        Joined.with(Serdes.String(), Serdes.String(), Serdes.String()).withName("by-user"))
                .to("rekeyed", out);
        KTable<String, String> shown = regions.filter((user, region) -> !region.equals("hidden"))
                .mapValues(region -> region.toUpperCase());
        clicks.leftJoin(shown, (page, region) -> page + "@" + (region == null ? "-" : region)).to("filtered", out);
        return builder.build();
    }

    public static void run(Options options) throws Exception {
        List<String> input = Files.readAllLines(Path.of(options.require("input")), StandardCharsets.UTF_8);
        Path state = Files.createTempDirectory("joins-run");
        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, "joins");
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "unused:9092");
        p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);
        p.put(StreamsConfig.STATE_DIR_CONFIG, state.toString());
        List<String> lines = new ArrayList<>();
        try (TopologyTestDriver driver = new TopologyTestDriver(topology(), p, Instant.EPOCH)) {
            Map<String, TestInputTopic<String, String>> inputs = new HashMap<>();
            for (String line : input) {
                String[] f = line.split("\t", -1);
                Check.that(f.length == 4, "an input line has 4 fields: " + line);
                TestInputTopic<String, String> in = inputs.computeIfAbsent(f[0],
                        t -> driver.createInputTopic(t, new StringSerializer(), new StringSerializer()));
                in.pipeInput(new TestRecord<>(nullable(f[1]), nullable(f[2]), null, Long.parseLong(f[3])));
            }
            for (String topic : OUTPUTS) {
                TestOutputTopic<String, String> out =
                        driver.createOutputTopic(topic, new StringDeserializer(), new StringDeserializer());
                for (TestRecord<String, String> r : out.readRecordsToList()) {
                    lines.add(topic + "\t" + text(r.key()) + "\t" + text(r.value()) + "\t" + r.timestamp());
                }
            }
        } finally {
            Utils.delete(state.toFile());
        }
        try (BufferedWriter w = Files.newBufferedWriter(Path.of(options.require("out")), StandardCharsets.UTF_8)) {
            for (String line : lines) {
                w.write(line);
                w.newLine();
            }
        }
        Check.ok("joins: " + input.size() + " records through Kafka Streams' TopologyTestDriver, " + lines.size()
                + " output records");
    }

    private static String nullable(String field) {
        return field.equals(NULL) ? null : field;
    }

    private static String text(String value) {
        return value == null ? NULL : value;
    }
}
