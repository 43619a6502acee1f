//! Lambda versions and aliases: read and move an alias, publish a version (guarded by the
//! code sha and revision just read), list versions and aliases, delete a version.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_lambda::error::SdkError;
use aws_sdk_lambda::operation::publish_version::PublishVersionError;
use aws_sdk_lambda::Client;
use serde::Serialize;

use super::progress::Progress;
use crate::aws::lambda::{with_conflict_retry, FunctionSettings, LiveFunction};
use crate::aws::{error_code, explain};

/// Where the alias points now, with the revision that guards moving it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AliasState {
    pub version: String,
    pub revision_id: String,
    /// Where `rollback` writes its pin, so every machine sees it.
    pub description: String,
    /// Additional versions and their weights (a weighted alias runs more than `version`).
    pub routing: BTreeMap<String, f64>,
}

impl AliasState {
    pub(crate) fn from_parts(
        version: Option<&str>,
        revision_id: Option<&str>,
        description: Option<&str>,
        routing: Option<&aws_sdk_lambda::types::AliasRoutingConfiguration>,
    ) -> AliasState {
        AliasState {
            version: version.unwrap_or_default().to_string(),
            revision_id: revision_id.unwrap_or_default().to_string(),
            description: description.unwrap_or_default().to_string(),
            routing: routing
                .and_then(|r| r.additional_version_weights())
                .map(|w| w.iter().map(|(k, v)| (k.clone(), *v)).collect())
                .unwrap_or_default(),
        }
    }
}

/// One published version, as ListVersionsByFunction reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct VersionInfo {
    pub(crate) version: String,
    pub(crate) code_sha256: String,
    /// When the version was published (Lambda's `LastModified` of that version).
    pub(crate) published: String,
    /// The version's configuration fingerprint, to find a version equal to `$LATEST`.
    #[serde(skip)]
    pub(crate) fingerprint: String,
}

/// GetAlias, or `None` when the alias does not exist.
pub(crate) async fn get_alias(
    lambda: &Client,
    name: &str,
    alias: &str,
) -> anyhow::Result<Option<AliasState>> {
    match lambda
        .get_alias()
        .function_name(name)
        .name(alias)
        .send()
        .await
    {
        Ok(out) => Ok(Some(AliasState::from_parts(
            out.function_version(),
            out.revision_id(),
            out.description(),
            out.routing_config(),
        ))),
        Err(err) if error_code(&err) == Some("ResourceNotFoundException") => Ok(None),
        Err(err) => Err(explain(format!("reading alias {alias} of function {name}"), &err).into()),
    }
}

/// PublishVersion of what Lambda has now, refused by Lambda if it moved since `live` was read;
/// retried while an update of the function is in progress. The SDK does not retry it: a
/// publish whose answer was lost (5xx, timeout, dropped connection) may have made a version,
/// and a blind retry could make a second one (moto does), so the versions are read first and
/// one with exactly `live`'s code and configuration is taken. A refusal for the RevisionId is
/// checked the same way (our own earlier attempt may have used it). Throttling was not carried
/// out: it is retried after a backoff, as the SDK would.
pub(crate) async fn publish(
    lambda: &Client,
    name: &str,
    live: &LiveFunction,
    task: &dyn Progress,
) -> anyhow::Result<String> {
    use crate::aws::timeouts::{max_backoff_before, INITIAL_BACKOFF, MAX_ATTEMPTS, MAX_BACKOFF};
    let what = "publishing a version of function";
    let mut attempt = 1;
    loop {
        let err = match publish_once(lambda, name, live, task).await? {
            Ok(version) => return Ok(version),
            Err(err) => err,
        };
        let last = attempt >= MAX_ATTEMPTS;
        let wait = max_backoff_before(attempt, INITIAL_BACKOFF, MAX_BACKOFF);
        match PublishFailure::of(&err) {
            PublishFailure::Other => return Err(explain(format!("{what} {name}"), &err).into()),
            PublishFailure::Throttled | PublishFailure::Lost(_) if last => {
                return Err(explain(format!("{what} {name}"), &err).into())
            }
            PublishFailure::Throttled => {
                task.note(format!("{what} {name}: throttled (TooManyRequestsException); retrying within {:.1} s ({}/{MAX_ATTEMPTS})", wait.as_secs_f64(), attempt + 1));
                tokio::time::sleep(wait).await;
            }
            PublishFailure::Lost(how) => {
                task.note(format!("{what} {name}: no answer ({how}); checking whether Lambda published it, then retrying ({}/{MAX_ATTEMPTS})", attempt + 1));
                tokio::time::sleep(wait).await;
                if let Some(v) = published_already(lambda, name, live).await? {
                    return Ok(v);
                }
            }
            PublishFailure::Precondition => {
                return published_already(lambda, name, live).await?.ok_or_else(|| crate::error::Problem::failure(format!("function {name}: not published: its code or configuration changed after this run updated it (another deploy or a console edit?)")).hint(format!("rerun `scorekeep-deploy update-functions {name}` once the other change is done")).into());
            }
        }
        attempt += 1;
    }
}

