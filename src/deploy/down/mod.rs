//! The `down` flow: delete the stacks; keep the records bucket unless asked otherwise.
//!
//! It lives in `deploy/` beside `up` because it is the same kind of flow over the same
//! stacks (the stack waits of `aws/cfn.rs`, the report model); the command only confirms,
//! calls [`down`] and prints the report. [`preview`] is what the confirmation lists.

mod bucket;
mod preview;
mod retained;

pub(crate) use self::preview::{preview, Teardown};

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::aws::cfn;
use crate::aws::Clients;
use crate::config::Project;
use crate::report::Reporter;

use self::retained::{RetainedBuckets, Scope};

#[derive(Debug, Serialize)]
pub(crate) struct DownReport {
    pub(crate) command: &'static str,
    pub(crate) region: String,
    pub(crate) deleted: Vec<String>,
    pub(crate) absent: Vec<String>,
    pub(crate) retained_buckets: Vec<String>,
    pub(crate) deleted_buckets: Vec<String>,
    /// Object versions and delete markers removed from each deleted bucket.
    pub(crate) deleted_object_versions: BTreeMap<String, usize>,
}

impl fmt::Display for DownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.deleted {
            writeln!(f, "stack {s}: deleted")?;
        }
        for s in &self.absent {
            writeln!(f, "stack {s}: did not exist")?;
        }
        for b in &self.retained_buckets {
            writeln!(
                f,
                "bucket {b}: retained with its data (delete it with `scorekeep-deploy down --delete-data`)"
            )?;
        }
        for b in &self.deleted_buckets {
            let n = self.deleted_object_versions.get(b).copied().unwrap_or(0);
            writeln!(
                f,
                "bucket {b}: emptied ({n} object version(s) deleted) and deleted"
            )?;
        }
        Ok(())
    }
}

/// What `down` is asked to do besides deleting the stacks.
#[derive(Debug, Clone, Default)]
pub(crate) struct DownOptions {
    /// Empty and delete the stacks' buckets (and those an earlier `down` retained).
    pub(crate) delete_data: bool,
    /// Further buckets to empty and delete (with `delete_data`), e.g. retained elsewhere.
    pub(crate) buckets: Vec<String>,
}

/// The stacks in the order `down` deletes them: the reverse of the order they are deployed.
pub(crate) fn stacks_to_delete(project: &Project) -> Vec<String> {
    project
        .config
        .stacks
        .iter()
        .rev()
        .map(|s| s.name.clone())
        .collect()
}

/// `down`: delete the stacks; their buckets are retained (and remembered) or, with
/// `delete_data`, emptied and deleted.
pub(crate) async fn down(
    clients: &Clients,
    project: &Project,
    reporter: &Reporter,
    options: &DownOptions,
) -> anyhow::Result<DownReport> {
    let names = stacks_to_delete(project);
    let record_path = retained::record_path(project);
    let mut run = DownRun {
        reporter,
        options,
        clients,
        scope: Scope::of(clients),
        record: RetainedBuckets::load(&record_path),
        report: DownReport {
            command: "down",
            region: clients.region.clone(),
            deleted: Vec::new(),
            absent: Vec::new(),
            retained_buckets: Vec::new(),
            deleted_buckets: Vec::new(),
            deleted_object_versions: BTreeMap::new(),
        },
    };
    let before = run.record.clone();
    let result = run.all_stacks(&names).await;
    // Whatever happened, remember what is retained (and forget what is gone).
    let changed = run.record != before;
    if let Err(err) = changed.then(|| run.record.save(&record_path)).transpose() {
        tracing::warn!(
            "could not record retained buckets in {}: {err}",
            record_path.display()
        );
    }
    result.map(|()| run.report)
}

/// One `down`: the report so far and the record of retained buckets.
struct DownRun<'a> {
    reporter: &'a Reporter,
    options: &'a DownOptions,
    clients: &'a Clients,
    scope: Scope,
    record: RetainedBuckets,
    report: DownReport,
}

