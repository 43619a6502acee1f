//! Why a local invocation could not run. Each message names the thing, the cause, and what to
//! do next. A handler that runs and fails is not an error here: it is part of the report.

use std::path::PathBuf;

use crate::bundle::BuildError;

use super::env::MissingVar;

#[derive(Debug, thiserror::Error)]
pub(crate) enum InvokeError {
    #[error("`invoke` runs functions on this machine only: add --local")]
    NotLocal { function: String },

    #[error("the event from {from} is not valid JSON: {message} at line {line}, column {column}")]
    BadEvent {
        from: String,
        message: String,
        line: usize,
        column: usize,
    },

    #[error("cannot read the event from {from}: {cause}")]
    EventRead { from: String, cause: std::io::Error },

    #[error("--env `{arg}` is not KEY=VALUE")]
    BadEnvArg { arg: String },

    #[error("function `{function}` has `tracing_sdk: otel-layer`: its OpenTelemetry SDK and exec wrapper come from AWS's Lambda layer, which exists only in Lambda, so it cannot run locally")]
    OtelLayer { function: String },

    #[error("--timeout 0: the handler would be killed before it starts")]
    BadTimeout,

    #[error("--trace-out {}: directory {} does not exist", path.display(), dir.display())]
    TraceOutDir { path: PathBuf, dir: PathBuf },

    #[error("{}", missing_message(function, region, missing, absent_stacks))]
    MissingEnvironment {
        function: String,
        region: String,
        missing: Vec<MissingVar>,
        absent_stacks: Vec<String>,
    },

    #[error("function `{function}`: cannot read the stack outputs {} need{}", vars.join(", "), if vars.len() == 1 { "s" } else { "" })]
    Outputs {
        function: String,
        vars: Vec<String>,
        #[source]
        cause: anyhow::Error,
    },

    #[error("function `{function}` ({runtime}): no usable interpreter: {tried}")]
    InterpreterNotFound {
        function: String,
        runtime: String,
        tried: String,
        hint: String,
    },

    #[error("{detail}")]
    RuntimeMismatch { detail: String, hint: String },

    #[error("function `{function}` runs on {runtime}: no Python {} found on this machine; looked at:{}", not_found.wanted, not_found.tried.iter().map(|t| format!("\n    {t}")).collect::<String>())]
    PythonNotFound {
        function: String,
        runtime: String,
        not_found: crate::interpreter::NotFound,
    },

    #[error("--pass-env `{name}` is not a variable name")]
    BadPassEnv { name: String },

