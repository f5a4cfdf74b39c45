//! The async driver, under Tokio's paused clock: no real sleeps.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;

/// `__consumer_offsets` in memory.
#[derive(Debug, Default)]
struct MemoryLog {
    records: Mutex<Vec<(Bytes, Option<Bytes>)>>,
    fail: AtomicBool,
}

impl OffsetsLog for MemoryLog {
    fn append(&self, _group_id: &str, records: Vec<(Bytes, Option<Bytes>)>) -> Result<(), GroupError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(GroupError::storage(std::io::Error::other("disk on fire")));
        }
        self.records.lock().unwrap().extend(records);
        Ok(())
    }

    fn append_transactional(
        &self,
        group_id: &str,
        _producer: (i64, i16),
        records: Vec<(Bytes, Option<Bytes>)>,
    ) -> Result<(), GroupError> {
        self.append(group_id, records)
    }
}

/// Milliseconds that follow Tokio's (paused, auto-advancing) clock.
#[derive(Debug)]
struct TokioClock {
    start: tokio::time::Instant,
}

impl storage::Clock for TokioClock {
    fn now_ms(&self) -> i64 {
        1_700_000_000_000 + self.start.elapsed().as_millis() as i64
    }
}

fn start(config: GroupConfig, log: Arc<MemoryLog>) -> Arc<GroupCoordinator> {
    let clock = Arc::new(TokioClock {
        start: tokio::time::Instant::now(),
    });
    Arc::new(GroupCoordinator::with_state(
        GroupCoordinatorState::with_seed(config, 3),
        clock,
        log,
    ))
}

async fn join(coordinator: &GroupCoordinator, req: JoinRequest) -> JoinResponse {
    let member_id = match coordinator.join_group(req.clone()).await {
        Err(GroupError::MemberIdRequired { member_id }) => member_id,
        other => panic!("expected MEMBER_ID_REQUIRED, got {other:?}"),
    };
    coordinator
        .join_group(req.with_member_id(member_id))
        .await
        .unwrap()
}

/// Three members join and sync concurrently; returns their JoinGroup answers.
async fn stable_group(coordinator: &Arc<GroupCoordinator>) -> Vec<JoinResponse> {
    let joins: Vec<_> = (0..3)
        .map(|i| {
            let coordinator = Arc::clone(coordinator);
            tokio::spawn(async move { join(&coordinator, join_request("g", &format!("c{i}"))).await })
        })
        .collect();
    let mut joined = Vec::new();
    for task in joins {
        joined.push(task.await.unwrap());
    }
    let syncs: Vec<_> = joined
        .iter()
        .map(|j| {
            let (coordinator, req) = (Arc::clone(coordinator), sync_request("g", j));
            tokio::spawn(async move { coordinator.sync_group(req).await })
        })
        .collect();
    for (task, j) in syncs.into_iter().zip(&joined) {
        assert_eq!(
            task.await.unwrap().unwrap().assignment,
            Bytes::from(format!("a-{}", j.member_id))
        );
    }
    joined
}

#[tokio::test(start_paused = true)]
async fn three_concurrent_joins_resolve_together_with_one_leader() {
    let log = Arc::new(MemoryLog::default());
    let coordinator = start(
        test_config().with_group_initial_rebalance_delay_ms(100),
        log.clone(),
    );
    let began = tokio::time::Instant::now();
    let joined = stable_group(&coordinator).await;
    // The initial delay was extended once because members kept arriving during it.
    assert_eq!(
        began.elapsed(),
        Duration::from_millis(200),
        "they waited for the initial delay, together"
    );
    assert!(joined.iter().all(|j| j.generation == Generation(1)));
    assert_eq!(joined.iter().filter(|j| j.is_leader()).count(), 1);
    assert_eq!(joined.iter().map(|j| j.members.len()).sum::<usize>(), 3);
    assert_eq!(log.records.lock().unwrap().len(), 1, "the assignment was stored");
    let listed = coordinator.list_groups(&[]).await.unwrap();
    assert_eq!(listed[0].state, GroupState::Stable);
}

