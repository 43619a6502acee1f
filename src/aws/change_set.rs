//! CloudFormation change sets: create, describe, execute. Deciding what a change set's
//! status means for the deploy is `deploy::change_set`'s.

use aws_sdk_cloudformation::error::SdkError;
use aws_sdk_cloudformation::operation::create_change_set::CreateChangeSetError;
use aws_sdk_cloudformation::operation::describe_change_set::{
    DescribeChangeSetError, DescribeChangeSetOutput,
};
use aws_sdk_cloudformation::operation::execute_change_set::ExecuteChangeSetError;
use aws_sdk_cloudformation::types::{
    Capability, ChangeSetType, DeploymentMode, ExecutionStatus, Tag,
};
use aws_sdk_cloudformation::Client;

use super::cfn::{request_token, TemplateSource};
use super::error_code;

/// An UPDATE change set to create (with CAPABILITY_NAMED_IAM and a fresh ClientToken).
pub(crate) struct NewChangeSet<'a> {
    pub(crate) stack: &'a str,
    pub(crate) name: &'a str,
    pub(crate) template: TemplateSource<'a>,
    pub(crate) tags: Vec<Tag>,
    /// `None`: CloudFormation's default.
    pub(crate) deployment_mode: Option<DeploymentMode>,
    /// The service role CloudFormation acts with (`None`: the caller's credentials).
    pub(crate) role_arn: Option<&'a str>,
}

/// CreateChangeSet; the new change set's id (its name when the answer has none). Errors are
/// the SDK's, for the caller to tell "no changes" and "already exists" apart.
pub(crate) async fn create(
    cfn: &Client,
    new: NewChangeSet<'_>,
) -> Result<String, SdkError<CreateChangeSetError>> {
    let request = cfn.create_change_set();
    let request = match new.template {
        TemplateSource::Url(url) => request.template_url(url),
        TemplateSource::Body(body) => request.template_body(body),
    };
    let out = request
        .set_deployment_mode(new.deployment_mode)
        .set_role_arn(new.role_arn.map(String::from))
        .stack_name(new.stack)
        .change_set_name(new.name)
        .change_set_type(ChangeSetType::Update)
        .capabilities(Capability::CapabilityNamedIam)
        .set_tags(Some(new.tags))
        .client_token(request_token("change-set"))
        .send()
        .await?;
    Ok(out.id().unwrap_or(new.name).to_string())
}

/// DescribeChangeSet by id, or by name within `stack`.
pub(crate) async fn describe(
    cfn: &Client,
    stack: Option<&str>,
    change_set: &str,
) -> Result<DescribeChangeSetOutput, SdkError<DescribeChangeSetError>> {
    cfn.describe_change_set()
        .set_stack_name(stack.map(String::from))
        .change_set_name(change_set)
        .send()
        .await
}

/// ExecuteChangeSet with a ClientRequestToken. A retry whose first attempt was processed
/// (its answer lost) on an endpoint that ignores the token finds the change set executing
/// or executed: that is success, not an error.
pub(crate) async fn execute(
    cfn: &Client,
    change_set: &str,
) -> Result<(), SdkError<ExecuteChangeSetError>> {
    let sent = cfn
        .execute_change_set()
        .change_set_name(change_set)
        .client_request_token(request_token("execute"))
        .send()
        .await;
    let Err(err) = sent else { return Ok(()) };
    if error_code(&err) != Some("InvalidChangeSetStatus") {
        return Err(err);
    }
    let status = describe(cfn, None, change_set)
        .await
        .ok()
        .and_then(|out| out.execution_status().cloned());
    match status {
        Some(ExecutionStatus::ExecuteInProgress | ExecutionStatus::ExecuteComplete) => Ok(()),
        _ => Err(err),
    }
}
