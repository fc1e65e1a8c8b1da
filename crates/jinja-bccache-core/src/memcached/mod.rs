//! The native memcached client: the `memcache` crate's meta-protocol engine (lazy dialing on
//! the calling thread, a deadline per exchange, a connection dropped on any error), with what
//! a bytecode cache shared by a fleet also needs: pymemcache-compatible routing, a circuit
//! breaker per server, fork safety, size and key checks, and counters. No Python here.
//!
//! Longer than most files here: every request of `Client` goes through the same steps
//! (routing, the breaker, the deadline, failover, counting), which read best in one place;
//! the parts that stand alone are the submodules.

mod boot;
pub mod breaker;
mod pool;
pub mod protocol;
pub mod routing;
pub mod stats;

use std::fmt;
use std::io;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use memcache::exp::{self, Get, GetResult, ItemMeta, MetaClient, Op, OpResult};

use crate::error::Error;
use crate::ratelimit::RateLimit;

use breaker::{Admission, Breaker};
use pool::Pools;
use stats::{bump, Stats};

/// Settings, with the documented defaults.
#[derive(Debug, Clone)]
pub struct Config {
    pub connect_timeout: Duration,
    pub timeout: Duration,
    pub retry_interval: Duration,
    pub max_value_size: usize,
    pub compress_threshold: Option<usize>,
    pub max_idle: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            // A memcached on the same network answers a connect in well under a millisecond;
            // waiting longer only makes a dead server expensive.
            connect_timeout: Duration::from_millis(250),
            // A 1 MiB value crosses a gigabit link in ~10 ms.
            timeout: Duration::from_millis(500),
            // A dead server costs at most one timeout per interval per process, and a restarted
            // one is used again within it.
            retry_interval: Duration::from_secs(2),
            max_value_size: DEFAULT_MAX_VALUE_SIZE,
            compress_threshold: None,
            max_idle: 8,
        }
    }
}

/// A duration setting given in seconds: finite, positive (or zero with `allow_zero`), and at
/// most a day, which no network wait needs to exceed.
pub fn duration(seconds: f64, what: &str, allow_zero: bool) -> Result<Duration, Error> {
    let valid = seconds.is_finite() && (seconds > 0.0 || (allow_zero && seconds == 0.0));
    if !valid || seconds > 86_400.0 {
        return Err(Error::Value(format!(
            "{what} must be a finite number of seconds{} up to a day, not {seconds}",
            if allow_zero { " >= 0" } else { " > 0" }
        )));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// memcached's default item limit (`-I 1m`) covers key, value and ~60 bytes of header: 1 KiB
/// of headroom fits any key up to 250 bytes.
pub const DEFAULT_MAX_VALUE_SIZE: usize = 1024 * 1024 - 1024;

/// What went wrong with a request, for the caller to turn into a miss or an exception.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureKind {
    /// The server (and every fallback) is marked down: nothing was sent.
    Down,
    Timeout,
    /// Refused, reset, closed mid-reply, unresolvable, garbled reply.
    Connection,
    /// The server answered with an error (and stays in use).
    Server,
}

#[derive(Debug, Clone)]
pub struct Failure {
    pub server: String,
    pub kind: FailureKind,
    pub detail: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "memcached server {}: {}", self.server, self.detail)
    }
}

/// What became of a write that did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    Yes,
    /// Larger than `max_value_size`: not sent.
    TooLarge,
    /// The server declined (an add/replace/CAS condition; never for a plain set).
    No,
}

/// One version of one item: the server that holds it, the server's boot (`boot`), the
/// item's CAS unique (which the server changes on every store, and numbers afresh after a
/// restart) and its stored size. A value loaded with a version is still the server's answer
/// while `version` returns the same one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    server: usize,
    boot: boot::Token,
    cas: u64,
    size: u64,
}

impl Version {
    /// None when the server reports no CAS or the boot is unknown: nothing can then prove
    /// an item unchanged.
    fn of(
        server: usize,
        boot: Option<boot::Token>,
        cas: Option<u64>,
        size: u64,
    ) -> Option<Version> {
        Some(Version {
            server,
            boot: boot?,
            cas: cas?,
            size,
        })
    }
}

/// What a server holds under a key, as far as its version tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    Nothing,
    /// An item, but nothing proves which (no CAS or size reported, or the boot unknown).
    Unproven,
    Version(Version),
}

/// A value and the version of the item that held it (`None` when the server reports none).
pub type Versioned = (Vec<u8>, Option<Version>);

