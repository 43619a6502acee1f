//! The environment a local invocation runs under: what Lambda itself provides, plus the
//! function's configured variables (stack outputs resolved, `--env` overrides on top).

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;

use crate::config::{referenced_outputs, resolve_references};

/// Parse `--env KEY=VALUE` arguments. The value may contain `=`; the key may not be empty.
/// Returns the first malformed argument on error.
pub fn parse_overrides(args: &[String]) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for arg in args {
        match arg.split_once('=') {
            Some((key, value)) if is_valid_name(key) => {
                out.insert(key.to_string(), value.to_string());
            }
            _ => return Err(arg.clone()),
        }
    }
    Ok(out)
}

fn is_valid_name(key: &str) -> bool {
    !key.is_empty()
        && !key.starts_with(|c: char| c.is_ascii_digit())
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The stack outputs the configured variables need, leaving out those `--env` overrides.
/// Empty means no AWS call is needed.
pub fn outputs_needed(
    configured: &BTreeMap<String, String>,
    overrides: &BTreeMap<String, String>,
) -> BTreeSet<String> {
    configured
        .iter()
        .filter(|(key, _)| !overrides.contains_key(*key))
        .flat_map(|(_, value)| referenced_outputs(value))
        .collect()
}

/// A configured variable whose value cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingVar {
    pub var: String,
    /// The value as configured, e.g. `${output:ScorekeepNotificationTopicArn}`.
    pub configured: String,
    /// The stack outputs it refers to that do not exist.
    pub outputs: Vec<String>,
}

/// The function's environment: configured values with `${output:...}` and `${region}`
/// resolved, then `--env` overrides (which may also add variables). Every variable whose
/// outputs are missing is reported, not just the first.
pub fn function_environment(
    configured: &BTreeMap<String, String>,
    overrides: &BTreeMap<String, String>,
    outputs: &BTreeMap<String, String>,
    region: &str,
) -> Result<BTreeMap<String, String>, Vec<MissingVar>> {
    let mut env = BTreeMap::new();
    let mut missing = Vec::new();
    for (key, value) in configured {
        if overrides.contains_key(key) {
            continue;
        }
        let absent: Vec<String> = referenced_outputs(value)
            .into_iter()
            .filter(|name| !outputs.contains_key(name))
            .collect();
        if !absent.is_empty() {
            missing.push(MissingVar {
                var: key.clone(),
                configured: value.clone(),
                outputs: absent,
            });
            continue;
        }
        match resolve_references(value, outputs, region) {
            Ok(resolved) => {
                env.insert(key.clone(), resolved);
            }
            // Config validation already refused malformed references; keep the value visible.
            Err(_) => missing.push(MissingVar {
                var: key.clone(),
                configured: value.clone(),
                outputs: Vec::new(),
            }),
        }
    }
    if !missing.is_empty() {
        return Err(missing);
    }
    env.extend(overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
    Ok(env)
}

/// What Lambda puts in every function's environment, for one local invocation.
#[derive(Debug, Clone)]
pub struct LambdaVars<'a> {
    pub task_root: &'a str,
    pub runtime_dir: &'a str,
    pub function_name: &'a str,
    pub runtime: &'a str,
    pub handler: &'a str,
    pub memory_mb: u32,
    pub region: &'a str,
    pub trace_header: &'a str,
    pub daemon_address: &'a str,
}

