//! OffsetCommit, OffsetFetch, OffsetDelete, the admin APIs, and replaying what was appended.

use super::*;

fn commit_as(group: &str, member: &JoinResponse, offsets: Vec<PartitionOffset>) -> CommitRequest {
    CommitRequest {
        group_id: group.into(),
        generation: member.generation,
        member_id: member.member_id.clone(),
        group_instance_id: None,
        offsets,
    }
}

fn fetch(h: &Harness, group: &str, partitions: Option<Vec<TopicPartition>>) -> Vec<(String, i32, i64)> {
    let req = FetchOffsetsRequest {
        group_id: group.into(),
        partitions,
    };
    h.state
        .fetch_offsets(&req)
        .into_iter()
        .map(|p| {
            (
                p.topic_partition.topic.to_string(),
                p.topic_partition.partition,
                p.offset,
            )
        })
        .collect()
}

fn only_error(results: PartitionResults) -> GroupError {
    let errors: Vec<GroupError> = results.into_iter().filter_map(|(_, r)| r.err()).collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    errors.into_iter().next().unwrap()
}

#[test]
fn a_commit_is_acknowledged_and_visible_only_once_stored() {
    let mut h = Harness::new();
    let joined = h.stable_group("g", 1);
    h.hold_appends = true;
    let offset = PartitionOffset {
        leader_epoch: Some(3),
        metadata: "m".into(),
        ..PartitionOffset::new(topic("t"), 0, 42)
    };
    let reply = h.commit(commit_as("g", &joined[0], vec![offset]));
    assert!(h.committed(reply).is_none());
    assert_eq!(fetch(&h, "g", None), []);

    h.complete_appends(Ok(()));
    assert_eq!(
        h.committed(reply),
        Some(vec![(TopicPartition::new(topic("t"), 0), Ok(()))])
    );
    let all = h.state.fetch_offsets(&FetchOffsetsRequest {
        group_id: "g".into(),
        partitions: None,
    });
    assert_eq!(
        all,
        [PartitionOffset {
            leader_epoch: Some(3),
            metadata: "m".into(),
            ..PartitionOffset::new(topic("t"), 0, 42)
        }]
    );
    let some = Some(vec![
        TopicPartition::new(topic("t"), 0),
        TopicPartition::new(topic("t"), 1),
    ]);
    assert_eq!(
        fetch(&h, "g", some.clone()),
        [("t".into(), 0, 42), ("t".into(), 1, -1)]
    );
    assert_eq!(
        fetch(&h, "unknown", some),
        [("t".into(), 0, -1), ("t".into(), 1, -1)]
    );
}

#[test]
fn commits_with_a_stale_generation_or_from_non_members_are_refused() {
    let mut h = Harness::new();
    let joined = h.stable_group("g", 2);
    let offsets = || vec![PartitionOffset::new(topic("t"), 0, 7)];
    let stale = JoinResponse {
        generation: Generation(0),
        ..joined[0].clone()
    };
    let reply = h.commit(commit_as("g", &stale, offsets()));
    assert_eq!(
        only_error(h.committed(reply).unwrap()),
        GroupError::IllegalGeneration {
            requested: Generation(0),
            current: Generation(1)
        }
    );
    let stranger = JoinResponse {
        member_id: "nobody".into(),
        ..joined[0].clone()
    };
    let reply = h.commit(commit_as("g", &stranger, offsets()));
    assert_eq!(
        only_error(h.committed(reply).unwrap()),
        GroupError::UnknownMemberId
    );
    let reply = h.commit(CommitRequest::standalone("g", offsets()));
    assert_eq!(
        only_error(h.committed(reply).unwrap()),
        GroupError::UnknownMemberId,
        "the group has members"
    );
    let reply = h.commit(commit_as("nope", &joined[0], offsets()));
    assert!(matches!(
        only_error(h.committed(reply).unwrap()),
        GroupError::IllegalGeneration { .. }
    ));
    assert_eq!(fetch(&h, "g", None), [], "nothing was stored");
    assert_eq!(h.state_of("nope"), None);
}

