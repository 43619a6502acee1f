//! A gradual release's alias: the alias keeps its version and sends a share of its traffic to
//! a second one (`RoutingConfig.AdditionalVersionWeights`). Moving the alias to one version
//! with no routing (the end of a release, or its revert) is [`super::versions::point_alias`].

use std::collections::HashMap;

use aws_sdk_lambda::types::AliasRoutingConfiguration;
use aws_sdk_lambda::Client;

use super::progress::Progress;
use super::versions::{get_alias, AliasState};
use crate::aws::lambda::with_conflict_retry;
use crate::aws::{error_code, explain};

/// Where [`route`] is to leave the alias.
pub(crate) struct Routing<'a> {
    pub(crate) name: &'a str,
    pub(crate) alias: &'a str,
    /// The version that keeps the rest of the traffic.
    pub(crate) primary: &'a str,
    /// The new version and its share (0 < weight < 1).
    pub(crate) candidate: &'a str,
    pub(crate) weight: f64,
}

impl Routing<'_> {
    fn reached(&self, a: &AliasState) -> bool {
        a.version == self.primary
            && a.routing.len() == 1
            && a.routing
                .get(self.candidate)
                .is_some_and(|w| (w - self.weight).abs() < 1e-6)
    }
}

/// UpdateAlias to `to`, guarded by `state`'s revision so a concurrent move is not overwritten;
/// a refused revision or a lost answer is read back. Returns the alias as it now is.
pub(crate) async fn route(
    lambda: &Client,
    to: &Routing<'_>,
    state: &AliasState,
    task: &dyn Progress,
) -> anyhow::Result<AliasState> {
    let what = format!(
        "sending {:.0} % of alias {} of function {} to version {}",
        to.weight * 100.0,
        to.alias,
        to.name,
        to.candidate
    );
    let weights = HashMap::from([(to.candidate.to_string(), to.weight)]);
    let moving = format!("routing alias {} of function", to.alias);
    let answer = with_conflict_retry(lambda, to.name, &moving, task, || {
        let mut request = lambda
            .update_alias()
            .function_name(to.name)
            .name(to.alias)
            .function_version(to.primary)
            .description(state.description.as_str())
            .routing_config(
                AliasRoutingConfiguration::builder()
                    .set_additional_version_weights(Some(weights.clone()))
                    .build(),
            );
        if !state.revision_id.is_empty() {
            request = request.revision_id(&state.revision_id);
        }
        request.send()
    })
    .await?;
    match answer {
        Ok(out) => Ok(AliasState::from_parts(
            out.function_version(),
            out.revision_id(),
            out.description(),
            out.routing_config(),
        )),
        Err(err) if error_code(&err) == Some("PreconditionFailedException") => {
            let now = get_alias(lambda, to.name, to.alias).await?;
            match now {
                Some(now) if to.reached(&now) => Ok(now),
                now => Err(moved_meanwhile(&what, to, now.as_ref())),
            }
        }
        Err(err) => Err(explain(&what, &err).into()),
    }
}

fn moved_meanwhile(what: &str, to: &Routing<'_>, now: Option<&AliasState>) -> anyhow::Error {
    let at = now.map_or("(none)".to_string(), |a| a.version.clone());
    crate::error::Problem::failure(format!(
        "{what}: the alias changed since it was read, and it now names version {at}"
    ))
    .resource(format!("function {} alias {}", to.name, to.alias))
    .hint(format!(
        "another deploy or a hand edit moved it meanwhile; `scorekeep-deploy status` shows it, then rerun `update-functions {}`",
        to.name
    ))
    .into()
}
