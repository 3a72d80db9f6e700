//! `slipway queue`: what waits in the local queue, and the events parked as dead letters (no
//! worker could process them) with why, oldest first.

use std::path::Path;
use std::process::ExitCode;

use slipway::model::event::QueuedEvent;
use slipway::queue::local::LocalQueue;

pub async fn run(data_dir: &Path) -> anyhow::Result<ExitCode> {
    let queue = LocalQueue::open(&data_dir.join("slipway.db"))?;
    let waiting = queue.depth().await?;
    let parked = queue.dead_letters().await?;
    println!(
        "{waiting} event(s) waiting or in progress, {} parked",
        parked.len()
    );
    for letter in &parked {
        // A parked body may be unreadable (that can be why it was parked): show what there is.
        let name = match serde_json::from_str::<QueuedEvent>(&letter.body) {
            Ok(event) => format!("{} {}", event.delivery, event.event.name),
            Err(_) => "(not a readable event)".to_owned(),
        };
        println!(
            "parked #{}: {name}, {} attempt(s): {}",
            letter.seq, letter.attempts, letter.reason
        );
    }
    // Parked events need a person: say so in the exit code, for scripts and monitors.
    Ok(if parked.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
