//! Process metrics: request counts and latencies per dialect, action and code, and store
//! latencies, rendered in the Prometheus text format (version 0.0.4).
//!
//! Concurrency argument: the request path must not serialise on one lock. Each
//! `(dialect, action, code)` series is an `Arc` of atomics found through a map split into
//! [`SHARDS`] shards by the key's hash; a request takes one shard's read lock (shared) to find
//! its series and then only touches atomics. A series is created once, under that shard's
//! write lock, the first time its labels are seen (actions and codes are closed sets per
//! dialect, so the map stays small). A scrape reads every shard in turn; counts observed
//! during a scrape may land on either side of it, which Prometheus tolerates.
//!
//! The store histograms come from [`MeteredStore`], a wrapper that times every
//! [`Store::read`] and [`Store::write`] (queueing in the writer included: the latency the
//! core sees) without changing the trait.

use crate::error::DomainError;
use crate::store::{Store, Tx};
use parking_lot::RwLock;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Upper bounds (seconds) of the latency buckets; `+Inf` is implied.
pub const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Shards of the request-series map.
pub const SHARDS: usize = 16;

/// A latency histogram with the fixed [`BUCKETS`]: per-bucket counts (not cumulative), the
/// total count and the sum in nanoseconds, all atomics.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_ns: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let s = d.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| s <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            buckets: std::array::from_fn(|i| self.buckets[i].load(Ordering::Relaxed)),
            count: self.count.load(Ordering::Relaxed),
            sum_ns: self.sum_ns.load(Ordering::Relaxed),
        }
    }
}

/// A histogram read at one moment; adds up across series.
#[derive(Clone, Copy, Debug, Default)]
struct Snapshot {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum_ns: u64,
}

impl Snapshot {
    fn add(&mut self, o: &Snapshot) {
        for (a, b) in self.buckets.iter_mut().zip(o.buckets.iter()) {
            *a += b;
        }
        self.count += o.count;
        self.sum_ns += o.sum_ns;
    }

    /// Writes `name_bucket`, `name_sum` and `name_count` lines; `labels` is `k="v",…` or empty.
    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (b, n) in BUCKETS.iter().zip(self.buckets.iter()) {
            cumulative += n;
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {cumulative}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum_ns as f64 / 1e9);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

type Key = (&'static str, &'static str, String);

/// Every metric of one process. Cheap to share (`Arc`); see the module notes on locking.
#[derive(Default)]
pub struct Metrics {
    shards: [RwLock<HashMap<Key, Arc<Histogram>>>; SHARDS],
    store_read: Histogram,
    store_write: Histogram,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn shard_of(dialect: &str, action: &str, code: &str) -> usize {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (dialect, action, code).hash(&mut h);
    (h.finish() as usize) % SHARDS
}

/// Escapes a label value for the text format.
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    /// A fresh registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one answered request.
    pub fn record_request(
        &self,
        dialect: &'static str,
        action: &'static str,
        code: &str,
        d: Duration,
    ) {
        let shard = &self.shards[shard_of(dialect, action, code)];
        let found = shard
            .read()
            .iter()
            .find(|((dl, a, c), _)| *dl == dialect && *a == action && c == code)
            .map(|(_, h)| h.clone());
        let series = match found {
            Some(h) => h,
            None => shard
                .write()
                .entry((dialect, action, code.to_string()))
                .or_default()
                .clone(),
        };
        series.observe(d);
    }

    /// Requests answered so far with these labels (for tests).
    pub fn requests(&self, dialect: &str, action: &str, code: &str) -> u64 {
        let shard = &self.shards[shard_of(dialect, action, code)];
        let g = shard.read();
        g.iter()
            .find(|((dl, a, c), _)| *dl == dialect && *a == action && c == code)
            .map_or(0, |(_, h)| h.count())
    }

    /// The store read latency histogram.
    pub fn store_read(&self) -> &Histogram {
        &self.store_read
    }

    /// The store write latency histogram.
    pub fn store_write(&self) -> &Histogram {
        &self.store_write
    }

