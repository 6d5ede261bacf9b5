//! A listing whose reader goes away (`dualpower feed tenants | head -1`) stops quietly with
//! status 0, as Unix tools do, instead of panicking with "failed printing to stdout".
#![allow(clippy::unwrap_used)]

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

const PASS: &str = "correct horse battery staple pipes";

fn dp(home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_dualpower"));
    c.arg("--home")
        .arg(home)
        .env("DUALPOWER_PASSPHRASE", PASS)
        .env("DUALPOWER_NETWORK", "cli-pipes")
        .env("DUALPOWER_WEB", "127.0.0.1:0")
        .env_remove("DUALPOWER_HOME")
        .stdin(Stdio::null());
    c
}

fn ok(home: &Path, args: &[&str]) -> String {
    let out = dp(home).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn listings_stop_quietly_when_their_reader_has_gone() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("alice");
    ok(&home, &["init"]);
    ok(&home, &["group", "create", "Tenants of 5th St"]);
    for i in 0..3 {
        ok(&home, &["post", "tenants", &format!("post {i}")]);
    }
    let p = ok(
        &home,
        &[
            "--json",
            "propose",
            "tenants",
            "Rent strike?",
            "--method",
            "majority",
        ],
    );
    let pid: serde_json::Value = serde_json::from_str(&p).unwrap();
    let pid = pid["id"].as_str().unwrap()[..8].to_owned();
    let listings: [&[&str]; 13] = [
        &["id"],
        &["groups"],
        &["feed", "tenants"],
        &["log", "tenants"],
        &["status"],
        &["verify"],
        &["dm", "list"],
        &["group", "members", "tenants"],
        &["proposals", "tenants"],
        &["proposals", "tenants", &pid],
        &["feed", "--json", "tenants"],
        &["tally", "tenants", &pid],
        &["tally", "tenants", &pid, "--verify"],
    ];
    for args in listings {
        // The reader end is closed before the command writes anything, so its first line
        // meets a broken pipe: deterministic, unlike racing `head -1`.
        let mut child = dp(&home)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        let status = child.wait().unwrap();
        assert!(
            !err.contains("panicked") && !err.contains("Broken pipe"),
            "{args:?} complained about the closed pipe: {err}"
        );
        assert_eq!(status.code(), Some(0), "{args:?}: {err}");
    }
    // And through a real shell pipeline, as people type it.
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -o pipefail; '{}' --home '{}' feed tenants | head -1",
            env!("CARGO_BIN_EXE_dualpower"),
            home.display()
        ))
        .env("DUALPOWER_PASSPHRASE", PASS)
        .env("DUALPOWER_NETWORK", "cli-pipes")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
}

#[test]
fn a_node_logging_to_a_file_writes_no_colour_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("alice");
    let log = tmp.path().join("serve.log");
    let mut child = dp(&home)
        .args(["serve", "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    // Wait for the node to be up (its API line), so it has logged its start.
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("listening on") {
        line.clear();
        let n = std::io::BufRead::read_line(&mut out, &mut line).unwrap();
        assert!(n > 0, "serve ended before listening");
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("INFO"),
        "the node logged nothing at info: {text}"
    );
    assert!(
        !text.contains('\u{1b}'),
        "colour codes in a log file: {text:?}"
    );
}
