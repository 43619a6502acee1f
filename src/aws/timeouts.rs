//! How long one AWS call may take, and how often it is retried.
//!
//! Every call has a connect, read and per-attempt timeout in seconds and a total budget that
//! bounds all its attempts and backoffs, so a hung endpoint fails in well under 30 s instead of
//! the SDK's 5 × 60 s. Code and template uploads get a longer read budget: their request body
//! is megabytes, not bytes.

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
}
