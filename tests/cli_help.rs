//! What the command line says about itself: group help lists every
//! subcommand with its description, and completion scripts complete.

mod common;

use std::process::Command;

use common::*;

#[test]
fn group_help_describes_each_subcommand() {
    let root = Root::new();
    for group in ["image", "container", "system", "builder"] {
        let help = root.ok(&[group, "--help"]);
        let commands: Vec<&str> = help
            .lines()
            .skip_while(|l| *l != "Commands:")
            .skip(1)
            .take_while(|l| !l.is_empty())
            .collect();
        assert!(!commands.is_empty(), "{help}");
        for line in commands {
            let mut words = line.split_whitespace();
            let name = words.next().unwrap();
            assert!(
                words.next().is_some(),
                "berth {group} {name} has no description"
            );
        }
    }
}

#[test]
fn bash_completion_completes_commands() {
    let root = Root::new();
    let script = root.file("berth.bash", root.ok(&["completion", "bash"]).as_bytes());
    let test = format!(
        "source {script}\ncomplete -p berth\nCOMP_WORDS=(berth ima); COMP_CWORD=1; _berth berth ima berth; echo \"${{COMPREPLY[@]}}\"\n\
         COMP_WORDS=(berth image pu); COMP_CWORD=2; _berth berth pu image; echo \"${{COMPREPLY[@]}}\"\n"
    );
    let out = Command::new("bash").arg("-c").arg(&test).output().unwrap();
    assert!(out.status.success(), "{}", stderr_text(&out));
    let text = stdout_text(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("complete ") && lines[0].ends_with(" -F _berth berth"),
        "{text}"
    );
    assert_eq!(lines[1], "images image", "{text}");
    assert_eq!(lines[2], "pull push", "{text}");

    for shell in ["zsh", "fish"] {
        let script = root.ok(&["completion", shell]);
        assert!(
            script.contains("berth") && script.contains("image"),
            "{shell}"
        );
    }
    let out = root.run(&["completion", "tcsh"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr_text(&out).contains("possible values: bash, zsh, fish"));
}