/// What a versioned get asks for besides the value.
fn version_meta() -> exp::Meta {
    exp::Meta::NONE.cas().size()
}

/// A get's value, client flags and metadata; None for a miss.
type Found = Option<(Vec<u8>, u32, ItemMeta)>;

fn found(result: GetResult) -> Found {
    match (result.hit(), result.value) {
        (true, Some(value)) => Some((value, result.client_flags.unwrap_or(0), result.item)),
        _ => None,
    }
}

/// `first`, pipelined on one connection with a read of the server's boot marker: its result
/// and the token of the boot that answered (None: no marker).
fn with_boot(client: &MetaClient, first: Op) -> exp::Result<(OpResult, Option<boot::Token>)> {
    let mut results = client.run_batch([first, boot::read()])?.into_iter();
    match (results.next(), results.next()) {
        (Some(first), Some(marker)) => Ok((first?, boot::token(&marker?))),
        _ => Err(exp::Error::Protocol("a pipelined reply is missing".into())),
    }
}

pub struct Client {
    servers: Vec<String>,
    config: Config,
    pools: Pools,
    breakers: Vec<Breaker>,
    stats: Stats,
    epoch: Instant,
    /// Warnings of server errors and oversized values, each at most once per interval.
    server_error_log: RateLimit,
    too_large_log: RateLimit,
}

impl Client {
    pub fn new(servers: Vec<String>, config: Config) -> Result<Self, Error> {
        if servers.is_empty() {
            return Err(Error::Value(
                "at least one memcached server is required".into(),
            ));
        }
        for server in &servers {
            check_address(server)?;
        }
        let mut seen = servers.clone();
        seen.sort();
        seen.dedup();
        if seen.len() != servers.len() {
            return Err(Error::Value(
                "the same memcached server is listed twice".into(),
            ));
        }
        let builder = MetaClient::builder()
            .connect_timeout(Some(config.connect_timeout))
            .io_timeout(Some(config.timeout))
            .max_idle(config.max_idle);
        let interval = config.retry_interval.as_millis() as u64;
        Ok(Client {
            pools: Pools::new(servers.clone(), builder),
            breakers: servers.iter().map(|_| Breaker::new(interval)).collect(),
            servers,
            config,
            stats: Stats::default(),
            epoch: Instant::now(),
            server_error_log: RateLimit::default(),
            too_large_log: RateLimit::default(),
        })
    }

    pub fn servers(&self) -> &[String] {
        &self.servers
    }

    /// The server `key` lives on while every server is up.
    pub fn server_for(&self, key: &str) -> &str {
        &self.servers[self.preference(key)[0]]
    }

