//! What a build reports while it runs, and docker's classic output of it.
//!
//! The stages of one level run at once, so their events interleave; each
//! event names its stage. [`ClassicOutput`] prints them as docker's classic
//! builder prints a sequential build: the lines of a stage go out live while
//! every stage before it in Dockerfile order has finished, and are held back
//! until then otherwise. Steps are numbered in Dockerfile order too, so the
//! text is the classic builder's whatever ran in parallel.
//!
//! A stage's `RUN` steps write to a pipe of the stage's own. A thread
//! forwards what arrives as it arrives; before any other event of the stage
//! goes out, what the pipe holds is forwarded first, so a command's output
//! always comes before the line that follows the command.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::fs::OFlags;

use crate::Progress;

/// One thing a build reports about one of its stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildEvent<'a> {
    /// A step starts: the classic builder's `Step N/M : INSTRUCTION`.
    Step {
        number: usize,
        total: usize,
        instruction: &'a str,
    },
    /// Any other line of the classic builder's output, without its newline:
    /// ` ---> Using cache`, ` ---> Running in ID`, `# Executing 1 build
    /// trigger`, a pull's status.
    Line(&'a str),
    /// Bytes a `RUN` step's command wrote (standard output and error).
    Output(&'a [u8]),
    /// The step finished with this image (short ID): ` ---> ID`.
    StepDone(&'a str),
    /// The stage reports nothing more: it finished, failed, or stopped
    /// because another stage failed.
    StageDone,
    /// The build's image (`sha256:...`), once every stage is done and
    /// before any tag: the classic builder's `Successfully built ID`, the
    /// API's `aux` record. Reported with the target stage's index.
    Built(&'a str),
    /// The image got this tag, in docker's familiar form (`app:latest`):
    /// `Successfully tagged app:latest`. After [`BuildEvent::Built`].
    Tagged(&'a str),
}

/// A stage as a progress display names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageLabel {
    /// Its index in the Dockerfile.
    pub index: usize,
    /// `AS` name, or `stage-N` when it has none.
    pub name: String,
}

/// Receives a build's progress; called from the threads of parallel stages.
pub trait BuildProgress: Sync {
    /// Before any event: the stages that will run, in Dockerfile order.
    fn stages(&self, stages: &[StageLabel]);
    fn event(&self, stage: usize, event: BuildEvent<'_>);
}

/// docker's classic builder output, in Dockerfile order (see the module
/// documentation). Write errors are ignored: the build goes on, as it does
/// when docker's client goes away.
pub struct ClassicOutput<W> {
    state: Mutex<Classic<W>>,
}

struct Classic<W> {
    out: W,
    /// Stage indices in Dockerfile order.
    order: Vec<usize>,
    /// Position in `order` of the first stage that has not finished: the
    /// one whose lines go out live.
    head: usize,
    held: HashMap<usize, Vec<u8>>,
    finished: HashSet<usize>,
}

impl<W: Write + Send> ClassicOutput<W> {
    pub fn new(out: W) -> ClassicOutput<W> {
        ClassicOutput {
            state: Mutex::new(Classic {
                out,
                order: Vec::new(),
                head: 0,
                held: HashMap::new(),
                finished: HashSet::new(),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, Classic<W>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<W: Write> Classic<W> {
    fn emit(&mut self, bytes: &[u8]) {
        let _ = self.out.write_all(bytes).and_then(|()| self.out.flush());
    }

    /// Whether a stage's lines go out now: it is the first unfinished one,
    /// not a planned stage, or every stage has finished (the build's own
    /// closing lines).
    fn is_live(&self, stage: usize) -> bool {
        self.head >= self.order.len()
            || self.order.get(self.head) == Some(&stage)
            || !self.order.contains(&stage)
    }

    /// Moves past finished stages, printing what the next ones held back.
    fn advance(&mut self) {
        while let Some(&stage) = self.order.get(self.head) {
            if !self.finished.contains(&stage) {
                break;
            }
            self.head += 1;
            if let Some(&next) = self.order.get(self.head) {
                if let Some(held) = self.held.remove(&next) {
                    self.emit(&held);
                }
            }
        }
    }
}

impl<W: Write + Send> BuildProgress for ClassicOutput<W> {
    fn stages(&self, stages: &[StageLabel]) {
        let mut state = self.state();
        state.order = stages.iter().map(|s| s.index).collect();
        state.head = 0;
    }

    fn event(&self, stage: usize, event: BuildEvent<'_>) {
        let mut state = self.state();
        let text = match event {
            BuildEvent::Step {
                number,
                total,
                instruction,
            } => format!("Step {number}/{total} : {instruction}\n").into_bytes(),
            BuildEvent::Line(line) => format!("{line}\n").into_bytes(),
            BuildEvent::Output(bytes) => bytes.to_vec(),
            BuildEvent::StepDone(id) => format!(" ---> {id}\n").into_bytes(),
            BuildEvent::Built(id) => format!("Successfully built {}\n", short_id(id)).into_bytes(),
            BuildEvent::Tagged(tag) => format!("Successfully tagged {tag}\n").into_bytes(),
            BuildEvent::StageDone => {
                state.finished.insert(stage);
                state.advance();
                return;
            }
        };
        if state.is_live(stage) {
            state.emit(&text);
        } else {
            state.held.entry(stage).or_default().extend(text);
        }
    }
}

/// An image ID as the classic builder prints it: 12 hex digits.
fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    hex.get(..12).unwrap_or(hex)
}

/// One stage's side of the progress: its events, and its `RUN` output
/// read from the stage's pipe.
pub(super) struct StageOutput<'a> {
    stage: usize,
    progress: &'a dyn BuildProgress,
    /// The pipe's read end, non-blocking.
    runs: File,
    /// Held while reading the pipe and reporting what was read, so output
    /// and events keep their order.
    order: Mutex<()>,
    /// The stage is over: the forwarding thread stops even if some process
    /// still holds the pipe's write end.
    over: AtomicBool,
}

impl<'a> StageOutput<'a> {
    /// A stage's output, and the write end of its pipe for `RUN` steps.
    pub(super) fn new(
        stage: usize,
        progress: &'a dyn BuildProgress,
    ) -> io::Result<(StageOutput<'a>, OwnedFd)> {
        let (reader, writer) = io::pipe()?;
        let reader = OwnedFd::from(reader);
        rustix::fs::fcntl_setfl(&reader, OFlags::NONBLOCK)?;
        let output = StageOutput {
            stage,
            progress,
            runs: File::from(reader),
            order: Mutex::new(()),
            over: AtomicBool::new(false),
        };
        Ok((output, OwnedFd::from(writer)))
    }

    /// Reports what the pipe holds; true at its end.
    fn drain(&self) -> bool {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match (&self.runs).read(&mut buf) {
                Ok(0) => return true,
                Ok(n) => self
                    .progress
                    .event(self.stage, BuildEvent::Output(&buf[..n])),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) => {
                    tracing::debug!(error = %e, "reading RUN output failed");
                    return true;
                }
            }
        }
    }

    pub(super) fn emit(&self, event: BuildEvent<'_>) {
        let _order = self.order.lock().unwrap_or_else(PoisonError::into_inner);
        self.drain();
        self.progress.event(self.stage, event);
    }

    /// Forwards `RUN` output until the pipe's writers are all gone, or
    /// [`StageOutput::finish`] was called.
    pub(super) fn forward(&self) {
        // The end of the pipe wakes the poll at once; the timeout only
        // bounds the wait when a stray process keeps the write end open.
        let timeout = Timespec {
            tv_sec: 0,
            tv_nsec: 200_000_000,
        };
        loop {
            let mut fds = [PollFd::new(&self.runs, PollFlags::IN)];
            match poll(&mut fds, Some(&timeout)) {
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "waiting for RUN output failed");
                    return;
                }
            }
            let _order = self.order.lock().unwrap_or_else(PoisonError::into_inner);
            if self.drain() || self.over.load(Ordering::Acquire) {
                return;
            }
        }
    }

    /// Ends [`StageOutput::forward`] once it has read what is there.
    pub(super) fn finish(&self) {
        self.over.store(true, Ordering::Release);
    }
}

/// Pull progress during `FROM`, as the classic builder shows it: one line
/// per status.
impl Progress for StageOutput<'_> {
    fn message(&self, text: &str) {
        self.emit(BuildEvent::Line(text));
    }

    fn status(&self, id: &str, status: &str) {
        self.emit(BuildEvent::Line(&format!("{id}: {status}")));
    }

    fn bytes(&self, _: &str, _: u64, _: Option<u64>) {}
}

/// What a stage's steps write to: complete lines become
/// [`BuildEvent::Line`]s.
pub(super) struct StageWriter<'a> {
    output: &'a StageOutput<'a>,
    partial: Vec<u8>,
}

impl<'a> StageWriter<'a> {
    pub(super) fn new(output: &'a StageOutput<'a>) -> StageWriter<'a> {
        StageWriter {
            output,
            partial: Vec::new(),
        }
    }

    pub(super) fn emit(&self, event: BuildEvent<'_>) {
        self.output.emit(event);
    }

    pub(super) fn output(&self) -> &'a StageOutput<'a> {
        self.output
    }
}

