//! `down`: delete the stacks; keep the records bucket unless asked otherwise.

use std::fmt;
use std::io::{BufRead, IsTerminal, Write};

use serde::Serialize;

use crate::aws::{explain, Clients};
use crate::cli::DownArgs;
use crate::context::Context;
use crate::deploy::stack;
use crate::exit::UsageError;

#[derive(Debug, Serialize)]
pub struct DownReport {
    pub region: String,
    pub deleted: Vec<String>,
    pub absent: Vec<String>,
    pub retained_buckets: Vec<String>,
    pub deleted_buckets: Vec<String>,
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
                "bucket {b}: retained with its data (delete it with `down --delete-data`)"
            )?;
        }
        for b in &self.deleted_buckets {
            writeln!(f, "bucket {b}: emptied and deleted")?;
        }
        Ok(())
    }
}

pub fn run(ctx: &Context, args: &DownArgs) -> anyhow::Result<()> {
    let project = ctx.project()?;
    let names: Vec<String> = project
        .config
        .stacks
        .iter()
        .rev()
        .map(|s| s.name.clone())
        .collect();
    let report = ctx.block_on(async {
        let clients = ctx.clients().await?;
        confirm(args, &names, &clients.region)?;
        let mut report = DownReport {
            region: clients.region.clone(),
            deleted: Vec::new(),
            absent: Vec::new(),
            retained_buckets: Vec::new(),
            deleted_buckets: Vec::new(),
        };
        for name in &names {
            if stack::describe(&clients.cloudformation, name)
                .await?
                .is_none()
            {
                report.absent.push(name.clone());
                continue;
            }
            let buckets = stack_buckets(&clients, name).await?;
            let task = ctx.reporter.task(format!("stack {name}: deleting"));
            stack::delete_and_wait(&clients.cloudformation, name, &task).await?;
            let took = crate::report::human_duration(task.elapsed());
            task.finish(format!("stack {name}: deleted ({took})"));
            report.deleted.push(name.clone());
            for bucket in buckets {
                if args.delete_data {
                    delete_bucket(&clients, &bucket).await?;
                    report.deleted_buckets.push(bucket);
                } else {
                    report.retained_buckets.push(bucket);
                }
            }
        }
        anyhow::Ok(report)
    })?;
    ctx.reporter.emit(&report)
}

/// Ask on a terminal; require `--yes` without one.
fn confirm(args: &DownArgs, names: &[String], region: &str) -> anyhow::Result<()> {
    if args.yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        anyhow::bail!(UsageError(format!(
            "`down` deletes stacks {} in {region}; without a terminal to confirm, pass --yes",
            names.join(", ")
        )));
    }
    eprint!(
        "Delete stacks {} in {region}{}? [y/N] ",
        names.join(", "),
        if args.delete_data {
            " AND the records bucket with its data"
        } else {
            ""
        }
    );
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if !matches!(answer.trim(), "y" | "Y" | "yes") {
        anyhow::bail!(UsageError("not confirmed; nothing was deleted".into()));
    }
    Ok(())
}

/// Physical names of the S3 buckets a stack owns (read before the stack is deleted).
async fn stack_buckets(clients: &Clients, name: &str) -> anyhow::Result<Vec<String>> {
    let out = clients
        .cloudformation
        .describe_stack_resources()
        .stack_name(name)
        .send()
        .await
        .map_err(|e| explain(format!("listing resources of stack {name}"), &e))?;
    Ok(out
        .stack_resources()
        .iter()
        .filter(|r| r.resource_type() == Some("AWS::S3::Bucket"))
        .filter_map(|r| r.physical_resource_id().map(String::from))
        .collect())
}

/// Delete every object version and delete marker, then the bucket.
async fn delete_bucket(clients: &Clients, bucket: &str) -> anyhow::Result<()> {
    use aws_sdk_s3::types::{Delete, ObjectIdentifier};
    loop {
        let page = clients
            .s3
            .list_object_versions()
            .bucket(bucket)
            .send()
            .await
            .map_err(|e| explain(format!("listing objects of bucket {bucket}"), &e))?;
        let ids: Vec<ObjectIdentifier> = page
            .versions()
            .iter()
            .map(|v| (v.key(), v.version_id()))
            .chain(
                page.delete_markers()
                    .iter()
                    .map(|m| (m.key(), m.version_id())),
            )
            .filter_map(|(k, v)| {
                ObjectIdentifier::builder()
                    .key(k?)
                    .set_version_id(v.map(String::from))
                    .build()
                    .ok()
            })
            .collect();
        if ids.is_empty() {
            break;
        }
        clients
            .s3
            .delete_objects()
            .bucket(bucket)
            .delete(Delete::builder().set_objects(Some(ids)).build()?)
            .send()
            .await
            .map_err(|e| explain(format!("deleting objects of bucket {bucket}"), &e))?;
    }
    clients
        .s3
        .delete_bucket()
        .bucket(bucket)
        .send()
        .await
        .map_err(|e| explain(format!("deleting bucket {bucket}"), &e))?;
    Ok(())
}