    fn preference(&self, key: &str) -> Vec<usize> {
        if self.servers.len() == 1 {
            vec![0]
        } else {
            routing::preference(&self.servers, key)
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The servers currently skipped by their breaker.
    pub fn down(&self) -> Vec<&str> {
        self.servers
            .iter()
            .zip(&self.breakers)
            .filter(|(_, breaker)| breaker.is_down())
            .map(|(server, _)| server.as_str())
            .collect()
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// The value stored under `key` (already validated), or None.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Failure> {
        bump(&self.stats.gets);
        let (_, result) = self.run(key, |client| client.get(key).send())?;
        Ok(self.inflate(key, found(result)).map(|(value, _)| value))
    }

    /// The value stored under `key` (already validated) and the version of the item that
    /// held it, or None.
    pub fn get_versioned(&self, key: &str) -> Result<Option<Versioned>, Failure> {
        bump(&self.stats.gets);
        let get = Get::new(key).meta(version_meta());
        let (server, (result, token)) = self.run(key, |client| with_boot(client, get.into()))?;
        let token = self.boot(server, token);
        let found = match result {
            OpResult::Get(result) => found(result),
            _ => None,
        };
        Ok(self.inflate(key, found).map(|(value, (item, stored))| {
            let size = item.size.unwrap_or(stored);
            (value, Version::of(server, token, item.cas, size))
        }))
    }

    /// A get's value, uncompressed, with its metadata and stored size; counted.
    fn inflate(&self, key: &str, found: Found) -> Option<(Vec<u8>, (ItemMeta, u64))> {
        let Some((value, flags, item)) = found else {
            bump(&self.stats.misses);
            return None;
        };
        let stored = value.len() as u64;
        if flags & protocol::FLAG_ZLIB == 0 {
            bump(&self.stats.hits);
            return Some((value, (item, stored)));
        }
        // Another client may have stored a larger value than ours would: allow some headroom.
        match protocol::decompress(&value, self.config.max_value_size.saturating_mul(64)) {
            Some(value) => {
                bump(&self.stats.hits);
                Some((value, (item, stored)))
            }
            None => {
                bump(&self.stats.corrupt);
                log::warn!(
                    "memcached value {key:?} is flagged compressed but does not inflate; a miss"
                );
                None
            }
        }
    }

    /// The boot token a pipelined request read from `server`; when there was none, a marker
    /// is added for the requests that follow (this one's version stays unknown: the marker
    /// may belong to a later boot than the answer).
    fn boot(&self, server: usize, token: Option<boot::Token>) -> Option<boot::Token> {
        if token.is_none() {
            // Not counted among the requests: the cache asked for none of it. A failure
            // leaves the versions unknown, and trips the breaker like any other.
            let _ = self.attempt(server, |client| client.run(boot::add()));
        }
        token
    }

    /// What the server holds under `key` (already validated), without the value: what proves
    /// that a value loaded earlier is still the one the server holds.
    pub fn version(&self, key: &str) -> Result<Held, Failure> {
        bump(&self.stats.gets);
        let get = Get::new(key).meta(version_meta()).without_value();
        let (server, (result, token)) = self.run(key, |client| with_boot(client, get.into()))?;
        let token = self.boot(server, token);
        let item = match result {
            OpResult::Get(result) if result.hit() => Some(result.item),
            _ => None,
        };
        bump(if item.is_some() {
            &self.stats.hits
        } else {
            &self.stats.misses
        });
        Ok(match item {
            None => Held::Nothing,
            Some(item) => item
                .size
                .and_then(|size| Version::of(server, token, item.cas, size))
                .map_or(Held::Unproven, Held::Version),
        })
    }

    /// Store `value` under `key` (already validated) for `ttl` seconds (0: no expiry).
    pub fn set(&self, key: &str, value: &[u8], ttl: u64) -> Result<Stored, Failure> {
        Ok(self.store(key, value, ttl, false)?.0)
    }

    /// `set`, and the version of the item stored (when the server reports its CAS).
    pub fn set_versioned(
        &self,
        key: &str,
        value: &[u8],
        ttl: u64,
    ) -> Result<(Stored, Option<Version>), Failure> {
        self.store(key, value, ttl, true)
    }

    fn store(
        &self,
        key: &str,
        value: &[u8],
        ttl: u64,
        versioned: bool,
    ) -> Result<(Stored, Option<Version>), Failure> {
        bump(&self.stats.sets);
        let mut flags = 0;
        let packed = match self.config.compress_threshold {
            Some(threshold) if value.len() >= threshold => protocol::compress(value),
            _ => None,
        };
        let value = match &packed {
            Some(packed) => {
                flags = protocol::FLAG_ZLIB;
                packed.as_slice()
            }
            None => value,
        };
        if value.len() > self.config.max_value_size {
            bump(&self.stats.too_large);
            if self.too_large_log.allow() {
                log::warn!(
                    "not caching {key:?}: {} bytes is over max_value_size ({} bytes)",
                    value.len(),
                    self.config.max_value_size
                );
            }
            return Ok((Stored::TooLarge, None));
        }
        let unix_now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let wire_ttl = protocol::wire_ttl(ttl, unix_now);
        let mut set = exp::Set::new(key, value)
            .ttl_raw(wire_ttl)
            .client_flags(flags);
        if versioned {
            set = set.return_cas();
        }
        let (server, (result, token)) = self.run(key, |client| {
            if !versioned {
                return Ok((client.run(set)?, None));
            }
            match with_boot(client, set.into())? {
                (OpResult::Mutation(result), token) => Ok((result, token)),
                _ => Err(exp::Error::Protocol(
                    "a set answered as another request".into(),
                )),
            }
        })?;
        if !result.applied() {
            return Ok((Stored::No, None));
        }
        bump(&self.stats.stored);
        if flags != 0 {
            bump(&self.stats.compressed);
        }
        let token = if versioned {
            self.boot(server, token)
        } else {
            None
        };
        let version = Version::of(server, token, result.cas, value.len() as u64);
        Ok((Stored::Yes, version))
    }

    /// Run one request for `key` on the first server of its preference order that is not
    /// marked down; the result and which server gave it.
    fn run<T>(
        &self,
        key: &str,
        request: impl FnOnce(&MetaClient) -> exp::Result<T>,
    ) -> Result<(usize, T), Failure> {
        let now = self.now_ms();
        let order = self.preference(key);
        let Some((rank, index)) = order
            .iter()
            .enumerate()
            .find(|(_, &index)| self.breakers[index].admit(now) != Admission::Down)
            .map(|(rank, &index)| (rank, index))
        else {
            bump(&self.stats.unavailable);
            return Err(Failure {
                server: self.servers[order[0]].clone(),
                kind: FailureKind::Down,
                detail: format!(
                    "marked down after a failure, retried at most every {:.1} s (and no other server is up)",
                    self.config.retry_interval.as_secs_f64()
                ),
            });
        };
        if rank > 0 {
            bump(&self.stats.failovers);
        }
        bump(&self.stats.attempts);
        Ok((index, self.attempt(index, request)?))
    }

    /// Run one request on server `index`; its failure counts against the server.
    fn attempt<T>(
        &self,
        index: usize,
        request: impl FnOnce(&MetaClient) -> exp::Result<T>,
    ) -> Result<T, Failure> {
        let result = self
            .pools
            .client(index, || {
                bump(&self.stats.pool_resets);
                log::debug!("forked: dropped the connections inherited from the parent");
            })
            .and_then(request);
        match result {
            Ok(value) => {
                self.server_answered(index);
                Ok(value)
            }
            Err(error) => Err(self.failed(index, &error)),
        }
    }

    fn server_answered(&self, index: usize) {
        if self.breakers[index].succeed() {
            bump(&self.stats.readmitted);
            log::info!("memcached server {} is back in use", self.servers[index]);
        }
    }

    fn failed(&self, index: usize, error: &exp::Error) -> Failure {
        let server = self.servers[index].clone();
        bump(&self.stats.errors);
        if let exp::Error::Server(message) | exp::Error::Rejected(message) = root(error) {
            bump(&self.stats.server_errors);
            self.server_answered(index);
            if self.server_error_log.allow() {
                log::warn!("memcached server {server} refused a request: {message}");
            }
            return Failure {
                server,
                kind: FailureKind::Server,
                detail: format!("refused: {message}"),
            };
        }
        let timed_out = is_timeout(error);
        let kind = if timed_out {
            bump(&self.stats.timeouts);
            FailureKind::Timeout
        } else {
            FailureKind::Connection
        };
        let detail = describe(error, &self.config);
        // From the time of the failure, not of the request: a timeout takes longer than some
        // retry intervals.
        if self.breakers[index].trip(self.now_ms()) {
            bump(&self.stats.marked_down);
            log::warn!(
                "memcached server {server} failed ({detail}); skipping it for {:.1} s",
                self.config.retry_interval.as_secs_f64()
            );
        } else {
            log::debug!("memcached server {server} still failing ({detail})");
        }
        Failure {
            server,
            kind,
            detail,
        }
    }
}

/// "host:port": what pymemcache names a server, so both route keys the same way.
fn check_address(server: &str) -> Result<(), Error> {
    let port = server
        .rsplit_once(':')
        .filter(|(host, _)| !host.is_empty())
        .and_then(|(_, port)| port.parse::<u16>().ok());
    match port {
        Some(_) => Ok(()),
        None => Err(Error::Value(format!(
            "memcached server must be \"host:port\", not {server:?}"
        ))),
    }
}

/// The error under an `Ambiguous` wrapper: whether a write may have landed does not matter
/// to a cache, what happened does.
fn root(error: &exp::Error) -> &exp::Error {
    match error {
        exp::Error::Ambiguous { source, .. } => root(source),
        other => other,
    }
}

fn is_timeout(error: &exp::Error) -> bool {
    match error {
        exp::Error::Timeout { .. } => true,
        exp::Error::Ambiguous { source, .. } => is_timeout(source),
        exp::Error::Io(error) => matches!(
            error.kind(),
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
        ),
        _ => false,
    }
}

fn describe(error: &exp::Error, config: &Config) -> String {
    match error {
        exp::Error::Timeout { .. } => {
            format!("timed out after {:.3} s", config.timeout.as_secs_f64())
        }
        exp::Error::Ambiguous { source, .. } => describe(source, config),
        exp::Error::Io(error) if is_timeout(&exp::Error::Io(io::Error::from(error.kind()))) => {
            format!(
                "timed out (connect {:.3} s, I/O {:.3} s)",
                config.connect_timeout.as_secs_f64(),
                config.timeout.as_secs_f64()
            )
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;