impl Write for StageWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.partial.extend_from_slice(buf);
        while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            let text = String::from_utf8_lossy(&line[..end]);
            self.output.emit(BuildEvent::Line(&text));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(indices: &[usize]) -> Vec<StageLabel> {
        indices
            .iter()
            .map(|&index| StageLabel {
                index,
                name: index.to_string(),
            })
            .collect()
    }

    #[test]
    fn classic_output_prints_stages_in_dockerfile_order() {
        let mut out = Vec::new();
        {
            let classic = ClassicOutput::new(&mut out);
            classic.stages(&labels(&[0, 1, 2]));
            let step = |stage, number| {
                classic.event(
                    stage,
                    BuildEvent::Step {
                        number,
                        total: 6,
                        instruction: "FROM busybox",
                    },
                )
            };
            step(1, 3);
            classic.event(1, BuildEvent::Output(b"from one\n"));
            step(0, 1);
            classic.event(2, BuildEvent::Line("two"));
            classic.event(2, BuildEvent::StageDone);
            classic.event(0, BuildEvent::StepDone("aaa"));
            classic.event(1, BuildEvent::StepDone("bbb"));
            classic.event(0, BuildEvent::StageDone);
            classic.event(1, BuildEvent::Line("one, live"));
            classic.event(1, BuildEvent::StageDone);
            let id = format!("sha256:{}", "ab".repeat(32));
            classic.event(1, BuildEvent::Built(&id));
            classic.event(1, BuildEvent::Tagged("app:latest"));
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "Step 1/6 : FROM busybox\n ---> aaa\n\
             Step 3/6 : FROM busybox\nfrom one\n ---> bbb\none, live\n\
             two\nSuccessfully built abababababab\nSuccessfully tagged app:latest\n"
        );
    }

    #[test]
    fn run_output_comes_before_the_next_line() {
        let mut out = Vec::new();
        {
            let classic = ClassicOutput::new(&mut out);
            classic.stages(&labels(&[0]));
            let (output, run) = StageOutput::new(0, &classic).unwrap();
            std::thread::scope(|s| {
                let forwarder = s.spawn(|| output.forward());
                let mut writer = StageWriter::new(&output);
                writer.write_all(b" ---> Running in abc\n").unwrap();
                File::from(run).write_all(b"hello\n").unwrap();
                writer.emit(BuildEvent::StepDone("def"));
                forwarder.join().unwrap();
            });
            output.emit(BuildEvent::StageDone);
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            " ---> Running in abc\nhello\n ---> def\n"
        );
    }
}
