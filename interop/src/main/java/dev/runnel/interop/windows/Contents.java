package dev.runnel.interop.windows;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

import org.apache.kafka.common.serialization.LongSerializer;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.kstream.Windowed;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.ReadOnlySessionStore;
import org.apache.kafka.streams.state.ReadOnlyWindowStore;
import org.apache.kafka.streams.state.ValueAndTimestamp;

/**
 * A store's contents as {@code store} lines, read through the store's public interface: the
 * same code for the test driver's stores ({@code windows-run}) and for a running application's
 * interactive queries ({@code windows-restore}). Both read what Kafka Streams lets a reader see,
 * i.e. after its retention filter, which is what Runnel's accessors must show too.
 */
final class Contents {
    private Contents() {}

    private static final LongSerializer LONGS = new LongSerializer();

    /** Every entry of a timestamped window store, in the store's order. */
    static List<String> windows(WindowCase c, String store, ReadOnlyWindowStore<String, ValueAndTimestamp<Long>> s) {
        List<String> out = new ArrayList<>();
        try (KeyValueIterator<Windowed<String>, ValueAndTimestamp<Long>> it = s.all()) {
            while (it.hasNext()) {
                KeyValue<Windowed<String>, ValueAndTimestamp<Long>> kv = it.next();
                out.add(Lines.storeEntry(c, store, kv.key.key().getBytes(StandardCharsets.UTF_8),
                        kv.key.window().start(), kv.key.window().end(),
                        LONGS.serialize(null, kv.value.value()), kv.value.timestamp()));
            }
        }
        return out;
    }

    /**
     * Every session of {@code keys} (a session store has no timestamps; its interface lists
     * sessions per key, so the caller names the keys: every key the input or changelog holds).
     */
    static List<String> sessions(WindowCase c, String store, ReadOnlySessionStore<String, Long> s,
            Collection<String> keys) {
        List<String> out = new ArrayList<>();
        for (String key : keys) {
            try (KeyValueIterator<Windowed<String>, Long> it = s.fetch(key)) {
                while (it.hasNext()) {
                    KeyValue<Windowed<String>, Long> kv = it.next();
                    out.add(Lines.storeEntry(c, store, kv.key.key().getBytes(StandardCharsets.UTF_8),
                            kv.key.window().start(), kv.key.window().end(), LONGS.serialize(null, kv.value), null));
                }
            }
        }
        return out;
    }
}
