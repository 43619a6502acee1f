//! What a run must do to a StackSet, decided from what should be and what is before any
//! step is taken: pure, so `up` and `plan` read the same decision and tests need no AWS.

use std::collections::{BTreeMap, BTreeSet};

use super::{Prune, Scope};
use crate::aws::stackset::{self, Desired, Instance};

/// One account and region.
type Pair = (String, String);

/// One step toward the desired StackSet, decided before any is taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    CreateStackSet,
    /// UpdateStackSet for these instances (accounts × regions); none: the StackSet alone.
    Update(Option<(Vec<String>, Vec<String>)>),
    CreateInstances((Vec<String>, Vec<String>)),
    DeleteInstances((Vec<String>, Vec<String>)),
}

/// What should be against what is: the steps in order, and the instances outside `targets`
/// that stay (without `--prune`). Pure, so `plan` and the tests read the same decision.
pub(crate) fn decide(
    live: Option<&stackset::LiveStackSet>,
    existing: &[Instance],
    desired: &Desired<'_>,
    (scope, prune): (Scope, Prune),
) -> (Vec<Step>, Vec<Instance>) {
    // Service-managed instances are targeted by unit: one per account of each unit.
    let by_unit = desired.targets.service_managed();
    let pair = |i: &Instance| {
        let target = match (&i.ou, by_unit) {
            (Some(ou), true) => ou.clone(),
            _ => i.account.clone(),
        };
        (target, i.region.clone())
    };
    let wanted: BTreeSet<Pair> = desired.targets.pairs().into_iter().collect();
    let have: BTreeSet<Pair> = existing.iter().map(pair).collect();
    let mut steps = Vec::new();
    match live {
        None => steps.push(Step::CreateStackSet),
        Some(live) => {
            let template_differs = scope == Scope::Everything && live.template != desired.template;
            let update_all = template_differs || &live.parameters != desired.parameters;
            let pairs: Vec<Pair> = if update_all {
                have.intersection(&wanted).cloned().collect()
            } else {
                let stale = existing.iter().filter(|i| i.status != "CURRENT");
                stale.map(pair).filter(|p| wanted.contains(p)).collect()
            };
            if update_all && pairs.is_empty() {
                steps.push(Step::Update(None));
            }
            steps.extend(
                by_accounts(&pairs)
                    .into_iter()
                    .map(|g| Step::Update(Some(g))),
            );
        }
    }
    if scope == Scope::Everything {
        let missing: Vec<Pair> = wanted.difference(&have).cloned().collect();
        steps.extend(by_accounts(&missing).into_iter().map(Step::CreateInstances));
    }
    let extra: Vec<Instance> = existing
        .iter()
        .filter(|i| !wanted.contains(&pair(i)))
        .cloned()
        .collect();
    if prune == Prune::Yes && !extra.is_empty() {
        let pairs: Vec<Pair> = extra.iter().map(pair).collect();
        steps.extend(by_accounts(&pairs).into_iter().map(Step::DeleteInstances));
        return (steps, Vec::new());
    }
    (steps, extra)
}

