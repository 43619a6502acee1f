//! The pre-traffic check of a release: a function's `smoke_event` is sent to the new version
//! directly (qualified by its number) before the alias sends it any traffic; a handler that
//! fails, or a call that does, stops the release there.

use std::path::Path;

use aws_sdk_lambda::Client;

use crate::aws::lambda::invoke_version;
use crate::bounded::{self, Input};
use crate::error::Problem;

/// Lambda's limit on a synchronous invocation's request payload.
const MAX_PAYLOAD: usize = 6 * 1024 * 1024;

/// Invoke version `version` of `name` with the event in `event`; `Ok` when the handler
/// returned without a function error.
pub(crate) async fn smoke_test(
    lambda: &Client,
    name: &str,
    version: &str,
    event: &Path,
) -> anyhow::Result<()> {
    let payload = read_event(event)?;
    let answer = invoke_version(lambda, name, version, payload).await?;
    let Some(error) = answer.function_error else {
        return Ok(());
    };
    let said = String::from_utf8_lossy(&answer.payload);
    Err(Problem::failure(format!(
        "smoke test of function {name} version {version} failed ({error}): {}; no traffic was moved to it",
        excerpt(&said)
    ))
    .resource(format!("lambda function {name}:{version}"))
    .hint(format!(
        "run the handler on this machine with the same event (`scorekeep-deploy invoke --local <function> --event-file {}`), fix it and rerun",
        event.display()
    ))
    .into())
}

fn read_event(event: &Path) -> anyhow::Result<Vec<u8>> {
    let bytes = bounded::read(event, Input::Event).map_err(|e| {
        anyhow::Error::from(
            Problem::usage(format!("reading smoke_event {}: {e}", event.display()))
                .hint("`smoke_event` is a JSON file, relative to the config file"),
        )
    })?;
    if bytes.len() > MAX_PAYLOAD {
        return Err(Problem::usage(format!(
            "smoke_event {} is {} bytes, over Lambda's 6 MB synchronous payload limit",
            event.display(),
            bytes.len()
        ))
        .into());
    }
    if let Err(e) = serde_json::from_slice::<serde_json::Value>(&bytes) {
        return Err(
            Problem::usage(format!("smoke_event {} is not JSON: {e}", event.display())).into(),
        );
    }
    Ok(bytes)
}

/// The start of what the handler returned, one line, at most 300 characters.
fn excerpt(said: &str) -> String {
    let one_line = crate::text::field(said.trim());
    match one_line.char_indices().nth(300) {
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
        None => one_line.into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_or_multi_line_answer_is_cut_to_one_line() {
        assert_eq!(
            excerpt("{\"errorMessage\": \"boom\"}\n"),
            "{\"errorMessage\": \"boom\"}"
        );
        assert_eq!(excerpt("a\nb"), "a\\nb");
        assert_eq!(excerpt(&"x".repeat(400)).chars().count(), 301);
    }

    #[test]
    fn an_event_that_is_not_json_is_a_usage_error_before_any_call() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("smoke.json");
        std::fs::write(&path, "{not json").unwrap();
        let err = read_event(&path).unwrap_err();
        assert!(err.to_string().contains("is not JSON"), "{err}");
        std::fs::write(&path, "{\"userid\": \"u-1\"}").unwrap();
        assert!(read_event(&path).is_ok());
    }
}
