//! JoinGroup, SyncGroup, Heartbeat and LeaveGroup of dynamic members.

use super::*;

fn heartbeat_as(
    h: &mut Harness,
    group: &str,
    member_id: &str,
    generation: Generation,
) -> Result<(), GroupError> {
    let req = HeartbeatRequest {
        group_id: group.into(),
        generation,
        member_id: member_id.into(),
        group_instance_id: None,
    };
    h.state.heartbeat(req, h.now)
}

#[test]
fn three_members_join_one_generation_with_one_leader_and_all_get_the_leaders_assignment() {
    let mut h = Harness::new();
    let parked: Vec<ReplyId> = (0..3)
        .map(|i| h.join_new(join_request("g", &format!("c{i}"))).1)
        .collect();
    assert!(
        parked.iter().all(|r| !h.answers.contains_key(r)),
        "the first rebalance waits for its delay"
    );
    h.tick_due();

    let joined: Vec<JoinResponse> = parked.iter().map(|r| h.joined(*r).unwrap().unwrap()).collect();
    let leaders: Vec<&JoinResponse> = joined.iter().filter(|j| j.is_leader()).collect();
    assert_eq!(leaders.len(), 1);
    let leader = leaders[0];
    for j in &joined {
        assert_eq!(j.generation, Generation(1));
        assert_eq!(j.leader, leader.member_id);
        assert_eq!(j.protocol_type.as_deref(), Some("consumer"));
        assert_eq!(j.protocol_name.as_deref(), Some("range"));
        if !j.is_leader() {
            assert!(j.members.is_empty(), "only the leader sees the members");
        }
    }
    let mut listed: Vec<&str> = leader.members.iter().map(|m| m.member_id.as_str()).collect();
    let mut expected: Vec<&str> = joined.iter().map(|j| j.member_id.as_str()).collect();
    listed.sort();
    expected.sort();
    assert_eq!(listed, expected);
    assert!(leader.members.iter().all(|m| m.metadata == subscription(&["t"])));
    assert_eq!(h.state_of("g"), Some(GroupState::CompletingRebalance));

    let mut by_leader_first = joined.clone();
    by_leader_first.sort_by_key(|j| !j.is_leader());
    h.sync_all("g", &by_leader_first);
    assert_eq!(h.state_of("g"), Some(GroupState::Stable));
}

#[test]
fn followers_sync_waits_for_the_leaders_assignment() {
    let mut h = Harness::new();
    let parked: Vec<ReplyId> = (0..3)
        .map(|i| h.join_new(join_request("g", &format!("c{i}"))).1)
        .collect();
    h.tick_due();
    let joined: Vec<JoinResponse> = parked.iter().map(|r| h.joined(*r).unwrap().unwrap()).collect();
    let (leader, followers): (Vec<&JoinResponse>, Vec<&JoinResponse>) =
        joined.iter().partition(|j| j.is_leader());

    let waiting: Vec<ReplyId> = followers.iter().map(|f| h.sync(sync_request("g", f))).collect();
    assert!(waiting.iter().all(|r| !h.answers.contains_key(r)));
    assert_eq!(
        heartbeat_as(&mut h, "g", &followers[0].member_id, Generation(1)),
        Ok(()),
        "heartbeats go on meanwhile"
    );

    let led = h.sync(sync_request("g", leader[0]));
    assert_eq!(
        h.synced(led).unwrap().unwrap().assignment,
        Bytes::from(format!("a-{}", leader[0].member_id))
    );
    for (reply, follower) in waiting.into_iter().zip(&followers) {
        let synced = h.synced(reply).unwrap().unwrap();
        assert_eq!(
            synced.assignment,
            Bytes::from(format!("a-{}", follower.member_id))
        );
        assert_eq!(synced.protocol_name.as_deref(), Some("range"));
    }
}

