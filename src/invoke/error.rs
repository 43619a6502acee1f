//! Why a local invocation could not run. Each message names the thing, the cause, and what to
//! do next. A handler that runs and fails is not an error here: it is part of the report.

use std::path::PathBuf;

use super::env::MissingVar;

/// Not a `std::error::Error`: it enters anyhow through `explained!` (below), so its class and
/// hint travel with it. What is not invoke's own (config, build, AWS, a signal) is returned as
/// its own error, next to this one, by the functions that return `anyhow::Result`.
#[derive(Debug)]
pub(crate) enum InvokeError {
    BadEvent {
        from: String,
        message: String,
        line: usize,
        column: usize,
    },
    EventRead {
        from: String,
        cause: std::io::Error,
    },
    /// A messages file (`--sqs-messages-file`) with no line that holds a message.
    NoMessages {
        from: String,
    },
    BadEnvArg {
        arg: String,
    },
    OtelLayer {
        function: String,
    },
    BadTimeout,
    TraceOutDir {
        path: PathBuf,
        dir: PathBuf,
    },
    MissingEnvironment {
        function: String,
        region: String,
        missing: Vec<MissingVar>,
        absent_stacks: Vec<String>,
    },
    Outputs {
        function: String,
        vars: Vec<String>,
        /// Why they could not be read: the next link of the chain.
        cause: anyhow::Error,
    },
    InterpreterNotFound {
        function: String,
        runtime: String,
        tried: String,
        hint: String,
    },
    RuntimeMismatch {
        detail: String,
        hint: String,
    },
    PythonNotFound {
        function: String,
        runtime: String,
        not_found: crate::interpreter::NotFound,
    },
    BadPassEnv {
        name: String,
    },
    Io {
        action: String,
        cause: std::io::Error,
        hint: &'static str,
    },
}

crate::explained!(InvokeError);

impl std::fmt::Display for InvokeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use InvokeError as E;
        match self {
            E::BadEvent { from, message, line, column } => write!(f, "the event from {from} is not valid JSON: {message} at line {line}, column {column}"),
            E::EventRead { from, cause } => write!(f, "cannot read the event from {from}: {cause}"),
            E::NoMessages { from } => write!(f, "{from} holds no message: every line is empty"),
            E::BadEnvArg { arg } => write!(f, "--env `{arg}` is not KEY=VALUE"),
            E::OtelLayer { function } => write!(f, "function `{function}` has `tracing_sdk: otel-layer`: its OpenTelemetry SDK and exec wrapper come from AWS's Lambda layer, which exists only in Lambda, so it cannot run locally"),
            E::BadTimeout => f.write_str("--timeout 0: the handler would be killed before it starts"),
            E::TraceOutDir { path, dir } => write!(f, "--trace-out {}: directory {} does not exist", path.display(), dir.display()),
            E::MissingEnvironment { function, region, missing, absent_stacks } => f.write_str(&missing_message(function, region, missing, absent_stacks)),
            E::Outputs { function, vars, .. } => write!(f, "function `{function}`: cannot read the stack outputs {} need{}", vars.join(", "), if vars.len() == 1 { "s" } else { "" }),
            E::InterpreterNotFound { function, runtime, tried, .. } => write!(f, "function `{function}` ({runtime}): no usable interpreter: {tried}"),
            E::RuntimeMismatch { detail, .. } => f.write_str(detail),
            E::PythonNotFound { function, runtime, not_found } => write!(f, "function `{function}` runs on {runtime}: no Python {} found on this machine; looked at:{}", not_found.wanted, not_found.tried.iter().map(|t| format!("\n    {t}")).collect::<String>()),
            E::BadPassEnv { name } => write!(f, "--pass-env `{name}` is not a variable name"),
            E::Io { action, cause, .. } => write!(f, "{action}: {cause}"),
        }
    }
}

impl crate::error::Explain for InvokeError {
    fn class(&self) -> crate::error::Class {
        if self.is_usage() {
            crate::error::Class::Usage
        } else {
            crate::error::Class::Failure
        }
    }

    fn hint(&self) -> Option<String> {
        Some(match self {
            InvokeError::BadEvent { .. } => "pass one JSON document, e.g. --event '{\"userid\": \"u-1\"}' or --event-file event.json".into(),
            InvokeError::EventRead { cause, .. } if crate::bounded::is_too_large(cause) => "Lambda takes events of at most 6 MB: pass a smaller event".into(),
            InvokeError::EventRead { .. } => "check the path, or pass the event inline with --event JSON".into(),
            InvokeError::NoMessages { .. } => "write one message body per line, e.g. a work order's JSON; or pass bodies with --sqs-message BODY".into(),
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
        })
    }

    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            InvokeError::Outputs { cause, .. } => Some(cause.as_ref()),
            _ => None,
        }
    }
}

impl InvokeError {
    /// Problems in what the user gave us or in this machine's setup, found before the handler
    /// ran (exit 2), as opposed to failures (exit 1).
    pub(crate) fn is_usage(&self) -> bool {
        matches!(
            self,
            InvokeError::BadEvent { .. }
                | InvokeError::EventRead { .. }
                | InvokeError::NoMessages { .. }
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
        let code = crate::exit::code_for(&missing().into());
        assert_eq!(code, crate::exit::USAGE);
        let text = crate::exit::Failure::render(&missing().into());
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
        let e = anyhow::Error::from(e);
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
