//! Reading many functions at once: ListFunctions with `FunctionVersion=ALL` holds every
//! function's `$LATEST` and published versions (code sha and configuration), 50 a page, where
//! GetFunctionConfiguration reads one. `deploy::actual` uses it from a handful of functions on.

use std::collections::BTreeSet;

use aws_sdk_lambda::types::{FunctionConfiguration, FunctionVersion};
use aws_sdk_lambda::Client;

use crate::aws::explain;

use super::lambda::{live_of, settings_of, unqualified_arn, FunctionSettings, LiveFunction};

/// At most this many pages are read (2,500 versions); what is not found by then is read on its
/// own, so an account with very many functions costs no more than reading each.
const MAX_PAGES: usize = 50;

/// One listed configuration of a named function.
#[derive(Debug, Clone)]
pub(crate) struct Listed {
    pub(crate) name: String,
    /// `version` is `$LATEST` or the published version's number.
    pub(crate) function: LiveFunction,
}

/// Every version of the named functions that ListFunctions reports (all pages, up to
/// [`MAX_PAGES`]). ListFunctions leaves out `State` and `LastUpdateStatus`: the sync waits for
/// the function itself after any update, so it does not need them here.
pub(crate) async fn live_versions(
    lambda: &Client,
    names: &BTreeSet<String>,
) -> anyhow::Result<Vec<Listed>> {
    let mut found = Vec::new();
    let mut marker: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let out = lambda
            .list_functions()
            .function_version(FunctionVersion::All)
            .max_items(50)
            .set_marker(marker.take())
            .send()
            .await
            .map_err(|e| explain("listing functions".to_string(), &e))?;
        for f in out.functions() {
            let name = f.function_name().unwrap_or_default();
            if names.contains(name) {
                found.push(Listed {
                    name: name.to_string(),
                    function: live_from_listed(f),
                });
            }
        }
        match out.next_marker() {
            Some(m) if !m.is_empty() => marker = Some(m.to_string()),
            _ => break,
        }
    }
    Ok(found)
}

fn live_from_listed(c: &FunctionConfiguration) -> LiveFunction {
    let mut live = live_of!(c);
    live.arn = unqualified_arn(&live.arn).to_string();
    live
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listed_latest_keeps_an_unqualified_arn() {
        let arn = "arn:aws:lambda:us-east-1:123456789012:function:fn-1";
        let listed = FunctionConfiguration::builder()
            .function_arn(format!("{arn}:$LATEST"))
            .version("$LATEST")
            .build();
        let live = live_from_listed(&listed);
        assert_eq!(live.arn, arn);
        assert_eq!(live.version, "$LATEST");
        assert_eq!(unqualified_arn(arn), arn);
        assert_eq!(unqualified_arn(&format!("{arn}:3")), arn);
    }
}
