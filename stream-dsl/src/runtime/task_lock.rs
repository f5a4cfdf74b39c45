//! Locks on the tasks' state directories, shared by the stream threads of one instance.
//!
//! A task that moves from one thread to another in a rebalance is closed by the thread that
//! loses it only when that thread next polls and sees the new assignment, while the thread
//! that gains it may already be creating it. Without a lock the new owner could read a
//! checkpoint the old one had not yet written, wipe the store directory under the old
//! owner's closing RocksDB (seen: `Directory not empty` from the wipe, a bench's 2-thread
//! run under valgrind), or restore from a changelog the old owner was still flushing. Kafka
//! Streams' `StateDirectory` locks each task directory for the same reason; its thread
//! retries a locked task at its next loop, this one waits for the release (the old owner
//! releases right after its next poll, which does not wait on the new owner).

use std::collections::HashSet;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::processor::TaskId;

/// The tasks some thread of this instance has open.
#[derive(Debug, Default)]
pub(crate) struct TaskLocks {
    held: Mutex<HashSet<TaskId>>,
    released: Condvar,
}

/// A held lock on one task; dropping it releases the task.
#[derive(Debug)]
pub(crate) struct TaskLock {
    locks: Arc<TaskLocks>,
    id: TaskId,
}

impl TaskLocks {
    /// Locks task `id`, waiting up to `timeout` for another thread to release it; `None` if
    /// it did not.
    pub fn acquire(self: &Arc<Self>, id: TaskId, timeout: Duration) -> Option<TaskLock> {
        let deadline = Instant::now() + timeout;
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        while held.contains(&id) {
            let left = deadline.checked_duration_since(Instant::now())?;
            held = self
                .released
                .wait_timeout(held, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        held.insert(id);
        Some(TaskLock {
            locks: self.clone(),
            id,
        })
    }
}

impl Drop for TaskLock {
    fn drop(&mut self) {
        self.locks
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
        self.locks.released.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(partition: i32) -> TaskId {
        TaskId {
            subtopology: 1,
            partition,
        }
    }

    #[test]
    fn a_held_task_is_granted_once_released_and_other_tasks_at_once() {
        let locks = Arc::new(TaskLocks::default());
        let held = locks.acquire(task(0), Duration::ZERO).unwrap();
        assert!(
            locks.acquire(task(0), Duration::from_millis(20)).is_none(),
            "held elsewhere"
        );
        let other = locks.acquire(task(1), Duration::ZERO);
        assert!(other.is_some(), "another task is not blocked");

        let waiter = {
            let locks = locks.clone();
            std::thread::spawn(move || {
                let started = Instant::now();
                let lock = locks.acquire(task(0), Duration::from_secs(10));
                (lock.is_some(), started.elapsed())
            })
        };
        std::thread::sleep(Duration::from_millis(100));
        drop(held);
        let (granted, waited) = waiter.join().unwrap();
        assert!(granted, "granted after the release");
        assert!(
            waited >= Duration::from_millis(90),
            "waited for the release: {waited:?}"
        );
        // The waiter's lock was dropped with its thread: free again.
        assert!(locks.acquire(task(0), Duration::ZERO).is_some());
    }
}
