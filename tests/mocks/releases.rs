//! Releases: what moto cannot show. moto never checks PublishVersion's or UpdateAlias's
//! RevisionId and answers a repeated CreateAlias with its own error code, so Lambda's
//! refusals, and the answers lost after Lambda acted, are mocked here.

use aws_sdk_lambda::operation::create_alias::{CreateAliasError, CreateAliasOutput};
use aws_sdk_lambda::operation::get_alias::GetAliasOutput;
use aws_sdk_lambda::operation::list_versions_by_function::ListVersionsByFunctionOutput;
use aws_sdk_lambda::operation::publish_version::{PublishVersionError, PublishVersionOutput};
use aws_sdk_lambda::operation::update_alias::{UpdateAliasError, UpdateAliasOutput};
use aws_sdk_lambda::types::error::{PreconditionFailedException, ResourceConflictException};
use aws_sdk_lambda::types::FunctionConfiguration;
use aws_sdk_lambda::Client;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use aws_smithy_types::error::ErrorMetadata;
use scorekeep_deploy::aws::lambda::LiveFunction;
use scorekeep_deploy::config::ReleasesConfig;
use scorekeep_deploy::deploy::release::{self, AliasState, MoveReason};

fn meta(code: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).build()
}

fn precondition_failed() -> PreconditionFailedException {
    PreconditionFailedException::builder()
        .message("The Revision Id provided does not match the latest Revision Id.")
        .meta(meta("PreconditionFailedException"))
        .build()
}

/// `$LATEST` as read before publishing: configured as [`versions_with`]'s versions are.
fn live() -> LiveFunction {
    let mut live = LiveFunction {
        code_sha256: "sha=".into(),
        revision_id: "r1".into(),
        ..Default::default()
    };
    live.settings.tracing = "PassThrough".into();
    live.settings.architecture = "x86_64".into();
    live
}

/// ListVersionsByFunction answering `$LATEST` and one version `n` with `sha`, configured as
/// [`live`] is.
fn versions_with(n: &'static str, sha: &'static str) -> ListVersionsByFunctionOutput {
    let version = |v: &str| {
        FunctionConfiguration::builder()
            .version(v)
            .code_sha256(sha)
            .tracing_config(
                aws_sdk_lambda::types::TracingConfigResponse::builder()
                    .mode(aws_sdk_lambda::types::TracingMode::PassThrough)
                    .build(),
            )
            .architectures(aws_sdk_lambda::types::Architecture::X8664)
            .build()
    };
    ListVersionsByFunctionOutput::builder()
        .versions(version("$LATEST"))
        .versions(version(n))
        .build()
}

fn alias_at(version: &'static str, description: &'static str) -> GetAliasOutput {
    GetAliasOutput::builder()
        .function_version(version)
        .revision_id("a2")
        .description(description)
        .build()
}

fn current(version: &str) -> AliasState {
    AliasState {
        version: version.into(),
        revision_id: "a1".into(),
        ..Default::default()
    }
}

async fn release(lambda: &Client, current: Option<&AliasState>) -> anyhow::Result<String> {
    let reason = MoveReason::Missing;
    let out = release::release(
        lambda,
        &live(),
        "random-name",
        release::Policy {
            settings: &ReleasesConfig::default(),
            smoke_event: None,
        },
        (current, &reason),
        &crate::task(),
    )
    .await?;
    Ok(out.version)
}

#[tokio::test]
async fn a_function_changed_by_someone_else_is_not_published() {
    let publish = mock!(Client::publish_version)
        .match_requests(|r| r.code_sha256() == Some("sha=") && r.revision_id() == Some("r1"))
        .then_error(|| PublishVersionError::PreconditionFailedException(precondition_failed()));
    // No version holds this code: the refusal was not our own retry.
    let versions =
        mock!(Client::list_versions_by_function).then_output(|| versions_with("3", "other="));
    let lambda = mock_client!(aws_sdk_lambda, RuleMode::Sequential, [&publish, &versions]);
    let err =
        scorekeep_deploy::error::render(release(&lambda, Some(&current("3"))).await.unwrap_err());
    assert!(err.contains("function random-name: not published"), "{err}");
    assert!(err.contains("hint:"), "{err}");
    assert_eq!(publish.num_calls(), 1);
}

