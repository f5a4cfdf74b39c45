package dev.runnel.interop;

import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.GroupListing;
import org.apache.kafka.clients.admin.ListGroupsOptions;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.GroupIdNotFoundException;
import org.apache.kafka.common.errors.InvalidPartitionsException;
import org.apache.kafka.common.errors.InvalidTopicException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;

/**
 * The Java AdminClient: create, describe, alter and delete topics; describe and alter topic
 * configs; grow partitions; delete records; list, describe and delete consumer groups and list
 * their committed offsets. Errors are checked as the typed exceptions the client maps the
 * broker's error codes to.
 */
final class AdminScenario {
    private AdminScenario() {}

    static <T> T get(org.apache.kafka.common.KafkaFuture<T> future) throws Exception {
        return future.get(Clients.PATIENCE.toSeconds(), TimeUnit.SECONDS);
    }

    static void run(Main.Options options) throws Exception {
        String bootstrap = options.bootstrap();
        try (Admin admin = Clients.admin(bootstrap)) {
            Collection<Node> nodes = get(admin.describeCluster().nodes());
            Check.equal("brokers in describeCluster", 1, nodes.size());
            Node broker = nodes.iterator().next();
            Check.equal("controller is the only broker", broker.id(), get(admin.describeCluster().controller()).id());
            Check.ok("describeCluster: one broker, node " + broker.id() + " at " + broker.host() + ":" + broker.port());

            topics(admin, broker);
            configs(admin);
            partitionsAndRecords(admin, bootstrap);
            groups(admin, bootstrap);
            deletion(admin);
        }
    }

    static void topics(Admin admin, Node broker) throws Exception {
        get(admin.createTopics(List.of(
                new NewTopic("admin-a", 3, (short) 1).configs(Map.of("cleanup.policy", "compact", "retention.ms", "3600000")),
                new NewTopic("admin-b", 1, (short) 1))).all());
        Check.ok("createTopics: admin-a (3 partitions, compact, retention.ms) and admin-b");

        Check.fails("creating admin-a again", TopicExistsException.class,
                () -> get(admin.createTopics(List.of(new NewTopic("admin-a", 1, (short) 1))).all()));
        Check.fails("a topic name with a space and '!'", InvalidTopicException.class,
                () -> get(admin.createTopics(List.of(new NewTopic("bad name!", 1, (short) 1))).all()));
        Check.fails("a 250-character topic name", InvalidTopicException.class,
                () -> get(admin.createTopics(List.of(new NewTopic("t".repeat(250), 1, (short) 1))).all()));
        Check.ok("createTopics errors: TopicExistsException, InvalidTopicException (characters, length)");

        Set<String> names = get(admin.listTopics().names());
        Check.that(names.containsAll(Set.of("admin-a", "admin-b")), "listTopics misses admin-a/admin-b: " + names);
        Check.that(names.stream().noneMatch(n -> n.startsWith("__")), "listTopics shows internal topics: " + names);

        TopicDescription a = get(admin.describeTopics(List.of("admin-a")).allTopicNames()).get("admin-a");
        Check.equal("admin-a partitions", 3, a.partitions().size());
        Check.that(!a.isInternal(), "admin-a described as internal");
        Check.that(a.topicId() != null && !a.topicId().toString().equals("AAAAAAAAAAAAAAAAAAAAAA"),
                "admin-a has no topic id: " + a.topicId());
        for (TopicPartitionInfo p : a.partitions()) {
            Check.equal("leader of admin-a-" + p.partition(), broker.id(), p.leader().id());
            Check.equal("replicas of admin-a-" + p.partition(), 1, p.replicas().size());
            Check.equal("ISR of admin-a-" + p.partition(), 1, p.isr().size());
        }
        Check.fails("describing a topic that does not exist", UnknownTopicOrPartitionException.class,
                () -> get(admin.describeTopics(List.of("no-such-topic")).allTopicNames()));
        Check.ok("listTopics and describeTopics: partitions, leader, replicas, ISR, topic id; unknown topic");
    }

    static ConfigEntry entry(Admin admin, String topic, String name) throws Exception {
        ConfigResource r = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        Config config = get(admin.describeConfigs(List.of(r)).all()).get(r);
        return config.get(name);
    }