    #[error(transparent)]
    Build(#[from] BuildError),

    #[error("{action}: {cause}")]
    Io {
        action: String,
        cause: std::io::Error,
        hint: &'static str,
    },

    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl crate::error::Explain for InvokeError {
    fn class(&self) -> crate::error::Class {
        match self {
            _ if self.is_usage() => crate::error::Class::Usage,
            InvokeError::Build(e) => crate::error::Explain::class(e),
            InvokeError::Other(e) => crate::error::class_of(e),
            _ => crate::error::Class::Failure,
        }
    }

    fn hint(&self) -> Option<String> {
        Some(match self {
            InvokeError::NotLocal { function } => format!("scorekeep-deploy invoke --local {function} --event '{{...}}'; to call the deployed function, use `aws lambda invoke --function-name NAME out.json`"),
            InvokeError::BadEvent { .. } => "pass one JSON document, e.g. --event '{\"userid\": \"u-1\"}' or --event-file event.json".into(),
            InvokeError::EventRead { cause, .. } if crate::bounded::is_too_large(cause) => "Lambda takes events of at most 6 MB: pass a smaller event".into(),
            InvokeError::EventRead { .. } => "check the path, or pass the event inline with --event JSON".into(),
            InvokeError::BadEnvArg { .. } => "write e.g. --env TOPIC_ARN=arn:aws:sns:us-east-1:123456789012:scorekeep (the key: letters, digits and _)".into(),
            InvokeError::OtelLayer { .. } => "set `tracing_sdk: otel` (the same OpenTelemetry tracing, bundled) to run it with invoke --local, or invoke the deployed function".into(),
            InvokeError::BadTimeout => "pass a number of seconds from 1 to 900, or leave it out to use the function's configured timeout".into(),
            InvokeError::TraceOutDir { .. } => "create it, or write the trace somewhere else".into(),
            InvokeError::MissingEnvironment { missing, .. } => {
                let vars: Vec<String> = missing.iter().map(|m| m.var.clone()).collect();
                format!("deploy the stacks with `scorekeep-deploy up` (with the same region and endpoint), or give the values with {}", env_flags(&vars))
            }
            InvokeError::Outputs { vars, .. } => format!("to run without AWS, give the values with {}", env_flags(vars)),
            InvokeError::InterpreterNotFound { hint, .. } => hint.clone(),
            InvokeError::RuntimeMismatch { hint, .. } => hint.clone(),
            InvokeError::PythonNotFound { not_found, .. } => not_found.how_to_get(),
            InvokeError::BadPassEnv { .. } => "give one name per --pass-env, e.g. --pass-env HTTPS_PROXY (letters, digits and _)".into(),
            InvokeError::Io { hint, .. } => hint.to_string(),
            InvokeError::Build(e) => return crate::error::Explain::hint(e),
            InvokeError::Other(e) => return crate::error::explain(e.as_ref())?.hint(),
        })
    }
}

impl InvokeError {
    /// Problems in what the user gave us or in this machine's setup, found before the handler
    /// ran (exit 2), as opposed to failures (exit 1).
    pub(crate) fn is_usage(&self) -> bool {
        matches!(
            self,
            InvokeError::NotLocal { .. }
                | InvokeError::BadEvent { .. }
                | InvokeError::EventRead { .. }
                | InvokeError::BadEnvArg { .. }
                | InvokeError::BadTimeout
                | InvokeError::OtelLayer { .. }
                | InvokeError::TraceOutDir { .. }
                | InvokeError::MissingEnvironment { .. }
                | InvokeError::InterpreterNotFound { .. }
                | InvokeError::RuntimeMismatch { .. }
                | InvokeError::PythonNotFound { .. }
                | InvokeError::BadPassEnv { .. }
        )
    }

    /// For `main`'s error path: the error itself (it knows its class), or the chain it wraps.
    pub(crate) fn into_anyhow(self) -> anyhow::Error {
        match self {
            InvokeError::Other(e) => e,
            other => anyhow::Error::new(other),
        }
    }

    pub(crate) fn io(
        action: impl Into<String>,
        hint: &'static str,
    ) -> impl FnOnce(std::io::Error) -> InvokeError {
        let action = action.into();
        move |cause| InvokeError::Io {
            action,
            cause,
            hint,
        }
    }
}

fn env_flags(vars: &[String]) -> String {
    vars.iter()
        .map(|v| format!("--env {v}=VALUE"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn missing_message(
    function: &str,
    region: &str,
    missing: &[MissingVar],
    absent_stacks: &[String],
) -> String {
    let plural = if missing.len() == 1 { "" } else { "s" };
    let mut s = format!(
        "function `{function}`: {} environment variable{plural} without a value:",
        missing.len()
    );
    // Names only: the value around a reference may be a secret.
    for m in missing {
        if m.outputs.is_empty() {
            s.push_str(&format!("\n  {}: its value cannot be resolved", m.var));
        } else {
            s.push_str(&format!(
                "\n  {} needs stack output{} {}, which {} not in {region}",
                m.var,
                if m.outputs.len() == 1 { "" } else { "s" },
                m.outputs.join(", "),
                if m.outputs.len() == 1 { "is" } else { "are" },
            ));
        }
    }
    if !absent_stacks.is_empty() {
        s.push_str(&format!(
            "\n  (stack {} does not exist in {region})",
            absent_stacks.join(", ")
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_environment_names_variables_outputs_stacks_and_next_steps() {
        let missing = || InvokeError::MissingEnvironment {
            function: "random-name".into(),
            region: "eu-west-2".into(),
            missing: vec![MissingVar {
                var: "TOPIC_ARN".into(),
                outputs: vec!["ScorekeepNotificationTopicArn".into()],
            }],
            absent_stacks: vec!["scorekeep-lambda".into()],
        };
        assert!(missing().is_usage());
        let code = crate::exit::code_for(&missing().into_anyhow());
        assert_eq!(code, crate::exit::USAGE);
        let text = crate::exit::Failure::render(&missing().into_anyhow());
        assert_eq!(
            text,
            "function `random-name`: 1 environment variable without a value:\n  \
TOPIC_ARN needs stack output ScorekeepNotificationTopicArn, which is not in eu-west-2\n  \
(stack scorekeep-lambda does not exist in eu-west-2)\n  \
hint: deploy the stacks with `scorekeep-deploy up` (with the same region and endpoint), or give the values with --env TOPIC_ARN=VALUE"
        );
    }

    #[test]
    fn failures_keep_exit_code_one() {
        let e = InvokeError::Outputs {
            function: "f".into(),
            vars: vec!["A".into(), "B".into()],
            cause: anyhow::anyhow!("no credentials"),
        };
        let e = e.into_anyhow();
        let text = crate::exit::Failure::render(&e);
        assert!(
            text.starts_with(
                "function `f`: cannot read the stack outputs A, B need: no credentials"
            ),
            "{text}"
        );
        assert!(
            text.ends_with(
                "hint: to run without AWS, give the values with --env A=VALUE --env B=VALUE"
            ),
            "{text}"
        );
        assert_eq!(crate::exit::code_for(&e), crate::exit::FAILURE);
    }
}
