//! Per-client recorders and the merged summary.
//!
//! Each virtual client owns a [`Recorder`] (no sharing on the hot path); the runner merges
//! them when the run ends. Latencies are recorded in microseconds into an HDR histogram
//! (1 µs .. 60 s, 3 significant digits), so p99.9 is exact to 0.1 %.

use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Highest trackable latency, µs.
const MAX_US: u64 = 60_000_000;

/// A fresh histogram with the recorder's bounds.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_US, 3).expect("static histogram bounds are valid")
}

/// What one client saw.
pub struct Recorder {
    /// Latency of every successful request, µs.
    pub ok: Histogram<u64>,
    /// Failed answers by error code (`http-<status>` when the body named none, `io` for
    /// connection errors).
    pub errors: BTreeMap<String, u64>,
    /// Extra per-scenario counters (cycles, retries, reconnects).
    pub counters: BTreeMap<&'static str, u64>,
    /// A second latency series (the convergence probe's Creating → Available), µs.
    pub extra: Histogram<u64>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            ok: histogram(),
            errors: BTreeMap::new(),
            counters: BTreeMap::new(),
            extra: histogram(),
        }
    }
}

impl Recorder {
    /// Records a successful request.
    pub fn ok(&mut self, d: Duration) {
        let _ = self.ok.record((d.as_micros() as u64).clamp(1, MAX_US));
    }
    /// Records a failure.
    pub fn error(&mut self, code: impl Into<String>) {
        *self.errors.entry(code.into()).or_default() += 1;
    }
    /// Bumps a counter.
    pub fn count(&mut self, name: &'static str) {
        *self.counters.entry(name).or_default() += 1;
    }
    /// Records one sample of the second series.
    pub fn extra(&mut self, d: Duration) {
        let _ = self.extra.record((d.as_micros() as u64).clamp(1, MAX_US));
    }
    /// Folds `other` into `self`.
    pub fn merge(&mut self, other: Recorder) {
        let _ = self.ok.add(&other.ok);
        let _ = self.extra.add(&other.extra);
        for (k, v) in other.errors {
            *self.errors.entry(k).or_default() += v;
        }
        for (k, v) in other.counters {
            *self.counters.entry(k).or_default() += v;
        }
    }
}

/// Percentiles of one latency series, milliseconds.
#[derive(Clone, Debug, Serialize)]
pub struct Latency {
    /// Samples.
    pub count: u64,
    /// Mean.
    pub mean_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Largest.
    pub max_ms: f64,
}

impl Latency {
    /// Summarises a histogram.
    pub fn of(h: &Histogram<u64>) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        Latency {
            count: h.len(),
            mean_ms: h.mean() / 1000.0,
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        }
    }
}

/// The result of one scenario run.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// Scenario name.
    pub scenario: String,
    /// Target address.
    pub target: String,
    /// Concurrent connections (virtual clients).
    pub connections: usize,
    /// Measured seconds (after the warm-up).
    pub seconds: f64,
    /// Successful requests per second.
    pub rps: f64,
    /// Successful requests.
    pub ok: u64,
    /// Failed requests.
    pub failed: u64,
    /// Failures by code.
    pub errors: BTreeMap<String, u64>,
    /// Scenario counters.
    pub counters: BTreeMap<String, u64>,
    /// Latency of successful requests.
    pub latency: Latency,
    /// The second series (convergence), when the scenario has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub convergence: Option<Latency>,
    /// Response body bytes of the last successful answer (for sizing the ceiling).
    pub response_bytes: usize,
}

impl Summary {
    /// Builds the summary of a merged recorder.
    pub fn new(
        scenario: &str,
        target: &str,
        connections: usize,
        seconds: f64,
        r: &Recorder,
        response_bytes: usize,
    ) -> Self {
        let ok = r.ok.len();
        Summary {
            scenario: scenario.to_string(),
            target: target.to_string(),
            connections,
            seconds,
            rps: if seconds > 0.0 {
                ok as f64 / seconds
            } else {
                0.0
            },
            ok,
            failed: r.errors.values().sum(),
            errors: r.errors.clone(),
            counters: r
                .counters
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            latency: Latency::of(&r.ok),
            convergence: (!r.extra.is_empty()).then(|| Latency::of(&r.extra)),
            response_bytes,
        }
    }

    /// One human-readable block.
    pub fn human(&self) -> String {
        let l = &self.latency;
        let mut s = format!(
            "{:<22} {:>9.0} req/s  p50 {:>7.3} ms  p99 {:>7.3} ms  p99.9 {:>7.3} ms  max {:>8.3} ms  ok {} failed {} ({} conns, {:.1} s, {} B/answer)",
            self.scenario, self.rps, l.p50_ms, l.p99_ms, l.p999_ms, l.max_ms, self.ok, self.failed,
            self.connections, self.seconds, self.response_bytes
        );
        if !self.errors.is_empty() {
            s.push_str(&format!("\n    errors: {:?}", self.errors));
        }
        if !self.counters.is_empty() {
            s.push_str(&format!("\n    counters: {:?}", self.counters));
        }
        if let Some(c) = &self.convergence {
            s.push_str(&format!(
                "\n    convergence (Creating -> Available seen): n {} p50 {:.3} ms p99 {:.3} ms p99.9 {:.3} ms max {:.3} ms",
                c.count, c.p50_ms, c.p99_ms, c.p999_ms, c.max_ms
            ));
        }
        s
    }
}
