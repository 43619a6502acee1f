//! Buckets `down` left behind (DeletionPolicy: Retain), remembered in the project's cache dir
//! so that a later `down --delete-data` can find them after their stack is gone.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::aws::Clients;
use crate::config::Project;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RetainedBucket {
    /// `aws`, or the endpoint override (an emulator's buckets are not AWS's).
    pub endpoint: String,
    pub region: String,
    pub stack: String,
    pub bucket: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct RetainedBuckets {
    pub buckets: Vec<RetainedBucket>,
}

pub(crate) fn record_path(project: &Project) -> PathBuf {
    project.cache_dir().join("retained-buckets.json")
}

fn endpoint_of(clients: &Clients) -> String {
    clients.endpoint.clone().unwrap_or_else(|| "aws".into())
}

impl RetainedBuckets {
    /// The record, or an empty one when there is none (or it cannot be read: it is a
    /// convenience, and `--bucket NAME` covers a lost record).
    pub(crate) fn load(path: &Path) -> RetainedBuckets {
        std::fs::read(path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    pub(crate) fn save(&self, path: &Path) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        crate::atomic_write::write_atomically(path, &bytes)
    }

    /// Buckets retained from `stack` against this endpoint and region.
    pub(crate) fn for_stack(&self, clients: &Clients, stack: &str) -> Vec<String> {
        let endpoint = endpoint_of(clients);
        self.buckets
            .iter()
            .filter(|b| b.endpoint == endpoint && b.region == clients.region && b.stack == stack)
            .map(|b| b.bucket.clone())
            .collect()
    }

    pub(crate) fn add(&mut self, clients: &Clients, stack: &str, bucket: &str) {
        let entry = RetainedBucket {
            endpoint: endpoint_of(clients),
            region: clients.region.clone(),
            stack: stack.to_string(),
            bucket: bucket.to_string(),
        };
        if !self.buckets.contains(&entry) {
            self.buckets.push(entry);
        }
    }

    pub(crate) fn remove(&mut self, clients: &Clients, bucket: &str) {
        let endpoint = endpoint_of(clients);
        self.buckets.retain(|b| {
            !(b.endpoint == endpoint && b.region == clients.region && b.bucket == bucket)
        });
    }
}
