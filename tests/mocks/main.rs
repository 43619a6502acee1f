//! Deploy steps that the moto emulator cannot exercise, checked with the SDK's own typed mocks
//! (aws-smithy-mocks): moto 5.2.5 answers Elastic Beanstalk's UpdateEnvironment,
//! DescribeConfigurationSettings and DescribeEvents with HTTP 500, does not store Lambda's
//! TracingConfig, never raises ResourceConflictException, and cannot leave a stack in
//! ROLLBACK_COMPLETE or UPDATE_ROLLBACK_FAILED. Each test asserts on the requests sent.

use std::collections::BTreeMap;

use aws_smithy_mocks::{mock, mock_client, RuleMode};
use scorekeep_deploy::cli::OutputFormat;
use scorekeep_deploy::config::BeanstalkConfig;
use scorekeep_deploy::deploy::{beanstalk, change_set, drift, functions, stack, Mode};
use scorekeep_deploy::report::Reporter;

fn task() -> scorekeep_deploy::report::Task {
    Reporter::new(OutputFormat::Json, true).task("test")
}

// One module per AWS service.
mod change_sets;
mod cloudformation;
mod elastic_beanstalk;
mod lambda;
mod releases;