#[test]
fn a_new_member_is_handed_a_member_id_and_joins_with_it() {
    let mut h = Harness::new();
    let first = h.join(join_request("g", "consumer-7"));
    let Some(Err(GroupError::MemberIdRequired { member_id })) = h.joined(first) else {
        panic!()
    };
    assert!(member_id.starts_with("consumer-7-"), "{member_id}");

    let second = h.join(join_request("g", "consumer-7").with_member_id(member_id.clone()));
    h.tick_due();
    let joined = h.joined(second).unwrap().unwrap();
    assert_eq!(joined.member_id, member_id);
    assert!(joined.is_leader());
}

#[test]
fn clients_that_predate_member_id_required_join_in_one_step() {
    let mut h = Harness::new();
    let reply = h.join(join_request("g", "old-client").with_require_known_member_id(false));
    h.tick_due();
    let joined = h.joined(reply).unwrap().unwrap();
    assert!(joined.member_id.starts_with("old-client-"));
    assert_eq!(joined.generation, Generation(1));
}

#[test]
fn a_handed_out_member_id_holds_up_a_rebalance_until_it_lapses_with_the_session_timeout() {
    let mut h = Harness::new();
    let joined = h.stable_group("g", 1);
    let first = h.join(join_request("g", "late"));
    let Some(Err(GroupError::MemberIdRequired { member_id: unused })) = h.joined(first) else {
        panic!()
    };

    let rejoin = h.join(join_request("g", "client-0").with_member_id(joined[0].member_id.clone()));
    assert!(
        h.joined(rejoin).is_none(),
        "the rebalance waits for the member id handed out"
    );
    h.advance(i64::from(SESSION_MS));
    assert_eq!(h.joined(rejoin).unwrap().unwrap().generation, Generation(2));

    let too_late = h.join(join_request("g", "late").with_member_id(unused));
    assert_eq!(h.joined(too_late), Some(Err(GroupError::UnknownMemberId)));
}

#[test]
fn a_member_that_stops_heartbeating_is_removed_after_its_session_timeout_and_the_others_rejoin() {
    let mut h = Harness::new();
    let joined = h.stable_group("g", 3);
    let (alive, silent) = (&joined[..2], &joined[2]);

    h.advance(5_000);
    for member in alive {
        assert_eq!(h.heartbeat("g", member), Ok(()));
    }
    h.advance(4_999);
    assert_eq!(
        h.state_of("g"),
        Some(GroupState::Stable),
        "not a millisecond early"
    );
    h.advance(1);
    assert_eq!(h.state_of("g"), Some(GroupState::PreparingRebalance));
    for member in alive {
        assert_eq!(h.heartbeat("g", member), Err(GroupError::RebalanceInProgress));
    }
    assert_eq!(h.heartbeat("g", silent), Err(GroupError::UnknownMemberId));

    let rejoins: Vec<ReplyId> = alive
        .iter()
        .map(|m| h.join(join_request("g", "client").with_member_id(m.member_id.clone())))
        .collect();
    let rejoined: Vec<JoinResponse> = rejoins.iter().map(|r| h.joined(*r).unwrap().unwrap()).collect();
    assert!(rejoined.iter().all(|j| j.generation == Generation(2)));
    let leader = rejoined.iter().find(|j| j.is_leader()).unwrap();
    assert_eq!(leader.members.len(), 2);
    assert!(!leader.members.iter().any(|m| m.member_id == silent.member_id));
}

