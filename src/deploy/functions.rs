//! What a function should be (the desired configuration, resolved) and how it differs from
//! what Lambda reports: code sha and architecture, configuration fields, and the endpoint's
//! known echoes of settings it does not store ([`Unstored`]).

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

pub(crate) use crate::aws::lambda::{FunctionSettings, LiveFunction};
use crate::config::{resolve_references, Project};
use crate::error::Problem;

/// The configuration `up` wants a function to have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DesiredFunction {
    pub key: String,
    pub name: String,
    #[serde(flatten)]
    pub settings: FunctionSettings,
}

/// One configuration field that differs. Environment values are not shown: they may be secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct ConfigChange {
    pub(crate) field: String,
    pub(crate) live: String,
    pub(crate) desired: String,
}

impl fmt::Display for ConfigChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} -> {}", self.field, self.live, self.desired)
    }
}

/// The desired configuration of a function, with `${output:...}` and `${region}` resolved.
pub(crate) fn desired_function(
    project: &Project,
    key: &str,
    outputs: &BTreeMap<String, String>,
    region: &str,
) -> anyhow::Result<DesiredFunction> {
    let f = &project.config.functions[key];
    let mut environment = BTreeMap::new();
    for (var, value) in &f.environment {
        let resolved = resolve_references(value, outputs, region).map_err(|e| {
            anyhow::Error::from(Problem::failure(format!("function {key}: environment variable {var}: {e}")).hint("the stacks must be deployed first (`scorekeep-deploy up`), and the output must be declared in a template"))
        })?;
        environment.insert(var.clone(), resolved);
    }
    let layers = otel_layer_settings(key, f, region, &mut environment)?;
    Ok(DesiredFunction {
        key: key.to_string(),
        name: project.lambda_name(key).to_string(),
        settings: FunctionSettings {
            runtime: f.runtime.clone(),
            handler: f.handler.clone(),
            memory: f.memory as i32,
            timeout: f.timeout as i32,
            tracing: f.tracing.as_str().to_string(),
            architecture: f.architecture.as_str().to_string(),
            layers,
            environment,
        },
    })
}

/// Before any change: every `otel-layer` function among `keys` has a layer in `region`, so a
/// region AWS publishes none in fails here, not after the stacks were deployed.
pub(crate) fn check_layers(project: &Project, keys: &[&str], region: &str) -> anyhow::Result<()> {
    for key in keys {
        let f = &project.config.functions[*key];
        if f.tracing_sdk == crate::config::TracingSdk::OtelLayer {
            crate::otel_layer::layer_arn(key, f.language(), region, f.architecture)?;
        }
    }
    Ok(())
}

/// When a function uses `otel-layer` and the layer table is older than its shelf life on
/// `today`, the warning `plan` prints.
pub(crate) fn stale_layer_table(project: &Project, today: &str) -> Option<String> {
    let uses_layer = project
        .config
        .functions
        .values()
        .any(|f| f.tracing_sdk == crate::config::TracingSdk::OtelLayer);
    if uses_layer {
        crate::otel_layer::staleness(today)
    } else {
        None
    }
}

/// With `tracing_sdk: otel-layer`: AWS's OpenTelemetry layer for the region and the exec
/// wrapper variable that starts the runtime through it. Otherwise no layer.
fn otel_layer_settings(
    key: &str,
    f: &crate::config::FunctionConfig,
    region: &str,
    environment: &mut BTreeMap<String, String>,
) -> anyhow::Result<Vec<String>> {
    if f.tracing_sdk != crate::config::TracingSdk::OtelLayer {
        return Ok(Vec::new());
    }
    let arn = crate::otel_layer::layer_arn(key, f.language(), region, f.architecture)
        .map_err(anyhow::Error::from)?;
    let (var, value) = crate::otel_layer::EXEC_WRAPPER;
    environment.insert(var.into(), value.into());
    Ok(vec![arn.to_string()])
}

