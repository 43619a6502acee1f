//! What `down` would delete and what it would keep, read (never changed) before the
//! confirmation prompt, as `terraform destroy` lists its plan before asking.

use std::fmt;

use crate::aws::cfn;
use crate::aws::Clients;
use crate::config::Project;

use super::retained::{self, RetainedBuckets, Scope};
use super::{bucket, stack_buckets, stacks_to_delete, DownOptions};

const FUNCTION: &str = "AWS::Lambda::Function";

/// One thing deleted, with what goes with it (a stack's functions and buckets).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Item {
    pub(crate) what: String,
    pub(crate) with: Vec<String>,
}

/// The lists the prompt shows.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Teardown {
    pub(crate) region: String,
    pub(crate) delete: Vec<Item>,
    pub(crate) keep: Vec<String>,
    /// Configured stacks that do not exist (nothing to delete there).
    pub(crate) absent: Vec<String>,
}

impl Teardown {
    /// Whether the run would delete anything at all.
    pub(crate) fn deletes_anything(&self) -> bool {
        !self.delete.is_empty()
    }
}

impl fmt::Display for Teardown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.delete.is_empty() {
            writeln!(f, "`down` in {} would delete nothing.", self.region)?;
        } else {
            writeln!(f, "`down` in {} will delete:", self.region)?;
            for item in &self.delete {
                writeln!(f, "  - {}", item.what)?;
                for part in &item.with {
                    writeln!(f, "      {part}")?;
                }
            }
        }
        if !self.keep.is_empty() {
            writeln!(f, "and keep:")?;
            for line in &self.keep {
                writeln!(f, "  - {line}")?;
            }
        }
        for name in &self.absent {
            writeln!(f, "(stack {name} does not exist)")?;
        }
        Ok(())
    }
}

/// Read what each stack holds and what the record of retained buckets names.
pub(crate) async fn preview(
    clients: &Clients,
    project: &Project,
    options: &DownOptions,
) -> anyhow::Result<Teardown> {
    let scope = Scope::of(clients);
    let record = RetainedBuckets::load(&retained::record_path(project));
    let mut t = Teardown {
        region: clients.region.clone(),
        ..Teardown::default()
    };
    for name in stacks_to_delete(project) {
        if cfn::describe(&clients.cloudformation, &name)
            .await?
            .is_some()
        {
            one_stack(clients, &name, options, &mut t).await?;
        } else {
            t.absent.push(name.clone());
        }
        for b in record.for_stack(&scope, &name) {
            if !bucket::exists(clients, &b).await {
                continue;
            }
            if options.delete_data {
                t.delete.push(Item::alone(format!(
                    "bucket {b} and all its data (retained by an earlier `down` of stack {name})"
                )));
            } else {
                t.keep.push(format!(
                    "bucket {b} with its data (retained by an earlier `down` of stack {name})"
                ));
            }
        }
    }
    if options.delete_data {
        for b in &options.buckets {
            t.delete.push(Item::alone(format!(
                "bucket {b} and all its data (--bucket)"
            )));
        }
    }
    if let Some(eb) = &project.config.beanstalk {
        t.keep.push(format!(
            "Beanstalk environment {} of application {} (not part of the stacks)",
            eb.environment, eb.application
        ));
    }
    t.keep.push(format!(
        "the local builds in {}",
        project.artifact_dir().display()
    ));
    Ok(t)
}

/// A stack that exists: it, its functions and, with `delete_data`, its buckets go; without,
/// its buckets stay (DeletionPolicy: Retain).
async fn one_stack(
    clients: &Clients,
    name: &str,
    options: &DownOptions,
    t: &mut Teardown,
) -> anyhow::Result<()> {
    let resources = cfn::resources(&clients.cloudformation, name).await?;
    let mut item = Item::alone(format!(
        "stack {name} ({} resource(s)), with",
        resources.len()
    ));
    for (_, function) in resources.iter().filter(|(ty, _)| ty == FUNCTION) {
        item.with
            .push(format!("function {function}, its versions and aliases"));
    }
    for b in stack_buckets(clients, name).await? {
        if options.delete_data {
            item.with
                .push(format!("bucket {b} and all its data (emptied first)"));
        } else {
            t.keep.push(format!(
                "bucket {b} of stack {name} with its data (retained; `down --delete-data` deletes it)"
            ));
        }
    }
    if item.with.is_empty() {
        item.what = format!("stack {name} ({} resource(s))", resources.len());
    }
    t.delete.push(item);
    Ok(())
}

impl Item {
    fn alone(what: String) -> Item {
        Item {
            what,
            with: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listing_names_what_goes_and_what_stays() {
        let t = Teardown {
            region: "us-east-1".into(),
            delete: vec![Item {
                what: "stack s (3 resource(s)), with".into(),
                with: vec!["function f".into()],
            }],
            keep: vec!["bucket b".into()],
            absent: vec!["other".into()],
        };
        assert_eq!(
            t.to_string(),
            "`down` in us-east-1 will delete:\n  - stack s (3 resource(s)), with\n      function f\n\
             and keep:\n  - bucket b\n(stack other does not exist)\n"
        );
        let nothing = Teardown {
            region: "r".into(),
            ..Teardown::default()
        };
        assert!(!nothing.deletes_anything());
        assert_eq!(nothing.to_string(), "`down` in r would delete nothing.\n");
    }
}
