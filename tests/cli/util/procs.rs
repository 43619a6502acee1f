//! Processes as `/proc` shows them (Linux): to find what a run started, by a marker in its
//! command line, and to check that none of it survives.

use std::path::Path;
use std::time::{Duration, Instant};

/// A live (not zombie) process whose command line mentions `marker` (e.g. a test's temporary
/// directory, where its stand-in programs live).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub pid: u32,
    pub cmdline: String,
}

/// Every live process whose command line contains `marker`.
pub fn mentioning(marker: &str) -> Vec<Found> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| alive(*pid))
        .filter_map(|pid| {
            let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
            cmdline.contains(marker).then(|| Found {
                pid,
                cmdline: cmdline.trim_end().to_string(),
            })
        })
        .collect()
}

/// Every live process started as `program` (its first argument, as a shell or `exec` gives it).
pub fn running(program: &Path) -> Vec<Found> {
    let program = program.to_str().expect("a UTF-8 path");
    mentioning(program)
        .into_iter()
        .filter(|f| f.cmdline.split(' ').next() == Some(program))
        .collect()
}

/// Wait until at least `n` live processes run `program` (or `limit` passes); what was found.
pub fn wait_for_program(program: &Path, n: usize, limit: Duration) -> Vec<Found> {
    let deadline = Instant::now() + limit;
    loop {
        let found = running(program);
        if found.len() >= n || Instant::now() >= deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Running (a zombie waiting to be reaped does not count).
pub fn alive(pid: u32) -> bool {
    stat(pid).is_some_and(|(state, _)| state != 'Z' && state != 'X')
}

/// Whether `ancestor` is on `pid`'s parent chain.
pub fn descends_from(pid: u32, ancestor: u32) -> bool {
    let mut current = pid;
    for _ in 0..64 {
        match stat(current) {
            Some((_, ppid)) if ppid == ancestor => return true,
            Some((_, ppid)) if ppid > 1 => current = ppid,
            _ => return false,
        }
    }
    false
}

/// State and parent of `pid`, read after the last `)` (the command name may hold one).
fn stat(pid: u32) -> Option<(char, u32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = text.rsplit_once(')')?.1.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Wait until at least `n` live processes mention `marker` (or `limit` passes); what was found.
pub fn wait_for(marker: &str, n: usize, limit: Duration) -> Vec<Found> {
    let deadline = Instant::now() + limit;
    loop {
        let found = mentioning(marker);
        if found.len() >= n || Instant::now() >= deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `dir/bin/sleep`, a link to this machine's `sleep`: a process started through it carries
/// `dir` in its command line, so the test finds exactly the processes of its own run.
pub fn marked_sleep(dir: &Path) -> std::path::PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let sleep = ["/bin/sleep", "/usr/bin/sleep"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("a sleep program");
    let link = bin.join("sleep");
    if !link.exists() {
        std::os::unix::fs::symlink(sleep, &link).unwrap();
    }
    link
}

/// Kills, when dropped, what a test's run may have left (a failing test must not leave
/// `sleep 1000`s behind): every live process running `program`, or mentioning `marker`.
pub enum KillOnDrop {
    Program(std::path::PathBuf),
    Mentioning(String),
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let found = match self {
            KillOnDrop::Program(p) => running(p),
            KillOnDrop::Mentioning(m) => mentioning(m),
        };
        for f in found {
            // SAFETY: kill(2) on a process this test's run started; no memory involved.
            unsafe { libc::kill(f.pid as i32, libc::SIGKILL) };
        }
    }
}
