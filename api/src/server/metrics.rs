//! Prometheus metrics, written by hand over atomics (no metrics crate).
//!
//! Two kinds: per-route HTTP metrics, recorded by the [`track`] middleware
//! for every route in the router (so routes added later get them for free),
//! and a small registry of named counters, gauges and histograms that any
//! handler can record into through `state.metrics()`:
//! `state.metrics().counter("cloutdesk_rerank_runs_total", "Re-rank runs").inc()`.
//!
//! Invariant: recording is lock-free on the hot path (a read lock on a map
//! that only grows when a new route, method or name is first seen).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::AppState;

/// Latency buckets, seconds.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Debug, Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    pub fn set(&self, v: i64) {
        self.0.store(v, Ordering::Relaxed);
    }
    pub fn add(&self, v: i64) {
        self.0.fetch_add(v, Ordering::Relaxed);
    }
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A fixed-bucket histogram of seconds.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// Non-cumulative counts per bucket, plus one for +Inf.
    counts: Vec<AtomicU64>,
    sum_nanos: AtomicU64,
    count: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new(LATENCY_BUCKETS)
    }
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_nanos: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, secs: f64) {
        let i = self
            .bounds
            .iter()
            .position(|&b| secs <= b)
            .unwrap_or(self.bounds.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum_nanos
            .fetch_add((secs.max(0.0) * 1e9) as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cum = 0u64;
        for (i, b) in self.bounds.iter().enumerate() {
            cum += self.counts[i].load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {cum}");
        }
        cum += self.counts[self.bounds.len()].load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {cum}");
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {sum}");
        let _ = writeln!(out, "{name}_count{braces} {cum}");
    }
}

#[derive(Debug)]
enum Metric {
    Counter(Arc<Counter>),
    Gauge(Arc<Gauge>),
    Histogram(Arc<Histogram>),
}

#[derive(Debug)]
struct RouteStats {
    /// Responses per status code (index: code - 100).
    status: Vec<AtomicU64>,
    latency: Histogram,
}

impl Default for RouteStats {
    fn default() -> Self {
        RouteStats {
            status: (100..600).map(|_| AtomicU64::new(0)).collect(),
            latency: Histogram::default(),
        }
    }
}

/// The registry. Reach it through `AppState::metrics()`.
#[derive(Debug)]
pub struct Metrics {
    routes: RwLock<HashMap<(String, String), Arc<RouteStats>>>,
    named: RwLock<BTreeMap<String, (String, Metric)>>,
    pub in_flight: Arc<Gauge>,
    pub snapshot_version: Arc<Gauge>,
    pub snapshot_creators: Arc<Gauge>,
    pub snapshot_swaps: Arc<Counter>,
    pub match_seconds: Arc<Histogram>,
    pub match_eligible: Arc<Counter>,
    pub matches_rejected: Arc<Counter>,
    pub ingest_seconds: Arc<Histogram>,
    pub ingests_failed: Arc<Counter>,
    pub campaigns: Arc<Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    pub fn new() -> Metrics {
        let m = Metrics {
            routes: RwLock::default(),
            named: RwLock::default(),
            in_flight: Arc::default(),
            snapshot_version: Arc::default(),
            snapshot_creators: Arc::default(),
            snapshot_swaps: Arc::default(),
            match_seconds: Arc::default(),
            match_eligible: Arc::default(),
            matches_rejected: Arc::default(),
            ingest_seconds: Arc::default(),
            ingests_failed: Arc::default(),
            campaigns: Arc::default(),
        };
        m.register(
            "cloutdesk_http_requests_in_flight",
            "HTTP requests being served",
            Metric::Gauge(m.in_flight.clone()),
        );
        m.register(
            "cloutdesk_snapshot_version",
            "Version number of the served snapshot (0: none)",
            Metric::Gauge(m.snapshot_version.clone()),
        );
        m.register(
            "cloutdesk_snapshot_creators",
            "Creators in the served snapshot",
            Metric::Gauge(m.snapshot_creators.clone()),
        );
        m.register(
            "cloutdesk_snapshot_swaps_total",
            "Snapshots swapped in since start (including the first)",
            Metric::Counter(m.snapshot_swaps.clone()),
        );
        m.register(
            "cloutdesk_match_seconds",
            "Engine time per match (validation excluded), seconds",
            Metric::Histogram(m.match_seconds.clone()),
        );
        m.register(
            "cloutdesk_match_eligible_total",
            "Creators passing the hard rules, summed over matches",
            Metric::Counter(m.match_eligible.clone()),
        );
        m.register(
            "cloutdesk_matches_rejected_total",
            "Matches and searches refused with 429 (too many in flight)",
            Metric::Counter(m.matches_rejected.clone()),
        );
        m.register(
            "cloutdesk_ingest_seconds",
            "Successful POST /v1/ingest loads (load + open + swap), seconds",
            Metric::Histogram(m.ingest_seconds.clone()),
        );
        m.register(
            "cloutdesk_ingests_failed_total",
            "POST /v1/ingest loads that published nothing",
            Metric::Counter(m.ingests_failed.clone()),
        );
        m.register(
            "cloutdesk_campaigns",
            "Campaigns in the store (all orgs)",
            Metric::Gauge(m.campaigns.clone()),
        );
        m
    }

    fn register(&self, name: &str, help: &str, metric: Metric) {
        self.named
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_string(), (help.to_string(), metric));
    }

    fn get_or<T>(
        &self,
        name: &str,
        help: &str,
        pick: impl Fn(&Metric) -> Option<Arc<T>>,
        make: impl FnOnce() -> (Arc<T>, Metric),
    ) -> Arc<T> {
        if let Some((_, m)) = self
            .named
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
        {
            if let Some(x) = pick(m) {
                return x;
            }
            panic!("metric {name} is registered with another type");
        }
        let mut w = self.named.write().unwrap_or_else(|p| p.into_inner());
        if let Some((_, m)) = w.get(name) {
            return pick(m)
                .unwrap_or_else(|| panic!("metric {name} is registered with another type"));
        }
        let (x, m) = make();
        w.insert(name.to_string(), (help.to_string(), m));
        x
    }

    /// The counter `name` (created on first use). Names follow Prometheus
    /// rules (`cloutdesk_..._total`).
    pub fn counter(&self, name: &str, help: &str) -> Arc<Counter> {
        self.get_or(
            name,
            help,
            |m| match m {
                Metric::Counter(c) => Some(c.clone()),
                _ => None,
            },
            || {
                let c = Arc::new(Counter::default());
                (c.clone(), Metric::Counter(c))
            },
        )
    }

    pub fn gauge(&self, name: &str, help: &str) -> Arc<Gauge> {
        self.get_or(
            name,
            help,
            |m| match m {
                Metric::Gauge(c) => Some(c.clone()),
                _ => None,
            },
            || {
                let c = Arc::new(Gauge::default());
                (c.clone(), Metric::Gauge(c))
            },
        )
    }

    /// A histogram of seconds with the latency buckets.
    pub fn histogram(&self, name: &str, help: &str) -> Arc<Histogram> {
        self.get_or(
            name,
            help,
            |m| match m {
                Metric::Histogram(c) => Some(c.clone()),
                _ => None,
            },
            || {
                let c = Arc::new(Histogram::default());
                (c.clone(), Metric::Histogram(c))
            },
        )
    }

    fn route(&self, method: &str, route: &str) -> Arc<RouteStats> {
        let key = (method.to_string(), route.to_string());
        if let Some(r) = self
            .routes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return r.clone();
        }
        self.routes
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key)
            .or_default()
            .clone()
    }

    /// Records one finished request.
    pub fn record_request(&self, method: &str, route: &str, status: u16, secs: f64) {
        let r = self.route(method, route);
        if (100..600).contains(&status) {
            r.status[(status - 100) as usize].fetch_add(1, Ordering::Relaxed);
        }
        r.latency.observe(secs);
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let routes: BTreeMap<(String, String), Arc<RouteStats>> = self
            .routes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        out.push_str("# HELP cloutdesk_http_requests_total HTTP responses by route template, method and status\n");
        out.push_str("# TYPE cloutdesk_http_requests_total counter\n");
        for ((method, route), r) in &routes {
            for (i, c) in r.status.iter().enumerate() {
                let n = c.load(Ordering::Relaxed);
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "cloutdesk_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{}\"}} {n}",
                        escape(method),
                        escape(route),
                        i + 100
                    );
                }
            }
        }
        out.push_str("# HELP cloutdesk_http_request_duration_seconds HTTP request latency by route template and method\n");
        out.push_str("# TYPE cloutdesk_http_request_duration_seconds histogram\n");
        for ((method, route), r) in &routes {
            let labels = format!("method=\"{}\",route=\"{}\"", escape(method), escape(route));
            r.latency
                .render(&mut out, "cloutdesk_http_request_duration_seconds", &labels);
        }
        let named = self.named.read().unwrap_or_else(|p| p.into_inner());
        for (name, (help, m)) in named.iter() {
            let kind = match m {
                Metric::Counter(_) => "counter",
                Metric::Gauge(_) => "gauge",
                Metric::Histogram(_) => "histogram",
            };
            let _ = writeln!(out, "# HELP {name} {}", help.replace('\n', " "));
            let _ = writeln!(out, "# TYPE {name} {kind}");
            match m {
                Metric::Counter(c) => {
                    let _ = writeln!(out, "{name} {}", c.get());
                }
                Metric::Gauge(g) => {
                    let _ = writeln!(out, "{name} {}", g.get());
                }
                Metric::Histogram(h) => h.render(&mut out, name, ""),
            }
        }
        out
    }
}

