//! Reading many functions at once: one ListFunctions page holds up to 50 functions' code sha
//! and configuration, where GetFunctionConfiguration reads one. Used when a run syncs
//! [`PREFETCH_MIN`] or more functions; a function not found this way is read on its own
//! (which also tells a missing function apart).

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_lambda::types::FunctionConfiguration;
use aws_sdk_lambda::Client;

use crate::aws::explain;

use super::lambda::{settings_of, FunctionSettings, LiveFunction};

/// From this many functions on, listing beats reading each.
pub(crate) const PREFETCH_MIN: usize = 10;

/// The named functions as ListFunctions reports them (pages until all are found or the list
/// ends). ListFunctions leaves out `State` and `LastUpdateStatus`: the sync waits for the
/// function itself after any update, so it does not need them here.
pub(crate) async fn live_functions(
    lambda: &Client,
    names: &BTreeSet<String>,
) -> anyhow::Result<BTreeMap<String, LiveFunction>> {
    let mut found = BTreeMap::new();
    let mut marker: Option<String> = None;
    loop {
        let out = lambda
            .list_functions()
            .max_items(50)
            .set_marker(marker.take())
            .send()
            .await
            .map_err(|e| explain("listing functions".to_string(), &e))?;
        for f in out.functions() {
            let name = f.function_name().unwrap_or_default();
            if names.contains(name) {
                found.insert(name.to_string(), live_from_listed(f));
            }
        }
        match out.next_marker() {
            Some(m) if !m.is_empty() && found.len() < names.len() => marker = Some(m.to_string()),
            _ => return Ok(found),
        }
    }
}

fn live_from_listed(c: &FunctionConfiguration) -> LiveFunction {
    LiveFunction {
        arn: c.function_arn().unwrap_or_default().to_string(),
        code_sha256: c.code_sha256().unwrap_or_default().to_string(),
        last_update_status: String::new(),
        state: String::new(),
        revision_id: c.revision_id().unwrap_or_default().to_string(),
        version: "$LATEST".to_string(),
        settings: settings_of!(c),
    }
}
