//! A stage's `targets:`: the accounts and regions its stacks go to through a CloudFormation
//! StackSet (self-managed permissions), and the operation preferences StackSets apply.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where a stage deploys when it has more than one place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub(crate) struct Targets {
    pub(crate) regions: Vec<String>,
    /// Self-managed: these accounts, reached through `execution_role_name`.
    #[serde(default)]
    pub(crate) accounts: Vec<String>,
    /// Service-managed (AWS Organizations): every account in these organizational units (or
    /// the root, `r-…`), now and, with `auto_deployment`, as accounts join them.
    #[serde(default)]
    pub(crate) organizational_units: Vec<String>,
    /// Service-managed: acting as the organization's management account (`SELF`) or as a
    /// delegated administrator (`DELEGATED_ADMIN`).
    #[serde(default)]
    pub(crate) call_as: CallAs,
    /// Service-managed: deploy to accounts that join a target unit later, and delete from
    /// those that leave (default true).
    #[serde(default = "default_true")]
    pub(crate) auto_deployment: bool,
    /// The bucket holding the bundles in each target region; `{region}` becomes the region
    /// (Lambda reads code only from a bucket in the function's own region).
    pub(crate) code_bucket: String,
    /// The administration role CloudFormation uses (default: its
    /// `AWSCloudFormationStackSetAdministrationRole` in this account).
    #[serde(default)]
    pub(crate) administration_role_arn: Option<String>,
    /// The role CloudFormation assumes in each target account (default:
    /// `AWSCloudFormationStackSetExecutionRole`).
    #[serde(default)]
    pub(crate) execution_role_name: Option<String>,
    /// Accounts deployed at once in a region: a count or a percentage (`25%`).
    #[serde(default)]
    pub(crate) max_concurrent: Option<Share>,
    /// Failed accounts a region may have before the operation stops: a count or `10%`.
    #[serde(default)]
    pub(crate) failure_tolerance: Option<Share>,
    #[serde(default)]
    pub(crate) region_concurrency: RegionConcurrency,
    /// Regions in deployment order (default: `regions` as listed). With `failure_tolerance: 0`
    /// and sequential regions, a failure in the first region stops the rest.
    #[serde(default)]
    pub(crate) region_order: Vec<String>,
}

fn default_true() -> bool {
    true
}

/// Who a service-managed StackSet's calls act as.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum CallAs {
    #[default]
    #[serde(rename = "SELF")]
    Myself,
    DelegatedAdmin,
}

impl Targets {
    /// Whether the StackSet is service-managed (organizational units) or self-managed.
    pub(crate) fn service_managed(&self) -> bool {
        !self.organizational_units.is_empty()
    }

    /// The accounts or organizational units, whichever the targets name.
    pub(crate) fn deployment_targets(&self) -> &[String] {
        if self.service_managed() {
            &self.organizational_units
        } else {
            &self.accounts
        }
    }

    /// `region_order`, or the regions as listed.
    pub(crate) fn ordered_regions(&self) -> Vec<String> {
        if self.region_order.is_empty() {
            self.regions.clone()
        } else {
            self.region_order.clone()
        }
    }

    /// The code bucket in `region`.
    pub(crate) fn code_bucket_in(&self, region: &str) -> String {
        self.code_bucket.replace("{region}", region)
    }

    /// Every (account or organizational unit, region) the stage should have instances in.
    pub(crate) fn pairs(&self) -> Vec<(String, String)> {
        let mut pairs = Vec::new();
        for region in self.ordered_regions() {
            for target in self.deployment_targets() {
                pairs.push((target.clone(), region.clone()));
            }
        }
        pairs
    }

    /// What is wrong with these targets, with the key it is about.
    pub(crate) fn problem(&self) -> Option<(&'static str, String)> {
        if self.regions.is_empty() {
            return Some(("regions", "`regions` is empty".into()));
        }
        if let Some(bad) = self
            .regions
            .iter()
            .find(|r| crate::checks::region(r).is_err())
        {
            return Some(("regions", format!("`{bad}` is not a region name")));
        }
        if self.accounts.is_empty() == self.organizational_units.is_empty() {
            return Some((
                "accounts",
                "name either `accounts` (self-managed) or `organizational_units` (service-managed)"
                    .into(),
            ));
        }
        let is_unit = |u: &String| {
            (u.starts_with("ou-") || u.starts_with("r-"))
                && u[2..]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        if let Some(bad) = self.organizational_units.iter().find(|u| !is_unit(u)) {
            return Some((
                "organizational_units",
                format!("`{bad}` is not an organizational unit (`ou-…`) or root (`r-…`) id"),
            ));
        }
        let roles = self.administration_role_arn.is_some() || self.execution_role_name.is_some();
        if self.service_managed() && roles {
            return Some((
                "organizational_units",
                "a service-managed StackSet takes no administration or execution role".into(),
            ));
        }
        let is_account = |a: &String| a.len() == 12 && a.chars().all(|c| c.is_ascii_digit());
        if let Some(bad) = self.accounts.iter().find(|a| !is_account(a)) {
            return Some((
                "accounts",
                format!("`{bad}` is not a 12-digit account id (quote it)"),
            ));
        }
        if self.regions.len() > 1 && !self.code_bucket.contains("{region}") {
            return Some((
                "code_bucket",
                "`code_bucket` must contain `{region}`: Lambda reads code only from its own region"
                    .into(),
            ));
        }
        let mut order = self.region_order.clone();
        order.sort();
        let mut regions = self.regions.clone();
        regions.sort();
        if !self.region_order.is_empty() && order != regions {
            return Some((
                "region_order",
                "`region_order` must list each of `regions` once".into(),
            ));
        }
        None
    }
}

/// A count of accounts, or a percentage of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Share {
    Count(u32),
    Percent(u32),
}

