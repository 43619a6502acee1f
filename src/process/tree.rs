//! Stopping a child and everything it started.
//!
//! A child runs in its own process group, so killing the group stops it and what it forked.
//! A process that left the group (`setsid`, a daemonizing script) is missed by that; it is
//! found here through `/proc` as a descendant of ours. While its parent lives it is under
//! that parent; once the parent dies it would be adopted by init and lost, unless this process
//! is a child subreaper ([`become_subreaper`]), which makes such orphans our children.
//! On systems without `/proc` only the group is killed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// One process as `/proc/PID/stat` describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Proc {
    pub(crate) pid: u32,
    pub(crate) ppid: u32,
    /// Exited and not yet reaped: nothing left to kill.
    pub(crate) zombie: bool,
}

/// Whether [`kill_descendants`] also reaps the orphans that became our children.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reap {
    /// Reap them: call only once every child we hold a `Child` handle for was waited for
    /// (reaping one behind its handle's back would make its `wait` fail).
    Orphans,
    /// Kill only (the process is about to exit; init reaps).
    Leave,
}

/// Make orphaned descendants our children instead of init's, so they stay findable (Linux;
/// elsewhere nothing). Process-wide and harmless for a short-lived CLI.
pub(crate) fn become_subreaper() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl(2) with an integer argument; no memory is passed.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
}

/// SIGKILL to process group `pgid` (a child we started with `process_group(0)`).
pub(crate) fn kill_group(pgid: i32) {
    signal_group(pgid, Sig::Kill);
}

/// What to send.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Sig {
    /// SIGTERM: a chance to clean up.
    Term,
    /// SIGKILL.
    Kill,
}

impl Sig {
    #[cfg(unix)]
    fn number(self) -> i32 {
        match self {
            Sig::Term => libc::SIGTERM,
            Sig::Kill => libc::SIGKILL,
        }
    }
}

/// `sig` to process group `pgid`.
pub(crate) fn signal_group(pgid: i32, sig: Sig) {
    #[cfg(unix)]
    if pgid > 1 {
        // SAFETY: kill(2) on a process group this process created; no memory involved.
        unsafe { libc::kill(-pgid, sig.number()) };
    }
}

/// `sig` to each process.
pub(crate) fn signal_each(pids: &[u32], sig: Sig) {
    #[cfg(unix)]
    for pid in pids {
        // SAFETY: kill(2) on a process just found below us; no memory involved.
        unsafe { libc::kill(*pid as i32, sig.number()) };
    }
}

/// Every process below `root` (not `root` itself), from a snapshot of `/proc`; empty where
/// there is no `/proc`.
pub(crate) fn descendants(root: u32) -> Vec<Proc> {
    let procs = snapshot();
    below(root, &procs)
}

/// The live (not zombie) processes below `root`, by pid.
pub(crate) fn live_descendants(root: u32) -> Vec<u32> {
    descendants(root)
        .into_iter()
        .filter(|p| !p.zombie)
        .map(|p| p.pid)
        .collect()
}

/// Kill everything below this process, repeating until nothing is left (a process may fork
/// while we look) or two seconds pass; with [`Reap::Orphans`], orphans adopted by us are reaped.
pub(crate) fn kill_descendants(reap: Reap) {
    let me = std::process::id();
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let below = descendants(me);
        let live: Vec<u32> = below.iter().filter(|p| !p.zombie).map(|p| p.pid).collect();
        signal_each(&live, Sig::Kill);
        if reap == Reap::Orphans {
            for p in below.iter().filter(|p| p.ppid == me && p.zombie) {
                reap_one(p.pid);
            }
        }
        let settled = match reap {
            Reap::Orphans => below.is_empty(),
            Reap::Leave => live.is_empty(),
        };
        if settled || Instant::now() >= deadline {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn reap_one(pid: u32) {
    #[cfg(unix)]
    {
        let mut status = 0;
        // SAFETY: waitpid(2) on a zombie child of ours that no `Child` handle owns.
        unsafe { libc::waitpid(pid as i32, &mut status, libc::WNOHANG) };
    }
    #[cfg(not(unix))]
    let _ = pid;
}

/// Every process in `/proc`, by pid.
fn snapshot() -> BTreeMap<u32, Proc> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return BTreeMap::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            parse_stat(pid, &stat)
        })
        .map(|p| (p.pid, p))
        .collect()
}

/// `pid (comm) state ppid ...`: the command name may hold spaces and parentheses, so the
/// fields are read after its last `)`.
fn parse_stat(pid: u32, stat: &str) -> Option<Proc> {
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    let state = fields.next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some(Proc {
        pid,
        ppid,
        zombie: state == "Z" || state == "X",
    })
}

/// The processes whose parent chain leads to `root`.
fn below(root: u32, procs: &BTreeMap<u32, Proc>) -> Vec<Proc> {
    let mut found = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for p in procs.values().filter(|p| p.ppid == parent && p.pid != root) {
            if !found.iter().any(|f: &Proc| f.pid == p.pid) {
                found.push(*p);
                frontier.push(p.pid);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_read_after_the_last_parenthesis() {
        let p = parse_stat(42, "42 (a) b (c)) S 7 42 42 0 -1").unwrap();
        assert_eq!(
            p,
            Proc {
                pid: 42,
                ppid: 7,
                zombie: false
            }
        );
        assert!(parse_stat(9, "9 (sh) Z 1 9 9").unwrap().zombie);
        assert_eq!(parse_stat(9, "garbage"), None);
    }

    #[test]
    fn descendants_follow_the_parent_chain() {
        let proc = |pid, ppid| Proc {
            pid,
            ppid,
            zombie: false,
        };
        let procs: BTreeMap<u32, Proc> = [
            proc(1, 0),
            proc(10, 1),
            proc(11, 10),
            proc(12, 11),
            proc(13, 1),
        ]
        .into_iter()
        .map(|p| (p.pid, p))
        .collect();
        let mut pids: Vec<u32> = below(10, &procs).iter().map(|p| p.pid).collect();
        pids.sort();
        assert_eq!(pids, [11, 12]);
        assert!(below(12, &procs).is_empty());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_child_that_left_its_group_is_found_below_us() {
        let mut child = std::process::Command::new("setsid")
            .args(["sh", "-c", "sleep 30 & wait"])
            .stdin(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut below = Vec::new();
        while below.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
            below = live_descendants(child.id());
        }
        assert!(
            !below.is_empty(),
            "the sleep under setsid's shell was not found"
        );
        assert!(descendants(std::process::id())
            .iter()
            .any(|p| p.pid == below[0]));
        signal_each(&below, Sig::Kill);
        let _ = child.kill();
        let _ = child.wait();
    }
}
