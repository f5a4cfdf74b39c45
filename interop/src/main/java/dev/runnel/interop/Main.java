package dev.runnel.interop;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadInfo;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * Runs one Java-client scenario against a Kafka-compatible broker:
 *
 * <pre>
 *   java -cp CLASSPATH dev.runnel.interop.Main SCENARIO --bootstrap HOST:PORT [--NAME VALUE]...
 * </pre>
 *
 * Exit status 0 when every check passed; 1 on the first mismatch (what was expected and what the
 * client observed); 2 when a client call threw where the scenario expected success; 3 when the
 * scenario did not finish within {@code --timeout-secs} (default 120), with the threads' stacks.
 * tests/java_interop.rs runs each scenario against `runnel serve`; tests/windows_interop.rs runs
 * {@code windows-run} (no broker: Kafka Streams' TopologyTestDriver) and {@code windows-restore}.
 */
public final class Main {
    private Main() {}

    /** One scenario: a sequence of client calls, each outcome checked. */
    @FunctionalInterface
    interface Scenario {
        void run(Options options) throws Exception;
    }

    /** The command line's {@code --name value} pairs (the scenarios' and the bench tools'). */
    public static final class Options {
        private final Map<String, String> values;

        Options(Map<String, String> values) {
            this.values = values;
        }

        /** The pairs of {@code argv} from index {@code from} on. */
        public static Options parse(String[] argv, int from) {
            Map<String, String> values = new HashMap<>();
            for (int i = from; i < argv.length; i += 2) {
                if (!argv[i].startsWith("--") || i + 1 >= argv.length) {
                    throw new IllegalArgumentException("expected --NAME VALUE pairs, got " + argv[i]);
                }
                values.put(argv[i].substring(2), argv[i + 1]);
            }
            return new Options(values);
        }

        public String bootstrap() {
            return require("bootstrap");
        }

        public String require(String name) {
            String value = values.get(name);
            if (value == null) {
                throw new IllegalArgumentException("missing --" + name);
            }
            return value;
        }

        public String get(String name, String otherwise) {
            return values.getOrDefault(name, otherwise);
        }

        public int getInt(String name, int otherwise) {
            return Integer.parseInt(get(name, Integer.toString(otherwise)));
        }

        public long getLong(String name, long otherwise) {
            return Long.parseLong(get(name, Long.toString(otherwise)));
        }
    }

    static final Map<String, Scenario> SCENARIOS = new TreeMap<>();

    static {
        SCENARIOS.put("producer", ProducerScenario::run);
        SCENARIOS.put("partitioning", ProducerScenario::partitioning);
        SCENARIOS.put("group-cooperative", GroupScenario::cooperative);
        SCENARIOS.put("group-static", GroupScenario::staticMembership);
        SCENARIOS.put("restart-before", RestartScenario::before);
        SCENARIOS.put("restart-after", RestartScenario::after);
        SCENARIOS.put("admin", AdminScenario::run);
        SCENARIOS.put("txn", TxnScenario::run);
        SCENARIOS.put("observe", ObserveScenario::run);
        // Not checks but the Kafka Streams half of tests/windows_interop.rs: outputs, changelogs and
        // stores of windowed aggregations (TopologyTestDriver), and a restore from given changelogs.
        SCENARIOS.put("windows-run", dev.runnel.interop.windows.WindowsRun::run);
        SCENARIOS.put("windows-restore", dev.runnel.interop.windows.WindowsRestore::run);
        // The Kafka Streams half of tests/joins_interop.rs.
        SCENARIOS.put("joins-run", dev.runnel.interop.joins.JoinsRun::run);
    }

    public static void main(String[] argv) {
        if (argv.length < 1 || !SCENARIOS.containsKey(argv[0])) {
            System.err.println("usage: Main SCENARIO --bootstrap HOST:PORT [--NAME VALUE]...");
            System.err.println("scenarios: " + String.join(", ", SCENARIOS.keySet()));
            System.exit(64);
        }
        String name = argv[0];
        Options options;
        try {
            options = Options.parse(argv, 1);
        } catch (IllegalArgumentException e) {
            System.err.println(e.getMessage());
            System.exit(64);
            return;
        }
        watchdog(name, options.getInt("timeout-secs", 120));
        long started = System.nanoTime();
        Check.start();
        int status;
        try {
            SCENARIOS.get(name).run(options);
            System.out.printf("PASS %s (%.1f s)%n", name, (System.nanoTime() - started) / 1e9);
            status = 0;
        } catch (Check.Mismatch m) {
            System.out.println("MISMATCH in " + name + ": " + m.getMessage());
            m.printStackTrace(System.out);
            status = 1;
        } catch (Throwable t) {
            System.out.println("ERROR in " + name + ": " + Check.describe(t));
            t.printStackTrace(System.out);
            status = 2;
        }
        System.out.flush();
        // halt, not exit: a client's non-daemon thread stuck on a broken broker must not keep
        // the JVM (and the test waiting on it) alive.
        Runtime.getRuntime().halt(status);
    }

    /** Ends the JVM with the threads' stacks if the scenario hangs, so the test says where. */
    private static void watchdog(String name, int seconds) {
        Thread t = new Thread(() -> {
            try {
                Thread.sleep(seconds * 1000L);
            } catch (InterruptedException e) {
                return;
            }
            System.out.println("TIMEOUT in " + name + ": not finished within " + seconds + " s; threads:");
            for (ThreadInfo info : ManagementFactory.getThreadMXBean().dumpAllThreads(false, false)) {
                System.out.print(info);
            }
            System.out.flush();
            Runtime.getRuntime().halt(3);
        }, "watchdog");
        t.setDaemon(true);
        t.start();
    }
}