impl fmt::Display for Share {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Share::Count(n) => write!(f, "{n}"),
            Share::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl Serialize for Share {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Share::Count(n) => s.serialize_u32(*n),
            Share::Percent(_) => s.serialize_str(&self.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for Share {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Count(u32),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Count(n) => Ok(Share::Count(n)),
            Raw::Text(text) => text
                .strip_suffix('%')
                .and_then(|p| p.trim().parse::<u32>().ok())
                .filter(|p| *p <= 100)
                .map(Share::Percent)
                .ok_or_else(|| {
                    serde::de::Error::custom(format!(
                        "`{text}` is neither a count (e.g. 2) nor a percentage (e.g. 25%)"
                    ))
                }),
        }
    }
}

/// Whether a StackSet operation deploys to one region at a time or to all at once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum RegionConcurrency {
    #[default]
    Sequential,
    Parallel,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets(extra: &str) -> Result<Targets, String> {
        let text = format!(
            "regions: [us-east-1, eu-west-1]\naccounts: ['123456789012']\ncode_bucket: art-{{region}}\n{extra}"
        );
        crate::yaml::from_str(&text).map_err(|e| e.message)
    }

    #[test]
    fn shares_are_counts_or_percentages() {
        let t = targets("max_concurrent: 2\nfailure_tolerance: 10%\n").unwrap();
        assert_eq!(t.max_concurrent, Some(Share::Count(2)));
        assert_eq!(t.failure_tolerance, Some(Share::Percent(10)));
        assert!(targets("max_concurrent: 150%\n").is_err());
        assert!(targets("max_concurrent: two\n")
            .unwrap_err()
            .contains("`two`"));
    }

    #[test]
    fn regions_follow_region_order_and_pairs_cover_every_account() {
        let t = targets("region_order: [eu-west-1, us-east-1]\n").unwrap();
        assert_eq!(t.region_concurrency, RegionConcurrency::Sequential);
        assert_eq!(t.pairs()[0], ("123456789012".into(), "eu-west-1".into()));
        assert_eq!(t.code_bucket_in("eu-west-1"), "art-eu-west-1");
        assert!(t.problem().is_none());
    }

    #[test]
    fn organizational_units_make_a_service_managed_stack_set() {
        let text = "regions: [us-east-1]\norganizational_units: [ou-ab12-cdef3456]\ncode_bucket: b-{region}\ncall_as: DELEGATED_ADMIN\n";
        let t: Targets = crate::yaml::from_str(text).unwrap();
        assert!(t.service_managed() && t.auto_deployment && t.problem().is_none());
        assert_eq!(t.call_as, CallAs::DelegatedAdmin);
        assert_eq!(
            t.pairs(),
            [("ou-ab12-cdef3456".to_string(), "us-east-1".to_string())]
        );
        let mut both = t.clone();
        both.accounts = vec!["123456789012".into()];
        assert_eq!(both.problem().map(|(k, _)| k), Some("accounts"));
        let mut bad = t;
        bad.organizational_units = vec!["sales".into()];
        assert_eq!(bad.problem().map(|(k, _)| k), Some("organizational_units"));
    }

    #[test]
    fn problems_name_their_key() {
        let key = |extra: &str| targets(extra).unwrap().problem().map(|(k, _)| k);
        assert_eq!(key("region_order: [eu-west-1]\n"), Some("region_order"));
        let mut t = targets("").unwrap();
        t.accounts = vec!["1234".into()];
        assert_eq!(t.problem().map(|(k, _)| k), Some("accounts"));
        let mut t = targets("").unwrap();
        t.code_bucket = "one-bucket".into();
        assert_eq!(t.problem().map(|(k, _)| k), Some("code_bucket"));
    }
}