impl LambdaVars<'_> {
    pub fn to_map(&self) -> BTreeMap<String, String> {
        let (host, port) = self
            .daemon_address
            .rsplit_once(':')
            .unwrap_or((self.daemon_address, ""));
        [
            ("LAMBDA_TASK_ROOT", self.task_root.to_string()),
            ("LAMBDA_RUNTIME_DIR", self.runtime_dir.to_string()),
            ("_HANDLER", self.handler.to_string()),
            ("AWS_EXECUTION_ENV", format!("AWS_Lambda_{}", self.runtime)),
            ("AWS_LAMBDA_FUNCTION_NAME", self.function_name.to_string()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_string()),
            (
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                self.memory_mb.to_string(),
            ),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", self.function_name),
            ),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "local".to_string()),
            ("AWS_REGION", self.region.to_string()),
            ("AWS_DEFAULT_REGION", self.region.to_string()),
            ("_X_AMZN_TRACE_ID", self.trace_header.to_string()),
            ("AWS_XRAY_DAEMON_ADDRESS", self.daemon_address.to_string()),
            ("_AWS_XRAY_DAEMON_ADDRESS", host.to_string()),
            ("_AWS_XRAY_DAEMON_PORT", port.to_string()),
            ("AWS_XRAY_CONTEXT_MISSING", "LOG_ERROR".to_string()),
            ("TZ", ":UTC".to_string()),
            ("PYTHONUNBUFFERED", "1".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

/// Variables of this machine's environment that would make the local run differ from Lambda:
/// a trace or task root from elsewhere, X-Ray settings, interpreter search paths.
pub fn is_replaced(key: &str) -> bool {
    key.starts_with("_X_AMZN")
        || key.starts_with("LAMBDA_")
        || key.starts_with("AWS_LAMBDA_")
        || key.starts_with("AWS_XRAY_")
        || key.starts_with("_AWS_XRAY_")
        || matches!(
            key,
            "AWS_EXECUTION_ENV" | "_HANDLER" | "PYTHONPATH" | "PYTHONHOME" | "NODE_PATH"
        )
}

/// The child's whole environment: this machine's (credentials, endpoint, PATH, ...) minus
/// what [`is_replaced`] drops, then the Lambda variables, then the function's own.
pub fn process_environment(
    inherited: impl IntoIterator<Item = (OsString, OsString)>,
    lambda: &BTreeMap<String, String>,
    function: &BTreeMap<String, String>,
) -> BTreeMap<OsString, OsString> {
    let mut env: BTreeMap<OsString, OsString> = inherited
        .into_iter()
        .filter(|(k, _)| !k.to_str().is_some_and(is_replaced))
        .collect();
    for (k, v) in lambda.iter().chain(function) {
        env.insert(k.into(), v.into());
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn overrides_parse_and_reject_what_is_not_key_value() {
        let o = parse_overrides(&["A=1".into(), "B=x=y".into(), "EMPTY=".into()]).unwrap();
        assert_eq!(o, map(&[("A", "1"), ("B", "x=y"), ("EMPTY", "")]));
        assert_eq!(parse_overrides(&["NOVALUE".into()]).unwrap_err(), "NOVALUE");
        assert_eq!(parse_overrides(&["=v".into()]).unwrap_err(), "=v");
        assert_eq!(parse_overrides(&["A B=v".into()]).unwrap_err(), "A B=v");
        assert_eq!(parse_overrides(&["1A=v".into()]).unwrap_err(), "1A=v");
    }

    #[test]
    fn outputs_are_needed_only_for_variables_not_overridden() {
        let configured = map(&[
            ("TOPIC_ARN", "${output:Topic}"),
            ("QUEUE", "${output:Queue}-${region}"),
            ("PLAIN", "x"),
        ]);
        let needed = outputs_needed(&configured, &BTreeMap::new());
        assert_eq!(needed, BTreeSet::from(["Topic".into(), "Queue".into()]));
        let needed = outputs_needed(&configured, &map(&[("TOPIC_ARN", "arn"), ("QUEUE", "q")]));
        assert!(needed.is_empty());
    }

    #[test]
    fn environment_resolves_outputs_applies_overrides_and_lists_every_missing_value() {
        let configured = map(&[
            ("TOPIC_ARN", "${output:Topic}"),
            ("QUEUE", "${output:Queue}"),
            ("WHERE", "in ${region}"),
        ]);
        let outputs = map(&[("Topic", "arn:topic"), ("Queue", "https://q")]);
        let env = function_environment(
            &configured,
            &map(&[("QUEUE", "override"), ("EXTRA", "1")]),
            &outputs,
            "eu-west-1",
        )
        .unwrap();
        assert_eq!(
            env,
            map(&[
                ("TOPIC_ARN", "arn:topic"),
                ("QUEUE", "override"),
                ("WHERE", "in eu-west-1"),
                ("EXTRA", "1"),
            ])
        );

        let missing =
            function_environment(&configured, &BTreeMap::new(), &BTreeMap::new(), "r").unwrap_err();
        assert_eq!(
            missing,
            vec![
                MissingVar {
                    var: "QUEUE".into(),
                    configured: "${output:Queue}".into(),
                    outputs: vec!["Queue".into()],
                },
                MissingVar {
                    var: "TOPIC_ARN".into(),
                    configured: "${output:Topic}".into(),
                    outputs: vec!["Topic".into()],
                },
            ]
        );
        // Overriding the missing ones is enough; no outputs needed at all.
        let env = function_environment(
            &configured,
            &map(&[("QUEUE", "q"), ("TOPIC_ARN", "t")]),
            &BTreeMap::new(),
            "r",
        )
        .unwrap();
        assert_eq!(env["WHERE"], "in r");
    }

    #[test]
    fn process_environment_layers_machine_lambda_and_function_variables() {
        let lambda = LambdaVars {
            task_root: "/tmp/x/task",
            runtime_dir: "/tmp/x/runtime",
            function_name: "random-name",
            runtime: "nodejs22.x",
            handler: "index.handler",
            memory_mb: 128,
            region: "eu-west-1",
            trace_header: "Root=1-a-b;Parent=c;Sampled=1",
            daemon_address: "127.0.0.1:2000",
        }
        .to_map();
        assert_eq!(lambda["_AWS_XRAY_DAEMON_ADDRESS"], "127.0.0.1");
        assert_eq!(lambda["_AWS_XRAY_DAEMON_PORT"], "2000");
        assert_eq!(lambda["AWS_EXECUTION_ENV"], "AWS_Lambda_nodejs22.x");
        let inherited = [
            ("PATH", "/usr/bin"),
            ("AWS_ACCESS_KEY_ID", "AKIA"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
            ("AWS_REGION", "us-east-1"),
            ("_X_AMZN_TRACE_ID", "Root=old"),
            ("AWS_XRAY_TRACING_NAME", "old"),
            ("PYTHONPATH", "/somewhere/with/boto3"),
            ("LAMBDA_TASK_ROOT", "/var/task"),
        ]
        .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        let env = process_environment(
            inherited,
            &lambda,
            &map(&[("TOPIC_ARN", "arn"), ("AWS_REGION", "function-wins")]),
        );
        let get = |k: &str| env.get(&OsString::from(k)).map(|v| v.to_str().unwrap());
        assert_eq!(get("PATH"), Some("/usr/bin"));
        assert_eq!(get("AWS_ACCESS_KEY_ID"), Some("AKIA"));
        assert_eq!(get("AWS_ENDPOINT_URL"), Some("http://127.0.0.1:5000"));
        assert_eq!(
            get("_X_AMZN_TRACE_ID"),
            Some("Root=1-a-b;Parent=c;Sampled=1")
        );
        assert_eq!(get("LAMBDA_TASK_ROOT"), Some("/tmp/x/task"));
        assert_eq!(get("AWS_XRAY_TRACING_NAME"), None);
        assert_eq!(get("PYTHONPATH"), None);
        assert_eq!(get("TOPIC_ARN"), Some("arn"));
        assert_eq!(get("AWS_REGION"), Some("function-wins"));
        assert_eq!(get("AWS_DEFAULT_REGION"), Some("eu-west-1"));
    }
}
