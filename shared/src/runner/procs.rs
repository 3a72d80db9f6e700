//! Which processes belong to a local build, from `/proc`: a build's agent leads its own session,
//! and everything the build starts stays in that session unless it leaves on purpose. A process
//! is named by its pid *and* its start time, so a reused pid is never mistaken for the build.

use std::path::Path;

/// What `/proc/<pid>/stat` says that ownership needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub session: i32,
    /// Clock ticks after boot when the process started.
    pub started: u64,
}

/// Parse one `/proc/<pid>/stat` line. The command name (field 2) may hold spaces and
/// parentheses, so fields are counted after its last `)`.
pub fn parse_stat(line: &str) -> Option<Stat> {
    let after_name = &line[line.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // After the name: state (3), ppid (4), pgrp (5), session (6) ... starttime (22).
    Some(Stat {
        session: fields.get(3)?.parse().ok()?,
        started: fields.get(19)?.parse().ok()?,
    })
}

/// The process `pid` as it is now, if it exists.
pub fn stat(pid: i32) -> Option<Stat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Whether `pid` is still the process that started at `started`.
pub fn is_alive(pid: i32, started: u64) -> bool {
    stat(pid).is_some_and(|s| s.started == started)
}

/// The processes of session `session` that started no earlier than its leader did (`since`):
/// those are the build's; an older process with that session id cannot be.
pub fn session_members(proc_root: &Path, session: i32, since: u64) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir(proc_root) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(proc_root.join(pid.to_string()).join("stat"))
                .ok()
                .and_then(|line| parse_stat(&line))
                .is_some_and(|s| s.session == session && s.started >= since)
        })
        .collect()
}

/// SIGKILL every process of the build whose agent was `agent` started at `started`; how many.
/// Linux keeps a pid in use while any process of the session it names lives, so if `agent`'s
/// pid now names another process, the build's session is gone and nothing is killed; an
/// unknown start time (0) kills nothing either.
pub fn kill_session(agent: i32, started: u64) -> usize {
    let reused = stat(agent).is_some_and(|s| s.started != started);
    if started == 0 || reused {
        return 0;
    }
    let members = session_members(Path::new("/proc"), agent, started);
    for pid in &members {
        // SAFETY: kill only sends a signal; a process that ended meanwhile yields ESRCH.
        unsafe {
            libc::kill(*pid, libc::SIGKILL);
        }
    }
    members.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_are_read_after_the_command_name() {
        let tail = "0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0";
        let cases: &[(String, Option<Stat>)] = &[
            (
                format!("4242 (sleep) S 1 4242 4240 0 -1 4194560 95 0 0 0 0 0 0 0 20 0 1 0 987654 {tail}"),
                Some(Stat { session: 4240, started: 987654 }),
            ),
            (
                format!("77 (a ) b (c) R 1 77 77 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 {tail}"),
                Some(Stat { session: 77, started: 5 }),
            ),
            ("12 (truncated) S 1 2".into(), None),
            ("no parentheses at all".into(), None),
            ("9 (x) S 1 9 notanumber 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5".into(), None),
        ];
        for (line, expected) in cases {
            assert_eq!(parse_stat(line), *expected, "{line}");
        }
    }

    #[test]
    fn a_session_is_killed_only_while_its_leader_is_the_one_recorded() {
        use std::os::unix::process::CommandExt as _;
        let mut leader = std::process::Command::new("sleep");
        leader.arg("30");
        // SAFETY: setsid is async-signal-safe.
        unsafe {
            leader.pre_exec(|| match libc::setsid() {
                -1 => Err(std::io::Error::last_os_error()),
                _ => Ok(()),
            });
        }
        let mut child = leader.spawn().unwrap();
        let pid = child.id() as i32;
        let started = stat(pid).unwrap().started;
        assert_eq!(
            kill_session(pid, started + 1),
            0,
            "the pid names another process now"
        );
        assert_eq!(
            kill_session(pid, 0),
            0,
            "an unknown start time kills nothing"
        );
        assert!(is_alive(pid, started));
        assert_eq!(kill_session(pid, started), 1);
        assert!(!child.wait().unwrap().success());
    }

    #[test]
    fn this_process_is_alive_and_a_reused_pid_is_not_it() {
        let me = std::process::id() as i32;
        let now = stat(me).expect("our own /proc entry");
        assert!(is_alive(me, now.started));
        assert!(!is_alive(me, now.started + 1));
        assert!(session_members(Path::new("/proc"), now.session, 0).contains(&me));
        assert!(!session_members(Path::new("/proc"), now.session, u64::MAX).contains(&me));
    }
}
