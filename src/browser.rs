//! `--open`: show a page the tool wrote in a browser, where there is one. The browser is
//! `$BROWSER` (a `:`-separated list of commands, `%s` standing for the page, else the page is
//! appended; the first that starts is used), else `xdg-open` or `open` found on PATH. It is
//! started detached (its own process group, no stdio of ours) and not waited for beyond a
//! moment: unlike the children of `process/`, it is meant to outlive the run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long an opener may take to fail before it is taken to have started the browser.
const GRACE: Duration = Duration::from_millis(300);

/// What `open` did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Opened {
    /// Handed to this command (its program's name).
    With(String),
    /// No `$BROWSER`, and neither `xdg-open` nor `open` on PATH.
    NoBrowser,
    /// The opener could not start or failed at once: what it said.
    Failed(String),
}

/// Where `--open` without `--html` writes the page: a new file in the OS temp dir, kept.
pub(crate) fn temp_page(what: &str) -> std::io::Result<PathBuf> {
    let file = tempfile::Builder::new()
        .prefix(&format!("scorekeep-deploy-{what}-"))
        .suffix(".html")
        .tempfile()?;
    let (_, path) = file.keep().map_err(|e| e.error)?;
    Ok(path)
}

/// Open `page` in a browser.
pub(crate) fn open(page: &Path) -> Opened {
    let candidates = openers(
        std::env::var("BROWSER").ok().as_deref(),
        std::env::var_os("PATH").as_deref(),
    );
    let mut last = Opened::NoBrowser;
    for words in candidates {
        last = start(&command_line(&words, page));
        if matches!(last, Opened::With(_)) {
            break;
        }
    }
    last
}

/// The commands to try, as words (`%s` kept for [`command_line`]): `$BROWSER`'s entries,
/// else the first of `xdg-open`, `open` on `path`.
fn openers(browser: Option<&str>, path: Option<&std::ffi::OsStr>) -> Vec<Vec<String>> {
    let from_env: Vec<Vec<String>> = browser
        .unwrap_or_default()
        .split(':')
        .map(|entry| {
            entry
                .split_whitespace()
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .filter(|words| !words.is_empty())
        .collect();
    if !from_env.is_empty() {
        return from_env;
    }
    let dirs: Vec<PathBuf> = path
        .map(|p| std::env::split_paths(p).collect())
        .unwrap_or_default();
    ["xdg-open", "open"]
        .into_iter()
        .find(|name| dirs.iter().any(|d| is_executable(&d.join(name))))
        .map(|name| vec![vec![name.to_string()]])
        .unwrap_or_default()
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `words` with the page in place of `%s`, or appended when there is none.
fn command_line(words: &[String], page: &Path) -> Vec<String> {
    let page = page.display().to_string();
    if words.iter().any(|w| w.contains("%s")) {
        words.iter().map(|w| w.replace("%s", &page)).collect()
    } else {
        words.iter().cloned().chain([page]).collect()
    }
}

/// Start `line` detached; wait [`GRACE`] at most, to report an opener that fails at once.
fn start(line: &[String]) -> Opened {
    use std::os::unix::process::CommandExt as _;
    let Some((program, args)) = line.split_first() else {
        return Opened::NoBrowser;
    };
    let spawned = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own group: a Ctrl-C on our terminal is not the browser's.
        .process_group(0)
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => return Opened::Failed(format!("{program}: {e}")),
    };
    let until = Instant::now() + GRACE;
    while Instant::now() < until {
        match child.try_wait() {
            Ok(Some(status)) if !status.success() => {
                return Opened::Failed(format!("{program} exited with {status}"))
            }
            Ok(Some(_)) | Err(_) => break,
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    Opened::With(program.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &[&str]) -> Vec<String> {
        line.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn browser_entries_and_the_page_in_place_of_percent_s() {
        let page = Path::new("/tmp/p.html");
        let found = openers(Some("firefox --new-tab:w3m %s"), None);
        assert_eq!(
            found,
            [words(&["firefox", "--new-tab"]), words(&["w3m", "%s"])]
        );
        assert_eq!(
            command_line(&found[0], page),
            words(&["firefox", "--new-tab", "/tmp/p.html"])
        );
        assert_eq!(
            command_line(&found[1], page),
            words(&["w3m", "/tmp/p.html"])
        );
    }

    #[test]
    fn without_browser_an_opener_on_path_or_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = std::env::join_paths([dir.path()]).unwrap();
        assert!(openers(Some(""), Some(&path)).is_empty());
        let opener = dir.path().join("open");
        std::fs::write(&opener, "#!/bin/sh\n").unwrap();
        // Not executable: not an opener.
        assert!(openers(None, Some(&path)).is_empty());
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&opener, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(openers(None, Some(&path)), [words(&["open"])]);
    }

    #[test]
    fn an_opener_that_fails_at_once_is_said() {
        assert!(matches!(start(&words(&["false"])), Opened::Failed(_)));
        assert!(matches!(
            start(&words(&["/nonexistent/browser"])),
            Opened::Failed(_)
        ));
        assert_eq!(start(&words(&["true"])), Opened::With("true".into()));
    }
}