/// Middleware: counts and times every request under its route template
/// (`/v1/campaigns/{id}`, or `unmatched`).
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let t0 = Instant::now();
    let method = req.method().as_str().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let m = state.metrics();
    m.in_flight.add(1);
    let resp = next.run(req).await;
    m.in_flight.add(-1);
    m.record_request(
        &method,
        &route,
        resp.status().as_u16(),
        t0.elapsed().as_secs_f64(),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_routes_and_named_metrics() {
        let m = Metrics::new();
        m.record_request("GET", "/v1/campaigns/{id}", 200, 0.003);
        m.record_request("GET", "/v1/campaigns/{id}", 404, 0.2);
        m.counter("cloutdesk_test_total", "a test").add(3);
        m.counter("cloutdesk_test_total", "a test").inc();
        let t = m.render();
        assert!(t.contains(
            "cloutdesk_http_requests_total{method=\"GET\",route=\"/v1/campaigns/{id}\",status=\"404\"} 1"
        ));
        assert!(t.contains("cloutdesk_http_request_duration_seconds_bucket{method=\"GET\",route=\"/v1/campaigns/{id}\",le=\"0.005\"} 1"));
        assert!(t.contains("cloutdesk_http_request_duration_seconds_count{method=\"GET\",route=\"/v1/campaigns/{id}\"} 2"));
        assert!(t.contains("cloutdesk_test_total 4"));
        assert!(t.contains("# TYPE cloutdesk_match_seconds histogram"));
        assert!(t.contains("cloutdesk_match_seconds_bucket{le=\"+Inf\"} 0"));
    }
}
