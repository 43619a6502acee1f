//! Checks of what the user typed that AWS would refuse only later (or, for a region, would
//! turn into a bad endpoint host): made before any AWS call, so the answer is exit 2 with
//! what to write instead.

/// `--region`: AWS's form, `us-east-1`, `us-gov-west-1`, `eu-isoe-west-1` (lower-case words
/// joined by hyphens, ending in a number). The value becomes part of the endpoint's host name.
pub fn region(text: &str) -> Result<String, String> {
    let parts: Vec<&str> = text.split('-').collect();
    let words_ok = parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()));
    let number = parts.last().copied().unwrap_or_default();
    let number_ok =
        !number.is_empty() && number.len() <= 2 && number.chars().all(|c| c.is_ascii_digit());
    if words_ok && number_ok {
        Ok(text.to_string())
    } else {
        Err(format!(
            "`{}` is not an AWS region name: write e.g. us-east-1 or eu-west-2",
            text.escape_debug()
        ))
    }
}

/// `rollback --to`: a published version number, 1 or more (`$LATEST` and aliases are not
/// versions the alias can be rolled back to). Kept as text: that is how Lambda names versions.
pub fn version_number(text: &str) -> Result<String, String> {
    match text.parse::<u64>() {
        Ok(n) if n >= 1 && !text.starts_with('+') => Ok(n.to_string()),
        _ => Err(format!(
            "`{}` is not a version number: give a published version, 1 or more (`status` lists them)",
            text.escape_debug()
        )),
    }
}

/// An EventBridge schedule: `rate(N unit)` with a singular unit for 1 and a plural one
/// otherwise (EventBridge refuses `rate(1 minutes)` and `rate(5 minute)`), or `cron(...)`.
pub(crate) fn schedule(text: &str) -> Result<(), String> {
    if let Some(body) = text.strip_prefix("cron(").and_then(|r| r.strip_suffix(')')) {
        let fields = body.split_whitespace().count();
        if fields == 6 && !body.contains(['(', ')']) {
            return Ok(());
        }
        return Err(format!(
            "`{text}`: a cron schedule has 6 fields (minutes hours day-of-month month day-of-week year), e.g. cron(0 12 * * ? *)"
        ));
    }
    let Some(body) = text.strip_prefix("rate(").and_then(|r| r.strip_suffix(')')) else {
        return Err(format!(
            "`{text}` is not a schedule: write rate(5 minutes) or cron(0 12 * * ? *)"
        ));
    };
    let (number, unit) = body.split_once(' ').unwrap_or((body, ""));
    let n: u64 = match number.parse() {
        Ok(n) if n >= 1 && !number.starts_with(['0', '+']) => n,
        _ => {
            return Err(format!(
                "`{text}`: the rate is a whole number from 1, e.g. rate(5 minutes)"
            ))
        }
    };
    let singular = unit.strip_suffix('s').unwrap_or(unit);
    if !matches!(singular, "minute" | "hour" | "day") {
        return Err(format!(
            "`{text}`: the unit is minute(s), hour(s) or day(s)"
        ));
    }
    let wanted = if n == 1 {
        singular.to_string()
    } else {
        format!("{singular}s")
    };
    if unit != wanted {
        return Err(format!("`{text}`: EventBridge wants `rate({n} {wanted})`"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_have_aws_form() {
        for ok in [
            "us-east-1",
            "us-gov-west-1",
            "eu-isoe-west-1",
            "ap-southeast-5",
            "us-test-12",
        ] {
            assert_eq!(region(ok).unwrap(), ok);
        }
        for bad in [
            "us-east-1;id",
            "US-EAST-1",
            "useast1",
            "us-east-",
            "-east-1",
            "us-east-1 ",
            "us-east-100",
            "",
        ] {
            assert!(region(bad).is_err(), "{bad}");
        }
        assert!(region("us-east-1;id")
            .unwrap_err()
            .contains("`us-east-1;id` is not an AWS region"));
    }

    #[test]
    fn versions_are_positive_whole_numbers() {
        assert_eq!(version_number("7").unwrap(), "7");
        for bad in ["abc", "0", "-1", "+3", "$LATEST", "1.5", ""] {
            assert!(version_number(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn schedules_are_what_eventbridge_accepts() {
        for ok in [
            "rate(1 minute)",
            "rate(5 minutes)",
            "rate(1 day)",
            "rate(12 hours)",
            "cron(0 12 * * ? *)",
        ] {
            assert_eq!(schedule(ok), Ok(()), "{ok}");
        }
        assert_eq!(
            schedule("rate(1 minutes)").unwrap_err(),
            "`rate(1 minutes)`: EventBridge wants `rate(1 minute)`"
        );
        assert!(schedule("rate(5 minute)")
            .unwrap_err()
            .contains("rate(5 minutes)"));
        for bad in [
            "rate(0 minutes)",
            "rate(05 minutes)",
            "rate(5 weeks)",
            "rate(5)",
            "every 5 minutes",
            "cron(0 12 * *)",
        ] {
            assert!(schedule(bad).is_err(), "{bad}");
        }
    }
}