    /// Every metric in the Prometheus text format; `pending` is the number of pending
    /// operations (`None` when the store did not answer: the gauge is left out).
    pub fn render(&self, pending: Option<u64>) -> String {
        let mut series: Vec<(Key, Snapshot)> = Vec::new();
        for shard in &self.shards {
            for (k, h) in shard.read().iter() {
                series.push((k.clone(), h.snapshot()));
            }
        }
        series.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out = String::with_capacity(4096);
        out.push_str("# HELP havip_requests_total Requests answered, by dialect, action and outcome (\"OK\" or the error code).\n");
        out.push_str("# TYPE havip_requests_total counter\n");
        for ((d, a, c), s) in &series {
            let _ = writeln!(
                out,
                "havip_requests_total{{dialect=\"{}\",action=\"{}\",code=\"{}\"}} {}",
                esc(d),
                esc(a),
                esc(c),
                s.count
            );
        }
        let mut by_action: Vec<((&str, &str), Snapshot)> = Vec::new();
        for ((d, a, _), s) in &series {
            match by_action.last_mut() {
                Some((k, acc)) if *k == (*d, *a) => acc.add(s),
                _ => by_action.push(((d, a), *s)),
            }
        }
        out.push_str("# HELP havip_request_duration_seconds Time from a request's arrival to its answer, by dialect and action.\n");
        out.push_str("# TYPE havip_request_duration_seconds histogram\n");
        for ((d, a), s) in &by_action {
            let labels = format!("dialect=\"{}\",action=\"{}\"", esc(d), esc(a));
            s.render(&mut out, "havip_request_duration_seconds", &labels);
        }
        if let Some(n) = pending {
            out.push_str("# HELP havip_operations_pending Asynchronous operations recorded in the store and not yet completed.\n");
            out.push_str("# TYPE havip_operations_pending gauge\n");
            let _ = writeln!(out, "havip_operations_pending {n}");
        }
        out.push_str("# HELP havip_store_read_duration_seconds Store read transactions as the core sees them.\n");
        out.push_str("# TYPE havip_store_read_duration_seconds histogram\n");
        self.store_read
            .snapshot()
            .render(&mut out, "havip_store_read_duration_seconds", "");
        out.push_str("# HELP havip_store_write_duration_seconds Store write transactions as the core sees them (queueing and commit included).\n");
        out.push_str("# TYPE havip_store_write_duration_seconds histogram\n");
        self.store_write
            .snapshot()
            .render(&mut out, "havip_store_write_duration_seconds", "");
        out
    }
}

/// A [`Store`] that times every transaction into a [`Metrics`].
pub struct MeteredStore<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S: Store> MeteredStore<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, metrics: Arc<Metrics>) -> Self {
        MeteredStore { inner, metrics }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

impl<S: Store> Store for MeteredStore<S> {
    fn read<R, F>(&self, f: F) -> impl Future<Output = Result<R, DomainError>> + Send
    where
        F: FnOnce(&mut dyn Tx) -> Result<R, DomainError> + Send + 'static,
        R: Send + 'static,
    {
        let start = Instant::now();
        let fut = self.inner.read(f);
        let metrics = self.metrics.clone();
        async move {
            let r = fut.await;
            metrics.store_read.observe(start.elapsed());
            r
        }
    }

    fn write_generation(&self) -> Option<u64> {
        self.inner.write_generation()
    }

    fn write<R, F>(&self, f: F) -> impl Future<Output = Result<R, DomainError>> + Send
    where
        F: FnOnce(&mut dyn Tx) -> Result<R, DomainError> + Send + 'static,
        R: Send + 'static,
    {
        let start = Instant::now();
        let fut = self.inner.write(f);
        let metrics = self.metrics.clone();
        async move {
            let r = fut.await;
            metrics.store_write.observe(start.elapsed());
            r
        }
    }

    fn write_retryable<R, F>(&self, f: F) -> impl Future<Output = Result<R, DomainError>> + Send
    where
        F: Fn(&mut dyn Tx) -> Result<R, DomainError> + Send + 'static,
        R: Send + 'static,
    {
        let start = Instant::now();
        let fut = self.inner.write_retryable(f);
        let metrics = self.metrics.clone();
        async move {
            let r = fut.await;
            metrics.store_write.observe(start.elapsed());
            r
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_should_count_requests_and_fold_codes_into_one_histogram_per_action() {
        let m = Metrics::new();
        m.record_request("aliyun", "CreateHaVip", "OK", Duration::from_millis(3));
        m.record_request("aliyun", "CreateHaVip", "OK", Duration::from_millis(30));
        m.record_request(
            "aliyun",
            "CreateHaVip",
            "QuotaExceeded",
            Duration::from_millis(1),
        );
        m.store_write().observe(Duration::from_millis(2));
        assert_eq!(m.requests("aliyun", "CreateHaVip", "OK"), 2);
        let text = m.render(Some(7));
        assert!(text.contains(
            "havip_requests_total{dialect=\"aliyun\",action=\"CreateHaVip\",code=\"OK\"} 2\n"
        ));
        assert!(text.contains(
            "havip_requests_total{dialect=\"aliyun\",action=\"CreateHaVip\",code=\"QuotaExceeded\"} 1\n"
        ));
        assert!(text.contains(
            "havip_request_duration_seconds_bucket{dialect=\"aliyun\",action=\"CreateHaVip\",le=\"0.005\"} 2\n"
        ));
        assert!(text.contains(
            "havip_request_duration_seconds_count{dialect=\"aliyun\",action=\"CreateHaVip\"} 3\n"
        ));
        assert!(text.contains("havip_operations_pending 7\n"));
        assert!(text.contains("havip_store_write_duration_seconds_bucket{le=\"+Inf\"} 1\n"));
        assert!(text.contains("havip_store_read_duration_seconds_count 0\n"));
    }

    #[test]
    fn histogram_should_put_slow_observations_only_in_inf() {
        let h = Histogram::default();
        h.observe(Duration::from_secs(60));
        let s = h.snapshot();
        assert_eq!(s.buckets.iter().sum::<u64>(), 0);
        assert_eq!(s.count, 1);
    }
}
