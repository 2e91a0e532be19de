//! `--progress tty`: a live view of the build on standard error. Each
//! running step has a line (one per stage: stages run in parallel) with the
//! last lines of its output under it; a finished step collapses into one
//! line above the live ones, marked `CACHED` or with its time, as BuildKit's
//! view does. A failed step keeps its output's tail.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use berth_engine::{BuildEvent, BuildProgress, StageLabel};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Output lines shown under a running step.
const TAIL_LINES: usize = 6;
/// Output lines kept for a failed step.
const ERROR_LINES: usize = 20;

pub struct LiveView {
    multi: MultiProgress,
    style: ProgressStyle,
    state: Mutex<View>,
}

#[derive(Default)]
struct View {
    /// Stage names by Dockerfile index.
    names: HashMap<usize, String>,
    /// The step each stage is running.
    running: HashMap<usize, Running>,
}

struct Running {
    bar: ProgressBar,
    title: String,
    started: Instant,
    cached: bool,
    /// The last lines of the step's output, and the line being written.
    tail: VecDeque<String>,
    partial: String,
}

/// Columns of standard error's terminal.
fn width() -> usize {
    rustix::termios::tcgetwinsize(std::io::stderr())
        .ok()
        .map(|size| usize::from(size.ws_col))
        .filter(|&cols| cols > 0)
        .unwrap_or(80)
}

/// `text` cut to `max` characters, so a line never wraps (a wrapped line
/// would throw off redrawing).
fn fit(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

impl Running {
    fn push_output(&mut self, bytes: &[u8]) {
        self.partial.push_str(&String::from_utf8_lossy(bytes));
        while let Some(end) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=end).collect();
            // A progress meter redraws its line with `\r`: keep the last.
            let line = line.trim_end().rsplit('\r').next().unwrap_or_default();
            self.push_line(line.to_string());
        }
    }

    fn push_line(&mut self, line: String) {
        self.tail.push_back(line);
        while self.tail.len() > ERROR_LINES {
            self.tail.pop_front();
        }
    }

    fn redraw(&self) {
        let cols = width();
        let mut message = fit(&self.title, cols.saturating_sub(12));
        let skip = self.tail.len().saturating_sub(TAIL_LINES);
        for line in self.tail.iter().skip(skip) {
            message.push('\n');
            message.push_str(&fit(&format!("    {line}"), cols));
        }
        self.bar.set_message(message);
    }
}

impl LiveView {
    pub fn new() -> LiveView {
        LiveView {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            style: ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
                .expect("a valid progress template"),
            state: Mutex::new(View::default()),
        }
    }

    fn state(&self) -> MutexGuard<'_, View> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Turns the stage's running step into a line above the live view.
    fn collapse(&self, view: &mut View, stage: usize, failed: bool) {
        let Some(mut step) = view.running.remove(&stage) else {
            return;
        };
        step.bar.finish_and_clear();
        self.multi.remove(&step.bar);
        let status = if failed {
            "ERROR".to_string()
        } else if step.cached {
            "CACHED".to_string()
        } else {
            format!("DONE {:.1}s", step.started.elapsed().as_secs_f64())
        };
        let cols = width();
        let title = fit(&step.title, cols.saturating_sub(status.len() + 4));
        let _ = self.multi.println(format!("=> {title}  {status}"));
        if failed {
            if !step.partial.is_empty() {
                let rest = std::mem::take(&mut step.partial);
                step.push_line(rest);
            }
            for line in &step.tail {
                let _ = self.multi.println(fit(&format!("  > {line}"), cols));
            }
        }
    }
}

impl BuildProgress for LiveView {
    fn stages(&self, stages: &[StageLabel]) {
        let mut view = self.state();
        view.names = stages
            .iter()
            .map(|stage| (stage.index, stage.name.clone()))
            .collect();
    }

    fn event(&self, stage: usize, event: BuildEvent<'_>) {
        let mut view = self.state();
        match event {
            BuildEvent::Step {
                number,
                total,
                instruction,
            } => {
                self.collapse(&mut view, stage, false);
                let name = view.names.get(&stage).cloned().unwrap_or_default();
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(self.style.clone());
                bar.enable_steady_tick(Duration::from_millis(120));
                let step = Running {
                    bar,
                    title: format!("[{name} {number}/{total}] {instruction}"),
                    started: Instant::now(),
                    cached: false,
                    tail: VecDeque::new(),
                    partial: String::new(),
                };
                step.redraw();
                view.running.insert(stage, step);
            }
            BuildEvent::Line(line) => {
                if let Some(step) = view.running.get_mut(&stage) {
                    if line == " ---> Using cache" {
                        step.cached = true;
                    } else if !line.starts_with(" ---> Running in ") {
                        step.push_line(line.to_string());
                        step.redraw();
                    }
                }
            }
            BuildEvent::Output(bytes) => {
                if let Some(step) = view.running.get_mut(&stage) {
                    step.push_output(bytes);
                    step.redraw();
                }
            }
            BuildEvent::StepDone(_) => self.collapse(&mut view, stage, false),
            // A stage that ends inside a step failed (or was stopped).
            BuildEvent::StageDone => self.collapse(&mut view, stage, true),
            // Every step has collapsed by now: the classic builder's last
            // lines go to standard output, below the view.
            BuildEvent::Built(id) => {
                let hex = id.strip_prefix("sha256:").unwrap_or(id);
                println!("Successfully built {}", hex.get(..12).unwrap_or(hex));
            }
            BuildEvent::Tagged(tag) => println!("Successfully tagged {tag}"),
        }
    }
}

impl Drop for LiveView {
    fn drop(&mut self) {
        let _ = self.multi.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_keeps_the_last_lines_and_the_last_redraw() {
        let mut step = Running {
            bar: ProgressBar::hidden(),
            title: String::new(),
            started: Instant::now(),
            cached: false,
            tail: VecDeque::new(),
            partial: String::new(),
        };
        step.push_output(b"10%\r50%\r100%\nhalf a ");
        step.push_output(b"line\n");
        assert_eq!(step.tail, ["100%", "half a line"]);
        for i in 0..30 {
            step.push_output(format!("{i}\n").as_bytes());
        }
        assert_eq!(step.tail.len(), ERROR_LINES);
        assert_eq!(step.tail.back().map(String::as_str), Some("29"));
    }

    #[test]
    fn long_lines_are_cut() {
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("abc", 4), "abc");
    }
}