/// Every configuration field where the live function differs from the desired one
/// (architecture is the code step's: Lambda sets it with the code).
pub(crate) fn config_changes(
    live: &FunctionSettings,
    desired: &FunctionSettings,
) -> Vec<ConfigChange> {
    let mut changes = Vec::new();
    let mut field = |name: &str, live: String, desired: String| {
        if live != desired {
            changes.push(ConfigChange {
                field: name.into(),
                live,
                desired,
            });
        }
    };
    field("runtime", live.runtime.clone(), desired.runtime.clone());
    field("handler", live.handler.clone(), desired.handler.clone());
    field(
        "memory",
        live.memory.to_string(),
        desired.memory.to_string(),
    );
    field(
        "timeout",
        live.timeout.to_string(),
        desired.timeout.to_string(),
    );
    field("tracing", live.tracing.clone(), desired.tracing.clone());
    field("layers", live.layers.join(","), desired.layers.join(","));
    let keys: std::collections::BTreeSet<&String> = live
        .environment
        .keys()
        .chain(desired.environment.keys())
        .collect();
    for key in keys {
        let state = |v: Option<&String>| match v {
            None => "(unset)".to_string(),
            Some(_) => "(set)".to_string(),
        };
        match (live.environment.get(key), desired.environment.get(key)) {
            (a, b) if a == b => {}
            (Some(_), Some(_)) => changes.push(ConfigChange {
                field: format!("environment.{key}"),
                live: "(old value)".into(),
                desired: "(new value)".into(),
            }),
            (a, b) => changes.push(ConfigChange {
                field: format!("environment.{key}"),
                live: state(a),
                desired: state(b),
            }),
        }
    }
    changes
}

/// The fields an endpoint accepted and then reported otherwise, read from and written to the
/// function's tag ([`crate::aws::lambda::UNSTORED_TAG`]): field → (sent, reported).
///
/// moto does not store TracingConfig or Architectures: a function set to `Active` reports
/// `PassThrough` forever. A difference exactly as recorded here is such an echo, not drift, and
/// is not sent again. On AWS every update is stored, the tag is never written, and comparing
/// is plain "live equals desired". Environment values are never recorded (they may be secrets).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Unstored(BTreeMap<String, (String, String)>);

/// The fields [`Unstored`] may record: those whose values fit a tag value.
const RECORDABLE: [&str; 6] = [
    "runtime",
    "handler",
    "memory",
    "timeout",
    "tracing",
    "architecture",
];

impl Unstored {
    /// Parse `tracing=Active/PassThrough architecture=arm64/x86_64`; malformed parts are ignored.
    pub(crate) fn parse(tag: &str) -> Unstored {
        let fields = tag
            .split_whitespace()
            .filter_map(|part| {
                let (field, values) = part.split_once('=')?;
                let (sent, reported) = values.split_once('/')?;
                Some((field.to_string(), (sent.to_string(), reported.to_string())))
            })
            .collect();
        Unstored(fields)
    }