impl DownRun<'_> {
    async fn all_stacks(&mut self, names: &[String]) -> anyhow::Result<()> {
        for name in names {
            if cfn::describe(&self.clients.cloudformation, name)
                .await?
                .is_none()
            {
                self.report.absent.push(name.clone());
                self.leftover_buckets(name).await?;
                continue;
            }
            self.one_stack(name).await?;
            // Buckets an earlier `down` retained from a previous life of this stack.
            self.leftover_buckets(name).await?;
        }
        // `--bucket NAME`: buckets named on the command line, e.g. from another checkout.
        if self.options.delete_data {
            for bucket in &self.options.buckets {
                if !self.report.deleted_buckets.contains(bucket) {
                    self.delete_bucket(None, bucket).await?;
                }
            }
        }
        Ok(())
    }

    /// Empty the buckets first (so a failure leaves the stack, and the way to find the bucket,
    /// in place), then delete the stack, then the emptied buckets it retained.
    async fn one_stack(&mut self, name: &str) -> anyhow::Result<()> {
        let buckets = stack_buckets(self.clients, name).await?;
        if self.options.delete_data {
            for bucket in &buckets {
                let task = self.reporter.task(format!("bucket {bucket}: emptying"));
                let n = match bucket::empty(self.clients, bucket).await {
                    Ok(n) => n,
                    Err(err) => {
                        task.finish(format!(
                            "bucket {bucket}: not emptied; stack {name} left in place"
                        ));
                        return Err(err);
                    }
                };
                task.finish(format!("bucket {bucket}: emptied ({n} object version(s))"));
                *self
                    .report
                    .deleted_object_versions
                    .entry(bucket.clone())
                    .or_default() += n;
            }
        }
        let task = self.reporter.task(format!("stack {name}: deleting"));
        cfn::delete_and_wait(&self.clients.cloudformation, name, &task).await?;
        let took = crate::report::human_duration(task.elapsed());
        task.finish(format!("stack {name}: deleted ({took})"));
        self.report.deleted.push(name.to_string());
        for bucket in buckets {
            if self.options.delete_data {
                self.delete_bucket(Some(name), &bucket).await?;
            } else {
                self.record.add(&self.scope, name, &bucket);
                self.report.retained_buckets.push(bucket);
            }
        }
        Ok(())
    }

    /// Buckets the record holds for this stack (retained by an earlier `down`, possibly of an
    /// earlier stack of the same name): `--delete-data` deletes them, otherwise they are
    /// reported as still retained.
    async fn leftover_buckets(&mut self, name: &str) -> anyhow::Result<()> {
        for bucket in self.record.for_stack(&self.scope, name) {
            let reported = self.report.retained_buckets.contains(&bucket)
                || self.report.deleted_buckets.contains(&bucket);
            if reported {
                continue;
            }
            if !bucket::exists(self.clients, &bucket).await {
                // Deleted by other means: nothing to report, nothing to remember.
                self.record.remove(&self.scope, &bucket);
            } else if self.options.delete_data {
                self.delete_bucket(Some(name), &bucket).await?;
            } else {
                self.report.retained_buckets.push(bucket);
            }
        }
        Ok(())
    }

    async fn delete_bucket(&mut self, stack: Option<&str>, bucket: &str) -> anyhow::Result<()> {
        let task = self.reporter.task(format!("bucket {bucket}: deleting"));
        let n = bucket::delete(self.clients, bucket).await.inspect_err(|_| {
            // Keep it findable: the stack may be gone by now.
            if let Some(stack) = stack {
                self.record.add(&self.scope, stack, bucket);
            }
        });
        let n = match n {
            Ok(n) => n,
            Err(err) => {
                task.finish(format!("bucket {bucket}: not deleted"));
                return Err(err);
            }
        };
        task.finish(format!("bucket {bucket}: deleted"));
        self.record.remove(&self.scope, bucket);
        *self
            .report
            .deleted_object_versions
            .entry(bucket.to_string())
            .or_default() += n;
        self.report.deleted_buckets.push(bucket.to_string());
        Ok(())
    }
}

/// Physical names of the S3 buckets a stack owns (read before the stack is deleted).
async fn stack_buckets(clients: &Clients, name: &str) -> anyhow::Result<Vec<String>> {
    cfn::physical_ids(&clients.cloudformation, name, "AWS::S3::Bucket").await
}
