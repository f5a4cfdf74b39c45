package dev.runnel.interop.bench;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;

import dev.runnel.interop.Main.Options;

import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.Repartitioned;
import org.apache.kafka.streams.kstream.SlidingWindows;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.kstream.WindowedSerdes;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.WindowStore;

/**
 * The Kafka Streams 4.4 half of BENCHMARKS.md's stream-processing rows: the same two pipelines
 * as benches/side_by_side.rs runs on Runnel, over the same input (loaded by {@link Load}).
 *
 * <pre>
 *   java -cp CP dev.runnel.interop.bench.StreamsBench --bootstrap HOST:PORT --app wc|cdc|win|slide
 *        --guarantee at_least_once|exactly_once_v2 --state-dir DIR --expect N [--lines N]
 *        [--prefix P]
 * </pre>
 *
 * The inputs ({@code lines}, {@code orders.cdc}) are shared by the runs; the application id and
 * the topics a run writes carry the prefix {@code P}, and are created here (4 partitions) before
 * the application starts, as Kafka Streams wants its source topics to exist.
 *
 * <ul>
 *   <li>wc: {@code lines} → flatMapValues(split) → selectKey(word) → repartition → groupByKey →
 *       count (RocksDB, record cache) → toStream → {@code counts}. Done when every line and every
 *       repartitioned word has been seen ({@code --lines} and {@code --expect} = words).
 *   <li>cdc: {@code orders.cdc} (Debezium JSON) → mapValues(after) → {@code orders}; table
 *       {@code orders} (caching off, so every change reaches the aggregate) → groupBy(customer)
 *       → aggregate(+ adder, − subtractor) → toStream → {@code customer-totals}. Done when the
 *       adder and subtractor have been called {@code --expect} times in all, the number the
 *       input implies (one call per side of each change of an order).
 *   <li>win: {@code events} (keyed, timestamped) → groupByKey → windowedBy(1-minute tumbling,
 *       10 s grace) → count (RocksDB window store, record cache) → toStream → {@code win-counts}.
 *   <li>slide: {@code slide-events} → groupByKey → windowedBy(10-minute sliding, 10 s grace) →
 *       count → toStream → {@code slide-counts}. Both done when {@code --expect} events were read.
 * </ul>
 *
 * Every other setting is Kafka Streams' default: one stream thread, commit.interval.ms 30 000
 * (at_least_once) or 100 (exactly_once_v2), a 10 MiB record cache. Prints one line of JSON:
 * start-up (start until the first record), processing (then until done), close, and the whole.
 */
public final class StreamsBench {
    private StreamsBench() {}

    /** A row of the orders table, as the CDC events carry it. */
    public record Order(String order_id, String customer_id, long amount_cents, String status) {}

    /** Debezium's change-event envelope (the fields the pipeline reads). */
    public record ChangeEvent(Order before, Order after, String op, long ts_ms) {}

    /** The aggregate per customer. */
    public record Totals(long orders, long revenue_cents) {}

