//! Agent text made safe to draw: the one sanitizer lives in `flightlog_formats::text`, shared by
//! every output; this module keeps the viewer's name for it.

pub use flightlog_formats::text::*;
