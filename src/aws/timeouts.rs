//! How long one AWS call may take, and how often it is retried.
//!
//! Every call has a connect, read and per-attempt timeout in seconds and a total budget that
//! bounds all its attempts and backoffs, so a hung endpoint fails in well under 30 s instead of
//! the SDK's 5 × 60 s. Code and template uploads get a longer read budget: their request body
//! is megabytes, not bytes.
//!
//! Waiting for Lambda to apply an update polls GetFunctionConfiguration; several functions wait
//! at once, so every poll of a process takes a token from one [`TokenBucket`] per region
//! ([`lambda_polls`]): at most [`POLLS_PER_SECOND`] polls a second after a burst of
//! [`POLL_BURST`], however many functions wait (Lambda's control-plane quota is per account and
//! region, and the deploy's own updates and publishes need their share of it).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;

/// What kind of call: the timeouts follow from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallKind {
    /// Describe/Get/Create/Update calls with small bodies (DescribeStacks, CreateStack, ...).
    Api,
    /// UpdateFunctionCode with a zip, PutObject of a bundle or template.
    Upload,
}

/// At most this many attempts per call (1 + 7 retries); the total budget usually ends it first.
pub(crate) const MAX_ATTEMPTS: u32 = 8;
/// Backoff before retry n is random in [0, INITIAL_BACKOFF × 2^(n-1)], capped at MAX_BACKOFF:
/// short first retries (a deploy makes a few dozen calls, and a throttled one usually passes
/// on the next try), growing to seconds when throttling persists (0.1 + 0.2 + … + 5 ≈ 11 s).
pub(crate) const INITIAL_BACKOFF: Duration = Duration::from_millis(100);
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(5);

impl CallKind {
    pub(crate) fn timeouts(self) -> TimeoutConfig {
        let (read, attempt, total) = match self {
            CallKind::Api => (8, 8, 20),
            CallKind::Upload => (60, 120, 300),
        };
        TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(3))
            .read_timeout(Duration::from_secs(read))
            .operation_attempt_timeout(Duration::from_secs(attempt))
            .operation_timeout(Duration::from_secs(total))
            .build()
    }
}

/// Standard (not adaptive) retries: the adaptive mode's client-side rate limiter made `up`
/// under 30 % throttling take minutes. Jittered exponential backoff from 100 ms, capped at 5 s.
pub(crate) fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(INITIAL_BACKOFF)
        .with_max_backoff(MAX_BACKOFF)
}

/// The longest backoff before retry number `retry` (1-based), for the progress line.
pub(crate) fn max_backoff_before(retry: u32, initial: Duration, max: Duration) -> Duration {
    let factor = 2u32.saturating_pow(retry.saturating_sub(1));
    initial.saturating_mul(factor).min(max)
}

/// Lambda polls a second, across all functions of a region, once the burst is spent.
pub(crate) const POLLS_PER_SECOND: u32 = 10;
/// Polls that may go at once (8 functions starting their waits together).
pub(crate) const POLL_BURST: u32 = 10;

/// A token bucket: `acquire` takes a token and waits until the bucket's rate allows it. Each
/// caller reserves its token at once (the count may go below zero) and sleeps for its turn,
/// so waiters are served in order and none spins; in any span of `t` seconds at most
/// `burst + rate × t` acquisitions return.
#[derive(Debug)]
pub(crate) struct TokenBucket {
    per_second: f64,
    burst: f64,
    state: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    refilled: tokio::time::Instant,
}

impl TokenBucket {
    pub(crate) fn new(per_second: u32, burst: u32) -> TokenBucket {
        TokenBucket {
            per_second: f64::from(per_second.max(1)),
            burst: f64::from(burst.max(1)),
            state: Mutex::new(Bucket {
                tokens: f64::from(burst.max(1)),
                refilled: tokio::time::Instant::now(),
            }),
        }
    }