    static final ObjectMapper JSON =
            new ObjectMapper().configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);

    /** JSON through Jackson, as Runnel's side uses serde_json. */
    static <T> Serde<T> json(Class<T> type) {
        Serializer<T> ser = (topic, value) -> {
            if (value == null) {
                return null;
            }
            try {
                return JSON.writeValueAsBytes(value);
            } catch (Exception e) {
                throw new SerializationException(e);
            }
        };
        Deserializer<T> de = (topic, bytes) -> {
            if (bytes == null) {
                return null;
            }
            try {
                return JSON.readValue(bytes, type);
            } catch (Exception e) {
                throw new SerializationException(
                        "not a " + type.getSimpleName() + ": " + new String(bytes, StandardCharsets.UTF_8), e);
            }
        };
        return Serdes.serdeFrom(ser, de);
    }

    public static void main(String[] argv) throws Exception {
        Options args = Options.parse(argv, 0);
        String app = args.require("app");
        long expect = args.getLong("expect", -1);
        long lines = args.getLong("lines", 0);
        String prefix = args.get("prefix", "");
        String bootstrap = args.require("bootstrap");
        List<String> written = switch (app) {
            case "wc" -> List.of("counts");
            case "win" -> List.of("win-counts");
            case "slide" -> List.of("slide-counts");
            default -> List.of("orders", "customer-totals");
        };
        Topics.create(bootstrap, 4, written.stream().map(t -> prefix + t).toList());
        AtomicLong first = new AtomicLong();
        AtomicLong second = new AtomicLong();
        StreamsBuilder builder = new StreamsBuilder();
        switch (app) {
            case "wc" -> builder.stream("lines", Consumed.with(Serdes.ByteArray(), Serdes.String()))
                    .peek((k, v) -> first.incrementAndGet())
                    .flatMapValues(line -> Arrays.asList(line.split(" ")))
                    .selectKey((k, word) -> word)
                    .repartition(Repartitioned.with(Serdes.String(), Serdes.String()).withName("counts"))
                    .peek((k, v) -> second.incrementAndGet())
                    .groupByKey(Grouped.with(Serdes.String(), Serdes.String()))
                    .count(Materialized.<String, Long, KeyValueStore<Bytes, byte[]>>as("counts"))
                    .toStream()
                    .to(prefix + "counts", Produced.with(Serdes.String(), Serdes.Long()));
            case "cdc" -> {
                Serde<Order> orders = json(Order.class);
                builder.stream("orders.cdc", Consumed.with(Serdes.String(), json(ChangeEvent.class)))
                        .peek((k, v) -> first.incrementAndGet())
                        .mapValues(event -> event == null ? null : event.after())
                        .to(prefix + "orders", Produced.with(Serdes.String(), orders));
                builder.table(prefix + "orders", Consumed.with(Serdes.String(), orders),
                                Materialized.<String, Order, KeyValueStore<Bytes, byte[]>>as("orders-store")
                                        .withCachingDisabled())
                        .groupBy((id, order) -> KeyValue.pair(order.customer_id(), order),
                                Grouped.with(Serdes.String(), orders))
                        .aggregate(() -> new Totals(0, 0),
                                (customer, order, t) -> {
                                    second.incrementAndGet();
                                    return new Totals(t.orders() + 1, t.revenue_cents() + order.amount_cents());
                                },
                                (customer, order, t) -> {
                                    second.incrementAndGet();
                                    return new Totals(t.orders() - 1, t.revenue_cents() - order.amount_cents());
                                },
                                Materialized.<String, Totals, KeyValueStore<Bytes, byte[]>>as("customer-totals")
                                        .withKeySerde(Serdes.String())
                                        .withValueSerde(json(Totals.class)))
                        .toStream()
                        .to(prefix + "customer-totals", Produced.with(Serdes.String(), json(Totals.class)));
            }
            case "win" -> builder.stream("events", Consumed.with(Serdes.String(), Serdes.String()))
                    .peek((k, v) -> {
                        first.incrementAndGet();
                        second.incrementAndGet();
                    })
                    .groupByKey(Grouped.with(Serdes.String(), Serdes.String()))
                    .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofMinutes(1), Duration.ofSeconds(10)))
                    .count(Materialized.<String, Long, WindowStore<Bytes, byte[]>>as("win-counts"))
                    .toStream()
                    .to(prefix + "win-counts", Produced.with(
                            WindowedSerdes.timeWindowedSerdeFrom(String.class, 60_000L), Serdes.Long()));
            case "slide" -> builder.stream("slide-events", Consumed.with(Serdes.String(), Serdes.String()))
                    .peek((k, v) -> {
                        first.incrementAndGet();
                        second.incrementAndGet();
                    })
                    .groupByKey(Grouped.with(Serdes.String(), Serdes.String()))
                    .windowedBy(SlidingWindows.ofTimeDifferenceAndGrace(Duration.ofMinutes(10), Duration.ofSeconds(10)))
                    .count(Materialized.<String, Long, WindowStore<Bytes, byte[]>>as("slide-counts"))
                    .toStream()
                    .to(prefix + "slide-counts", Produced.with(
                            WindowedSerdes.timeWindowedSerdeFrom(String.class, 600_000L), Serdes.Long()));
            default -> throw new IllegalArgumentException("--app wc|cdc|win|slide, not " + app);
        }
        Topology topology = builder.build();

        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, "bench-" + app + prefix);
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, args.require("guarantee"));
        p.put(StreamsConfig.STATE_DIR_CONFIG, args.require("state-dir"));

        AtomicReference<Throwable> failure = new AtomicReference<>();
        KafkaStreams streams = new KafkaStreams(topology, p);
        streams.setUncaughtExceptionHandler(e -> {
            failure.compareAndSet(null, e);
            return org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse
                    .SHUTDOWN_CLIENT;
        });
        long deadline = System.nanoTime() + Duration.ofMinutes(10).toNanos();
        long start = System.nanoTime();
        streams.start();
        long firstAt = 0;
        while (second.get() < expect || first.get() < lines) {
            if (failure.get() != null) {
                throw new IllegalStateException("Kafka Streams failed", failure.get());
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("not done within 10 minutes: " + first.get() + " source records, "
                        + second.get() + " of " + expect);
            }
            if (firstAt == 0 && first.get() > 0) {
                firstAt = System.nanoTime();
            }
            Thread.sleep(1);
        }
        long done = System.nanoTime();
        if (firstAt == 0) {
            firstAt = done;
        }
        streams.close();
        long closed = System.nanoTime();
        if (failure.get() != null) {
            throw new IllegalStateException("Kafka Streams failed", failure.get());
        }
        System.out.printf("{\"startup_ms\":%.1f,\"processing_ms\":%.1f,\"close_ms\":%.1f,\"total_ms\":%.1f,"
                        + "\"source\":%d,\"second\":%d}%n",
                (firstAt - start) / 1e6, (done - firstAt) / 1e6, (closed - done) / 1e6, (closed - start) / 1e6,
                first.get(), second.get());
    }
}
