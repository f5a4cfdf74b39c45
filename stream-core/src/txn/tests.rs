//! The transaction coordinator's state machine, step by step, with no I/O: each plan is
//! applied as the driver would after storing it.

use super::*;
use crate::topic::{TopicName, TopicPartition};

fn tp(topic: &str, partition: i32) -> TopicPartition {
    TopicPartition::new(TopicName::new(topic).unwrap(), partition)
}

/// Runs InitProducerId to the end, as the driver does: a new id gets `next_pid`, an open
/// transaction is aborted (its markers "written") first.
fn init(s: &mut TxnCoordinatorState, id: &str, now: i64, next_pid: i64) -> Result<(i64, i16), TxnError> {
    let mut expected = None;
    loop {
        match s.plan_init(id, 60_000, expected, now)? {
            InitPlan::NewProducerId { timeout_ms } => {
                s.apply(TxnMetadata::new(id.into(), next_pid, 0, timeout_ms, now));
                return Ok((next_pid, 0));
            }
            InitPlan::Bump(meta) => {
                let answer = (meta.producer_id, meta.producer_epoch);
                s.apply(meta);
                return Ok(answer);
            }
            InitPlan::AbortFirst(prepare) => {
                assert_eq!(prepare.state, TxnState::PrepareAbort);
                s.apply(prepare.clone());
                s.apply(TxnCoordinatorState::completed(&prepare, now));
                expected = None;
            }
        }
    }
}

fn add(
    s: &mut TxnCoordinatorState,
    id: &str,
    pid: i64,
    epoch: i16,
    parts: &[TopicPartition],
    now: i64,
) -> Result<(), TxnError> {
    if let Some(next) = s.plan_add_partitions(id, pid, epoch, parts, now)? {
        s.apply(next);
    }
    Ok(())
}

/// EndTxn to the end; returns the prepared state (whose partitions get markers).
fn end(
    s: &mut TxnCoordinatorState,
    id: &str,
    pid: i64,
    epoch: i16,
    commit: bool,
    now: i64,
) -> Result<Option<TxnMetadata>, TxnError> {
    match s.plan_end(id, pid, epoch, commit, now)? {
        EndPlan::AlreadyDone => Ok(None),
        EndPlan::Prepare(prepare) => {
            s.apply(prepare.clone());
            s.apply(TxnCoordinatorState::completed(&prepare, now));
            Ok(Some(prepare))
        }
    }
}

#[test]
fn a_transaction_goes_from_empty_through_ongoing_to_complete_commit() {
    let mut s = TxnCoordinatorState::new(TxnConfig::default());
    let (pid, epoch) = init(&mut s, "t", 0, 1000).unwrap();
    assert_eq!((pid, epoch), (1000, 0));
    assert_eq!(s.get("t").unwrap().state, TxnState::Empty);
    add(&mut s, "t", pid, epoch, &[tp("a", 0), tp("b", 1)], 10).unwrap();
    let meta = s.get("t").unwrap();
    assert_eq!(meta.state, TxnState::Ongoing);
    assert_eq!(meta.start_ms, 10);
    s.verify(&tp("a", 0), pid, epoch).unwrap();
    assert!(matches!(
        s.verify(&tp("a", 1), pid, epoch),
        Err(TxnError::PartitionNotInTransaction { .. })
    ));
    let prepared = end(&mut s, "t", pid, epoch, true, 20).unwrap().unwrap();
    assert_eq!(prepared.state, TxnState::PrepareCommit);
    assert_eq!(
        prepared.partitions.len(),
        2,
        "the markers go to every partition added"
    );
    let meta = s.get("t").unwrap();
    assert_eq!(meta.state, TxnState::CompleteCommit);
    assert!(meta.partitions.is_empty());
    // After the commit, a write of the finished transaction is refused (KIP-890).
    assert!(s.verify(&tp("a", 0), pid, epoch).is_err());
}

