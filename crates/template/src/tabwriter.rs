//! Go's `text/tabwriter` with docker's settings: minwidth 10, tabwidth 1,
//! padding 3, pad character ' ', no flags.
//!
//! Text is split into tab-terminated cells. The text after the last tab of
//! a line is not part of any column. A column block is a run of consecutive
//! lines that all have a cell in that column; every cell of the block is
//! padded to the block's width: max(cell width + padding, minwidth), with
//! widths counted in characters. A line without any tab (or a form feed)
//! ends all blocks.

const MIN_WIDTH: usize = 10;
const PADDING: usize = 3;

struct Cell {
    text: String,
    width: usize,
}

#[derive(Default)]
struct Writer {
    /// Buffered lines; the last one is the line being filled.
    lines: Vec<Vec<Cell>>,
    /// The cell being filled.
    cell: String,
    /// Widths of the columns to the left of the one being formatted.
    widths: Vec<usize>,
    out: String,
}

/// Aligns tab-separated text the way docker's table output does (Go's
/// `tabwriter.NewWriter(w, 10, 1, 3, ' ', 0)` followed by `Flush`).
pub fn align_tabs(text: &str) -> String {
    let mut w = Writer {
        lines: vec![Vec::new()],
        ..Writer::default()
    };
    for c in text.chars() {
        match c {
            '\t' | '\x0b' => {
                w.terminate_cell();
            }
            '\n' | '\x0c' => {
                let ncells = w.terminate_cell();
                w.lines.push(Vec::new());
                // A one-cell line cannot influence later columns: flush.
                if c == '\x0c' || ncells == 1 {
                    w.flush();
                }
            }
            c => w.cell.push(c),
        }
    }
    if !w.cell.is_empty() {
        w.terminate_cell();
    }
    w.flush();
    w.out
}

impl Writer {
    /// Ends the current cell; returns the number of cells in the line.
    fn terminate_cell(&mut self) -> usize {
        let text = std::mem::take(&mut self.cell);
        let width = text.chars().count();
        let line = self.lines.last_mut().expect("always one line");
        line.push(Cell { text, width });
        line.len()
    }

    fn flush(&mut self) {
        let n = self.lines.len();
        self.format(0, n);
        self.lines = vec![Vec::new()];
    }

    /// Does line `i` have a cell in `column` that belongs to a column
    /// (i.e. is not the line's last cell)?
    fn has_column(&self, i: usize, column: usize) -> bool {
        column + 1 < self.lines[i].len()
    }

    fn format(&mut self, mut line0: usize, line1: usize) {
        let column = self.widths.len();
        let mut this = line0;
        while this < line1 {
            if !self.has_column(this, column) {
                this += 1;
                continue;
            }
            // A column block starts here: print the lines before it.
            self.write_lines(line0, this);
            line0 = this;
            let mut width = MIN_WIDTH;
            while this < line1 && self.has_column(this, column) {
                width = width.max(self.lines[this][column].width + PADDING);
                this += 1;
            }
            // Format the columns to the right, knowing this one's width.
            self.widths.push(width);
            self.format(line0, this);
            self.widths.pop();
            line0 = this;
        }
        self.write_lines(line0, line1);
    }

    fn write_lines(&mut self, line0: usize, line1: usize) {
        for i in line0..line1 {
            for (j, cell) in self.lines[i].iter().enumerate() {
                self.out.push_str(&cell.text);
                if let Some(&w) = self.widths.get(j) {
                    let fill = w.saturating_sub(cell.width);
                    self.out.extend(std::iter::repeat_n(' ', fill));
                }
            }
            if i + 1 < self.lines.len() {
                self.out.push('\n');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_images_layout() {
        let text = "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\n\
                    busybox\tlatest\t6fd955f66c23\t2 weeks ago\t4.26MB\n";
        assert_eq!(
            align_tabs(text),
            "REPOSITORY   TAG       IMAGE ID       CREATED       SIZE\n\
             busybox      latest    6fd955f66c23   2 weeks ago   4.26MB\n"
        );
    }

    #[test]
    fn widths_come_from_the_widest_cell() {
        let text = "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\n\
                    busybox\tlatest\t6fd955f66c23\t2 weeks ago\t4.26MB\n\
                    alpine\t3.19\t05455a08881e\t3 months ago\t7.38MB\n";
        assert_eq!(
            align_tabs(text),
            "REPOSITORY   TAG       IMAGE ID       CREATED        SIZE\n\
             busybox      latest    6fd955f66c23   2 weeks ago    4.26MB\n\
             alpine       3.19      05455a08881e   3 months ago   7.38MB\n"
        );
    }

    #[test]
    fn min_width_applies() {
        assert_eq!(align_tabs("a\tb\n"), "a         b\n");
        assert_eq!(align_tabs("a\tb"), "a         b");
    }

    #[test]
    fn trailing_tab_pads_last_column() {
        assert_eq!(align_tabs("a\tb\t\n"), "a         b         \n");
    }

    #[test]
    fn blocks_are_separated_by_lines_without_the_column() {
        let text = "aaaaaaaaaaaaaaaa\tx\nno tabs here\nb\ty\n";
        assert_eq!(
            align_tabs(text),
            "aaaaaaaaaaaaaaaa   x\nno tabs here\nb         y\n"
        );
        // Column 1 blocks: only the first two lines have a second column.
        let text = "a\tbbbbbbbbbbbbbb\tc\nd\te\tf\ng\th\n";
        assert_eq!(
            align_tabs(text),
            "a         bbbbbbbbbbbbbb   c\nd         e                f\ng         h\n"
        );
    }

    #[test]
    fn unicode_width_is_in_characters() {
        assert_eq!(align_tabs("é\tx\nab\ty\n"), "é         x\nab        y\n");
    }

    #[test]
    fn empty_and_plain_text() {
        assert_eq!(align_tabs(""), "");
        assert_eq!(align_tabs("hello\nworld"), "hello\nworld");
        assert_eq!(align_tabs("\n\n"), "\n\n");
    }

    #[test]
    fn empty_cells() {
        assert_eq!(align_tabs("\tx\nabc\ty\n"), "          x\nabc       y\n");
    }
}
