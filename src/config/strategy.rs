//! How a release moves traffic (`releases.strategy`, per function `strategy`, `--strategy`):
//! all at once, or gradually on the release alias's weights (`canary:PERCENT:BAKE`,
//! `linear:STEP:INTERVAL`, and SAM's preset names). Pure: a strategy becomes [`Step`]s, each a
//! share of traffic for the new version and how long it bakes there before the next.

use std::fmt;
use std::time::Duration;

/// One strategy, parsed. The config and `--strategy` write it as text.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Strategy {
    /// The alias moves to the new version in one step (the default).
    #[default]
    AllAtOnce,
    /// `percent` % for `bake`, then 100 %.
    Canary { percent: u32, bake: Duration },
    /// `step` % more after each `interval`, until 100 %.
    Linear { step: u32, interval: Duration },
}

/// One step of a gradual release: the new version's share of traffic (1.0: the alias names it
/// alone) and how long it bakes there, gates checked, before the next step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Step {
    pub(crate) share: f64,
    pub(crate) bake: Duration,
}

impl Strategy {
    /// The steps from the first share to 100 % (the last step has no bake).
    pub(crate) fn steps(&self) -> Vec<Step> {
        let full = Step {
            share: 1.0,
            bake: Duration::ZERO,
        };
        match *self {
            Strategy::AllAtOnce => vec![full],
            Strategy::Canary { percent, bake } => vec![
                Step {
                    share: f64::from(percent) / 100.0,
                    bake,
                },
                full,
            ],
            Strategy::Linear { step, interval } => {
                let mut steps: Vec<Step> = (1..)
                    .map(|i| step * i)
                    .take_while(|p| *p < 100)
                    .map(|p| Step {
                        share: f64::from(p) / 100.0,
                        bake: interval,
                    })
                    .collect();
                steps.push(full);
                steps
            }
        }
    }

    /// The steps still to take when the new version already has `share` of the traffic (a
    /// stopped release resumed): the step at that share bakes again, lower ones are skipped.
    pub(crate) fn steps_from(&self, share: f64) -> Vec<Step> {
        self.steps()
            .into_iter()
            .filter(|s| s.share + 1e-9 >= share)
            .collect()
    }

    pub(crate) fn is_gradual(&self) -> bool {
        !matches!(self, Strategy::AllAtOnce)
    }

    /// Parse `all-at-once`, `canary:10:5m`, `linear:10:1m` or a SAM preset name.
    pub fn parse(text: &str) -> Result<Strategy, String> {
        let text = text.trim();
        if let Some(preset) = sam_preset(text) {
            return Ok(preset);
        }
        let parts: Vec<&str> = text.split(':').collect();
        match parts.as_slice() {
            ["all-at-once"] => Ok(Strategy::AllAtOnce),
            ["canary", percent, bake] => Ok(Strategy::Canary {
                percent: percent_of(percent, 99)?,
                bake: duration_of(bake)?,
            }),
            ["linear", step, interval] => Ok(Strategy::Linear {
                step: percent_of(step, 50)?,
                interval: duration_of(interval)?,
            }),
            _ => Err(format!(
                "unknown release strategy `{text}`: use all-at-once, canary:PERCENT:BAKE (e.g. canary:10:5m), linear:STEP:INTERVAL (e.g. linear:10:1m) or a SAM preset such as Canary10Percent5Minutes"
            )),
        }
    }
}

impl TryFrom<String> for Strategy {
    type Error = String;

    fn try_from(text: String) -> Result<Strategy, String> {
        Strategy::parse(&text)
    }
}

impl From<Strategy> for String {
    fn from(s: Strategy) -> String {
        s.to_string()
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Strategy::AllAtOnce => f.write_str("all-at-once"),
            Strategy::Canary { percent, bake } => {
                write!(f, "canary:{percent}:{}", duration_text(*bake))
            }
            Strategy::Linear { step, interval } => {
                write!(f, "linear:{step}:{}", duration_text(*interval))
            }
        }
    }
}