#[test]
fn the_rebalance_timeout_drops_members_that_did_not_rejoin() {
    let mut h = Harness::new();
    let joined = h.stable_group("g", 3);
    let (leader, follower, straggler) = (&joined[0], &joined[1], &joined[2]);
    // The leader rejoining starts a rebalance; the follower rejoins, the straggler only heartbeats.
    let r0 = h.join(join_request("g", "c").with_member_id(leader.member_id.clone()));
    let r1 = h.join(join_request("g", "c").with_member_id(follower.member_id.clone()));
    let mut waited = 0;
    while waited < i64::from(REBALANCE_MS) - 5_000 {
        h.advance(5_000);
        waited += 5_000;
        assert_eq!(h.heartbeat("g", straggler), Err(GroupError::RebalanceInProgress));
    }
    assert!(h.joined(r0).is_none());
    h.advance(i64::from(REBALANCE_MS) - waited);

    let j0 = h.joined(r0).unwrap().unwrap();
    let j1 = h.joined(r1).unwrap().unwrap();
    assert_eq!((j0.generation, j1.generation), (Generation(2), Generation(2)));
    assert_eq!(
        j0.members.len() + j1.members.len(),
        2,
        "the leader's list has the two that rejoined"
    );
    assert_eq!(h.heartbeat("g", straggler), Err(GroupError::UnknownMemberId));
}

#[test]
fn a_member_that_joins_but_never_syncs_is_dropped_after_the_rebalance_timeout() {
    let mut h = Harness::new();
    let parked: Vec<ReplyId> = (0..3)
        .map(|i| h.join_new(join_request("g", &format!("c{i}"))).1)
        .collect();
    h.tick_due();
    let mut joined: Vec<JoinResponse> = parked.iter().map(|r| h.joined(*r).unwrap().unwrap()).collect();
    joined.sort_by_key(|j| !j.is_leader());
    h.sync_all("g", &joined[..2]);
    assert_eq!(h.state_of("g"), Some(GroupState::Stable));

    let mut waited = 0;
    while waited < i64::from(REBALANCE_MS) {
        h.advance(5_000);
        waited += 5_000;
        for member in &joined {
            let _ = h.heartbeat("g", member);
        }
    }
    assert_eq!(h.state_of("g"), Some(GroupState::PreparingRebalance));
    assert_eq!(h.heartbeat("g", &joined[2]), Err(GroupError::UnknownMemberId));
    assert_eq!(h.heartbeat("g", &joined[0]), Err(GroupError::RebalanceInProgress));
}

#[test]
fn stale_generations_and_unknown_members_are_refused() {
    let mut h = Harness::new();
    let joined = h.stable_group("g", 2);
    let member = &joined[1];
    assert_eq!(
        heartbeat_as(&mut h, "g", &member.member_id, Generation(0)),
        Err(GroupError::IllegalGeneration {
            requested: Generation(0),
            current: Generation(1)
        })
    );
    assert_eq!(
        heartbeat_as(&mut h, "g", "nobody", Generation(1)),
        Err(GroupError::UnknownMemberId)
    );
    assert_eq!(
        heartbeat_as(&mut h, "other", &member.member_id, Generation(1)),
        Err(GroupError::UnknownMemberId)
    );

    let stale = h.sync(SyncRequest {
        generation: Generation(7),
        ..sync_request("g", member)
    });
    assert!(matches!(
        h.synced(stale),
        Some(Err(GroupError::IllegalGeneration { .. }))
    ));
    let unknown = h.sync(SyncRequest {
        member_id: "nobody".into(),
        ..sync_request("g", member)
    });
    assert_eq!(h.synced(unknown), Some(Err(GroupError::UnknownMemberId)));
    let wrong_protocol = h.sync(SyncRequest {
        protocol_name: Some("sticky".into()),
        ..sync_request("g", member)
    });
    assert_eq!(
        h.synced(wrong_protocol),
        Some(Err(GroupError::InconsistentGroupProtocol))
    );

    let made_up = h.join(join_request("g", "c").with_member_id("c-made-up"));
    assert_eq!(h.joined(made_up), Some(Err(GroupError::UnknownMemberId)));
    let no_group = h.join(join_request("nope", "c").with_member_id("c-1"));
    assert_eq!(h.joined(no_group), Some(Err(GroupError::UnknownMemberId)));
    assert_eq!(h.state_of("nope"), None, "a known member id creates no group");
}

