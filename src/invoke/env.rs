//! The environment a local invocation runs under: what Lambda itself provides, plus the
//! function's configured variables (stack outputs resolved, `--env` overrides on top).

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;

use crate::config::{referenced_outputs, resolve_references};

/// Turns off the AWS SDK for JavaScript's `NodeVersionSupportWarning`, for a handler run on
/// another Node.js major version than its runtime's (which the tool has warned about).
pub(crate) const SDK_NODE_WARNING_OFF: (&str, &str) =
    ("AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED", "true");

/// Parse `--env KEY=VALUE` arguments. The value may contain `=`; the key may not be empty.
/// Returns the first malformed argument on error.
pub(crate) fn parse_overrides(args: &[String]) -> Result<BTreeMap<String, String>, String> {
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
pub(crate) fn outputs_needed(
    configured: &BTreeMap<String, String>,
    overrides: &BTreeMap<String, String>,
) -> BTreeSet<String> {
    configured
        .iter()
        .filter(|(key, _)| !overrides.contains_key(*key))
        .flat_map(|(_, value)| referenced_outputs(value))
        .collect()
}

/// A configured variable whose value cannot be resolved. It carries no value: values may be
/// secrets and are never printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MissingVar {
    pub(crate) var: String,
    /// The stack outputs it refers to that do not exist.
    pub(crate) outputs: Vec<String>,
}

