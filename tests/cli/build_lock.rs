//! `build`'s project lock through the binary: concurrent runs in one project wait for each
//! other, `update-functions` waits for a build, and Ctrl-C stops a run that waits at once.

use std::io::Read;
use std::time::Duration;

use crate::build::xray_project;
use crate::build_cache::build_until_staging;
use crate::util::{self, manifest};
use predicates::prelude::*;

#[test]
fn concurrent_builds_in_one_project_wait_for_each_other() {
    let dir = xray_project();
    let bin = assert_cmd::cargo::cargo_bin("scorekeep-deploy");
    let spawn = || {
        std::process::Command::new(&bin)
            .args(["build", "--force", "--output", "json"])
            .current_dir(dir.path())
            .env("CI", "true")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    // The waiter names the holder's pid only when the holder has written it already, so the
    // count below matches the line without it.
    let (first, second) = (spawn(), spawn());
    let outputs = [
        first.wait_with_output().unwrap(),
        second.wait_with_output().unwrap(),
    ];
    let mut waited = 0;
    let mut shas = Vec::new();
    for out in &outputs {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        waited += stderr
            .matches("waiting for another scorekeep-deploy")
            .count();
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        for a in report["artifacts"].as_array().unwrap() {
            shas.push((a["function"].clone(), a["manifest"]["sha256_hex"].clone()));
        }
    }
    assert_eq!(waited, 1, "exactly one run waited for the other");
    assert_eq!(shas[..2], shas[2..], "the two builds made different zips");
    for (function, sha) in &shas[..2] {
        assert_eq!(
            manifest(dir.path(), function.as_str().unwrap())["sha256_hex"],
            *sha
        );
    }
}

#[test]
fn update_functions_waits_for_a_build_in_the_same_project() {
    if util::skip_emulator() {
        return;
    }
    let dir = xray_project();
    let region = util::unique_region();
    // The build holds the lock once it creates a staging dir.
    let mut build = build_until_staging(dir.path(), &["build", "--force"]);
    util::moto_cli(dir.path(), region, &["update-functions"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "waiting for another scorekeep-deploy (pid ",
        ))
        .stderr(predicate::str::contains("does not exist"));
    // It went on only after the build had finished.
    assert!(build.try_wait().unwrap().is_some_and(|s| s.success()));
}

#[test]
fn ctrl_c_while_waiting_for_the_project_lock_stops_at_once() {
    use std::os::fd::AsRawFd;
    let dir = xray_project();
    let cache = dir.path().join("target/scorekeep-deploy-cache");
    std::fs::create_dir_all(&cache).unwrap();
    // This test process plays the other run: it holds the lock for the whole test.
    let held = std::fs::File::create(cache.join("lock")).unwrap();
    // SAFETY: flock on a descriptor this test owns and keeps open.
    assert_eq!(
        unsafe { libc::flock(held.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) },
        0
    );
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("scorekeep-deploy"))
        .args(["build", "random-name"])
        .current_dir(dir.path())
        .env("CI", "true")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 512];
    while !String::from_utf8_lossy(&seen).contains("waiting for another scorekeep-deploy") {
        let n = stderr.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "build ended without waiting: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    let sent = std::time::Instant::now();
    // SAFETY: signalling our own child by its PID.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert_eq!(status.code(), Some(130), "{rest}");
    assert!(
        sent.elapsed() < Duration::from_secs(2),
        "took {:?} to stop",
        sent.elapsed()
    );
    assert!(rest.contains("waiting for the lock"), "{rest}");
    assert!(!dir
        .path()
        .join("target/scorekeep-deploy/random-name.zip")
        .exists());
    drop(held);
}