    static void configs(Admin admin) throws Exception {
        ConfigEntry policy = entry(admin, "admin-a", "cleanup.policy");
        Check.equal("cleanup.policy of admin-a", "compact", policy.value());
        Check.equal("source of cleanup.policy", ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG, policy.source());
        Check.equal("retention.ms of admin-a", "3600000", entry(admin, "admin-a", "retention.ms").value());
        ConfigEntry inherited = entry(admin, "admin-b", "cleanup.policy");
        Check.that(inherited != null, "admin-b's configs have no cleanup.policy");
        Check.equal("cleanup.policy of admin-b", "delete", inherited.value());
        Check.that(inherited.source() != ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG,
                "admin-b's cleanup.policy is reported as a topic override");
        Check.that(entry(admin, "admin-b", "segment.bytes") != null, "admin-b's configs have no segment.bytes");
        Check.ok("describeConfigs: overrides as DYNAMIC_TOPIC_CONFIG, defaults otherwise");

        ConfigResource r = new ConfigResource(ConfigResource.Type.TOPIC, "admin-a");
        get(admin.incrementalAlterConfigs(Map.of(r, List.of(
                new AlterConfigOp(new ConfigEntry("retention.ms", "7200000"), AlterConfigOp.OpType.SET),
                new AlterConfigOp(new ConfigEntry("cleanup.policy", ""), AlterConfigOp.OpType.DELETE)))).all());
        Check.equal("retention.ms after incrementalAlterConfigs SET", "7200000",
                entry(admin, "admin-a", "retention.ms").value());
        ConfigEntry reverted = entry(admin, "admin-a", "cleanup.policy");
        Check.equal("cleanup.policy after incrementalAlterConfigs DELETE", "delete", reverted.value());
        Check.that(reverted.source() != ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG,
                "cleanup.policy still reported as an override after DELETE");
        Check.ok("incrementalAlterConfigs: SET and DELETE, seen by describeConfigs");
    }

    static void partitionsAndRecords(Admin admin, String bootstrap) throws Exception {
        get(admin.createPartitions(Map.of("admin-b", NewPartitions.increaseTo(4))).all());
        TopicDescription b = get(admin.describeTopics(List.of("admin-b")).allTopicNames()).get("admin-b");
        Check.equal("admin-b partitions after createPartitions", 4, b.partitions().size());
        Check.fails("shrinking admin-b", InvalidPartitionsException.class,
                () -> get(admin.createPartitions(Map.of("admin-b", NewPartitions.increaseTo(2))).all()));
        Check.ok("createPartitions grows admin-b to 4 and refuses to shrink it");

        try (KafkaProducer<String, String> producer = Clients.producer(bootstrap)) {
            for (int i = 0; i < 10; i++) {
                producer.send(new ProducerRecord<>("admin-b", 3, "k" + i, "v" + i));
            }
            producer.flush();
        }
        TopicPartition b3 = new TopicPartition("admin-b", 3);
        long low = get(admin.deleteRecords(Map.of(b3, RecordsToDelete.beforeOffset(4))).lowWatermarks().get(b3))
                .lowWatermark();
        Check.equal("low watermark after deleteRecords", 4L, low);
        try (KafkaConsumer<String, String> consumer = Clients.consumer(bootstrap, null)) {
            Check.equal("beginning offset after deleteRecords", 4L, consumer.beginningOffsets(List.of(b3)).get(b3));
            consumer.assign(List.of(b3));
            consumer.seekToBeginning(List.of(b3));
            var first = Clients.drain(consumer, 6).get(0);
            Check.equal("first record after deleteRecords", 4L, first.offset());
        }
        Check.ok("records to the new partition 3; deleteRecords moves its start to offset 4");
    }

