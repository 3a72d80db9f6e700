//! The forges one Slipway talks to, as installed: which client answers an event's forge.

use std::sync::Arc;

use crate::model::event::ForgeKind;

/// The forges Slipway can talk to, as configured; either may be absent.
#[derive(Default)]
pub struct Forges {
    pub github: Option<Arc<crate::forge::github::GithubClient>>,
    pub gitlab: Option<Arc<crate::forge::gitlab::GitlabForge>>,
    /// Git repositories on this machine (`slipway run`, `slipway comment`).
    #[cfg(feature = "local")]
    pub local: Option<crate::forge::local::LocalForge>,
}

impl Forges {
    /// The forge an event came from, as the installation that sent it.
    pub fn forge_for(
        &self,
        kind: ForgeKind,
        installation: Option<u64>,
    ) -> Option<Arc<dyn crate::forge::Forge>> {
        match kind {
            ForgeKind::Github => self
                .github
                .as_ref()
                .map(|client| Arc::new(client.forge(installation)) as _),
            ForgeKind::Gitlab => self.gitlab.clone().map(|forge| forge as _),
            #[cfg(feature = "local")]
            ForgeKind::Local => self.local.clone().map(|forge| Arc::new(forge) as _),
            #[cfg(not(feature = "local"))]
            ForgeKind::Local => None,
        }
    }
}