#[test]
fn joins_with_bad_timeouts_protocols_or_group_ids_are_refused() {
    let mut h = Harness::new();
    let short = h.join(join_request("g", "c").with_session_timeout_ms(5));
    assert_eq!(
        h.joined(short),
        Some(Err(GroupError::InvalidSessionTimeout {
            requested_ms: 5,
            min_ms: 10,
            max_ms: 1_800_000
        }))
    );
    let long = h.join(join_request("g", "c").with_session_timeout_ms(1_800_001));
    assert!(matches!(
        h.joined(long),
        Some(Err(GroupError::InvalidSessionTimeout { .. }))
    ));
    let no_protocols = h.join(join_request("g", "c").with_protocols(Vec::new()));
    assert_eq!(
        h.joined(no_protocols),
        Some(Err(GroupError::InconsistentGroupProtocol))
    );
    assert_eq!(h.state_of("g"), None);
    let no_id = h.join(join_request("", "c"));
    assert!(matches!(
        h.joined(no_id),
        Some(Err(GroupError::InvalidGroupId { .. }))
    ));

    h.stable_group("g", 1);
    let other_type = h.join(JoinRequest {
        protocol_type: "connect".into(),
        ..join_request("g", "c")
    });
    assert_eq!(
        h.joined(other_type),
        Some(Err(GroupError::InconsistentGroupProtocol))
    );
    let other_protocol =
        h.join(join_request("g", "c").with_protocols(vec![Protocol::new("sticky", Bytes::new())]));
    assert_eq!(
        h.joined(other_protocol),
        Some(Err(GroupError::InconsistentGroupProtocol))
    );
}

#[test]
fn the_protocol_is_the_one_all_members_support_that_most_prefer() {
    let mut h = Harness::new();
    let both = vec![
        Protocol::new("sticky", Bytes::new()),
        Protocol::new("range", Bytes::new()),
    ];
    let only_range = vec![
        Protocol::new("range", Bytes::new()),
        Protocol::new("roundrobin", Bytes::new()),
    ];
    let (_, a) = h.join_new(join_request("g", "a").with_protocols(both));
    let (_, b) = h.join_new(join_request("g", "b").with_protocols(only_range));
    h.tick_due();
    assert_eq!(
        h.joined(a).unwrap().unwrap().protocol_name.as_deref(),
        Some("range")
    );
    assert_eq!(
        h.joined(b).unwrap().unwrap().protocol_name.as_deref(),
        Some("range")
    );
}

#[test]
fn the_first_rebalance_waits_the_initial_delay_and_longer_while_members_keep_arriving() {
    let config = test_config().with_group_initial_rebalance_delay_ms(3_000);
    let mut h = Harness::with_config(config);
    let a = h.join(join_request("g", "a").with_require_known_member_id(false));
    h.advance(2_000);
    let b = h.join(join_request("g", "b").with_require_known_member_id(false));
    h.advance(1_000);
    assert!(h.joined(a).is_none(), "b's arrival extended the delay");
    h.advance(2_999);
    assert!(h.joined(a).is_none());
    h.advance(1);
    assert_eq!(h.joined(a).unwrap().unwrap().generation, Generation(1));
    assert_eq!(h.joined(b).unwrap().unwrap().generation, Generation(1));
}

#[test]
fn a_member_rejoining_unchanged_while_the_assignment_is_awaited_gets_the_same_answer() {
    let mut h = Harness::new();
    let (_, a) = h.join_new(join_request("g", "a"));
    let (_, b) = h.join_new(join_request("g", "b"));
    h.tick_due();
    let (a, b) = (h.joined(a).unwrap().unwrap(), h.joined(b).unwrap().unwrap());
    let (leader, follower) = if a.is_leader() { (a, b) } else { (b, a) };
    let again = h.join(join_request("g", "x").with_member_id(follower.member_id.clone()));
    assert_eq!(h.joined(again), Some(Ok(follower.clone())));
    let again = h.join(join_request("g", "x").with_member_id(leader.member_id.clone()));
    assert_eq!(h.joined(again), Some(Ok(leader)));
    assert_eq!(h.state_of("g"), Some(GroupState::CompletingRebalance));
}

