//! KIP-345 static membership: members with a `group.instance.id`.

use super::*;

fn static_join(instance: &str) -> JoinRequest {
    join_request("g", &format!("process-{instance}")).with_group_instance_id(instance)
}

fn heartbeat(h: &mut Harness, member: &JoinResponse, instance: &str) -> Result<(), GroupError> {
    let req = HeartbeatRequest {
        group_id: "g".into(),
        generation: member.generation,
        member_id: member.member_id.clone(),
        group_instance_id: Some(instance.into()),
    };
    h.state.heartbeat(req, h.now)
}

fn static_sync(member: &JoinResponse, instance: &str) -> SyncRequest {
    SyncRequest {
        group_instance_id: Some(instance.into()),
        ..sync_request("g", member)
    }
}

/// Static members `i0` (the leader) and `i1`, Stable at generation 1.
fn stable_static_group(h: &mut Harness, join: impl Fn(&str) -> JoinRequest) -> (JoinResponse, JoinResponse) {
    let r0 = h.join(join("i0"));
    let r1 = h.join(join("i1"));
    h.tick_due();
    let (j0, j1) = (h.joined(r0).unwrap().unwrap(), h.joined(r1).unwrap().unwrap());
    assert!(j0.is_leader());
    assert!(
        j0.member_id.starts_with("i0-"),
        "static member ids start with the instance id"
    );
    let (s0, s1) = (h.sync(static_sync(&j0, "i0")), h.sync(static_sync(&j1, "i1")));
    assert!(h.synced(s0).unwrap().is_ok() && h.synced(s1).unwrap().is_ok());
    (j0, j1)
}

#[test]
fn a_restarted_static_member_keeps_the_group_stable_the_generation_and_its_assignment() {
    let mut h = Harness::new();
    let (j0, j1) = stable_static_group(&mut h, static_join);
    h.advance(3_000);

    let restarted = h.join(static_join("i1"));
    let rejoined = h.joined(restarted).unwrap().unwrap();
    assert_ne!(rejoined.member_id, j1.member_id);
    assert_eq!(rejoined.generation, Generation(1));
    assert_eq!(rejoined.leader, j0.member_id);
    assert_eq!(h.state_of("g"), Some(GroupState::Stable));

    let synced = h.sync(static_sync(&rejoined, "i1"));
    assert_eq!(
        h.synced(synced).unwrap().unwrap().assignment,
        Bytes::from(format!("a-{}", j1.member_id))
    );
    assert_eq!(heartbeat(&mut h, &j0, "i0"), Ok(()), "the others never noticed");
    assert_eq!(heartbeat(&mut h, &rejoined, "i1"), Ok(()));
}

#[test]
fn a_restarted_static_leader_is_not_told_it_leads_so_it_does_not_reassign() {
    let mut h = Harness::new();
    let (j0, _) = stable_static_group(&mut h, static_join);
    let restarted = h.join(static_join("i0"));
    let rejoined = h.joined(restarted).unwrap().unwrap();
    assert_eq!(rejoined.leader, j0.member_id);
    assert!(!rejoined.is_leader());
    let synced = h.sync(static_sync(&rejoined, "i0"));
    assert_eq!(
        h.synced(synced).unwrap().unwrap().assignment,
        Bytes::from(format!("a-{}", j0.member_id))
    );
}

#[test]
fn a_second_process_with_the_same_instance_id_fences_the_first() {
    let mut h = Harness::new();
    let (_, old) = stable_static_group(&mut h, static_join);
    let newer = h.join(static_join("i1"));
    assert!(h.joined(newer).unwrap().is_ok());

    assert_eq!(heartbeat(&mut h, &old, "i1"), Err(GroupError::FencedInstanceId));
    let sync = h.sync(static_sync(&old, "i1"));
    assert_eq!(h.synced(sync), Some(Err(GroupError::FencedInstanceId)));
    let join = h.join(static_join("i1").with_member_id(old.member_id.clone()));
    assert_eq!(h.joined(join), Some(Err(GroupError::FencedInstanceId)));
    let commit = h.commit(CommitRequest {
        group_id: "g".into(),
        generation: old.generation,
        member_id: old.member_id.clone(),
        group_instance_id: Some("i1".into()),
        offsets: vec![PartitionOffset::new(topic("t"), 0, 5)],
    });
    assert_eq!(
        h.committed(commit).unwrap()[0].1,
        Err(GroupError::FencedInstanceId)
    );
    assert_eq!(
        h.leave("g", &old.member_id, Some("i1")),
        Err(GroupError::FencedInstanceId)
    );
    assert_eq!(h.state_of("g"), Some(GroupState::Stable));
}

#[test]
fn the_fenced_process_parked_join_is_answered_fenced_instance_id() {
    let mut h = Harness::new();
    let (j0, j1) = stable_static_group(&mut h, static_join);
    let changed = vec![Protocol::new("range", subscription(&["t", "u"]))];
    let old_rejoin = h.join(
        static_join("i1")
            .with_member_id(j1.member_id.clone())
            .with_protocols(changed.clone()),
    );
    assert!(h.joined(old_rejoin).is_none(), "the rebalance waits for i0");

    let newer = h.join(static_join("i1").with_protocols(changed));
    assert_eq!(h.joined(old_rejoin), Some(Err(GroupError::FencedInstanceId)));
    assert!(h.joined(newer).is_none());
    let leader = h.join(static_join("i0").with_member_id(j0.member_id.clone()));
    let (newer, leader) = (
        h.joined(newer).unwrap().unwrap(),
        h.joined(leader).unwrap().unwrap(),
    );
    assert_eq!(newer.generation, Generation(2));
    let listed: Vec<&str> = leader.members.iter().map(|m| m.member_id.as_str()).collect();
    assert!(listed.contains(&newer.member_id.as_str()) && !listed.contains(&j1.member_id.as_str()));
}

