package dev.runnel.interop.windows;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;

/**
 * The JSON lines the harness reads and writes, one record per line, bytes as lowercase hex.
 *
 * <p>Input (written by tests/windows_interop.rs): {@code {"key": "alice" | null, "value": 3,
 * "timestamp": 7000, "headers": [["h", "01"]]}}.
 *
 * <p>Records out: {@code {"kind": K, "case": C, "topic": T, "store": S, "key": HEX | null,
 * "value": HEX | null, "timestamp": MS | null, "headers": [[NAME, HEX | null], ...]}}, where K is
 * {@code output} (an output topic's record), {@code changelog} (a store's changelog record;
 * {@code store} names the store), or {@code probe} (an output record caused by the probe
 * records piped after everything else). Store contents: {@code {"kind": "store", "case": C,
 * "store": S, "key": HEX (the inner key), "start": MS, "end": MS, "value": HEX, "timestamp": MS |
 * null}}. A changelog file given to {@code windows-restore} holds {@code changelog} lines.
 */
final class Lines {
    private Lines() {}

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HexFormat HEX = HexFormat.of();

    /** One input record. */
    record Input(String key, Long value, long timestamp, Headers headers) {}

    /** One changelog record to produce: the store it belongs to and its exact bytes. */
    record Logged(WindowCase windowCase, String store, byte[] key, byte[] value, Long timestamp, Headers headers) {}

    static List<Input> readInput(Path file) throws IOException {
        List<Input> out = new ArrayList<>();
        for (JsonNode n : nodes(file)) {
            JsonNode value = n.get("value");
            out.add(new Input(text(n.get("key")), value == null || value.isNull() ? null : value.asLong(),
                    n.get("timestamp").asLong(), headers(n.get("headers"))));
        }
        return out;
    }

    /** The {@code changelog} lines of {@code file}. */
    static List<Logged> readChangelog(Path file) throws IOException {
        List<Logged> out = new ArrayList<>();
        for (JsonNode n : nodes(file)) {
            if (!"changelog".equals(text(n.get("kind")))) {
                continue;
            }
            JsonNode ts = n.get("timestamp");
            out.add(new Logged(WindowCase.byId(text(n.get("case"))), text(n.get("store")),
                    bytes(text(n.get("key"))), bytes(text(n.get("value"))),
                    ts == null || ts.isNull() ? null : ts.asLong(), headers(n.get("headers"))));
        }
        return out;
    }

    /** A topic's record (output, changelog or probe) as a line. */
    static String record(String kind, WindowCase c, String topic, String store, byte[] key, byte[] value,
            Long timestamp, Headers headers) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("kind", kind);
        m.put("case", c.id);
        m.put("topic", topic);
        if (store != null) {
            m.put("store", store);
        }
        m.put("key", hex(key));
        m.put("value", hex(value));
        m.put("timestamp", timestamp);
        List<List<String>> hs = new ArrayList<>();
        if (headers != null) {
            for (Header h : headers) {
                List<String> pair = new ArrayList<>();
                pair.add(h.key());
                pair.add(hex(h.value()));
                hs.add(pair);
            }
        }
        m.put("headers", hs);
        return write(m);
    }

    /** A store entry as a line: the inner key's and the value's bytes, the window, the timestamp. */
    static String storeEntry(WindowCase c, String store, byte[] key, long start, long end, byte[] value,
            Long timestamp) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("kind", "store");
        m.put("case", c.id);
        m.put("store", store);
        m.put("key", hex(key));
        m.put("start", start);
        m.put("end", end);
        m.put("value", hex(value));
        m.put("timestamp", timestamp);
        return write(m);
    }

    static String hex(byte[] bytes) {
        return bytes == null ? null : HEX.formatHex(bytes);
    }

    static byte[] bytes(String hex) {
        return hex == null ? null : HEX.parseHex(hex);
    }

    private static String write(Map<String, Object> m) {
        try {
            return JSON.writeValueAsString(m);
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static List<JsonNode> nodes(Path file) throws IOException {
        List<JsonNode> out = new ArrayList<>();
        for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
            if (!line.isBlank()) {
                out.add(JSON.readTree(line));
            }
        }
        return out;
    }

    private static String text(JsonNode n) {
        return n == null || n.isNull() ? null : n.asText();
    }

    private static Headers headers(JsonNode n) {
        RecordHeaders out = new RecordHeaders();
        if (n != null) {
            for (JsonNode pair : n) {
                out.add(pair.get(0).asText(), bytes(text(pair.get(1))));
            }
        }
        return out;
    }
}
