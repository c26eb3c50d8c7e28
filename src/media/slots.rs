//! How many upload requests may stream bodies at once, in total and per account. An upload
//! request holds a connection, a task and buffers for as long as its client sends, so without a
//! bound a few hundred slow or stalled clients (or one account's script) could hold the server's
//! memory and connections; over the bound a request is answered `429 too_many_uploads` with
//! `Retry-After` before a byte of its body is read. Uploads resume, so the client loses nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use uuid::Uuid;

use super::MediaError;

/// The counters; one per server, in the application state.
#[derive(Debug)]
pub struct UploadSlots {
    max_total: usize,
    max_per_account: usize,
    taken: Mutex<Taken>,
}

#[derive(Debug, Default)]
struct Taken {
    total: usize,
    by_account: HashMap<Uuid, usize>,
}

/// A slot held while a request streams its body; given back when dropped.
#[derive(Debug)]
pub struct UploadSlot {
    slots: Arc<UploadSlots>,
    account_id: Uuid,
}

impl UploadSlots {
    pub fn new(max_total: usize, max_per_account: usize) -> Arc<Self> {
        Arc::new(Self { max_total, max_per_account, taken: Mutex::default() })
    }

    /// A slot for `account_id`, or `too_many_uploads` when the account or the server is at its
    /// bound.
    pub fn acquire(self: &Arc<Self>, account_id: Uuid) -> Result<UploadSlot, MediaError> {
        let mut taken = self.taken.lock().unwrap_or_else(PoisonError::into_inner);
        let of_account = taken.by_account.get(&account_id).copied().unwrap_or(0);
        if of_account >= self.max_per_account {
            return Err(MediaError::TooManyUploads(format!(
                "this account already has {of_account} uploads sending; at most {} may send at once",
                self.max_per_account
            )));
        }
        if taken.total >= self.max_total {
            return Err(MediaError::TooManyUploads("the server is receiving as many uploads as it takes".to_owned()));
        }
        taken.total += 1;
        *taken.by_account.entry(account_id).or_default() += 1;
        Ok(UploadSlot { slots: Arc::clone(self), account_id })
    }

    /// Slots held now (for tests and metrics).
    pub fn in_use(&self) -> usize {
        self.taken.lock().unwrap_or_else(PoisonError::into_inner).total
    }
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        let mut taken = self.slots.taken.lock().unwrap_or_else(PoisonError::into_inner);
        taken.total = taken.total.saturating_sub(1);
        if let Some(count) = taken.by_account.get_mut(&self.account_id) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                taken.by_account.remove(&self.account_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_bounded_per_account_and_in_total_and_come_back_when_dropped() {
        let slots = UploadSlots::new(3, 2);
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let first = slots.acquire(a).expect("free");
        let _second = slots.acquire(a).expect("free");
        assert!(matches!(slots.acquire(a), Err(MediaError::TooManyUploads(_))), "per account");
        let _third = slots.acquire(b).expect("free");
        assert!(matches!(slots.acquire(b), Err(MediaError::TooManyUploads(_))), "in total");
        drop(first);
        assert_eq!(slots.in_use(), 2);
        slots.acquire(b).expect("a slot came back");
    }
}
