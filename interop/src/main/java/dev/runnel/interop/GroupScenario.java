package dev.runnel.interop;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.TopicPartition;

/**
 * Consumer groups of three Java consumers: the cooperative-sticky assignor (KIP-429: members
 * give up only the partitions that move, over two rebalances) and static membership (KIP-345:
 * a member that comes back with its group.instance.id within the session timeout gets its
 * partitions back without a rebalance). All members are driven from one thread, round-robin,
 * so the interleaving is simple to reason about; each record is checked to reach exactly one
 * member exactly once, with commits on revocation.
 */
final class GroupScenario {
    private GroupScenario() {}

    static final Comparator<TopicPartition> BY_PARTITION =
            Comparator.comparing(TopicPartition::topic).thenComparingInt(TopicPartition::partition);

    /** One member: its consumer, what it owns now, and what its rebalance listener was told. */
    static final class Member implements ConsumerRebalanceListener {
        final String name;
        final KafkaConsumer<String, String> consumer;
        final Set<TopicPartition> owned = new TreeSet<>(BY_PARTITION);
        final Set<TopicPartition> revoked = new TreeSet<>(BY_PARTITION);
        final Set<TopicPartition> assigned = new TreeSet<>(BY_PARTITION);
        final List<String> lost = new ArrayList<>();
        private final Map<String, String> seen;

        Member(String name, Properties props, Map<String, String> seen) {
            this.name = name;
            this.seen = seen;
            props.put(ConsumerConfig.CLIENT_ID_CONFIG, name);
            this.consumer = new KafkaConsumer<>(props);
        }

        void subscribe(String topic) {
            consumer.subscribe(List.of(topic), this);
        }