#[test]
fn a_retried_end_txn_succeeds_and_a_contrary_one_is_refused() {
    let mut s = TxnCoordinatorState::new(TxnConfig::default());
    let (pid, epoch) = init(&mut s, "t", 0, 7).unwrap();
    add(&mut s, "t", pid, epoch, &[tp("a", 0)], 1).unwrap();
    end(&mut s, "t", pid, epoch, true, 2).unwrap();
    assert_eq!(
        end(&mut s, "t", pid, epoch, true, 3).unwrap(),
        None,
        "retry of the commit"
    );
    assert!(matches!(
        s.plan_end("t", pid, epoch, false, 3),
        Err(TxnError::InvalidTxnState { .. })
    ));
}

#[test]
fn end_txn_without_a_transaction_is_an_invalid_state() {
    let mut s = TxnCoordinatorState::new(TxnConfig::default());
    let (pid, epoch) = init(&mut s, "t", 0, 7).unwrap();
    let err = s.plan_end("t", pid, epoch, true, 1).unwrap_err();
    assert!(matches!(err, TxnError::InvalidTxnState { .. }), "{err}");
}

#[test]
fn a_new_producer_fences_the_old_and_aborts_its_open_transaction() {
    let mut s = TxnCoordinatorState::new(TxnConfig::default());
    let (pid, old) = init(&mut s, "t", 0, 7).unwrap();
    add(&mut s, "t", pid, old, &[tp("a", 0)], 1).unwrap();
    // The open transaction must be aborted with a bumped epoch before the new producer gets
    // its own, so the markers fence the old producer at the partitions.
    let InitPlan::AbortFirst(prepare) = s.plan_init("t", 60_000, None, 2).unwrap() else {
        panic!("expected an abort first")
    };
    assert_eq!(prepare.producer_epoch, old + 1);
    assert_eq!(prepare.partitions.len(), 1);
    let (same_pid, new) = init(&mut s, "t", 2, 99).unwrap();
    assert_eq!(same_pid, pid, "the transactional id keeps its producer id");
    assert_eq!(new, old + 2);
    assert_eq!(s.get("t").unwrap().state, TxnState::Empty);
    for err in [
        add(&mut s, "t", pid, old, &[tp("a", 0)], 3).unwrap_err(),
        s.plan_end("t", pid, old, true, 3).unwrap_err(),
        s.verify(&tp("a", 0), pid, old).unwrap_err(),
    ] {
        assert!(
            matches!(err, TxnError::ProducerFenced { current, .. } if current == new),
            "{err}"
        );
    }
}

#[test]
fn an_unknown_or_foreign_producer_id_is_refused() {
    let mut s = TxnCoordinatorState::new(TxnConfig::default());
    assert!(matches!(
        s.plan_add_partitions("nobody", 1, 0, &[tp("a", 0)], 0),
        Err(TxnError::InvalidProducerIdMapping { .. })
    ));
    init(&mut s, "t", 0, 7).unwrap();
    assert!(matches!(
        s.plan_end("t", 8, 0, true, 0),
        Err(TxnError::InvalidProducerIdMapping { .. })
    ));
}

#[test]
fn timeouts_are_checked_against_transaction_max_timeout_ms() {
    let s = TxnCoordinatorState::new(TxnConfig {
        max_timeout_ms: 1000,
        ..TxnConfig::default()
    });
    for bad in [0, -1, 1001] {
        assert!(matches!(
            s.plan_init("t", bad, None, 0),
            Err(TxnError::InvalidTransactionTimeout { .. })
        ));
    }
    assert!(s.plan_init("t", 1000, None, 0).is_ok());
    assert!(matches!(
        s.plan_init("", 1000, None, 0),
        Err(TxnError::InvalidTransactionalId)
    ));
}

