//! The build log, copied to the agent's standard output as it grows. In CodeBuild standard
//! output is the build's own log (CloudWatch Logs, the console), which a person can open while
//! the build runs; the stored log stays the one the check and the run page read.

use std::future::Future;
use std::io::SeekFrom;
use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncSeekExt, AsyncWrite, AsyncWriteExt};

/// How often the log is looked at while the build runs.
const POLL: Duration = Duration::from_millis(500);
/// The most copied per look (and at the end: the stored log is the whole record).
const CHUNK: u64 = 1 << 20;

/// Run `work`, copying whatever is appended to the file at `log` into `sink` meanwhile, and
/// the rest once `work` ends. A failure to copy never fails the build: the stored log has it.
pub async fn copy_log_while<F: Future>(
    log: &Path,
    mut sink: impl AsyncWrite + Unpin,
    work: F,
) -> F::Output {
    tokio::pin!(work);
    let mut copied = 0u64;
    let mut tick = tokio::time::interval(POLL);
    loop {
        tokio::select! {
            out = &mut work => {
                // The log has stopped growing: all of the rest.
                while let Ok(1..) = copy_new(log, &mut copied, &mut sink).await {}
                return out;
            }
            _ = tick.tick() => {
                let _ = copy_new(log, &mut copied, &mut sink).await;
            }
        }
    }
}

/// Copy up to [`CHUNK`] bytes of `log` past `copied` into `sink`; how many.
async fn copy_new(
    log: &Path,
    copied: &mut u64,
    sink: &mut (impl AsyncWrite + Unpin),
) -> std::io::Result<u64> {
    let mut file = match tokio::fs::File::open(log).await {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0), // not yet made
        Err(e) => return Err(e),
    };
    file.seek(SeekFrom::Start(*copied)).await?;
    // At most this much per look: a step that writes faster than standard output drains must
    // not keep the build's own deadline and cancellation from being heard.
    let mut chunk = tokio::io::AsyncReadExt::take(file, CHUNK);
    let n = tokio::io::copy(&mut chunk, sink).await?;
    *copied += n;
    sink.flush().await?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn lines_reach_the_sink_while_the_work_runs_and_all_of_them_by_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log.txt");
        let (sink, mut watcher) = tokio::io::duplex(1 << 16);
        let work = async {
            tokio::fs::write(&log, "==> [1/1] test\n").await.unwrap();
            // The first line is seen before the work goes on: the copy is live.
            let mut seen = vec![0u8; 15];
            tokio::time::timeout(Duration::from_secs(5), watcher.read_exact(&mut seen))
                .await
                .expect("the first line was not copied while the work ran")
                .unwrap();
            let mut file = tokio::fs::OpenOptions::new()
                .append(true)
                .open(&log)
                .await
                .unwrap();
            file.write_all(b"<== passed in 0.1s\n").await.unwrap();
            (seen, watcher)
        };
        let (seen, mut watcher) = copy_log_while(&log, sink, work).await;
        assert_eq!(seen, b"==> [1/1] test\n");
        let mut rest = Vec::new();
        watcher.read_to_end(&mut rest).await.unwrap();
        assert_eq!(
            rest, b"<== passed in 0.1s\n",
            "the tail is copied once the work ends"
        );
    }

    #[tokio::test]
    async fn a_log_larger_than_a_chunk_is_copied_whole_by_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log.txt");
        let big = vec![b'x'; (3 * CHUNK + 7) as usize];
        let mut sink = Vec::new();
        copy_log_while(&log, &mut sink, async {
            tokio::fs::write(&log, &big).await.unwrap()
        })
        .await;
        assert_eq!(sink.len(), big.len());
    }
}