    static void groups(Admin admin, String bootstrap) throws Exception {
        String group = "admin-group";
        try (KafkaProducer<String, String> producer = Clients.producer(bootstrap)) {
            for (int p = 0; p < 3; p++) {
                for (int i = 0; i < 5; i++) {
                    producer.send(new ProducerRecord<>("admin-a", p, "k" + i, "v" + i));
                }
            }
            producer.flush();
        }
        try (KafkaConsumer<String, String> consumer = Clients.consumer(bootstrap, group)) {
            consumer.subscribe(List.of("admin-a"));
            long deadline = System.nanoTime() + Clients.PATIENCE.toNanos();
            int seen = 0;
            while (seen < 15) {
                Check.that(System.nanoTime() < deadline, "the group consumed only " + seen + " of 15 records");
                seen += consumer.poll(Duration.ofMillis(200)).count();
            }
            consumer.commitSync(Map.of(
                    new TopicPartition("admin-a", 0), new OffsetAndMetadata(5, "m0"),
                    new TopicPartition("admin-a", 1), new OffsetAndMetadata(3)));

            Collection<GroupListing> listed = get(admin.listGroups(ListGroupsOptions.forConsumerGroups()).all());
            GroupListing listing = listed.stream().filter(g -> g.groupId().equals(group)).findFirst().orElse(null);
            Check.that(listing != null, "listGroups(forConsumerGroups) misses " + group + ": " + listed);
            Check.equal("protocol type in listGroups", "consumer", listing.protocol());
            Check.equal("state in listGroups", java.util.Optional.of(GroupState.STABLE), listing.groupState());

            ConsumerGroupDescription d = GroupScenario.describe(admin, group);
            Check.equal("state in describeConsumerGroups", GroupState.STABLE, d.groupState());
            Check.equal("assignor", "range", d.partitionAssignor());
            Check.equal("members", 1, d.members().size());
            Check.equal("the member's assignment", Set.of(0, 1, 2),
                    Clients.partitionNumbers(d.members().iterator().next().assignment().topicPartitions()));
            Check.that(d.coordinator() != null, "describeConsumerGroups names no coordinator");

            Map<TopicPartition, OffsetAndMetadata> offsets = get(
                    admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata());
            Check.equal("listConsumerGroupOffsets", Map.of(
                    new TopicPartition("admin-a", 0), new OffsetAndMetadata(5, "m0"),
                    new TopicPartition("admin-a", 1), new OffsetAndMetadata(3)), withoutLeaderEpochs(offsets));
            Check.ok("listGroups, describeConsumerGroups (Stable, range, assignment) and listConsumerGroupOffsets");
        }

        ConsumerGroupDescription empty = GroupScenario.describe(admin, group);
        Check.equal("state after the member left", GroupState.EMPTY, empty.groupState());
        Check.equal("members after the member left", 0, empty.members().size());
        get(admin.deleteConsumerGroups(List.of(group)).all());
        Collection<GroupListing> after = get(admin.listGroups(ListGroupsOptions.forConsumerGroups()).all());
        Check.that(after.stream().noneMatch(g -> g.groupId().equals(group)), "deleted group still listed: " + after);
        Check.fails("deleting the deleted group again", GroupIdNotFoundException.class,
                () -> get(admin.deleteConsumerGroups(List.of(group)).all()));
        Check.ok("an emptied group is Empty; deleteConsumerGroups removes it; deleting again is GroupIdNotFound");
    }

    /** The leader epoch a commit carries is the client's business; compare offsets and metadata. */
    static Map<TopicPartition, OffsetAndMetadata> withoutLeaderEpochs(Map<TopicPartition, OffsetAndMetadata> in) {
        Map<TopicPartition, OffsetAndMetadata> out = new java.util.HashMap<>();
        in.forEach((tp, o) -> out.put(tp, new OffsetAndMetadata(o.offset(), o.metadata())));
        return out;
    }

    static void deletion(Admin admin) throws Exception {
        get(admin.deleteTopics(List.of("admin-a")).all());
        Set<String> names = new TreeSet<>(get(admin.listTopics().names()));
        Check.that(!names.contains("admin-a"), "deleted topic still listed: " + names);
        Check.fails("describing the deleted topic", UnknownTopicOrPartitionException.class,
                () -> get(admin.describeTopics(List.of("admin-a")).allTopicNames()));
        Check.fails("deleting it again", UnknownTopicOrPartitionException.class,
                () -> get(admin.deleteTopics(List.of("admin-a")).all()));
        Check.ok("deleteTopics: gone from listTopics and describeTopics; deleting again is UnknownTopicOrPartition");
    }
}