    /// Take one token, waiting for it when the bucket is empty.
    pub(crate) async fn acquire(&self) {
        let wait = {
            // A poisoned lock only means another waiter panicked: the count is still usable.
            let mut b = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let now = tokio::time::Instant::now();
            let earned = now.saturating_duration_since(b.refilled).as_secs_f64() * self.per_second;
            b.tokens = (b.tokens + earned).min(self.burst) - 1.0;
            b.refilled = now;
            if b.tokens >= 0.0 {
                Duration::ZERO
            } else {
                Duration::from_secs_f64(-b.tokens / self.per_second)
            }
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// The one bucket for Lambda polls in `region` (every client of the process shares it).
pub(crate) fn lambda_polls(region: &str) -> Arc<TokenBucket> {
    static BUCKETS: OnceLock<Mutex<HashMap<String, Arc<TokenBucket>>>> = OnceLock::new();
    let buckets = BUCKETS.get_or_init(Default::default);
    let mut buckets = buckets.lock().unwrap_or_else(|e| e.into_inner());
    buckets
        .entry(region.to_string())
        .or_insert_with(|| Arc::new(TokenBucket::new(POLLS_PER_SECOND, POLL_BURST)))
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_calls_fail_well_within_30_seconds_and_uploads_get_longer() {
        let api = CallKind::Api.timeouts();
        assert!(api.operation_timeout().unwrap() < Duration::from_secs(30));
        assert!(api.read_timeout().unwrap() <= api.operation_attempt_timeout().unwrap());
        let upload = CallKind::Upload.timeouts();
        assert!(upload.read_timeout().unwrap() > api.read_timeout().unwrap());
    }

    #[test]
    fn backoff_bound_doubles_up_to_the_cap() {
        let (i, m) = (INITIAL_BACKOFF, MAX_BACKOFF);
        assert_eq!(max_backoff_before(1, i, m), Duration::from_millis(100));
        assert_eq!(max_backoff_before(3, i, m), Duration::from_millis(400));
        assert_eq!(max_backoff_before(7, i, m), Duration::from_secs(5));
    }

    /// Acquisitions (as offsets from the start) of `tasks` tasks taking `each` tokens each.
    async fn acquisitions(bucket: Arc<TokenBucket>, tasks: usize, each: usize) -> Vec<Duration> {
        let start = tokio::time::Instant::now();
        let times = Arc::new(Mutex::new(Vec::new()));
        let mut handles = Vec::new();
        for _ in 0..tasks {
            let (bucket, times) = (bucket.clone(), times.clone());
            handles.push(tokio::spawn(async move {
                for _ in 0..each {
                    bucket.acquire().await;
                    times.lock().unwrap().push(start.elapsed());
                }
            }));
        }
        for h in handles {
            h.await.unwrap();
        }
        let mut times = times.lock().unwrap().clone();
        times.sort();
        times
    }

    /// The most acquisitions within any window of `window` starting at an acquisition.
    fn most_within(times: &[Duration], window: Duration) -> usize {
        (0..times.len())
            .map(|i| {
                times[i..]
                    .iter()
                    .take_while(|t| **t - times[i] < window)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    #[tokio::test]
    async fn eight_waiters_share_one_rate() {
        // 8 tasks × 4 tokens at 20/s with a burst of 5: unlimited, all 32 would go at once.
        let bucket = Arc::new(TokenBucket::new(20, 5));
        let times = acquisitions(bucket, 8, 4).await;
        assert_eq!(times.len(), 32);
        // The 27 beyond the burst take at least 1.35 s at 20/s; load only delays them.
        assert!(times[31] >= Duration::from_millis(1350), "{times:?}");
        // Any half second holds at most the burst plus half a second's rate, plus slack for
        // the window's edge and a task that runs a scheduling delay after its token.
        let most = most_within(&times, Duration::from_millis(500));
        assert!(most <= 5 + 10 + 3, "{most} in 0.5 s: {times:?}");
        // The burst does go at once: the bucket does not slow an idle start (at 20/s with
        // no burst the fifth would wait 200 ms).
        assert!(times[4] < Duration::from_millis(150), "{times:?}");
    }

    #[test]
    fn one_bucket_per_region() {
        assert!(Arc::ptr_eq(&lambda_polls("r-1"), &lambda_polls("r-1")));
        assert!(!Arc::ptr_eq(&lambda_polls("r-1"), &lambda_polls("r-2")));
    }
}