        /** One poll; every record must be new to the whole group. */
        void poll() {
            for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(50))) {
                String at = r.partition() + "@" + r.offset();
                String before = seen.put(at, name);
                Check.that(before == null, "record " + at + " delivered to " + name + " after " + before
                        + " already had it (commits on revocation should prevent that)");
                Check.that(owned.contains(new TopicPartition(r.topic(), r.partition())),
                        name + " got a record of " + at + " which it does not own: " + owned);
            }
        }

        void forgetEvents() {
            revoked.clear();
            assigned.clear();
        }

        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
            if (partitions.isEmpty()) {
                return;
            }
            // The next member to own them starts where this one stopped.
            Map<TopicPartition, OffsetAndMetadata> positions = new HashMap<>();
            for (TopicPartition tp : partitions) {
                positions.put(tp, new OffsetAndMetadata(consumer.position(tp)));
            }
            consumer.commitSync(positions);
            owned.removeAll(partitions);
            revoked.addAll(partitions);
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
            owned.addAll(partitions);
            assigned.addAll(partitions);
        }

        @Override
        public void onPartitionsLost(Collection<TopicPartition> partitions) {
            lost.add(partitions.toString());
            owned.removeAll(partitions);
        }

        @Override
        public String toString() {
            return name + Clients.partitionNumbers(owned);
        }
    }

    static Set<TopicPartition> copy(Set<TopicPartition> partitions) {
        Set<TopicPartition> out = new TreeSet<>(BY_PARTITION);
        out.addAll(partitions);
        return out;
    }

    /** Polls every member until {@code done}, then a further second to see that it stays so. */
    static void pollUntil(List<Member> members, String what, BooleanSupplier done) {
        long deadline = System.nanoTime() + Clients.PATIENCE.toNanos();
        while (!done.getAsBoolean()) {
            Check.that(System.nanoTime() < deadline, "timed out waiting for " + what + "; members: " + members);
            members.forEach(Member::poll);
        }
        long settle = System.nanoTime() + Duration.ofSeconds(1).toNanos();
        while (System.nanoTime() < settle) {
            members.forEach(Member::poll);
        }
        Check.that(done.getAsBoolean(), what + " did not last: " + members);
    }

    /** True when the members own all of the topic's partitions between them, once each, in these sizes. */
    static boolean owns(List<Member> members, int partitions, int... sizes) {
        Set<TopicPartition> union = new HashSet<>();
        int total = 0;
        for (int i = 0; i < members.size(); i++) {
            Member m = members.get(i);
            if (m.owned.size() != sizes[i]) {
                return false;
            }
            union.addAll(m.owned);
            total += m.owned.size();
        }
        return total == partitions && union.size() == partitions;
    }

    static void produce(String bootstrap, String topic, int partitions, int perPartition, int from) throws Exception {
        try (KafkaProducer<String, String> producer = Clients.producer(bootstrap)) {
            for (int p = 0; p < partitions; p++) {
                for (int i = from; i < from + perPartition; i++) {
                    producer.send(new ProducerRecord<>(topic, p, "k" + i, "p" + p + "-" + i));
                }
            }
            producer.flush();
        }
    }

    static ConsumerGroupDescription describe(Admin admin, String group) throws Exception {
        return admin.describeConsumerGroups(List.of(group)).all()
                .get(Clients.PATIENCE.toSeconds(), TimeUnit.SECONDS).get(group);
    }

    // ---------------------------------------------------------------------------------------

    static void cooperative(Main.Options options) throws Exception {
        String bootstrap = options.bootstrap();
        String topic = "coop";
        String group = "coop-group";
        int partitions = 6;
        try (Admin admin = Clients.admin(bootstrap)) {
            Clients.createTopic(admin, topic, partitions);
            produce(bootstrap, topic, partitions, 100, 0);

            Map<String, String> seen = new HashMap<>();
            Properties props = Clients.consumerProps(bootstrap, group);
            props.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, CooperativeStickyAssignor.class.getName());
            List<Member> members = new ArrayList<>();
            try {
                Member c1 = new Member("coop-1", (Properties) props.clone(), seen);
                members.add(c1);
                c1.subscribe(topic);
                pollUntil(members, "coop-1 to own all 6 partitions", () -> owns(members, partitions, 6));
                Check.ok("a lone cooperative-sticky member owns all 6 partitions");

                for (String name : new String[] {"coop-2", "coop-3"}) {
                    List<Set<TopicPartition>> before = new ArrayList<>();
                    members.forEach(m -> {
                        before.add(copy(m.owned));
                        m.forgetEvents();
                    });
                    Member joiner = new Member(name, (Properties) props.clone(), seen);
                    members.add(joiner);
                    joiner.subscribe(topic);
                    int[] sizes = members.size() == 2 ? new int[] {3, 3} : new int[] {2, 2, 2};
                    pollUntil(members, "a balanced assignment after " + name + " joined",
                            () -> owns(members, partitions, sizes));
                    for (int i = 0; i < before.size(); i++) {
                        Member m = members.get(i);
                        Set<TopicPartition> moved = new TreeSet<>(BY_PARTITION);
                        moved.addAll(before.get(i));
                        moved.removeAll(m.owned);
                        Check.that(before.get(i).containsAll(m.owned),
                                m.name + " was given partitions while " + name + " joined (not sticky): before "
                                        + Clients.partitionNumbers(before.get(i)) + ", after " + m);
                        // Eager rebalancing would revoke everything; cooperative revokes what moves.
                        Check.equal(m.name + " revoked only the partitions that moved to " + name,
                                Clients.partitionNumbers(moved), Clients.partitionNumbers(m.revoked));
                    }
                    Check.equal(name + "'s partitions were all revoked from the others first",
                            Clients.partitionNumbers(joiner.owned), Clients.partitionNumbers(joiner.assigned));
                    Check.ok(name + " joined: " + members + "; the others kept theirs and gave up only what moved");
                }

                pollUntil(members, "all 600 records consumed", () -> seen.size() == 600);
                Check.ok("600 records consumed once each across the rebalances");

                ConsumerGroupDescription d = describe(admin, group);
                Check.equal("assignor in DescribeGroups", "cooperative-sticky", d.partitionAssignor());
                Check.equal("group state", GroupState.STABLE, d.groupState());
                Check.equal("member count", 3, d.members().size());
                for (MemberDescription md : d.members()) {
                    Member m = members.stream().filter(x -> x.name.equals(md.clientId())).findFirst().orElse(null);
                    Check.that(m != null, "DescribeGroups lists an unknown member " + md);
                    Check.equal("assignment of " + m.name + " in DescribeGroups",
                            Clients.partitionNumbers(m.owned),
                            Clients.partitionNumbers(md.assignment().topicPartitions()));
                }
                Check.ok("DescribeGroups: Stable, cooperative-sticky, each member's assignment as the consumers see it");

                // coop-3 leaves: the other two take its partitions and keep their own.
                Member leaver = members.remove(2);
                List<Set<TopicPartition>> before = new ArrayList<>();
                members.forEach(m -> {
                    before.add(copy(m.owned));
                    m.forgetEvents();
                });
                leaver.consumer.close();
                pollUntil(members, "coop-1 and coop-2 to share 6 partitions after coop-3 left",
                        () -> owns(members, partitions, 3, 3));
                for (int i = 0; i < members.size(); i++) {
                    Member m = members.get(i);
                    Check.that(m.owned.containsAll(before.get(i)), m.name + " lost partitions when coop-3 left: before "
                            + Clients.partitionNumbers(before.get(i)) + ", after " + m);
                    Check.equal(m.name + " revoked nothing when coop-3 left", Set.of(),
                            Clients.partitionNumbers(m.revoked));
                }
                Check.ok("coop-3 left: " + members + " took over its partitions and kept their own");

                produce(bootstrap, topic, partitions, 10, 100);
                pollUntil(members, "the 60 new records", () -> seen.size() == 660);
                Map<TopicPartition, OffsetAndMetadata> committed = new HashMap<>();
                for (Member m : members) {
                    Map<TopicPartition, OffsetAndMetadata> positions = new HashMap<>();
                    m.owned.forEach(tp -> positions.put(tp, new OffsetAndMetadata(m.consumer.position(tp))));
                    m.consumer.commitSync(positions);
                    committed.putAll(positions);
                }
                Map<TopicPartition, OffsetAndMetadata> listed = admin.listConsumerGroupOffsets(group)
                        .partitionsToOffsetAndMetadata().get(Clients.PATIENCE.toSeconds(), TimeUnit.SECONDS);
                for (TopicPartition tp : Clients.partitions(topic, partitions)) {
                    Check.equal("committed offset of " + tp, 110L, listed.get(tp).offset());
                }
                for (Member m : members) {
                    Check.equal(m.name + " lost partitions (onPartitionsLost)", List.of(), m.lost);
                }
                Check.ok("660 records once each; listConsumerGroupOffsets shows 110 on every partition");
            } finally {
                members.forEach(m -> m.consumer.close());
            }
        }
    }

    // ---------------------------------------------------------------------------------------

    static void staticMembership(Main.Options options) throws Exception {
        String bootstrap = options.bootstrap();
        String topic = "static";
        String group = "static-group";
        int partitions = 6;
        try (Admin admin = Clients.admin(bootstrap)) {
            Clients.createTopic(admin, topic, partitions);
            produce(bootstrap, topic, partitions, 10, 0);
            Map<String, String> seen = new HashMap<>();
            List<Member> members = new ArrayList<>();
            List<Member> closed = new ArrayList<>();
            try {
                for (String name : new String[] {"s-1", "s-2", "s-3"}) {
                    Member m = new Member(name, staticProps(bootstrap, group, name), seen);
                    members.add(m);
                    m.subscribe(topic);
                }
                pollUntil(members, "three static members with 2 partitions each", () -> owns(members, partitions, 2, 2, 2));
                // The default assignor list starts with range, which orders static members by
                // group.instance.id: this only holds if the broker hands the leader those ids.
                Check.equal("s-1's partitions (range, ordered by instance id)", Set.of(0, 1),
                        Clients.partitionNumbers(members.get(0).owned));
                Check.equal("s-2's partitions", Set.of(2, 3), Clients.partitionNumbers(members.get(1).owned));
                Check.equal("s-3's partitions", Set.of(4, 5), Clients.partitionNumbers(members.get(2).owned));
                pollUntil(members, "all 60 records consumed", () -> seen.size() == 60);
                members.forEach(m -> m.consumer.commitSync());
                Check.ok("three static members: " + members + ", 60 records consumed and committed");

                ConsumerGroupDescription d = describe(admin, group);
                Check.equal("group state", GroupState.STABLE, d.groupState());
                Set<String> ids = new TreeSet<>();
                d.members().forEach(md -> ids.add(md.groupInstanceId().orElse("<none>")));
                Check.equal("group.instance.ids in DescribeGroups", Set.of("s-1", "s-2", "s-3"), ids);
                Check.equal("assignor", "range", d.partitionAssignor());
                Check.ok("DescribeGroups lists the three group.instance.ids");

                int generation = members.get(0).consumer.groupMetadata().generationId();
                String oldMemberId = members.get(1).consumer.groupMetadata().memberId();
                members.forEach(Member::forgetEvents);
                // A static member's close sends no LeaveGroup (KIP-345): the broker keeps its slot.
                Member bounced = members.remove(1);
                bounced.consumer.close();
                closed.add(bounced);
                Member back = new Member("s-2", staticProps(bootstrap, group, "s-2"), seen);
                members.add(1, back);
                back.subscribe(topic);
                pollUntil(members, "s-2 back with its partitions", () -> owns(members, partitions, 2, 2, 2));
                Check.equal("s-2's partitions after coming back", Set.of(2, 3), Clients.partitionNumbers(back.owned));
                Check.equal("generation after s-2 came back (no rebalance)", generation,
                        back.consumer.groupMetadata().generationId());
                Check.that(!back.consumer.groupMetadata().memberId().equals(oldMemberId),
                        "the returning static member kept its old member id " + oldMemberId
                                + "; Kafka gives it a new one and fences the old");
                for (Member m : List.of(members.get(0), members.get(2))) {
                    Check.equal(m.name + " revocations while s-2 bounced", Set.of(), Clients.partitionNumbers(m.revoked));
                    Check.equal(m.name + " assignments while s-2 bounced", Set.of(), Clients.partitionNumbers(m.assigned));
                    Check.equal(m.name + "'s generation", generation, m.consumer.groupMetadata().generationId());
                }
                produce(bootstrap, topic, partitions, 5, 10);
                pollUntil(members, "the 30 new records", () -> seen.size() == 90);
                for (int p = 2; p <= 3; p++) {
                    for (int i = 10; i < 15; i++) {
                        Check.equal("who read " + p + "@" + i, "s-2", seen.get(p + "@" + i));
                    }
                }
                Check.ok("s-2 restarted with its group.instance.id: same partitions, same generation, "
                        + "no rebalance for s-1 and s-3, resumed at its commits");

                // A static member that stays away past session.timeout.ms is removed.
                members.forEach(m -> m.consumer.commitSync());
                Member gone = members.remove(2);
                gone.consumer.close();
                closed.add(gone);
                long closedAt = System.nanoTime();
                pollUntil(members, "s-1 and s-2 to take over s-3's partitions after its session expired",
                        () -> owns(members, partitions, 3, 3));
                double waited = (System.nanoTime() - closedAt) / 1e9;
                Check.that(waited >= 3.0, "s-3's partitions moved after " + waited
                        + " s, well before its 6 s session timeout: was it sent a LeaveGroup?");
                produce(bootstrap, topic, partitions, 5, 15);
                pollUntil(members, "the 30 newest records", () -> seen.size() == 120);
                Check.ok(String.format("s-3 stayed away: its partitions moved after %.1f s; %s", waited, members));
            } finally {
                members.forEach(m -> m.consumer.close());
            }
        }
    }

    static Properties staticProps(String bootstrap, String group, String instance) {
        Properties p = Clients.consumerProps(bootstrap, group);
        p.put(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, instance);
        return p;
    }
}