#[test]
fn a_failed_store_of_the_assignment_fails_the_syncs_and_restarts_the_rebalance() {
    let mut h = Harness::new();
    let (_, a) = h.join_new(join_request("g", "a"));
    let (_, b) = h.join_new(join_request("g", "b"));
    h.tick_due();
    let mut joined = [h.joined(a).unwrap().unwrap(), h.joined(b).unwrap().unwrap()];
    joined.sort_by_key(|j| j.is_leader());
    h.hold_appends = true;
    let follower = h.sync(sync_request("g", &joined[0]));
    let leader = h.sync(sync_request("g", &joined[1]));
    assert!(h.synced(leader).is_none(), "the assignment waits for its record");
    let disk = GroupError::storage(std::io::Error::other("disk full"));
    h.complete_appends(Err(disk.clone()));
    assert_eq!(h.synced(follower), Some(Err(disk.clone())));
    assert_eq!(h.synced(leader), Some(Err(disk)));
    assert_eq!(h.state_of("g"), Some(GroupState::PreparingRebalance));
}

#[test]
fn members_leave_at_once_and_the_last_one_out_leaves_the_group_empty() {
    let mut h = Harness::new();
    let joined = h.stable_group("g", 3);
    assert_eq!(h.leave("g", &joined[0].member_id, None), Ok(()));
    assert_eq!(h.state_of("g"), Some(GroupState::PreparingRebalance));
    assert_eq!(
        h.leave("g", &joined[0].member_id, None),
        Err(GroupError::UnknownMemberId)
    );

    let rejoins: Vec<ReplyId> = joined[1..]
        .iter()
        .map(|m| h.join(join_request("g", "c").with_member_id(m.member_id.clone())))
        .collect();
    let rejoined: Vec<JoinResponse> = rejoins.iter().map(|r| h.joined(*r).unwrap().unwrap()).collect();
    assert!(
        rejoined.iter().any(|j| j.is_leader()),
        "leadership moved to a member that rejoined"
    );
    assert!(rejoined.iter().all(|j| j.generation == Generation(2)));

    for member in &rejoined {
        assert_eq!(h.leave("g", &member.member_id, None), Ok(()));
    }
    assert_eq!(h.state_of("g"), Some(GroupState::Empty));
    assert_eq!(h.state.generation("g"), Some(Generation(3)));
    let (result, _) = h.state.leave(
        LeaveRequest {
            group_id: "unknown".into(),
            members: vec![MemberIdentity {
                member_id: "m".into(),
                group_instance_id: None,
            }],
        },
        h.now,
    );
    assert_eq!(result.unwrap()[0].result, Err(GroupError::UnknownMemberId));
}

#[test]
fn a_member_leaving_mid_rebalance_lets_the_rebalance_complete_without_it() {
    let mut h = Harness::new();
    let joined = h.stable_group("g", 2);
    let rejoin = h.join(join_request("g", "c").with_member_id(joined[0].member_id.clone()));
    assert!(h.joined(rejoin).is_none());
    assert_eq!(h.leave("g", &joined[1].member_id, None), Ok(()));
    let rejoined = h.joined(rejoin).unwrap().unwrap();
    assert_eq!(rejoined.members.len(), 1);
    assert_eq!(rejoined.generation, Generation(2));
}

#[test]
fn a_superseded_join_is_answered_rather_than_forgotten() {
    let mut h = Harness::new();
    let joined = h.stable_group("g", 2);
    let first = h.join(join_request("g", "c").with_member_id(joined[0].member_id.clone()));
    let second = h.join(join_request("g", "c").with_member_id(joined[0].member_id.clone()));
    assert_eq!(h.joined(first), Some(Err(GroupError::RebalanceInProgress)));
    assert!(h.joined(second).is_none());
}