#[test]
fn a_static_member_restarting_with_another_subscription_keeps_its_assignment_until_the_next_rebalance() {
    let mut h = Harness::new();
    let (j0, j1) = stable_static_group(&mut h, static_join);
    let changed = Protocol::new("range", subscription(&["t", "u"]));
    let restarted = h.join(static_join("i1").with_protocols(vec![changed]));
    let rejoined = h.joined(restarted).unwrap().unwrap();
    assert_eq!(
        h.state_of("g"),
        Some(GroupState::Stable),
        "the group would pick the same protocol"
    );
    let synced = h.sync(static_sync(&rejoined, "i1"));
    assert_eq!(
        h.synced(synced).unwrap().unwrap().assignment,
        Bytes::from(format!("a-{}", j1.member_id))
    );

    let leader = h.join(static_join("i0").with_member_id(j0.member_id.clone()));
    assert!(
        h.joined(leader).is_none(),
        "the leader rejoining starts a rebalance"
    );
    let again =
        h.join(static_join("i1").with_protocols(vec![Protocol::new("range", subscription(&["t", "u"]))]));
    let led = h.joined(leader).unwrap().unwrap();
    assert!(h.joined(again).unwrap().is_ok());
    assert!(
        led.members
            .iter()
            .any(|m| m.metadata == subscription(&["t", "u"])),
        "now the leader sees it"
    );
}

#[test]
fn a_static_member_restarting_with_protocols_that_change_the_groups_choice_triggers_a_rebalance() {
    let mut h = Harness::new();
    let both = |instance: &str| {
        static_join(instance).with_protocols(vec![
            Protocol::new("range", Bytes::new()),
            Protocol::new("sticky", Bytes::new()),
        ])
    };
    let (j0, _) = stable_static_group(&mut h, both);
    let restarted = h.join(both("i1").with_protocols(vec![Protocol::new("sticky", Bytes::new())]));
    assert!(h.joined(restarted).is_none());
    assert_eq!(h.state_of("g"), Some(GroupState::PreparingRebalance));
    let leader = h.join(both("i0").with_member_id(j0.member_id.clone()));
    assert_eq!(
        h.joined(leader).unwrap().unwrap().protocol_name.as_deref(),
        Some("sticky")
    );
    assert_eq!(h.joined(restarted).unwrap().unwrap().generation, Generation(2));
}

#[test]
fn an_absent_static_member_keeps_its_place_through_a_rebalance_and_can_return_to_it() {
    let mut h = Harness::new();
    let patient = |instance: &str| {
        static_join(instance)
            .with_session_timeout_ms(60_000)
            .with_rebalance_timeout_ms(5_000)
    };
    let (j0, j1) = stable_static_group(&mut h, patient);

    let leader_rejoin = h.join(patient("i0").with_member_id(j0.member_id.clone()));
    h.advance(5_000);
    let led = h.joined(leader_rejoin).unwrap().unwrap();
    assert_eq!(led.generation, Generation(2));
    assert!(
        led.members.iter().any(|m| m.member_id == j1.member_id),
        "i1 is still in the group"
    );
    let synced = h.sync(static_sync(&led, "i0"));
    assert!(h.synced(synced).unwrap().is_ok());

    let back = h.join(patient("i1"));
    let back = h.joined(back).unwrap().unwrap();
    assert_eq!(back.generation, Generation(2));
    let synced = h.sync(static_sync(&back, "i1"));
    assert_eq!(
        h.synced(synced).unwrap().unwrap().assignment,
        Bytes::from(format!("a-{}", j1.member_id))
    );
    h.advance(5_000);
    assert_eq!(
        h.state_of("g"),
        Some(GroupState::Stable),
        "it synced in time: no further rebalance"
    );
}

#[test]
fn a_static_member_whose_session_expires_is_removed_and_the_group_rebalances() {
    let mut h = Harness::new();
    let (j0, j1) = stable_static_group(&mut h, static_join);
    h.advance(i64::from(SESSION_MS) / 2);
    assert_eq!(heartbeat(&mut h, &j0, "i0"), Ok(()));
    h.advance(i64::from(SESSION_MS) / 2);
    assert_eq!(h.state_of("g"), Some(GroupState::PreparingRebalance));
    assert_eq!(heartbeat(&mut h, &j1, "i1"), Err(GroupError::UnknownMemberId));
    assert_eq!(heartbeat(&mut h, &j0, "i0"), Err(GroupError::RebalanceInProgress));
}

#[test]
fn an_administrator_removes_a_static_member_by_instance_id() {
    let mut h = Harness::new();
    let (_, j1) = stable_static_group(&mut h, static_join);
    assert_eq!(h.leave("g", "", Some("i1")), Ok(()));
    assert_eq!(h.state_of("g"), Some(GroupState::PreparingRebalance));
    assert_eq!(heartbeat(&mut h, &j1, "i1"), Err(GroupError::UnknownMemberId));
    assert_eq!(h.leave("g", "", Some("i1")), Err(GroupError::UnknownMemberId));
}