/// SAM's `DeploymentPreference.Type` names (CodeDeploy's predefined configurations).
fn sam_preset(name: &str) -> Option<Strategy> {
    let minutes = |m: u64| Duration::from_secs(60 * m);
    let canary = |percent, m| Strategy::Canary {
        percent,
        bake: minutes(m),
    };
    let linear = |step, m| Strategy::Linear {
        step,
        interval: minutes(m),
    };
    Some(match name {
        "AllAtOnce" => Strategy::AllAtOnce,
        "Canary10Percent5Minutes" => canary(10, 5),
        "Canary10Percent10Minutes" => canary(10, 10),
        "Canary10Percent15Minutes" => canary(10, 15),
        "Canary10Percent30Minutes" => canary(10, 30),
        "Linear10PercentEvery1Minute" => linear(10, 1),
        "Linear10PercentEvery2Minutes" => linear(10, 2),
        "Linear10PercentEvery3Minutes" => linear(10, 3),
        "Linear10PercentEvery10Minutes" => linear(10, 10),
        _ => return None,
    })
}

/// A whole percentage from 1 to `max` (a canary of 100 % is all at once; a linear step over
/// 50 % is one step).
fn percent_of(text: &str, max: u32) -> Result<u32, String> {
    match text.parse::<u32>() {
        Ok(p) if (1..=max).contains(&p) => Ok(p),
        _ => Err(format!(
            "`{text}` is not a whole percentage from 1 to {max}"
        )),
    }
}

/// `30s`, `5m`, `1h` (a bake or interval; at most a day).
pub(crate) fn duration_of(text: &str) -> Result<Duration, String> {
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(0));
    let seconds = match (number.parse::<u64>(), unit) {
        (Ok(n), "s") => n,
        (Ok(n), "m") => n * 60,
        (Ok(n), "h") => n * 3600,
        _ => {
            return Err(format!(
                "`{text}` is not a duration: write a whole number with s, m or h (e.g. 30s, 5m)"
            ))
        }
    };
    if seconds == 0 || seconds > 86_400 {
        return Err(format!("`{text}`: a bake lasts from 1s to 24h"));
    }
    Ok(Duration::from_secs(seconds))
}

fn duration_text(d: Duration) -> String {
    let s = d.as_secs();
    if s % 3600 == 0 {
        format!("{}h", s / 3600)
    } else if s % 60 == 0 {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shares(s: &str) -> Vec<f64> {
        Strategy::parse(s)
            .unwrap()
            .steps()
            .iter()
            .map(|s| s.share)
            .collect()
    }

    #[test]
    fn canary_bakes_one_share_then_takes_all() {
        let s = Strategy::parse("canary:10:5m").unwrap();
        assert_eq!(
            s.steps(),
            vec![
                Step {
                    share: 0.1,
                    bake: Duration::from_secs(300)
                },
                Step {
                    share: 1.0,
                    bake: Duration::ZERO
                }
            ]
        );
        assert_eq!(s.to_string(), "canary:10:5m");
    }

    #[test]
    fn linear_reaches_all_in_equal_steps() {
        assert_eq!(shares("linear:25:1s"), vec![0.25, 0.5, 0.75, 1.0]);
        assert_eq!(shares("linear:10:1m").len(), 10);
        assert_eq!(shares("linear:30:1m"), vec![0.3, 0.6, 0.9, 1.0]);
        assert_eq!(shares("all-at-once"), vec![1.0]);
    }

    #[test]
    fn sam_presets_mean_what_sam_means() {
        assert_eq!(
            Strategy::parse("Canary10Percent5Minutes").unwrap(),
            Strategy::parse("canary:10:5m").unwrap()
        );
        assert_eq!(
            Strategy::parse("Linear10PercentEvery1Minute").unwrap(),
            Strategy::parse("linear:10:60s").unwrap()
        );
        assert_eq!(Strategy::parse("AllAtOnce").unwrap(), Strategy::AllAtOnce);
    }

    #[test]
    fn a_resumed_release_bakes_its_current_share_again() {
        let s = Strategy::parse("linear:25:1s").unwrap();
        let left: Vec<f64> = s.steps_from(0.5).iter().map(|s| s.share).collect();
        assert_eq!(left, vec![0.5, 0.75, 1.0]);
        let left: Vec<f64> = s.steps_from(0.6).iter().map(|s| s.share).collect();
        assert_eq!(left, vec![0.75, 1.0]);
    }

    #[test]
    fn nonsense_is_refused_with_the_forms_that_work() {
        for bad in [
            "canary:0:5m",
            "canary:100:5m",
            "linear:60:1m",
            "canary:10:5",
            "canary:10:0s",
            "blue-green",
        ] {
            assert!(Strategy::parse(bad).is_err(), "{bad}");
        }
        assert!(Strategy::parse("gradual")
            .unwrap_err()
            .contains("canary:PERCENT:BAKE"));
    }
}