/// The function's environment: configured values with `${output:...}` and `${region}`
/// resolved, then `--env` overrides (which may also add variables). Every variable whose
/// outputs are missing is reported, not just the first.
pub(crate) fn function_environment(
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
                outputs: absent,
            });
            continue;
        }
        match resolve_references(value, outputs, region) {
            Ok(resolved) => {
                env.insert(key.clone(), resolved);
            }
            // Config validation already refused malformed references.
            Err(_) => missing.push(MissingVar {
                var: key.clone(),
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
pub(crate) struct LambdaVars<'a> {
    pub(crate) task_root: &'a str,
    pub(crate) runtime_dir: &'a str,
    pub(crate) function_name: &'a str,
    pub(crate) runtime: &'a str,
    pub(crate) handler: &'a str,
    pub(crate) memory_mb: u32,
    pub(crate) region: &'a str,
    pub(crate) trace_header: &'a str,
    pub(crate) daemon_address: &'a str,
}

impl LambdaVars<'_> {
    pub(crate) fn to_map(&self) -> BTreeMap<String, String> {
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

/// Variables that set where the SDKs send requests and how they verify TLS: passed on from
/// this machine so the handler reaches the same endpoint as the tool (`AWS_ENDPOINT_URL` itself
/// comes from the resolved configuration).
pub(crate) fn is_aws_endpoint_setting(key: &str) -> bool {
    key.starts_with("AWS_ENDPOINT_URL_")
        || matches!(key, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS" | "AWS_CA_BUNDLE")
}

/// Credentials as the AWS chain resolved them (environment, profile, SSO, role, ...).
#[derive(Clone)]
pub(crate) struct Credentials {
    pub(crate) access_key_id: String,
    pub(crate) secret_access_key: String,
    pub(crate) session_token: Option<String>,
}

/// The AWS variables the handler gets: the resolved credentials, endpoint and this machine's
/// endpoint settings ([`is_aws_endpoint_setting`]). Region variables are Lambda's own.
pub(crate) fn aws_variables(
    credentials: Option<&Credentials>,
    endpoint_url: Option<&str>,
    caller: impl IntoIterator<Item = (OsString, OsString)>,
) -> BTreeMap<String, String> {
    let mut vars: BTreeMap<String, String> = caller
        .into_iter()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, _)| is_aws_endpoint_setting(k))
        .collect();
    if let Some(c) = credentials {
        vars.insert("AWS_ACCESS_KEY_ID".into(), c.access_key_id.clone());
        vars.insert("AWS_SECRET_ACCESS_KEY".into(), c.secret_access_key.clone());
        if let Some(token) = &c.session_token {
            vars.insert("AWS_SESSION_TOKEN".into(), token.clone());
        }
    }
    if let Some(url) = endpoint_url {
        vars.insert("AWS_ENDPOINT_URL".into(), url.to_string());
    }
    vars
}

/// What the interpreter itself needs, as Lambda sets it: a PATH of the interpreter's own
/// directory (so a handler that starts `node`/`python3` gets the same one) and the system
/// directories, and a UTF-8 locale (Lambda: `en_US.UTF-8`; `C.UTF-8` needs no locale files).
/// Nothing else: not HOME (Lambda has none, and it would expose ~/.aws), TMPDIR or proxies.
pub(crate) fn base_variables(interpreter_dir: Option<&str>) -> BTreeMap<String, String> {
    let system = "/usr/local/bin:/usr/bin:/bin";
    let path = match interpreter_dir {
        Some(dir) if !dir.is_empty() => format!("{dir}:{system}"),
        _ => system.to_string(),
    };
    BTreeMap::from([
        ("PATH".to_string(), path),
        ("LANG".to_string(), "C.UTF-8".to_string()),
    ])
}

/// The `--pass-env` variables that are set here, and the names of those that are not.
pub(crate) fn passed_variables(
    names: &[String],
    lookup: impl Fn(&str) -> Option<OsString>,
) -> (BTreeMap<OsString, OsString>, Vec<String>) {
    let mut passed = BTreeMap::new();
    let mut unset = Vec::new();
    for name in names {
        match lookup(name) {
            Some(value) => {
                passed.insert(OsString::from(name), value);
            }
            None => unset.push(name.clone()),
        }
    }
    (passed, unset)
}

/// The names given to `--pass-env` that are not variable names (the first one).
pub(crate) fn check_pass_env(names: &[String]) -> Result<(), String> {
    match names.iter().find(|n| !is_valid_name(n)) {
        Some(bad) => Err(bad.clone()),
        None => Ok(()),
    }
}

/// The handler's whole environment, built from nothing: what the interpreter needs, then the
/// `--pass-env` variables, the AWS variables, Lambda's, and the function's own (later wins).
/// Nothing else of this machine's environment (tokens, keys, PYTHONPATH, ...) gets through.
pub(crate) fn process_environment(
    base: &BTreeMap<String, String>,
    passed: &BTreeMap<OsString, OsString>,
    aws: &BTreeMap<String, String>,
    lambda: &BTreeMap<String, String>,
    function: &BTreeMap<String, String>,
) -> BTreeMap<OsString, OsString> {
    let mut env: BTreeMap<OsString, OsString> =
        base.iter().map(|(k, v)| (k.into(), v.into())).collect();
    env.extend(passed.iter().map(|(k, v)| (k.clone(), v.clone())));
    for (k, v) in aws.iter().chain(lambda).chain(function) {
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
                    outputs: vec!["Queue".into()],
                },
                MissingVar {
                    var: "TOPIC_ARN".into(),
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
    fn process_environment_is_built_from_nothing_but_what_the_handler_needs() {
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
        let caller = [
            ("PATH", "/home/me/bin:/usr/bin"),
            ("HOME", "/home/me"),
            ("GITHUB_TOKEN", "ghp_x"),
            ("AWS_ACCESS_KEY_ID", "CALLER"),
            ("AWS_PROFILE", "dev"),
            ("AWS_ENDPOINT_URL", "http://caller"),
            ("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:5000/sqs"),
            ("AWS_CA_BUNDLE", "/etc/ca.pem"),
            ("_X_AMZN_TRACE_ID", "Root=old"),
            ("PYTHONPATH", "/somewhere/with/boto3"),
        ]
        .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        let creds = Credentials {
            access_key_id: "RESOLVED".into(),
            secret_access_key: "s".into(),
            session_token: Some("t".into()),
        };
        let aws = aws_variables(Some(&creds), Some("http://127.0.0.1:5000"), caller.clone());
        let (passed, unset) = passed_variables(&["HOME".into(), "NOPE".into()], |k| {
            caller.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        });
        assert_eq!(unset, ["NOPE"]);
        let env = process_environment(
            &base_variables(Some("/opt/node/bin")),
            &passed,
            &aws,
            &lambda,
            &map(&[("TOPIC_ARN", "arn"), ("AWS_REGION", "function-wins")]),
        );
        let get = |k: &str| env.get(&OsString::from(k)).map(|v| v.to_str().unwrap());
        assert_eq!(
            get("PATH"),
            Some("/opt/node/bin:/usr/local/bin:/usr/bin:/bin")
        );
        assert_eq!(get("LANG"), Some("C.UTF-8"));
        assert_eq!(get("HOME"), Some("/home/me"), "passed by name");
        assert_eq!(get("AWS_ACCESS_KEY_ID"), Some("RESOLVED"));
        assert_eq!(get("AWS_SESSION_TOKEN"), Some("t"));
        assert_eq!(get("AWS_ENDPOINT_URL"), Some("http://127.0.0.1:5000"));
        assert_eq!(
            get("AWS_ENDPOINT_URL_SQS"),
            Some("http://127.0.0.1:5000/sqs")
        );
        assert_eq!(get("AWS_CA_BUNDLE"), Some("/etc/ca.pem"));
        assert_eq!(
            get("_X_AMZN_TRACE_ID"),
            Some("Root=1-a-b;Parent=c;Sampled=1")
        );
        assert_eq!(get("TOPIC_ARN"), Some("arn"));
        assert_eq!(get("AWS_REGION"), Some("function-wins"));
        assert_eq!(get("AWS_DEFAULT_REGION"), Some("eu-west-1"));
        for absent in ["GITHUB_TOKEN", "AWS_PROFILE", "PYTHONPATH", "NOPE"] {
            assert_eq!(get(absent), None, "{absent}");
        }
    }

    #[test]
    fn without_pass_env_nothing_of_the_callers_is_inherited() {
        // Nothing passed, no AWS settings: only the base PATH and LANG.
        let bare = process_environment(
            &base_variables(None),
            &BTreeMap::new(),
            &BTreeMap::new(),
            &BTreeMap::new(),
            &BTreeMap::new(),
        );
        assert_eq!(bare.len(), 2);
    }

    #[test]
    fn pass_env_takes_variable_names_only() {
        assert_eq!(
            check_pass_env(&["FOO".into(), "A B".into()]),
            Err("A B".into())
        );
    }
}