#[test]
fn members_commit_while_rebalancing_but_not_while_the_assignment_is_awaited() {
    let mut h = Harness::new();
    let joined = h.stable_group("g", 2);
    let rejoin = h.join(join_request("g", "c").with_member_id(joined[0].member_id.clone()));
    assert_eq!(h.state_of("g"), Some(GroupState::PreparingRebalance));
    let reply = h.commit(commit_as(
        "g",
        &joined[1],
        vec![PartitionOffset::new(topic("t"), 0, 1)],
    ));
    assert_eq!(h.committed(reply).unwrap()[0].1, Ok(()));

    let rejoin2 = h.join(join_request("g", "c").with_member_id(joined[1].member_id.clone()));
    let next = h.joined(rejoin).unwrap().unwrap();
    assert!(h.joined(rejoin2).is_some());
    assert_eq!(h.state_of("g"), Some(GroupState::CompletingRebalance));
    let reply = h.commit(commit_as(
        "g",
        &next,
        vec![PartitionOffset::new(topic("t"), 0, 2)],
    ));
    assert_eq!(
        only_error(h.committed(reply).unwrap()),
        GroupError::RebalanceInProgress
    );
}

#[test]
fn standalone_consumers_commit_into_a_group_without_members() {
    let mut h = Harness::new();
    let reply = h.commit(CommitRequest::standalone(
        "solo",
        vec![PartitionOffset::new(topic("x"), 0, 9)],
    ));
    assert_eq!(h.committed(reply).unwrap()[0].1, Ok(()));
    assert_eq!(fetch(&h, "solo", None), [("x".into(), 0, 9)]);
    assert_eq!(
        h.state.list_groups(&[]),
        [GroupListing {
            group_id: "solo".into(),
            protocol_type: String::new(),
            state: GroupState::Empty
        }]
    );
}

#[test]
fn oversized_metadata_is_refused_for_its_partition_only() {
    let mut h = Harness::with_config(test_config().with_offset_metadata_max_bytes(4));
    let big = PartitionOffset {
        metadata: "12345".into(),
        ..PartitionOffset::new(topic("x"), 0, 1)
    };
    let reply = h.commit(CommitRequest::standalone(
        "solo",
        vec![big, PartitionOffset::new(topic("x"), 1, 2)],
    ));
    let results = h.committed(reply).unwrap();
    assert_eq!(
        results[0].1,
        Err(GroupError::OffsetMetadataTooLarge { size: 5, max: 4 })
    );
    assert_eq!(results[1].1, Ok(()));
    assert_eq!(fetch(&h, "solo", None), [("x".into(), 1, 2)]);
}

#[test]
fn a_failed_append_fails_the_commit_and_keeps_the_previous_offsets() {
    let mut h = Harness::new();
    let reply = h.commit(CommitRequest::standalone(
        "solo",
        vec![PartitionOffset::new(topic("x"), 0, 1)],
    ));
    assert!(h.committed(reply).is_some());
    h.hold_appends = true;
    let reply = h.commit(CommitRequest::standalone(
        "solo",
        vec![PartitionOffset::new(topic("x"), 0, 2)],
    ));
    h.complete_appends(Err(GroupError::NotCoordinator));
    assert_eq!(h.committed(reply).unwrap()[0].1, Err(GroupError::NotCoordinator));
    assert_eq!(fetch(&h, "solo", None), [("x".into(), 0, 1)]);
}

