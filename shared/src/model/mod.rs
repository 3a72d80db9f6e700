//! The vocabulary: the words every other part of Slipway speaks, and nothing else. No I/O, no
//! ports, no settings; it imports nothing of ours from outside this folder, and everything else
//! imports it.

pub mod artifact;
pub mod deploy;
pub mod error;
pub mod event;
pub mod failure;
pub mod forge;
pub mod image;
pub mod job;
pub mod run;
pub mod secret;
pub mod status;
