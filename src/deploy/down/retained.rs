//! Buckets `down` left behind (DeletionPolicy: Retain), remembered in the project's cache dir
//! so that a later `down --delete-data` can find them after their stack is gone.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::atomic_write::{read_json, write_json};
use crate::aws::Clients;
use crate::config::Project;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RetainedBucket {
    /// `aws`, or the endpoint override (an emulator's buckets are not AWS's).
    pub(crate) endpoint: String,
    pub(crate) region: String,
    pub(crate) stack: String,
    pub(crate) bucket: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RetainedBuckets {
    pub(crate) buckets: Vec<RetainedBucket>,
}

pub(crate) fn record_path(project: &Project) -> PathBuf {
    project.cache_dir().join("retained-buckets.json")
}

/// Where buckets live: `aws` or the endpoint override, and the region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scope {
    pub(crate) endpoint: String,
    pub(crate) region: String,
}

impl Scope {
    pub(crate) fn of(clients: &Clients) -> Scope {
        Scope {
            // Written to the record and printed: never with the URL's credentials.
            endpoint: clients.endpoint.as_deref().map_or_else(
                || "aws".into(),
                |e| crate::text::redact_credentials(e).into_owned(),
            ),
            region: clients.region.clone(),
        }
    }

    fn holds(&self, b: &RetainedBucket) -> bool {
        b.endpoint == self.endpoint && b.region == self.region
    }
}

impl RetainedBuckets {
    /// The record, or an empty one when there is none (or it cannot be read: it is a
    /// convenience, and `--bucket NAME` covers a lost record).
    pub(crate) fn load(path: &Path) -> RetainedBuckets {
        read_json(path).unwrap_or_default()
    }

    pub(crate) fn save(&self, path: &Path) -> std::io::Result<()> {
        write_json(path, self)
    }

    /// Buckets retained from `stack` against this endpoint and region.
    pub(crate) fn for_stack(&self, scope: &Scope, stack: &str) -> Vec<String> {
        self.buckets
            .iter()
            .filter(|b| scope.holds(b) && b.stack == stack)
            .map(|b| b.bucket.clone())
            .collect()
    }

    pub(crate) fn add(&mut self, scope: &Scope, stack: &str, bucket: &str) {
        let entry = RetainedBucket {
            endpoint: scope.endpoint.clone(),
            region: scope.region.clone(),
            stack: stack.to_string(),
            bucket: bucket.to_string(),
        };
        if !self.buckets.contains(&entry) {
            self.buckets.push(entry);
        }
    }

    pub(crate) fn remove(&mut self, scope: &Scope, bucket: &str) {
        self.buckets
            .retain(|b| !(scope.holds(b) && b.bucket == bucket));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(endpoint: &str, region: &str) -> Scope {
        Scope {
            endpoint: endpoint.into(),
            region: region.into(),
        }
    }

    #[test]
    fn buckets_are_kept_apart_by_endpoint_region_and_stack_and_survive_a_reload() {
        let aws = scope("aws", "us-east-1");
        let moto = scope("http://127.0.0.1:5000", "us-east-1");
        let mut record = RetainedBuckets::default();
        record.add(&aws, "s", "b1");
        record.add(&aws, "s", "b1");
        record.add(&moto, "s", "b2");
        record.add(&aws, "other", "b3");
        assert_eq!(record.for_stack(&aws, "s"), vec!["b1"]);
        assert_eq!(record.for_stack(&moto, "s"), vec!["b2"]);
        assert!(record.for_stack(&scope("aws", "eu-west-1"), "s").is_empty());

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache/retained-buckets.json");
        record.save(&path).unwrap();
        let mut loaded = RetainedBuckets::load(&path);
        assert_eq!(loaded, record);
        loaded.remove(&aws, "b1");
        assert!(loaded.for_stack(&aws, "s").is_empty());
        assert_eq!(loaded.for_stack(&moto, "s"), vec!["b2"]);
    }

    #[test]
    fn an_unreadable_record_is_an_empty_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("retained-buckets.json");
        std::fs::write(&path, "not json").unwrap();
        assert_eq!(RetainedBuckets::load(&path), RetainedBuckets::default());
    }
}
