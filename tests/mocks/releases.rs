//! Releases: what moto cannot show. moto never checks PublishVersion's RevisionId, so
//! Lambda's refusal of a function changed by someone else is mocked here.

use aws_sdk_lambda::operation::get_alias::{GetAliasError, GetAliasOutput};
use aws_sdk_lambda::operation::publish_version::PublishVersionError;
use aws_sdk_lambda::types::error::{PreconditionFailedException, ResourceNotFoundException};
use aws_sdk_lambda::Client;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use aws_smithy_types::error::ErrorMetadata;
use scorekeep_deploy::aws::lambda::LiveFunction;
use scorekeep_deploy::config::ReleasesConfig;
use scorekeep_deploy::deploy::release::{self, Changed};

#[tokio::test]
async fn a_function_changed_by_someone_else_is_not_published() {
    let alias = mock!(Client::get_alias).then_output(|| {
        GetAliasOutput::builder()
            .function_version("3")
            .revision_id("a1")
            .build()
    });
    let publish = mock!(Client::publish_version)
        .match_requests(|r| r.code_sha256() == Some("sha=") && r.revision_id() == Some("r1"))
        .then_error(|| {
            PublishVersionError::PreconditionFailedException(
                PreconditionFailedException::builder()
                    .message("The Revision Id provided does not match the latest Revision Id.")
                    .meta(
                        ErrorMetadata::builder()
                            .code("PreconditionFailedException")
                            .build(),
                    )
                    .build(),
            )
        });
    let lambda = mock_client!(aws_sdk_lambda, RuleMode::Sequential, [&alias, &publish]);
    let live = LiveFunction {
        code_sha256: "sha=".into(),
        revision_id: "r1".into(),
        ..Default::default()
    };
    let err = scorekeep_deploy::error::render(
        release::release(
            &lambda,
            &live,
            "random-name",
            &ReleasesConfig::default(),
            Changed::Yes,
            &crate::task(),
        )
        .await
        .unwrap_err(),
    );
    assert!(err.contains("function random-name: not published"), "{err}");
    assert!(err.contains("hint:"), "{err}");
    assert_eq!(publish.num_calls(), 1);
}

#[tokio::test]
async fn an_unchanged_function_with_its_alias_on_a_version_publishes_nothing() {
    let alias = mock!(Client::get_alias).then_output(|| {
        GetAliasOutput::builder()
            .function_version("3")
            .revision_id("a1")
            .build()
    });
    let lambda = mock_client!(aws_sdk_lambda, RuleMode::Sequential, [&alias]);
    let out = release::release(
        &lambda,
        &LiveFunction::default(),
        "random-name",
        &ReleasesConfig::default(),
        Changed::No,
        &crate::task(),
    )
    .await
    .unwrap();
    assert!(out.is_none());
    assert_eq!(alias.num_calls(), 1);
    // A missing alias is created even without a change (e.g. an interrupted first `up`).
    let missing = mock!(Client::get_alias).then_error(|| {
        GetAliasError::ResourceNotFoundException(
            ResourceNotFoundException::builder()
                .meta(
                    ErrorMetadata::builder()
                        .code("ResourceNotFoundException")
                        .build(),
                )
                .build(),
        )
    });
    let publish = mock!(Client::publish_version).then_output(|| {
        aws_sdk_lambda::operation::publish_version::PublishVersionOutput::builder()
            .version("1")
            .build()
    });
    let create = mock!(Client::create_alias)
        .match_requests(|r| r.name() == Some("live") && r.function_version() == Some("1"))
        .then_output(|| {
            aws_sdk_lambda::operation::create_alias::CreateAliasOutput::builder().build()
        });
    let versions = mock!(Client::list_versions_by_function).then_output(|| {
        aws_sdk_lambda::operation::list_versions_by_function::ListVersionsByFunctionOutput::builder(
        )
        .build()
    });
    let lambda = mock_client!(
        aws_sdk_lambda,
        RuleMode::Sequential,
        [&missing, &publish, &create, &versions]
    );
    let out = release::release(
        &lambda,
        &LiveFunction::default(),
        "random-name",
        &ReleasesConfig::default(),
        Changed::No,
        &crate::task(),
    )
    .await
    .unwrap()
    .expect("published");
    assert_eq!(out.version, "1");
    assert_eq!(create.num_calls(), 1);
}