#[tokio::test]
async fn a_publish_whose_answer_was_lost_takes_the_version_it_made() {
    // The first PublishVersion made version 4 and its answer was lost; the SDK's retry is
    // refused for its RevisionId. Version 4 holds exactly this code and configuration.
    let publish = mock!(Client::publish_version)
        .then_error(|| PublishVersionError::PreconditionFailedException(precondition_failed()));
    let versions =
        mock!(Client::list_versions_by_function).then_output(|| versions_with("4", "sha="));
    let update = mock!(Client::update_alias)
        .match_requests(|r| r.function_version() == Some("4") && r.description() == Some(""))
        .then_output(|| UpdateAliasOutput::builder().build());
    let lambda = mock_client!(
        aws_sdk_lambda,
        RuleMode::Sequential,
        [&publish, &versions, &update]
    );
    assert_eq!(release(&lambda, Some(&current("3"))).await.unwrap(), "4");
    assert_eq!(update.num_calls(), 1);
}

#[tokio::test]
async fn a_create_alias_whose_answer_was_lost_is_read_back() {
    let publish = mock!(Client::publish_version)
        .then_output(|| PublishVersionOutput::builder().version("1").build());
    let create = mock!(Client::create_alias).then_error(|| {
        CreateAliasError::ResourceConflictException(
            ResourceConflictException::builder()
                .message("Alias already exists: live")
                .meta(meta("ResourceConflictException"))
                .build(),
        )
    });
    let read = mock!(Client::get_alias).then_output(|| alias_at("1", ""));
    let lambda = mock_client!(
        aws_sdk_lambda,
        RuleMode::Sequential,
        [&publish, &create, &read]
    );
    assert_eq!(release(&lambda, None).await.unwrap(), "1");
    assert_eq!((create.num_calls(), read.num_calls()), (1, 1));
}

#[tokio::test]
async fn an_alias_created_by_someone_else_meanwhile_is_moved_with_its_revision() {
    let publish = mock!(Client::publish_version)
        .then_output(|| PublishVersionOutput::builder().version("2").build());
    let create = mock!(Client::create_alias).then_error(|| {
        CreateAliasError::ResourceConflictException(
            ResourceConflictException::builder()
                .meta(meta("ResourceConflictException"))
                .build(),
        )
    });
    let read = mock!(Client::get_alias).then_output(|| alias_at("1", ""));
    let update = mock!(Client::update_alias)
        .match_requests(|r| r.function_version() == Some("2") && r.revision_id() == Some("a2"))
        .then_output(|| UpdateAliasOutput::builder().build());
    let lambda = mock_client!(
        aws_sdk_lambda,
        RuleMode::Sequential,
        [&publish, &create, &read, &update]
    );
    assert_eq!(release(&lambda, None).await.unwrap(), "2");
    assert_eq!(update.num_calls(), 1);
    let _ = CreateAliasOutput::builder().build();
}

#[tokio::test]
async fn an_update_alias_refused_for_its_used_revision_is_read_back() {
    let publish = || {
        mock!(Client::publish_version)
            .then_output(|| PublishVersionOutput::builder().version("4").build())
    };
    let refused = || {
        mock!(Client::update_alias)
            .then_error(|| UpdateAliasError::PreconditionFailedException(precondition_failed()))
    };
    // The first UpdateAlias moved it (answer lost): the alias names 4, no pin.
    let (p, u, read) = (
        publish(),
        refused(),
        mock!(Client::get_alias).then_output(|| alias_at("4", "")),
    );
    let lambda = mock_client!(aws_sdk_lambda, RuleMode::Sequential, [&p, &u, &read]);
    assert_eq!(release(&lambda, Some(&current("3"))).await.unwrap(), "4");

    // Someone else moved it meanwhile: an error naming where it is now.
    let (p, u, read) = (
        publish(),
        refused(),
        mock!(Client::get_alias).then_output(|| alias_at("2", "")),
    );
    let lambda = mock_client!(aws_sdk_lambda, RuleMode::Sequential, [&p, &u, &read]);
    let err =
        scorekeep_deploy::error::render(release(&lambda, Some(&current("3"))).await.unwrap_err());
    assert!(
        err.contains("the alias changed since it was read, and it now names version 2"),
        "{err}"
    );
    assert!(
        err.contains("hint: another deploy or a hand edit moved it"),
        "{err}"
    );
}
