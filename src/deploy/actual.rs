//! What Lambda has for each function the sync works on, and how it differs from the desired
//! build and configuration: `$LATEST`, the release alias, and the version the alias names.
//!
//! A few functions are read one by one: GetFunction (configuration and tags), GetAlias and the
//! alias's version, at once. From [`PREFETCH_MIN`] functions on, one bulk read comes first:
//! ListFunctions with `FunctionVersion=ALL` (every function's `$LATEST` and published versions,
//! 50 a page) alongside every alias (GetAlias, [`READ_CONCURRENCY`] at a time). A published
//! version never changes, so the alias and the listed configuration of the version it names
//! always agree; a version or function the listing does not have is read on its own.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_lambda::Client;

use crate::aws::lambda::{self, LiveFunction};
use crate::aws::lambda_list;
use crate::aws::versions::get_alias;

use super::concurrent;
use super::functions::{self, ConfigChange, DesiredFunction, Unstored};
use super::release::AliasState;

/// From this many functions on, one bulk read beats reading each.
pub(crate) const PREFETCH_MIN: usize = 10;

/// How many aliases are read at once in the bulk read: reads only, no waits between them.
pub(crate) const READ_CONCURRENCY: usize = 16;

/// What Lambda reports about one function.
#[derive(Debug, Clone)]
pub(crate) struct Actual {
    pub(crate) latest: LiveFunction,
    pub(crate) alias: Option<AliasState>,
    /// The version the alias names, as Lambda reports it (`None` without an alias).
    pub(crate) served: Option<LiveFunction>,
    pub(crate) unstored: Unstored,
}

/// The differences that decide the steps, echoes of unstored settings left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Differences {
    /// Code sha and architecture of `$LATEST`.
    pub(crate) code: Vec<ConfigChange>,
    /// Configuration fields of `$LATEST`.
    pub(crate) config: Vec<ConfigChange>,
    /// Fields that differ only as the function's unstored tag says the endpoint reports them.
    pub(crate) echoes: Vec<String>,
}

/// Compare `$LATEST` with the desired build and configuration.
pub(crate) fn differences(actual: &Actual, sha: &str, desired: &DesiredFunction) -> Differences {
    let (code, mut echoes) = functions::split_unstored(
        functions::code_changes(&actual.latest, sha, &desired.settings),
        &actual.unstored,
    );
    let (config, more) = functions::split_unstored(
        functions::config_changes(&actual.latest.settings, &desired.settings),
        &actual.unstored,
    );
    echoes.extend(more);
    Differences {
        code,
        config,
        echoes,
    }
}

/// What the alias's version has other than desired: `code`, `architecture`, config fields.
pub(crate) fn served_differs(actual: &Actual, sha: &str, desired: &DesiredFunction) -> Vec<String> {
    let Some(served) = &actual.served else {
        return Vec::new();
    };
    let all = functions::code_changes(served, sha, &desired.settings)
        .into_iter()
        .chain(functions::config_changes(
            &served.settings,
            &desired.settings,
        ));
    let (real, _) = functions::split_unstored(all.collect(), &actual.unstored);
    real.into_iter().map(|c| c.field).collect()
}

/// The bulk read of many functions (empty for a few: each is then read on its own).
#[derive(Debug, Default)]
pub(crate) struct Prefetched {
    /// Every listed configuration, by Lambda name and version (`$LATEST` or a number).
    versions: BTreeMap<(String, String), LiveFunction>,
    /// Each function's release alias (`None`: it has none, or the function does not exist).
    aliases: BTreeMap<String, Option<AliasState>>,
}

impl Prefetched {
    /// Read `names` in bulk when there are [`PREFETCH_MIN`] or more; else nothing.
    pub(crate) async fn read(
        lambda: &Client,
        names: &BTreeSet<String>,
        alias: &str,
    ) -> anyhow::Result<Prefetched> {
        if names.len() < PREFETCH_MIN {
            return Ok(Prefetched::default());
        }
        let aliases = async {
            let jobs = names.iter().map(|n| get_alias(lambda, n, alias)).collect();
            let results = concurrent::run_with_limit(READ_CONCURRENCY, jobs).await;
            // A failed read is left out: that function is read on its own and fails alone.
            let read: BTreeMap<_, _> = names
                .iter()
                .cloned()
                .zip(results)
                .filter_map(|(name, r)| r.ok().map(|a| (name, a)))
                .collect();
            Ok::<_, anyhow::Error>(read)
        };
        let (listed, aliases) =
            tokio::try_join!(lambda_list::live_versions(lambda, names), aliases)?;
        let versions = listed
            .into_iter()
            .map(|live| {
                (
                    (live.name.clone(), live.function.version.clone()),
                    live.function,
                )
            })
            .collect();
        Ok(Prefetched { versions, aliases })
    }

    fn version(&self, name: &str, version: &str) -> Option<LiveFunction> {
        self.versions
            .get(&(name.to_string(), version.to_string()))
            .cloned()
    }
}

/// What one read found, before the unstored tag is considered.
struct Found {
    latest: LiveFunction,
    /// The unstored tag when the read brought the tags (GetFunction does; a listing does not).
    tag: Option<String>,
    alias: Option<AliasState>,
    served: Option<LiveFunction>,
}

