//! Connection pools that a forked child never shares with its parent.
//!
//! Pre-fork servers (gunicorn, uwsgi) may use the client in the parent and then fork: the
//! child inherits the pooled sockets, and two processes reading replies from one socket
//! get each other's values. Every request therefore checks the process id; the first one in
//! a new process swaps in fresh, empty pools and closes the inherited ones (closing a
//! descriptor in the child leaves the parent's connection untouched).
//!
//! No lock is taken on that path: a lock held by another parent thread at the moment of the
//! fork stays held forever in the child. The pools of a generation are only ever touched by
//! the process that owns it, so the child can drop the parent's without racing anyone.

use std::sync::atomic::{AtomicPtr, AtomicU32, Ordering};
use std::sync::OnceLock;

use memcache::exp::{MetaClient, MetaClientBuilder, Result};

/// `owner` while a thread of a new process is swapping the pools.
const RESETTING: u32 = 0;

/// One process's connections: a pool per server, created on first use (the address is
/// resolved then, so a name that does not resolve yet is a failure of that server, not of the
/// constructor).
struct Generation {
    servers: Vec<OnceLock<MetaClient>>,
}

impl Generation {
    fn new(count: usize) -> Box<Self> {
        Box::new(Generation {
            servers: (0..count).map(|_| OnceLock::new()).collect(),
        })
    }
}

pub struct Pools {
    addresses: Vec<String>,
    builder: MetaClientBuilder,
    /// The pid `current` belongs to.
    owner: AtomicU32,
    current: AtomicPtr<Generation>,
}

impl Pools {
    pub fn new(addresses: Vec<String>, builder: MetaClientBuilder) -> Self {
        let current = Box::into_raw(Generation::new(addresses.len()));
        Pools {
            addresses,
            builder,
            owner: AtomicU32::new(std::process::id()),
            current: AtomicPtr::new(current),
        }
    }

    /// This process's pools; `on_reset` is called once when inherited ones were dropped.
    fn generation(&self, on_reset: impl Fn()) -> &Generation {
        let pid = std::process::id();
        loop {
            let owner = self.owner.load(Ordering::Acquire);
            if owner == pid {
                // SAFETY: a generation is freed only by a thread of a process that does not own
                // it (here, or in `drop` with exclusive access), and this process owns it.
                return unsafe { &*self.current.load(Ordering::Acquire) };
            }
            if owner != RESETTING
                && self
                    .owner
                    .compare_exchange(owner, RESETTING, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
            {
                let fresh = Box::into_raw(Generation::new(self.addresses.len()));
                let inherited = self.current.swap(fresh, Ordering::AcqRel);
                // SAFETY: no thread of this process has dereferenced `inherited` (they only do
                // once `owner` is their pid, which it never was), and the threads that did
                // exist only in the parent.
                drop(unsafe { Box::from_raw(inherited) });
                self.owner.store(pid, Ordering::Release);
                on_reset();
                continue;
            }
            // Another thread of this process is swapping the pools: a few microseconds.
            std::thread::yield_now();
        }
    }

    /// The client for server `index` in this process.
    pub fn client(&self, index: usize, on_reset: impl Fn()) -> Result<&MetaClient> {
        let slot = &self.generation(on_reset).servers[index];
        if let Some(client) = slot.get() {
            return Ok(client);
        }
        let client = self
            .builder
            .clone()
            .connect(self.addresses[index].as_str())?;
        // Two threads may both resolve the name on first use; either client will do.
        Ok(slot.get_or_init(|| client))
    }
}

impl Drop for Pools {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: no request is running, and `current` came from Box::into_raw.
        drop(unsafe { Box::from_raw(*self.current.get_mut()) });
    }
}
