package dev.runnel.interop.windows;

import java.time.Duration;
import java.util.List;

import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.KGroupedStream;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.SessionWindows;
import org.apache.kafka.streams.kstream.SlidingWindows;
import org.apache.kafka.streams.kstream.Suppressed;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.kstream.Windowed;
import org.apache.kafka.streams.kstream.WindowedSerdes;
import org.apache.kafka.streams.state.SessionStore;
import org.apache.kafka.streams.state.WindowStore;

/**
 * The five windowed topologies of the differential test, each its own application. Runnel's
 * side (tests/windows_interop.rs) builds the same five with the same names: the stores' names
 * fix the changelog topics ({@code <application.id>-<store>-changelog}), and the output topics
 * carry the windowed keys in Kafka's wire formats ({@code key‖start} for time and sliding
 * windows, {@code key‖end‖start} for sessions).
 *
 * <p>Keys are strings, values longs; caching is off wherever these run, so every update of a
 * window reaches the output and the changelog.
 */
public enum WindowCase {
    /** Tumbling count: size 10 s, grace 5 s. */
    TUMBLING("tumbling", 10_000L, new Store("tumbling-store", StoreKind.WINDOW)),
    /** Hopping sum of the values: size 10 s, advance 5 s, grace 2 s. */
    HOPPING("hopping", 10_000L, new Store("hopping-store", StoreKind.WINDOW)),
    /** Sliding count: time difference 10 s, grace 5 s (its windowed keys carry size = 10 s). */
    SLIDING("sliding", 10_000L, new Store("sliding-store", StoreKind.WINDOW)),
    /** Session count: inactivity gap 5 s, grace 2 s. */
    SESSION("session", 0L, new Store("session-store", StoreKind.SESSION)),
    /**
     * Tumbling count (size 10 s, grace 5 s) under {@code suppress(untilWindowCloses(unbounded()))}:
     * the count's window store and the suppression buffer, named so its changelog is fixed too.
     */
    SUPPRESSED("suppressed", 10_000L, new Store("suppressed-store", StoreKind.WINDOW),
            new Store(WindowCase.SUPPRESSION_NAME + "-store", StoreKind.BUFFER));

    /** The topic every case reads. */
    public static final String INPUT = "input";

    /** {@code Suppressed.withName}: the buffer's store is this name plus {@code -store}. */
    static final String SUPPRESSION_NAME = "suppressed-buffer";

    /** What a store holds, which decides how its changelog keys and its contents read. */
    public enum StoreKind {
        /** A timestamped window store: changelog key {@code key‖start‖seqnum}. */
        WINDOW,
        /** A session store: changelog key {@code key‖end‖start}. */
        SESSION,
        /** A suppression buffer: changelog key = the windowed key ({@code key‖start}), not queryable. */
        BUFFER,
    }

    /** A store of a case, by the name the topology gives it. */
    public record Store(String name, StoreKind kind) {}

    /** The case's name: its output topic is {@code out-NAME}, its application {@code windows-NAME}. */
    public final String id;
    /** The window size the windowed key serde is built with (0 for sessions, which need none). */
    public final long windowSizeMs;
    /** The case's stores, the aggregation's first. */
    public final List<Store> stores;

    WindowCase(String id, long windowSizeMs, Store... stores) {
        this.id = id;
        this.windowSizeMs = windowSizeMs;
        this.stores = List.of(stores);
    }

    public String applicationId() {
        return "windows-" + id;
    }

    public String outputTopic() {
        return "out-" + id;
    }

    public String changelogTopic(Store store) {
        return applicationId() + "-" + store.name() + "-changelog";
    }

    /** The aggregation's store, the one every case has and the probe lands in. */
    public Store aggregateStore() {
        return stores.get(0);
    }

    public static WindowCase byId(String id) {
        for (WindowCase c : values()) {
            if (c.id.equals(id)) {
                return c;
            }
        }
        throw new IllegalArgumentException("no window case " + id);
    }

    /** The case's topology: {@code input} → groupByKey → windowed aggregation → {@code out-NAME}. */
    public Topology topology() {
        StreamsBuilder builder = new StreamsBuilder();
        KGroupedStream<String, Long> grouped = builder
                .stream(INPUT, Consumed.with(Serdes.String(), Serdes.Long()))
                .groupByKey(Grouped.with(Serdes.String(), Serdes.Long()));
        String store = aggregateStore().name();
        Produced<Windowed<String>, Long> produced = Produced.with(windowedSerde(), Serdes.Long());
        switch (this) {
            case TUMBLING -> grouped
                    .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofSeconds(10), Duration.ofSeconds(5)))
                    .count(windowMaterialized(store))
                    .toStream()
                    .to(outputTopic(), produced);
            case HOPPING -> grouped
                    .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofSeconds(10), Duration.ofSeconds(2))
                            .advanceBy(Duration.ofSeconds(5)))
                    .reduce(Long::sum, windowMaterialized(store))
                    .toStream()
                    .to(outputTopic(), produced);
            case SLIDING -> grouped
                    .windowedBy(SlidingWindows.ofTimeDifferenceAndGrace(Duration.ofSeconds(10), Duration.ofSeconds(5)))
                    .count(windowMaterialized(store))
                    .toStream()
                    .to(outputTopic(), produced);
            case SESSION -> grouped
                    .windowedBy(SessionWindows.ofInactivityGapAndGrace(Duration.ofSeconds(5), Duration.ofSeconds(2)))
                    .count(Materialized.<String, Long, SessionStore<Bytes, byte[]>>as(store)
                            .withKeySerde(Serdes.String())
                            .withValueSerde(Serdes.Long()))
                    .toStream()
                    .to(outputTopic(), produced);
            case SUPPRESSED -> grouped
                    .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofSeconds(10), Duration.ofSeconds(5)))
                    .count(windowMaterialized(store))
                    .suppress(Suppressed.untilWindowCloses(Suppressed.BufferConfig.unbounded())
                            .withName(SUPPRESSION_NAME))
                    .toStream()
                    .to(outputTopic(), produced);
            default -> throw new IllegalStateException("unhandled case " + this);
        }
        return builder.build();
    }

    /**
     * The output's key serde, as Kafka's own windowed KTables use: time and sliding windows
     * serialize {@code key‖start} and read the end back as start + size (for sliding windows
     * size = the time difference, as {@code SlidingWindowedKStreamImpl} builds it).
     */
    public Serde<Windowed<String>> windowedSerde() {
        return this == SESSION
                ? WindowedSerdes.sessionWindowedSerdeFrom(String.class)
                : WindowedSerdes.timeWindowedSerdeFrom(String.class, windowSizeMs);
    }

    private static Materialized<String, Long, WindowStore<Bytes, byte[]>> windowMaterialized(String store) {
        return Materialized.<String, Long, WindowStore<Bytes, byte[]>>as(store)
                .withKeySerde(Serdes.String())
                .withValueSerde(Serdes.Long());
    }
}