#[test]
fn offsets_and_groups_survive_a_replay_of_the_appended_records() {
    let mut h = Harness::new();
    let joined = h.stable_group("g", 2);
    for (partition, offset) in [(0, 10), (1, 20), (0, 11)] {
        let reply = h.commit(commit_as(
            "g",
            &joined[0],
            vec![PartitionOffset::new(topic("t"), partition, offset)],
        ));
        assert!(h.committed(reply).is_some());
    }
    let reply = h.commit(commit_as(
        "g",
        &joined[1],
        vec![PartitionOffset::new(topic("old"), 0, 5)],
    ));
    assert!(h.committed(reply).is_some());
    let (deleted, outputs) = h
        .state
        .delete_offsets("g", vec![TopicPartition::new(topic("old"), 0)], h.now);
    assert_eq!(deleted, Ok(vec![(TopicPartition::new(topic("old"), 0), Ok(()))]));
    h.handle(outputs);
    let (_, outputs) = h
        .state
        .delete_offsets("g", vec![TopicPartition::new(topic("old"), 0)], h.now);
    assert!(outputs.is_empty(), "nothing left to delete the second time");
    let reply = h.commit(CommitRequest::standalone(
        "solo",
        vec![PartitionOffset::new(topic("x"), 0, 1)],
    ));
    assert!(h.committed(reply).is_some());
    let (results, outputs) = h.state.delete_groups(&["solo".into()], h.now);
    assert_eq!(results, [("solo".into(), Ok(()))]);
    h.handle(outputs);

    let mut replayed = GroupCoordinatorState::with_seed(test_config(), 7);
    for (key, value) in &h.log {
        replayed.replay(key, value.as_deref(), h.now).unwrap();
    }
    replayed.check_invariants().unwrap();
    let req = FetchOffsetsRequest {
        group_id: "g".into(),
        partitions: None,
    };
    assert_eq!(replayed.fetch_offsets(&req), h.state.fetch_offsets(&req));
    assert_eq!(fetch(&h, "g", None), [("t".into(), 0, 11), ("t".into(), 1, 20)]);
    assert_eq!(replayed.group_state("solo"), None);
    assert_eq!(
        replayed.describe_groups(&["g".into()]),
        h.state.describe_groups(&["g".into()])
    );
    assert_eq!(replayed.generation("g"), Some(Generation(1)));

    // The restored members carry on where they were, or expire like any member.
    let heartbeat = HeartbeatRequest {
        group_id: "g".into(),
        generation: Generation(1),
        member_id: joined[1].member_id.clone(),
        group_instance_id: None,
    };
    assert_eq!(replayed.heartbeat(heartbeat, h.now + 1), Ok(()));
    replayed.tick(h.now + i64::from(SESSION_MS));
    assert_eq!(replayed.group_state("g"), Some(GroupState::PreparingRebalance));
}

#[test]
fn malformed_records_are_reported_and_change_nothing() {
    let mut state = GroupCoordinatorState::with_seed(test_config(), 1);
    let key = records::encode_key(&records::RecordKey::Offset {
        group_id: "g".into(),
        topic_partition: TopicPartition::new(topic("t"), 0),
    })
    .unwrap();
    assert!(matches!(
        state.replay(&key[..3], None, 0),
        Err(RecordError::Truncated { .. })
    ));
    assert!(matches!(
        state.replay(&key, Some(&[0, 3, 1]), 0),
        Err(RecordError::Truncated { .. })
    ));
    assert_eq!(
        state.replay(&[0, 9], None, 0),
        Err(RecordError::UnknownKeyVersion { version: 9 })
    );
    let group_key = records::encode_key(&records::RecordKey::GroupMetadata { group_id: "g".into() }).unwrap();
    assert!(matches!(
        state.replay(&group_key, Some(&[0, 7]), 0),
        Err(RecordError::UnsupportedValueVersion { .. })
    ));
    assert_eq!(state.list_groups(&[]), []);
}

