//! The README lists every command once: a command missing from it is a command newcomers never
//! find. The list is read from the binary's own help, so a new command fails this test until the
//! README shows it.
#![allow(clippy::unwrap_used)]

use std::process::Command;

/// The subcommands `dualpower [PATH…] --help` lists.
fn subcommands(path: &[&str]) -> Vec<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_dualpower"))
        .args(path)
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_readme_shows_every_command() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let mut missing = Vec::new();
    let top = subcommands(&[]);
    assert!(top.len() > 20, "help lists the commands: {top:?}");
    for c in &top {
        if c == "group" || c == "dm" {
            for sub in subcommands(&[c]) {
                let shown = format!("dualpower {c} {sub}");
                if !readme.contains(&shown) {
                    missing.push(shown);
                }
            }
        } else {
            let shown = format!("dualpower {c}");
            if !readme.contains(&format!("{shown} ")) && !readme.contains(&format!("{shown}\n")) {
                missing.push(shown);
            }
        }
    }
    assert!(missing.is_empty(), "README.md never shows: {missing:?}");
}