/// `pairs` grouped into (accounts, regions) products: regions that miss the same accounts go
/// together, so each group is one operation that touches exactly those pairs.
pub(crate) fn by_accounts(pairs: &[(String, String)]) -> Vec<(Vec<String>, Vec<String>)> {
    let mut accounts_of: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (account, region) in pairs {
        accounts_of.entry(region).or_default().push(account.clone());
    }
    let mut groups: BTreeMap<Vec<String>, Vec<String>> = BTreeMap::new();
    for (region, accounts) in accounts_of {
        groups.entry(accounts).or_default().push(region.to_string());
    }
    groups.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::stackset::LiveStackSet;
    use crate::config::Targets;

    fn targets() -> Targets {
        crate::yaml::from_str(
            "regions: [us-east-1, eu-west-1]\naccounts: ['111111111111', '222222222222']\ncode_bucket: b-{region}\n",
        )
        .unwrap()
    }

    fn instance(account: &str, region: &str, status: &str) -> Instance {
        Instance {
            account: account.into(),
            region: region.into(),
            ou: None,
            status: status.into(),
            reason: None,
            drift: None,
        }
    }

    fn all_current() -> Vec<Instance> {
        let mut all = Vec::new();
        for region in ["us-east-1", "eu-west-1"] {
            for account in ["111111111111", "222222222222"] {
                all.push(instance(account, region, "CURRENT"));
            }
        }
        all
    }

    /// `decide` for `targets` and a StackSet whose template is "T" and parameters `live`.
    fn decide_for(
        targets: &Targets,
        live: Option<BTreeMap<String, String>>,
        existing: &[Instance],
        (scope, prune): (Scope, Prune),
    ) -> (Vec<Step>, Vec<Instance>) {
        let parameters = BTreeMap::from([("P".to_string(), "1".to_string())]);
        let tags = BTreeMap::new();
        let desired = Desired {
            name: "s",
            template: "T",
            parameters: &parameters,
            tags: &tags,
            targets,
        };
        let live = live.map(|parameters| LiveStackSet {
            template: "T".into(),
            parameters,
        });
        decide(live.as_ref(), existing, &desired, (scope, prune))
    }

    fn decide_with(
        live: Option<BTreeMap<String, String>>,
        existing: &[Instance],
        scope: Scope,
        prune: Prune,
    ) -> (Vec<Step>, Vec<Instance>) {
        decide_for(&targets(), live, existing, (scope, prune))
    }

    fn p1() -> Option<BTreeMap<String, String>> {
        Some(BTreeMap::from([("P".to_string(), "1".to_string())]))
    }

    fn group(accounts: &[&str], regions: &[&str]) -> (Vec<String>, Vec<String>) {
        let strings = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect();
        (strings(accounts), strings(regions))
    }

    #[test]
    fn a_settled_stack_set_needs_no_step() {
        let (steps, kept) = decide_with(p1(), &all_current(), Scope::Everything, Prune::No);
        assert_eq!(steps, []);
        assert_eq!(kept, []);
    }

    #[test]
    fn a_missing_stack_set_is_created_with_every_instance() {
        let (steps, _) = decide_with(None, &[], Scope::Everything, Prune::No);
        let both = group(
            &["111111111111", "222222222222"],
            &["eu-west-1", "us-east-1"],
        );
        assert_eq!(steps, [Step::CreateStackSet, Step::CreateInstances(both)]);
    }

    #[test]
    fn new_values_update_the_instances_in_targets_and_a_stopped_run_is_finished() {
        let old = Some(BTreeMap::from([("P".to_string(), "0".to_string())]));
        let (steps, _) = decide_with(old, &all_current(), Scope::CodeOnly, Prune::No);
        let all = group(
            &["111111111111", "222222222222"],
            &["eu-west-1", "us-east-1"],
        );
        assert_eq!(steps, [Step::Update(Some(all))]);
        // Same values, but one instance left OUTDATED by a stopped operation: only it.
        let mut existing = all_current();
        existing[3].status = "OUTDATED".into();
        let (steps, _) = decide_with(p1(), &existing, Scope::Everything, Prune::No);
        let one = group(&["222222222222"], &["eu-west-1"]);
        assert_eq!(steps, [Step::Update(Some(one))]);
    }

    #[test]
    fn instances_outside_targets_are_kept_unless_pruned() {
        let mut existing = all_current();
        existing.push(instance("333333333333", "us-east-1", "CURRENT"));
        let (steps, kept) = decide_with(p1(), &existing, Scope::Everything, Prune::No);
        assert_eq!((steps.len(), kept.len()), (0, 1));
        let (steps, kept) = decide_with(p1(), &existing, Scope::Everything, Prune::Yes);
        let extra = group(&["333333333333"], &["us-east-1"]);
        assert_eq!((steps, kept.len()), (vec![Step::DeleteInstances(extra)], 0));
    }

    #[test]
    fn service_managed_instances_are_matched_by_their_unit() {
        let mut targets = targets();
        targets.accounts.clear();
        targets.organizational_units = vec!["ou-ab12-prod0001".into()];
        // Two member accounts of the unit in us-east-1; eu-west-1 has none yet.
        let mut existing = vec![
            instance("444444444444", "us-east-1", "CURRENT"),
            instance("555555555555", "us-east-1", "CURRENT"),
        ];
        for i in &mut existing {
            i.ou = Some("ou-ab12-prod0001".into());
        }
        let how = (Scope::Everything, Prune::No);
        let (steps, kept) = decide_for(&targets, p1(), &existing, how);
        let missing = group(&["ou-ab12-prod0001"], &["eu-west-1"]);
        assert_eq!(
            (steps, kept.len()),
            (vec![Step::CreateInstances(missing)], 0)
        );
    }

    #[test]
    fn a_code_only_run_creates_no_instances() {
        let (steps, _) = decide_with(p1(), &all_current()[..2], Scope::CodeOnly, Prune::No);
        assert_eq!(steps, []);
        let (steps, _) = decide_with(p1(), &all_current()[..2], Scope::Everything, Prune::No);
        let missing = group(&["111111111111", "222222222222"], &["eu-west-1"]);
        assert_eq!(steps, [Step::CreateInstances(missing)]);
    }

    fn pair(a: &str, r: &str) -> (String, String) {
        (a.into(), r.into())
    }

    #[test]
    fn missing_pairs_group_into_products() {
        let groups = by_accounts(&[
            pair("111111111111", "us-east-1"),
            pair("222222222222", "us-east-1"),
            pair("111111111111", "eu-west-1"),
            pair("222222222222", "eu-west-1"),
            pair("111111111111", "ap-south-1"),
        ]);
        assert_eq!(groups.len(), 2, "{groups:?}");
        assert!(groups.contains(&(
            vec!["111111111111".into(), "222222222222".into()],
            vec!["eu-west-1".into(), "us-east-1".into()]
        )));
        assert!(groups.contains(&(vec!["111111111111".into()], vec!["ap-south-1".into()])));
    }
}
