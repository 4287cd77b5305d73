//! The terminal screen at the current event, drawn from emulated cells (never raw bytes).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::Paragraph;

use crate::state::{CellColor, State};

fn color(c: CellColor) -> Option<Color> {
    match c {
        CellColor::Default => None,
        CellColor::Idx(i) => Some(Color::Indexed(i)),
        CellColor::Rgb(r, g, b) => Some(Color::Rgb(r, g, b)),
    }
}

pub fn draw(state: &State, frame: &mut Frame, area: Rect) {
    let dim = Style::new().fg(Color::DarkGray);
    let want = state.current().map(|e| e.seq);
    let Some(snap) = state.screen.as_ref().filter(|s| Some(s.at_seq) == want) else {
        frame.render_widget(
            Paragraph::new(Line::styled("building the screen…", dim)),
            area,
        );
        return;
    };
    if area.height == 0 {
        return;
    }
    let head = if snap.fed == 0 {
        "no terminal recording up to this event".to_string()
    } else {
        format!(
            "terminal {}x{} as of seq {} ({} terminal events applied)",
            snap.cols, snap.rows, snap.at_seq, snap.fed
        )
    };
    frame.render_widget(
        Paragraph::new(Line::styled(head, dim)),
        Rect { height: 1, ..area },
    );
    let buf = frame.buffer_mut();
    for (r, row) in snap.cells.iter().enumerate() {
        let y = area.y + 1 + r as u16;
        if y >= area.y + area.height {
            break;
        }
        let mut x = area.x;
        for cell in row {
            if x >= area.x + area.width {
                break;
            }
            if cell.text.is_empty() {
                // The right half of a wide character: the left half covers it.
                x += 1;
                continue;
            }
            let mut st = Style::new();
            if let Some(c) = color(cell.fg) {
                st = st.fg(c);
            }
            if let Some(c) = color(cell.bg) {
                st = st.bg(c);
            }
            if cell.bold {
                st = st.add_modifier(Modifier::BOLD);
            }
            if cell.italic {
                st = st.add_modifier(Modifier::ITALIC);
            }
            if cell.underline {
                st = st.add_modifier(Modifier::UNDERLINED);
            }
            if cell.inverse {
                st = st.add_modifier(Modifier::REVERSED);
            }
            if let Some(c) = buf.cell_mut((x, y)) {
                c.set_symbol(&cell.text).set_style(st);
            }
            x += 1;
        }
    }
}