type PublishAnswer = Result<String, SdkError<PublishVersionError>>;

/// One PublishVersion, without the SDK's retries (see [`publish`]); conflicts are waited for.
async fn publish_once(
    lambda: &Client,
    name: &str,
    live: &LiveFunction,
    task: &dyn Progress,
) -> anyhow::Result<PublishAnswer> {
    let what = "publishing a version of function";
    let answer = with_conflict_retry(lambda, name, what, task, || {
        let mut request = lambda
            .publish_version()
            .function_name(name)
            .code_sha256(&live.code_sha256);
        if !live.revision_id.is_empty() {
            request = request.revision_id(&live.revision_id);
        }
        request
            .customize()
            .config_override(
                aws_sdk_lambda::config::Builder::default()
                    .retry_config(aws_smithy_types::retry::RetryConfig::disabled()),
            )
            .send()
    })
    .await?;
    Ok(answer.map(|out| out.version().unwrap_or_default().to_string()))
}

/// The version that already holds exactly `live`'s code and configuration, if any.
pub(crate) async fn published_already(
    lambda: &Client,
    name: &str,
    live: &LiveFunction,
) -> anyhow::Result<Option<String>> {
    let (versions, _) = list_versions(lambda, name).await?;
    Ok(matching_version(&versions, live).map(String::from))
}

/// How a PublishVersion failed, as far as retrying it goes.
enum PublishFailure {
    /// Throttled: not carried out.
    Throttled,
    /// No usable answer (how): it may have been carried out.
    Lost(String),
    /// The RevisionId no longer matches.
    Precondition,
    /// Anything else: Lambda's final answer.
    Other,
}

impl PublishFailure {
    fn of(err: &SdkError<PublishVersionError>) -> PublishFailure {
        match err {
            SdkError::TimeoutError(_) => PublishFailure::Lost("timed out".into()),
            SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
                PublishFailure::Lost("the connection failed".into())
            }
            SdkError::ServiceError(e) => {
                let status = e.raw().status().as_u16();
                match error_code(err) {
                    Some("PreconditionFailedException") => PublishFailure::Precondition,
                    _ if status == 429 => PublishFailure::Throttled,
                    _ if status >= 500 => PublishFailure::Lost(format!("HTTP {status}")),
                    _ => PublishFailure::Other,
                }
            }
            _ => PublishFailure::Other,
        }
    }
}

/// The newest published version with exactly `live`'s code and configuration.
pub(crate) fn matching_version<'a>(
    versions: &'a [VersionInfo],
    live: &LiveFunction,
) -> Option<&'a str> {
    let fingerprint = live.settings.fingerprint();
    versions
        .iter()
        .rev()
        .find(|v| v.code_sha256 == live.code_sha256 && v.fingerprint == fingerprint)
        .map(|v| v.version.as_str())
}