/// `$LATEST`, the alias and the alias's version (from `prefetched` where it has them); the
/// unstored tag only when a difference is in a field it may explain and the read did not
/// bring it. `None`: the function does not exist.
pub(crate) async fn read(
    lambda: &Client,
    prefetched: &Prefetched,
    alias_name: &str,
    sha: &str,
    desired: &DesiredFunction,
) -> anyhow::Result<Option<Actual>> {
    let name = desired.name.as_str();
    let found = match (
        prefetched.version(name, "$LATEST"),
        prefetched.aliases.get(name),
    ) {
        (Some(latest), Some(alias)) => {
            let served = match alias {
                Some(a) => match prefetched.version(name, &a.version) {
                    Some(listed) => Some(listed),
                    None => lambda::get_live_at(lambda, name, Some(&a.version)).await?,
                },
                None => None,
            };
            Found {
                latest,
                tag: None,
                alias: alias.clone(),
                served,
            }
        }
        _ => match read_one(lambda, name, alias_name).await? {
            Some(found) => found,
            None => return Ok(None),
        },
    };
    let mut actual = Actual {
        latest: found.latest,
        alias: found.alias,
        served: found.served,
        unstored: Unstored::default(),
    };
    let raw = differences(&actual, sha, desired);
    let served_raw = served_differs(&actual, sha, desired);
    let fields = raw
        .code
        .iter()
        .chain(&raw.config)
        .map(|c| c.field.as_str())
        .chain(served_raw.iter().map(String::as_str));
    if functions::may_be_unstored(fields) {
        let tag = match found.tag {
            Some(tag) => tag,
            None => lambda::unstored_tag(lambda, &actual.latest.arn).await?,
        };
        actual.unstored = Unstored::parse(&tag);
    }
    Ok(Some(actual))
}

/// One function on its own: GetFunction, GetAlias and the alias's configuration at once.
async fn read_one(lambda: &Client, name: &str, alias_name: &str) -> anyhow::Result<Option<Found>> {
    let (latest, alias, served) = tokio::try_join!(
        lambda::get_function(lambda, name),
        get_alias(lambda, name, alias_name),
        lambda::get_live_at(lambda, name, Some(alias_name)),
    )?;
    let Some(latest) = latest else {
        return Ok(None);
    };
    // The alias may have moved between the two reads: read the version it names.
    let served = match (&alias, served) {
        (Some(a), Some(s)) if s.version != a.version => {
            lambda::get_live_at(lambda, name, Some(&a.version)).await?
        }
        (Some(_), served) => served,
        (None, _) => None,
    };
    Ok(Some(Found {
        latest: latest.live,
        tag: Some(latest.unstored_tag),
        alias,
        served,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::lambda::FunctionSettings;

    fn settings() -> FunctionSettings {
        FunctionSettings {
            runtime: "nodejs22.x".into(),
            handler: "index.handler".into(),
            memory: 128,
            timeout: 10,
            tracing: "Active".into(),
            architecture: "x86_64".into(),
            layers: Vec::new(),
            environment: BTreeMap::new(),
        }
    }

    fn live(sha: &str, version: &str) -> LiveFunction {
        LiveFunction {
            arn: "arn:fn".into(),
            code_sha256: sha.into(),
            version: version.into(),
            settings: settings(),
            ..Default::default()
        }
    }

    fn desired() -> DesiredFunction {
        DesiredFunction {
            key: "f".into(),
            name: "f".into(),
            settings: settings(),
        }
    }

    fn actual(latest: &str, served: Option<&str>) -> Actual {
        Actual {
            latest: live(latest, "$LATEST"),
            alias: served.map(|_| AliasState {
                version: "2".into(),
                ..Default::default()
            }),
            served: served.map(|sha| live(sha, "2")),
            unstored: Unstored::default(),
        }
    }

    #[test]
    fn a_stopped_release_is_seen_from_the_alias_not_from_this_run() {
        // The code reached $LATEST, the alias still names the old version: nothing to upload,
        // but the alias's version has other code.
        let a = actual("new", Some("old"));
        assert_eq!(differences(&a, "new", &desired()).code, vec![]);
        assert_eq!(served_differs(&a, "new", &desired()), vec!["code"]);
        // Everything in place: nothing differs anywhere.
        let a = actual("new", Some("new"));
        assert!(served_differs(&a, "new", &desired()).is_empty());
    }

    #[test]
    fn configuration_of_the_alias_version_counts_and_echoes_do_not() {
        let mut a = actual("s", Some("s"));
        a.served.as_mut().unwrap().settings.memory = 256;
        assert_eq!(served_differs(&a, "s", &desired()), vec!["memory"]);
        let mut a = actual("s", Some("s"));
        a.latest.settings.tracing = "PassThrough".into();
        a.served.as_mut().unwrap().settings.tracing = "PassThrough".into();
        assert_eq!(served_differs(&a, "s", &desired()), vec!["tracing"]);
        a.unstored = Unstored::parse("tracing=Active/PassThrough");
        assert!(served_differs(&a, "s", &desired()).is_empty());
        let d = differences(&a, "s", &desired());
        assert!(d.config.is_empty());
        assert_eq!(d.echoes, vec!["tracing"]);
    }

    #[test]
    fn another_architecture_is_a_code_change() {
        let a = actual("s", Some("s"));
        let mut arm = desired();
        arm.settings.architecture = "arm64".into();
        let d = differences(&a, "s", &arm);
        assert_eq!(d.code.len(), 1);
        assert_eq!(d.code[0].field, "architecture");
        assert_eq!(served_differs(&a, "s", &arm), vec!["architecture"]);
    }
}