    pub(crate) fn to_tag(&self) -> String {
        self.0
            .iter()
            .map(|(field, (sent, reported))| format!("{field}={sent}/{reported}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// True when `change` is the endpoint's known echo: it reports `live` for what was sent
    /// as `desired`.
    pub(crate) fn explains(&self, change: &ConfigChange) -> bool {
        self.0
            .get(&change.field)
            .is_some_and(|(sent, reported)| *sent == change.desired && *reported == change.live)
    }

    /// After an update that sent `sent`: record each field the answer still reports otherwise.
    /// True when the record changed (the tag is then written).
    pub(crate) fn learn(&mut self, sent: &[ConfigChange], reported: &[ConfigChange]) -> bool {
        let mut changed = false;
        for change in reported {
            let recordable = RECORDABLE.contains(&change.field.as_str())
                && sent.iter().any(|s| s.field == change.field)
                && tag_safe(&change.desired)
                && tag_safe(&change.live);
            if recordable && !self.explains(change) {
                let pair = (change.desired.clone(), change.live.clone());
                self.0.insert(change.field.clone(), pair);
                changed = true;
            }
        }
        changed
    }
}

/// Whether a value may go into a Lambda tag value as one `field=sent/reported` part.
fn tag_safe(value: &str) -> bool {
    !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.:+-@".contains(c))
}

/// Whether any of the differing `fields` is one [`Unstored`] may explain (worth reading the
/// tag for).
pub(crate) fn may_be_unstored<'a>(mut fields: impl Iterator<Item = &'a str>) -> bool {
    fields.any(|f| RECORDABLE.contains(&f))
}

/// The code-side difference: the bundle's sha, and the architecture it was built for.
pub(crate) fn code_changes(
    live: &LiveFunction,
    desired_sha: &str,
    desired: &FunctionSettings,
) -> Vec<ConfigChange> {
    let mut changes = Vec::new();
    if live.code_sha256 != desired_sha {
        changes.push(ConfigChange {
            field: "code".into(),
            live: live.code_sha256.clone(),
            desired: desired_sha.to_string(),
        });
    }
    if live.settings.architecture != desired.architecture {
        changes.push(ConfigChange {
            field: "architecture".into(),
            live: live.settings.architecture.clone(),
            desired: desired.architecture.clone(),
        });
    }
    changes
}

/// `changes` split into those to act on and those [`Unstored`] explains (their field names).
pub(crate) fn split_unstored(
    changes: Vec<ConfigChange>,
    unstored: &Unstored,
) -> (Vec<ConfigChange>, Vec<String>) {
    let (echoes, real): (Vec<ConfigChange>, Vec<ConfigChange>) =
        changes.into_iter().partition(|c| unstored.explains(c));
    (real, echoes.into_iter().map(|c| c.field).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desired() -> DesiredFunction {
        DesiredFunction {
            key: "random-name".into(),
            name: "random-name".into(),
            settings: FunctionSettings {
                runtime: "nodejs22.x".into(),
                handler: "index.handler".into(),
                memory: 128,
                timeout: 10,
                tracing: "Active".into(),
                architecture: "x86_64".into(),
                layers: Vec::new(),
                environment: BTreeMap::from([("TOPIC_ARN".into(), "arn:topic".into())]),
            },
        }
    }

    fn live_matching() -> LiveFunction {
        LiveFunction {
            arn: "arn:fn".into(),
            code_sha256: "abc".into(),
            last_update_status: "Successful".into(),
            state: "Active".into(),
            revision_id: "rev".into(),
            version: "$LATEST".into(),
            settings: desired().settings,
        }
    }

    #[test]
    fn identical_configuration_has_no_changes() {
        assert!(config_changes(&live_matching().settings, &desired().settings).is_empty());
    }

    #[test]
    fn each_difference_is_one_change_and_env_values_are_not_shown() {
        let mut live = live_matching().settings;
        live.memory = 256;
        live.tracing = "PassThrough".into();
        live.environment
            .insert("TOPIC_ARN".into(), "arn:secret-old".into());
        live.environment.insert("STALE".into(), "x".into());
        let changes = config_changes(&live, &desired().settings);
        let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                "memory",
                "tracing",
                "environment.STALE",
                "environment.TOPIC_ARN"
            ]
        );
        assert_eq!(changes[0].to_string(), "memory: 256 -> 128");
        assert!(changes
            .iter()
            .all(|c| !c.live.contains("secret") && !c.desired.contains("arn:topic")));
    }

    #[test]
    fn an_unstored_echo_is_explained_until_something_moves() {
        let d = desired();
        let mut reported = live_matching();
        reported.settings.tracing = "PassThrough".into(); // the endpoint ignored TracingConfig
        let sent = config_changes(&reported.settings, &d.settings);
        let mut unstored = Unstored::default();
        assert!(unstored.learn(&sent, &sent));
        assert!(!unstored.learn(&sent, &sent), "learnt once");
        let tag = unstored.to_tag();
        assert_eq!(tag, "tracing=Active/PassThrough");
        let unstored = Unstored::parse(&tag);
        let (real, echoes) =
            split_unstored(config_changes(&reported.settings, &d.settings), &unstored);
        assert!(real.is_empty(), "{real:?}");
        assert_eq!(echoes, vec!["tracing"]);

        // Another desired value, or another reported one, is a real difference again.
        let mut other = d.clone();
        other.settings.tracing = "PassThrough".into();
        reported.settings.tracing = "Active".into();
        let (real, _) = split_unstored(
            config_changes(&reported.settings, &other.settings),
            &unstored,
        );
        assert_eq!(real.len(), 1);
    }

    #[test]
    fn environment_values_and_untaggable_values_are_never_recorded() {
        let d = desired();
        let mut reported = live_matching();
        reported.settings.environment.clear();
        reported.settings.layers = vec!["arn:a,b".into()];
        let changes = config_changes(&reported.settings, &d.settings);
        let mut unstored = Unstored::default();
        assert!(!unstored.learn(&changes, &changes));
        assert_eq!(unstored.to_tag(), "");
        assert_eq!(Unstored::parse("junk tracing=x"), Unstored::default());
    }

    #[test]
    fn code_differs_by_sha_or_architecture() {
        let live = live_matching();
        assert!(code_changes(&live, "abc", &desired().settings).is_empty());
        assert_eq!(
            code_changes(&live, "new", &desired().settings)[0].field,
            "code"
        );
        let mut arm = desired().settings;
        arm.architecture = "arm64".into();
        let changes = code_changes(&live, "abc", &arm);
        assert_eq!(changes[0].to_string(), "architecture: x86_64 -> arm64");
    }
}
