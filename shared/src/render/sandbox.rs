//! What Slipway says when build steps cannot be sandboxed on this machine.

use crate::runner::sandbox::{Unsandboxed, SETTING};

/// `slipway serve`'s warning at start.
pub fn unsandboxed_warning(why: &Unsandboxed) -> String {
    let cause = match why {
        Unsandboxed::Disabled => format!("{SETTING}=off"),
        Unsandboxed::Unavailable(reason) => format!("no sandbox can be made here ({reason})"),
    };
    format!(
        "build steps run WITHOUT a sandbox: {cause}. They can read this user's files and \
         processes; pull requests from forks will not be built. Install bubblewrap and allow \
         unprivileged user namespaces to sandbox them."
    )
}

pub fn unsandboxed_fork_title() -> String {
    "Not built: no sandbox for fork code".into()
}

/// The check's summary, and the reply to `/build` or `/ok-to-test`.
pub fn unsandboxed_fork_summary() -> String {
    "This pull request comes from a fork, and this Slipway runs builds without a sandbox, where \
     a fork's code could reach the bot's secrets and state. It is not built here; an \
     administrator can install bubblewrap (or remove `SLIPWAY_SANDBOX=off`) and push again."
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_warning_names_the_cause_and_the_consequence() {
        let cases = [
            (Unsandboxed::Disabled, "SLIPWAY_SANDBOX=off"),
            (
                Unsandboxed::Unavailable("bwrap: setting up uid map: Permission denied".into()),
                "no sandbox can be made here (bwrap: setting up uid map: Permission denied)",
            ),
        ];
        for (why, cause) in cases {
            let text = unsandboxed_warning(&why);
            assert!(text.contains(cause), "{text}");
            assert!(text.contains("forks will not be built"), "{text}");
        }
        assert!(unsandboxed_fork_summary().contains("fork"));
        assert!(unsandboxed_fork_title().contains("sandbox"));
    }
}
