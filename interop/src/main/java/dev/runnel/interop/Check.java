package dev.runnel.interop;

import java.util.Objects;
import java.util.concurrent.ExecutionException;

/**
 * The scenarios' assertions (public for the harnesses in subpackages). A failed check throws {@link Mismatch} with what was expected and
 * what the client observed; {@link Main} prints it and exits non-zero. Passed checks are printed
 * too, so a failure's output shows how far the scenario got.
 */
public final class Check {
    private Check() {}

    /** What the client observed differs from what Apache Kafka's semantics say it should be. */
    public static final class Mismatch extends RuntimeException {
        private static final long serialVersionUID = 1L;

        public Mismatch(String message) {
            super(message);
        }
    }

    /** Something that may throw, for {@link #fails}. */
    @FunctionalInterface
    interface Action {
        void run() throws Exception;
    }

    public static void equal(String what, Object expected, Object actual) {
        if (!Objects.equals(expected, actual)) {
            throw new Mismatch(what + ": expected " + expected + ", got " + actual);
        }
    }

    public static void that(boolean condition, String what) {
        if (!condition) {
            throw new Mismatch(what);
        }
    }

    private static long started = System.nanoTime();

    /** Called by {@link Main} as the scenario begins. */
    static void start() {
        started = System.nanoTime();
    }

    /** A passed check, with the seconds since the JVM's scenario began (to see what is slow). */
    public static void ok(String what) {
        System.out.printf("ok (%5.1f s): %s%n", (System.nanoTime() - started) / 1e9, what);
    }

    /**
     * Runs {@code action} and returns the exception of type {@code expected} it threw, looking
     * through the wrappers the clients add (ExecutionException from futures, KafkaException from
     * the producer). Fails if it threw nothing or something else.
     */
    static <T extends Throwable> T fails(String what, Class<T> expected, Action action) {
        try {
            action.run();
        } catch (Throwable thrown) {
            for (Throwable t = thrown; t != null; t = t.getCause()) {
                if (expected.isInstance(t)) {
                    return expected.cast(t);
                }
            }
            throw new Mismatch(what + ": expected " + expected.getSimpleName() + ", got " + describe(thrown));
        }
        throw new Mismatch(what + ": expected " + expected.getSimpleName() + ", but it succeeded");
    }

    /** An exception and its causes on one line: the client's wrappers hide the broker's error. */
    static String describe(Throwable thrown) {
        StringBuilder out = new StringBuilder();
        for (Throwable t = thrown; t != null; t = t.getCause()) {
            if (t instanceof ExecutionException && t.getCause() != null) {
                continue;
            }
            if (out.length() > 0) {
                out.append(" <- caused by ");
            }
            out.append(t.getClass().getName()).append(": ").append(t.getMessage());
        }
        return out.toString();
    }
}