/// CreateAlias when missing, else UpdateAlias guarded by the alias's revision (retried while
/// an update of the function is in progress). `description` replaces the alias's (a pin, or
/// empty to clear one) and a weighted alias loses its weights. An answer lost after Lambda
/// acted (CreateAlias "already exists", UpdateAlias's RevisionId already used) is checked by
/// reading the alias: done when it names `version` as asked.
pub(crate) async fn point_alias(
    lambda: &Client,
    name: &str,
    alias: &str,
    version: &str,
    current: Option<&AliasState>,
    description: &str,
    task: &dyn Progress,
) -> anyhow::Result<()> {
    let what = format!("pointing alias {alias} of function {name} at version {version}");
    let target = AliasTarget {
        name,
        alias,
        version,
        description,
        what: &what,
    };
    let refusal = match current {
        None => create_alias(lambda, &target).await,
        Some(state) => update_alias(lambda, &target, state, task).await?,
    };
    let refusal = match refusal {
        Ok(()) => return Ok(()),
        Err(AliasRefusal::Other(err)) => return Err(err.into()),
        Err(refusal) => refusal,
    };
    let now = get_alias(lambda, name, alias).await?;
    if now.as_ref().is_some_and(|a| target.reached(a)) {
        return Ok(());
    }
    if let (AliasRefusal::Exists, Some(state)) = (&refusal, &now) {
        if let Err(again) = update_alias(lambda, &target, state, task).await? {
            return Err(again.into_error(&target, Some(state)));
        }
        return Ok(());
    }
    Err(refusal.into_error(&target, now.as_ref()))
}

/// Where `point_alias` is to leave the alias.
struct AliasTarget<'a> {
    name: &'a str,
    alias: &'a str,
    version: &'a str,
    description: &'a str,
    what: &'a str,
}

impl AliasTarget<'_> {
    fn reached(&self, a: &AliasState) -> bool {
        a.version == self.version && a.description == self.description && a.routing.is_empty()
    }
}

/// Why Lambda refused to point an alias, when reading it back may show the work was done.
enum AliasRefusal {
    /// CreateAlias: the alias exists (made by a first attempt whose answer was lost?).
    Exists,
    /// UpdateAlias: the RevisionId no longer matches (used by a first attempt?).
    Moved,
    /// Any other refusal, explained.
    Other(crate::aws::AwsError),
}

impl AliasRefusal {
    fn into_error(self, target: &AliasTarget<'_>, now: Option<&AliasState>) -> anyhow::Error {
        let why = match self {
            AliasRefusal::Other(err) => return err.into(),
            AliasRefusal::Exists => "the alias already exists",
            AliasRefusal::Moved => "the alias changed since it was read",
        };
        let at = now.map_or("(none)", |a| a.version.as_str());
        crate::error::Problem::failure(format!(
            "{}: {why}, and it now names version {at}",
            target.what
        ))
        .hint(format!(
            "another deploy or a hand edit moved it meanwhile; `scorekeep-deploy plan` shows the state, then rerun `update-functions {}`",
            target.name
        ))
        .into()
    }
}

async fn create_alias(lambda: &Client, t: &AliasTarget<'_>) -> Result<(), AliasRefusal> {
    let answer = lambda
        .create_alias()
        .function_name(t.name)
        .name(t.alias)
        .function_version(t.version)
        .description(t.description)
        .send()
        .await;
    match answer {
        Ok(_) => Ok(()),
        Err(err)
            if matches!(
                error_code(&err),
                Some("ResourceConflictException" | "ConflictException")
            ) =>
        {
            Err(AliasRefusal::Exists)
        }
        Err(err) => Err(AliasRefusal::Other(explain(t.what, &err))),
    }
}