#[tokio::test(start_paused = true)]
async fn the_timer_task_expires_a_silent_member_and_the_others_rebalance_without_it() {
    let coordinator = start(
        test_config().with_group_initial_rebalance_delay_ms(100),
        Arc::default(),
    );
    let joined = stable_group(&coordinator).await;
    let silent = &joined[2];
    let heartbeat = |j: &JoinResponse| HeartbeatRequest {
        group_id: "g".into(),
        generation: j.generation,
        member_id: j.member_id.clone(),
        group_instance_id: None,
    };
    let began = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(Duration::from_secs(3)).await;
        match coordinator.heartbeat(heartbeat(&joined[0])).await {
            Ok(()) => assert_eq!(coordinator.heartbeat(heartbeat(&joined[1])).await, Ok(())),
            Err(GroupError::RebalanceInProgress) => break,
            Err(other) => panic!("{other}"),
        }
    }
    assert_eq!(
        began.elapsed(),
        Duration::from_secs(12),
        "noticed at the first heartbeat after 10 s"
    );
    assert_eq!(
        coordinator.heartbeat(heartbeat(silent)).await,
        Err(GroupError::UnknownMemberId)
    );

    let rejoins: Vec<_> = joined[..2]
        .iter()
        .map(|j| {
            let coordinator = Arc::clone(&coordinator);
            let req = join_request("g", "c").with_member_id(j.member_id.clone());
            tokio::spawn(async move { coordinator.join_group(req).await.unwrap() })
        })
        .collect();
    for task in rejoins {
        let rejoined = task.await.unwrap();
        assert_eq!(rejoined.generation, Generation(2));
    }
    let described = coordinator.describe_groups(&["g".into()]).await.unwrap();
    assert_eq!(described[0].members.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_rebalance_times_out_through_the_timer_task() {
    let coordinator = start(
        test_config().with_group_initial_rebalance_delay_ms(100),
        Arc::default(),
    );
    let joined = stable_group(&coordinator).await;
    // The others stay alive, heartbeating, but never rejoin.
    for j in &joined[1..] {
        let coordinator = Arc::clone(&coordinator);
        let req = HeartbeatRequest {
            group_id: "g".into(),
            generation: j.generation,
            member_id: j.member_id.clone(),
            group_instance_id: None,
        };
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(3)).await;
                if coordinator.heartbeat(req.clone()).await == Err(GroupError::UnknownMemberId) {
                    return;
                }
            }
        });
    }
    let began = tokio::time::Instant::now();
    let rejoined = coordinator
        .join_group(join_request("g", "c").with_member_id(joined[0].member_id.clone()))
        .await;
    assert_eq!(
        began.elapsed(),
        Duration::from_millis(u64::try_from(REBALANCE_MS).unwrap())
    );
    let rejoined = rejoined.unwrap();
    assert_eq!(
        (rejoined.generation, rejoined.members.len()),
        (Generation(2), 1),
        "the others were dropped"
    );
}

#[tokio::test(start_paused = true)]
async fn committed_offsets_survive_a_restart_of_the_coordinator() {
    let log = Arc::new(MemoryLog::default());
    let coordinator = start(test_config(), log.clone());
    let commit = CommitRequest::standalone(
        "solo",
        vec![
            PartitionOffset::new(topic("t"), 0, 5),
            PartitionOffset::new(topic("t"), 1, 6),
        ],
    );
    let results = coordinator.commit_offsets(commit).await.unwrap();
    assert!(results.iter().all(|(_, r)| r.is_ok()));
    coordinator.shutdown().await;
    let fetch = FetchOffsetsRequest {
        group_id: "solo".into(),
        partitions: None,
    };
    assert_eq!(
        coordinator.fetch_offsets(fetch.clone()).await,
        Err(GroupError::NotCoordinator)
    );

    let restarted = start(test_config(), Arc::default());
    let records = log.records.lock().unwrap().clone();
    let garbage = (Bytes::from_static(b"\x00\x07junk"), None);
    assert_eq!(
        restarted.load(records.into_iter().chain([garbage])),
        LoadReport {
            applied: 2,
            malformed: 1
        }
    );
    let offsets: Vec<i64> = restarted
        .fetch_offsets(fetch)
        .await
        .unwrap()
        .iter()
        .map(|p| p.offset)
        .collect();
    assert_eq!(offsets, [5, 6]);
}

#[tokio::test(start_paused = true)]
async fn a_commit_whose_append_fails_reports_the_storage_error() {
    let log = Arc::new(MemoryLog::default());
    let coordinator = start(test_config(), log.clone());
    log.fail.store(true, Ordering::SeqCst);
    let results = coordinator.commit_offsets(CommitRequest::standalone(
        "solo",
        vec![PartitionOffset::new(topic("t"), 0, 5)],
    ));
    let results = results.await.unwrap();
    assert!(matches!(
        results[0].1.as_ref().unwrap_err(),
        GroupError::KafkaStorageError { .. }
    ));
    let fetched = coordinator.fetch_offsets(FetchOffsetsRequest {
        group_id: "solo".into(),
        partitions: None,
    });
    assert_eq!(fetched.await.unwrap(), []);
}

#[tokio::test(start_paused = true)]
async fn shutting_down_answers_parked_requests_not_coordinator() {
    let coordinator = start(
        test_config().with_group_initial_rebalance_delay_ms(60_000),
        Arc::default(),
    );
    let parked = {
        let coordinator = Arc::clone(&coordinator);
        let req = join_request("g", "c").with_require_known_member_id(false);
        tokio::spawn(async move { coordinator.join_group(req).await })
    };
    while coordinator.list_groups(&[]).await.unwrap().is_empty() {
        tokio::task::yield_now().await;
    }
    coordinator.shutdown().await;
    assert_eq!(parked.await.unwrap(), Err(GroupError::NotCoordinator));
    let late = coordinator.join_group(join_request("g", "c")).await;
    assert_eq!(late, Err(GroupError::NotCoordinator));
}

#[tokio::test(start_paused = true)]
async fn deleting_an_emptied_group_writes_tombstones() {
    let log = Arc::new(MemoryLog::default());
    let coordinator = start(test_config(), log.clone());
    let joined = join(&coordinator, join_request("g", "c")).await;
    let leave = LeaveRequest {
        group_id: "g".into(),
        members: vec![MemberIdentity {
            member_id: joined.member_id.clone(),
            group_instance_id: None,
        }],
    };
    assert_eq!(coordinator.leave_group(leave).await.unwrap()[0].result, Ok(()));
    let deleted = coordinator.delete_groups(&["g".into()]).await.unwrap();
    assert_eq!(deleted, [("g".into(), Ok(()))]);
    let last = log.records.lock().unwrap().last().cloned().unwrap();
    assert_eq!(last.1, None);
    assert_eq!(
        coordinator.delete_offsets("g", Vec::new()).await,
        Err(GroupError::GroupIdNotFound)
    );
}