#[test]
fn only_groups_without_members_can_be_deleted() {
    let mut h = Harness::new();
    let joined = h.stable_group("g", 1);
    let reply = h.commit(commit_as(
        "g",
        &joined[0],
        vec![PartitionOffset::new(topic("t"), 0, 3)],
    ));
    assert!(h.committed(reply).is_some());
    let (results, outputs) = h.state.delete_groups(&["g".into(), "nope".into()], h.now);
    assert_eq!(
        results,
        [
            ("g".into(), Err(GroupError::NonEmptyGroup)),
            ("nope".into(), Err(GroupError::GroupIdNotFound))
        ]
    );
    assert!(outputs.is_empty());

    assert_eq!(h.leave("g", &joined[0].member_id, None), Ok(()));
    let (results, outputs) = h.state.delete_groups(&["g".into()], h.now);
    assert_eq!(results, [("g".into(), Ok(()))]);
    let [Output::Append(append)] = &outputs[..] else {
        panic!("{outputs:?}")
    };
    assert_eq!(append.records.len(), 2, "one offset tombstone and the group's");
    assert!(append.records.iter().all(|(_, value)| value.is_none()));
    assert_eq!(
        fetch(&h, "g", Some(vec![TopicPartition::new(topic("t"), 0)])),
        [("t".into(), 0, -1)]
    );
    assert_eq!(h.state.describe_groups(&["g".into()])[0].state, GroupState::Dead);
}

#[test]
fn offsets_of_topics_the_members_consume_cannot_be_deleted() {
    let mut h = Harness::new();
    h.stable_group("g", 2);
    let partitions = vec![
        TopicPartition::new(topic("t"), 0),
        TopicPartition::new(topic("u"), 0),
    ];
    let (result, _) = h.state.delete_offsets("g", partitions.clone(), h.now);
    assert_eq!(
        result,
        Ok(vec![
            (
                TopicPartition::new(topic("t"), 0),
                Err(GroupError::GroupSubscribedToTopic)
            ),
            (TopicPartition::new(topic("u"), 0), Ok(())),
        ])
    );
    assert_eq!(
        h.state.delete_offsets("nope", partitions.clone(), h.now).0,
        Err(GroupError::GroupIdNotFound)
    );

    let connect = JoinRequest::new(
        "workers",
        "w",
        "connect",
        vec![Protocol::new("default", Bytes::new())],
    );
    let reply = h.join(
        connect
            .with_require_known_member_id(false)
            .with_session_timeout_ms(SESSION_MS),
    );
    h.tick_due();
    assert!(h.joined(reply).unwrap().is_ok());
    assert_eq!(
        h.state.delete_offsets("workers", partitions, h.now).0,
        Err(GroupError::NonEmptyGroup)
    );
}

#[test]
fn list_and_describe_show_each_groups_state_protocol_and_members() {
    let mut h = Harness::new();
    let joined = h.stable_group("g", 2);
    h.join_new(join_request("h", "c"));
    assert_eq!(
        h.state.list_groups(&[]),
        [
            GroupListing {
                group_id: "g".into(),
                protocol_type: "consumer".into(),
                state: GroupState::Stable
            },
            GroupListing {
                group_id: "h".into(),
                protocol_type: "consumer".into(),
                state: GroupState::PreparingRebalance
            },
        ]
    );
    assert_eq!(h.state.list_groups(&[GroupState::Stable]).len(), 1);

    let described = h.state.describe_groups(&["g".into(), "h".into(), "x".into()]);
    assert_eq!(
        (described[0].state, described[0].protocol.as_str()),
        (GroupState::Stable, "range")
    );
    let member = described[0]
        .members
        .iter()
        .find(|m| m.member_id == joined[1].member_id)
        .unwrap();
    assert_eq!(member.client_id, "client-1");
    assert_eq!(member.metadata, subscription(&["t"]));
    assert_eq!(
        member.assignment,
        Bytes::from(format!("a-{}", joined[1].member_id))
    );
    assert_eq!(
        described[1].protocol, "",
        "no protocol before the group is stable"
    );
    assert!(described[1].members[0].assignment.is_empty());
    assert_eq!(
        (described[2].state, described[2].members.len()),
        (GroupState::Dead, 0)
    );
}
