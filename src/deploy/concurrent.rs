//! Per-function work (code, configuration, waits, publish) runs for several functions at
//! once: each function's steps stay in order, functions overlap, at most
//! [`FUNCTION_CONCURRENCY`] at a time so Lambda's per-account request rate is not flooded
//! (throttling that still happens is retried by the SDK and shown on the progress stream).

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use crate::error::{class_of, Problem};

/// How many functions are worked on at once.
pub(crate) const FUNCTION_CONCURRENCY: usize = 8;

/// Run `jobs` with at most [`FUNCTION_CONCURRENCY`] in flight; results in the jobs' order.
/// One failing job does not stop the others: each function gets its own result.
pub(crate) async fn run_bounded<T, F>(jobs: Vec<F>) -> Vec<anyhow::Result<T>>
where
    F: Future<Output = anyhow::Result<T>>,
{
    run_with_limit(FUNCTION_CONCURRENCY, jobs).await
}

/// Run `jobs` with at most `limit` in flight; results in the jobs' order.
pub(crate) async fn run_with_limit<T, F>(limit: usize, jobs: Vec<F>) -> Vec<anyhow::Result<T>>
where
    F: Future<Output = anyhow::Result<T>>,
{
    let permits = tokio::sync::Semaphore::new(limit.max(1));
    let permits = &permits;
    let mut pending: Vec<Pin<Box<dyn Future<Output = anyhow::Result<T>> + '_>>> = jobs
        .into_iter()
        .map(|job| {
            Box::pin(async move {
                let _permit = permits.acquire().await.expect("semaphore never closed");
                job.await
            }) as Pin<Box<dyn Future<Output = anyhow::Result<T>> + '_>>
        })
        .collect();
    let mut results: Vec<Option<anyhow::Result<T>>> = pending.iter().map(|_| None).collect();
    // All on this task (the jobs borrow the caller's state): poll every unfinished job.
    std::future::poll_fn(|cx| {
        for (job, slot) in pending.iter_mut().zip(results.iter_mut()) {
            if slot.is_none() {
                if let Poll::Ready(result) = job.as_mut().poll(cx) {
                    *slot = Some(result);
                }
            }
        }
        if results.iter().all(Option::is_some) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    results.into_iter().map(|r| r.expect("finished")).collect()
}

/// All results, or one error. An interruption wins (the journal then says what was done and
/// what was not); a single failure is returned as it is (its resource and hint intact); several
/// become one report naming each function's own result.
pub(crate) fn combine<T>(
    labels: &[String],
    results: Vec<anyhow::Result<T>>,
    describe: impl Fn(&T) -> String,
) -> anyhow::Result<Vec<T>> {
    let failed = results.iter().filter(|r| r.is_err()).count();
    if failed == 0 {
        return Ok(results
            .into_iter()
            .map(|r| r.expect("no failure"))
            .collect());
    }
    let is_interruption = |e: &anyhow::Error| class_of(e).is_interrupted();
    if failed == 1
        || results
            .iter()
            .any(|r| r.as_ref().is_err_and(is_interruption))
    {
        let mut errors = results.into_iter().filter_map(Result::err);
        let mut errors: Vec<anyhow::Error> = errors.by_ref().collect();
        let pos = errors.iter().position(is_interruption).unwrap_or(0);
        return Err(errors.swap_remove(pos));
    }
    let mut lines = vec![format!("{failed} of {} functions failed:", results.len())];
    for (label, result) in labels.iter().zip(&results) {
        match result {
            Ok(value) => lines.push(format!("  {label}: ok, {}", describe(value))),
            Err(err) => {
                let text = crate::exit::Failure::render(err);
                let mut it = text.lines();
                lines.push(format!(
                    "  {label}: FAILED: {}",
                    it.next().unwrap_or_default()
                ));
                lines.extend(it.map(|l| format!("    {}", l.trim_start())));
            }
        }
    }
    Err(Problem::failure(lines.join("\n"))
        .hint("fix each failure above and rerun; functions that succeeded are compared and not updated again")
        .into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn jobs_overlap_up_to_the_bound_and_keep_their_order() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let in_flight = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        let jobs: Vec<_> = (0..20u64)
            .map(|i| {
                let (in_flight, most) = (&in_flight, &most);
                async move {
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    // Later jobs finish first: results must still come back in job order.
                    tokio::time::sleep(Duration::from_millis(40 - i)).await;
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    anyhow::Ok(i)
                }
            })
            .collect();
        let values: Vec<u64> = run_bounded(jobs)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(values, (0..20).collect::<Vec<_>>());
        assert_eq!(most.load(Ordering::SeqCst), FUNCTION_CONCURRENCY);
    }

    #[test]
    fn several_failures_name_each_functions_own_result() {
        let labels: Vec<String> = ["function a", "function b", "function c"]
            .map(String::from)
            .to_vec();
        let results = vec![
            Err(Problem::failure("function a: boom").hint("do x").into()),
            Ok(3),
            Err(anyhow::anyhow!("function c: bang")),
        ];
        let err = crate::error::render(
            combine(&labels, results, |v| format!("version {v}")).unwrap_err(),
        );
        assert!(err.starts_with("2 of 3 functions failed:"), "{err}");
        assert!(
            err.contains("  function a: FAILED: function a: boom\n    hint: do x"),
            "{err}"
        );
        assert!(err.contains("  function b: ok, version 3"), "{err}");
        assert!(
            err.contains("  function c: FAILED: function c: bang"),
            "{err}"
        );
        assert!(err.ends_with("\n  hint: fix each failure above and rerun; functions that succeeded are compared and not updated again"), "{err}");
    }

    #[test]
    fn one_failure_or_an_interruption_passes_through_as_it_is() {
        let labels = vec!["function a".to_string(), "function b".to_string()];
        let one = combine(&labels, vec![Ok(1), Err(anyhow::anyhow!("only"))], |_| {
            String::new()
        });
        assert_eq!(one.unwrap_err().to_string(), "only");
        let interrupted = combine(
            &labels,
            vec![
                Err(anyhow::anyhow!("other")),
                Err(Problem::interrupted("interrupted (Ctrl-C)").into()),
            ],
            |_: &i32| String::new(),
        );
        assert!(class_of(&interrupted.unwrap_err()).is_interrupted());
    }
}
