//! Pull and push progress: a live bar per layer on a terminal (indicatif),
//! docker's plain status lines otherwise.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;

use berth_engine::{NoProgress, Progress};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Picks the display: nothing for `-q`, bars on a terminal, lines otherwise.
pub fn for_output(quiet: bool) -> Box<dyn Progress> {
    if quiet {
        Box::new(NoProgress)
    } else if std::io::stdout().is_terminal() {
        Box::new(Bars::new())
    } else {
        Box::new(Lines)
    }
}

/// docker's non-terminal output: one line per status change.
struct Lines;

impl Progress for Lines {
    fn message(&self, text: &str) {
        println!("{text}");
    }

    fn status(&self, id: &str, status: &str) {
        println!("{id}: {status}");
    }

    fn bytes(&self, _: &str, _: u64, _: Option<u64>) {}
}

struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
    style: ProgressStyle,
}

impl Bars {
    fn new() -> Bars {
        Bars {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stdout()),
            bars: Mutex::new(HashMap::new()),
            style: ProgressStyle::with_template(
                "{prefix}: {msg:<18} {wide_bar} {bytes}/{total_bytes}",
            )
            .expect("a valid progress template")
            .progress_chars("=> "),
        }
    }

    fn bar(&self, id: &str) -> ProgressBar {
        let mut bars = self.bars.lock().expect("progress lock");
        bars.entry(id.to_string())
            .or_insert_with(|| {
                let b = self.multi.add(ProgressBar::new(0));
                b.set_style(self.style.clone());
                b.set_prefix(id.to_string());
                b
            })
            .clone()
    }
}

impl Progress for Bars {
    fn message(&self, text: &str) {
        let _ = self.multi.println(text);
    }

    fn status(&self, id: &str, status: &str) {
        let b = self.bar(id);
        b.set_message(status.to_string());
        if matches!(
            status,
            "Already exists" | "Pull complete" | "Pushed" | "Layer already exists"
        ) || status.starts_with("Mounted from")
        {
            b.finish();
        }
    }

    fn bytes(&self, id: &str, done: u64, total: Option<u64>) {
        let b = self.bar(id);
        if let Some(t) = total {
            b.set_length(t);
        }
        b.set_position(done);
    }
}
