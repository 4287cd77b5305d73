//! Screen geometry, shared by `update` (to keep the cursor visible) and the view.

use ratatui::layout::Rect;

/// Width from which the timeline and detail pane sit side by side.
pub const WIDE: u16 = 120;

/// Where each part of the replay screen goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Panes {
    pub title: Rect,
    pub timeline: Rect,
    pub detail: Rect,
    pub status: Rect,
}

/// Splits the screen: a title line, the timeline and detail (side by side when wide, stacked
/// when narrow), and a status line.
pub fn panes(area: Rect) -> Panes {
    let h = area.height;
    let title = Rect {
        height: h.min(1),
        ..area
    };
    let status = Rect {
        y: area.y + h.saturating_sub(1),
        height: h.min(1),
        ..area
    };
    let body = Rect {
        y: area.y + title.height,
        height: h.saturating_sub(2),
        ..area
    };
    let (timeline, detail) = if area.width >= WIDE {
        // The timeline's summary needs the room more than the detail pane's wrapped text.
        let tw = body.width * 55 / 100;
        (
            Rect { width: tw, ..body },
            Rect {
                x: body.x + tw,
                width: body.width - tw,
                ..body
            },
        )
    } else {
        let th = (body.height * 45 / 100).max(body.height.min(3));
        (
            Rect { height: th, ..body },
            Rect {
                y: body.y + th,
                height: body.height - th,
                ..body
            },
        )
    };
    Panes {
        title,
        timeline,
        detail,
        status,
    }
}

/// Rows the timeline shows at this terminal size.
pub fn timeline_rows(size: (u16, u16)) -> usize {
    let p = panes(Rect::new(0, 0, size.0, size.1));
    p.timeline.height as usize
}

/// Rows of text the detail pane shows (below its tab line).
pub fn detail_rows(size: (u16, u16)) -> usize {
    let p = panes(Rect::new(0, 0, size.0, size.1));
    p.detail.height.saturating_sub(2) as usize
}
