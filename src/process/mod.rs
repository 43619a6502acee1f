//! Child processes the tool starts (npm, pip, esbuild, python for a build; the handler for
//! `invoke --local`), run one way: each in its own process group, with stdin empty and
//! stdout/stderr piped (never our terminal, so a Ctrl-C on it reaches us only and nothing the
//! child leaves behind holds our output open), waited for with a signal (Ctrl-C, SIGTERM,
//! SIGHUP) and an optional deadline in mind, and stopped together with everything it started
//! ([`tree`]). What a caller does with the output, and when it gives up, stays with the caller
//! (`bundle/tool_run.rs`, `invoke/handler_run.rs`).

pub(crate) mod tree;

use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tree::{live_descendants, signal_each, signal_group, Sig};

/// How often a running child is checked for having exited, a signal and the deadline.
const POLL: Duration = Duration::from_millis(10);

/// Process groups of running children (npm, pip, a local handler), killed on the abort.
static CHILDREN: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// The abort (`interrupt`, on a second signal): every running child's process group, then
/// whatever else descends from us (what left its group with setsid).
pub(crate) fn kill_all() {
    // Looked up first: once a group's leader dies, what it started outside the group is
    // init's (a build is no subreaper) and no longer found below us.
    let below = live_descendants(std::process::id());
    if let Ok(children) = CHILDREN.lock() {
        for pgid in children.iter() {
            tree::kill_group(*pgid);
        }
    }
    signal_each(&below, Sig::Kill);
    tree::kill_descendants(tree::Reap::Leave);
}

/// A started child leading its own process group. Registered for the abort (a second signal
/// kills every registered group) until dropped.
pub(crate) struct Group {
    child: Child,
    pgid: i32,
}

/// How a waited-for child ended.
#[derive(Debug)]
pub(crate) enum Ended {
    Exited(ExitStatus),
    /// Stopped at the deadline.
    TimedOut,
    /// Stopped because a signal asked us to stop.
    Interrupted,
}

impl Group {
    /// Start `command` in a process group of its own, stdin empty, stdout and stderr piped.
    pub(crate) fn spawn(command: &mut Command) -> std::io::Result<Group> {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(command, 0);
        let child = command.spawn()?;
        let pgid = child.id() as i32;
        if let Ok(mut children) = CHILDREN.lock() {
            children.push(pgid);
        }
        Ok(Group { child, pgid })
    }

    pub(crate) fn id(&self) -> u32 {
        self.child.id()
    }

    /// The child, to take its output pipes.
    pub(crate) fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Wait until the child exits, a signal asks us to stop, or `deadline` passes. Unless it
    /// exited, it is stopped with what it started ([`Group::stop`]); it is reaped on every
    /// path. An error checking on it stops it too.
    pub(crate) fn wait(
        &mut self,
        deadline: Option<Instant>,
        grace: Duration,
    ) -> std::io::Result<Ended> {
        loop {
            let stopped = match self.child.try_wait() {
                Ok(Some(status)) => return Ok(Ended::Exited(status)),
                Err(e) => Err(e),
                Ok(None) if crate::signal::stopped_by().is_some() => Ok(Ended::Interrupted),
                Ok(None) if deadline.is_some_and(|d| Instant::now() >= d) => Ok(Ended::TimedOut),
                Ok(None) => {
                    std::thread::sleep(POLL);
                    continue;
                }
            };
            self.stop(grace);
            return stopped;
        }
    }

    /// SIGTERM to the group and to what left it (`setsid`), SIGKILL to both after `grace`
    /// (at once when it is zero), then reap the child.
    pub(crate) fn stop(&mut self, grace: Duration) {
        // Looked up while the child lives: once it exits, its strays belong to init.
        let mut strays = live_descendants(self.child.id());
        if !grace.is_zero() {
            signal_group(self.pgid, Sig::Term);
            signal_each(&strays, Sig::Term);
            let deadline = Instant::now() + grace;
            while Instant::now() < deadline {
                if matches!(self.child.try_wait(), Ok(Some(_))) {
                    break;
                }
                strays.extend(live_descendants(self.child.id()));
                std::thread::sleep(POLL);
            }
            strays.sort_unstable();
            strays.dedup();
        }
        // The group may outlive its leader: make sure nothing of it keeps running.
        signal_group(self.pgid, Sig::Kill);
        signal_each(&strays, Sig::Kill);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if let Ok(mut children) = CHILDREN.lock() {
            children.retain(|p| *p != self.pgid);
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn output_is_piped_and_the_exit_status_kept() {
        let mut group = Group::spawn(Command::new("sh").args(["-c", "echo hi; exit 3"])).unwrap();
        let mut out = String::new();
        group
            .child()
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        let ended = group.wait(None, Duration::ZERO).unwrap();
        assert!(
            matches!(ended, Ended::Exited(s) if s.code() == Some(3)),
            "{ended:?}"
        );
        assert_eq!(out, "hi\n");
    }

    #[test]
    fn the_deadline_stops_the_child_and_what_it_started() {
        let mut group =
            Group::spawn(Command::new("sh").args(["-c", "sleep 30 & sleep 30; wait"])).unwrap();
        let pgid = group.id() as i32;
        let started = Instant::now();
        let deadline = Instant::now() + Duration::from_millis(200);
        let ended = group
            .wait(Some(deadline), Duration::from_millis(100))
            .unwrap();
        assert!(matches!(ended, Ended::TimedOut), "{ended:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
        let gone = Instant::now() + Duration::from_secs(2);
        while live_in_group(pgid) && Instant::now() < gone {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            !live_in_group(pgid),
            "the background sleep of the group survived"
        );
    }

    /// Whether a process of group `pgid` still runs (zombies do not count), from `/proc`.
    fn live_in_group(pgid: i32) -> bool {
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return false;
        };
        entries.flatten().any(|e| {
            let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            let Some((_, fields)) = stat.rsplit_once(')') else {
                return false;
            };
            let fields: Vec<&str> = fields.split_whitespace().collect();
            // state ppid pgrp ...
            fields.len() > 2 && fields[2] == pgid.to_string() && !matches!(fields[0], "Z" | "X")
        })
    }
}