/// UpdateAlias guarded by `state`'s revision; the outer `Err` is a failed conflict wait.
async fn update_alias(
    lambda: &Client,
    t: &AliasTarget<'_>,
    state: &AliasState,
    task: &dyn Progress,
) -> anyhow::Result<Result<(), AliasRefusal>> {
    let moving = format!("moving alias {} of function", t.alias);
    let answer = with_conflict_retry(lambda, t.name, &moving, task, || {
        let mut request = lambda
            .update_alias()
            .function_name(t.name)
            .name(t.alias)
            .function_version(t.version)
            .description(t.description);
        if !state.routing.is_empty() {
            request = request.routing_config(
                aws_sdk_lambda::types::AliasRoutingConfiguration::builder()
                    .set_additional_version_weights(Some(Default::default()))
                    .build(),
            );
        }
        if !state.revision_id.is_empty() {
            request = request.revision_id(&state.revision_id);
        }
        request.send()
    })
    .await?;
    Ok(match answer {
        Ok(_) => Ok(()),
        Err(err) if error_code(&err) == Some("PreconditionFailedException") => {
            Err(AliasRefusal::Moved)
        }
        Err(err) => Err(AliasRefusal::Other(explain(t.what, &err))),
    })
}

/// Every published version (not `$LATEST`), oldest first, and `$LATEST`'s code sha.
pub(crate) async fn list_versions(
    lambda: &Client,
    name: &str,
) -> anyhow::Result<(Vec<VersionInfo>, String)> {
    let mut versions = Vec::new();
    let mut latest_sha = String::new();
    let mut marker: Option<String> = None;
    loop {
        let out = lambda
            .list_versions_by_function()
            .function_name(name)
            .set_marker(marker.take())
            .send()
            .await
            .map_err(|e| explain(format!("listing the versions of function {name}"), &e))?;
        for v in out.versions() {
            let version = v.version().unwrap_or_default().to_string();
            let sha = v.code_sha256().unwrap_or_default().to_string();
            if version == "$LATEST" {
                latest_sha = sha;
                continue;
            }
            versions.push(VersionInfo {
                version,
                code_sha256: sha,
                published: v.last_modified().unwrap_or_default().to_string(),
                fingerprint: crate::aws::lambda::settings_of!(v).fingerprint(),
            });
        }
        match out.next_marker() {
            Some(m) if !m.is_empty() => marker = Some(m.to_string()),
            _ => break,
        }
    }
    versions.sort_by_key(|v| v.version.parse::<u64>().unwrap_or(0));
    Ok((versions, latest_sha))
}

/// Versions any alias points at (ours or anyone's): never deleted.
pub(crate) async fn aliased_versions(
    lambda: &Client,
    name: &str,
) -> anyhow::Result<BTreeSet<String>> {
    let mut aliased = BTreeSet::new();
    let mut marker: Option<String> = None;
    loop {
        let out = lambda
            .list_aliases()
            .function_name(name)
            .set_marker(marker.take())
            .send()
            .await
            .map_err(|e| explain(format!("listing the aliases of function {name}"), &e))?;
        for a in out.aliases() {
            aliased.extend(a.function_version().map(String::from));
            // A weighted alias also runs its additional version.
            if let Some(routing) = a.routing_config() {
                aliased.extend(
                    routing
                        .additional_version_weights()
                        .into_iter()
                        .flatten()
                        .map(|(v, _)| v.clone()),
                );
            }
        }
        match out.next_marker() {
            Some(m) if !m.is_empty() => marker = Some(m.to_string()),
            _ => break,
        }
    }
    Ok(aliased)
}

/// DeleteFunction of one published version.
pub(crate) async fn delete_version(
    lambda: &Client,
    name: &str,
    version: &str,
) -> anyhow::Result<()> {
    lambda
        .delete_function()
        .function_name(name)
        .qualifier(version)
        .send()
        .await
        .map_err(|e| {
            explain(
                format!("deleting old version {version} of function {name}"),
                &e,
            )
        })?;
    Ok(())
}