#[test]
fn an_open_transaction_past_its_timeout_is_aborted_with_the_epoch_bumped() {
    let mut s = TxnCoordinatorState::new(TxnConfig::default());
    let (pid, epoch) = init(&mut s, "t", 0, 7).unwrap();
    add(&mut s, "t", pid, epoch, &[tp("a", 0)], 1_000).unwrap();
    assert!(s.timed_out(60_999).is_empty(), "60 s timeout from the first add");
    let expired = s.timed_out(61_000);
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].state, TxnState::PrepareAbort);
    assert_eq!(expired[0].producer_epoch, epoch + 1);
    s.apply(expired[0].clone());
    s.apply(TxnCoordinatorState::completed(&expired[0], 61_000));
    assert!(matches!(
        s.plan_end("t", pid, epoch, true, 61_001),
        Err(TxnError::ProducerFenced { .. })
    ));
    assert!(
        s.timed_out(1_000_000).is_empty(),
        "an aborted transaction does not time out again"
    );
}

#[test]
fn adding_a_known_partition_again_stores_nothing() {
    let mut s = TxnCoordinatorState::new(TxnConfig::default());
    let (pid, epoch) = init(&mut s, "t", 0, 7).unwrap();
    add(&mut s, "t", pid, epoch, &[tp("a", 0)], 1).unwrap();
    assert_eq!(
        s.plan_add_partitions("t", pid, epoch, &[tp("a", 0)], 2).unwrap(),
        None
    );
    let next = s
        .plan_add_partitions("t", pid, epoch, &[tp("a", 1)], 2)
        .unwrap()
        .unwrap();
    assert_eq!(next.start_ms, 1, "the timeout still runs from the first add");
}

#[test]
fn a_prepared_transaction_blocks_new_work_until_completed_and_replay_finds_it() {
    let mut s = TxnCoordinatorState::new(TxnConfig::default());
    let (pid, epoch) = init(&mut s, "t", 0, 7).unwrap();
    add(&mut s, "t", pid, epoch, &[tp("a", 0)], 1).unwrap();
    let EndPlan::Prepare(prepare) = s.plan_end("t", pid, epoch, true, 2).unwrap() else {
        panic!()
    };
    s.apply(prepare.clone());
    // A crash here: the decision is stored, the markers may be missing.
    let mut replayed = TxnCoordinatorState::new(TxnConfig::default());
    replayed.replay(
        "t",
        Some(records::decode_value("t", &records::encode_value(&prepare)).unwrap()),
    );
    assert_eq!(replayed.preparing(), vec![prepare.clone()]);
    for state in [&s, &replayed] {
        assert!(matches!(
            state.plan_add_partitions("t", pid, epoch, &[tp("b", 0)], 3),
            Err(TxnError::ConcurrentTransactions { .. })
        ));
        assert!(matches!(
            state.plan_init("t", 60_000, None, 3),
            Err(TxnError::ConcurrentTransactions { .. })
        ));
    }
    replayed.replay("t", None);
    assert!(replayed.get("t").is_none(), "a tombstone forgets the id");
}

#[test]
fn an_exhausted_epoch_gets_a_new_producer_id() {
    let mut s = TxnCoordinatorState::new(TxnConfig::default());
    s.apply(TxnMetadata {
        producer_epoch: i16::MAX - 1,
        ..TxnMetadata::new("t".into(), 7, 0, 60_000, 0)
    });
    assert_eq!(
        s.plan_init("t", 60_000, None, 1).unwrap(),
        InitPlan::NewProducerId { timeout_ms: 60_000 }
    );
    let (pid, epoch) = init(&mut s, "t", 1, 8).unwrap();
    assert_eq!((pid, epoch), (8, 0));
    assert_eq!(s.transactional_id_of(8), Some("t"));
    assert_eq!(s.transactional_id_of(7), None);
}

#[test]
fn kip_360_a_producer_resuming_with_a_stale_epoch_is_fenced() {
    let mut s = TxnCoordinatorState::new(TxnConfig::default());
    let (pid, epoch) = init(&mut s, "t", 0, 7).unwrap();
    init(&mut s, "t", 1, 0).unwrap();
    assert!(matches!(
        s.plan_init("t", 60_000, Some((pid, epoch)), 2),
        Err(TxnError::ProducerFenced { .. })
    ));
    assert!(matches!(
        s.plan_init("t", 60_000, Some((pid, epoch + 1)), 2),
        Ok(InitPlan::Bump(_))
    ));
}
