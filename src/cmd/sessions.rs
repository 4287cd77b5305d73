//! `flightlog sessions`: one row per session.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use serde::Serialize;

use flightlog_formats::store::SessionStatus;

use crate::ctx::Ctx;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  flightlog sessions --crossed --since 7d          # which sessions crossed a boundary this week\n  flightlog sessions --destructive --env production --status ended\n  flightlog sessions --agent codex --since 2026-12-01\n  flightlog sessions --json | jq '.[] | select(.crossings > 0) | .id'"
)]
pub struct Args {
    /// Only sessions with at least one boundary crossing.
    #[arg(long)]
    crossed: bool,
    /// Only sessions with at least one destructive action.
    #[arg(long)]
    destructive: bool,
    /// Only sessions started at or after WHEN: an RFC 3339 time, a date (2026-12-01), or a
    /// time ago (30m, 24h, 7d, 2w).
    #[arg(long, value_name = "WHEN", value_parser = parse_since)]
    since: Option<chrono::DateTime<chrono::Utc>>,
    /// Only sessions of this agent (claude-code, codex, gemini, cursor, …).
    #[arg(long, value_name = "NAME")]
    agent: Option<String>,
    /// Only sessions whose home is this environment, or that crossed into it.
    #[arg(long, value_name = "NAME")]
    env: Option<String>,
    /// Only sessions in this state: recording, ended, or died (the recorder is gone).
    #[arg(long, value_enum)]
    status: Option<StatusArg>,
    /// JSON: an array of {id,label,agent,host,home_env,started,ended,status,events,crossings,destructive,intact}.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum StatusArg {
    Recording,
    Ended,
    Died,
}

impl StatusArg {
    fn matches(self, s: SessionStatus) -> bool {
        matches!(
            (self, s),
            (StatusArg::Recording, SessionStatus::Recording)
                | (StatusArg::Ended, SessionStatus::Ended)
                | (StatusArg::Died, SessionStatus::Died)
        )
    }
}

#[derive(Debug, Serialize)]
struct Row {
    id: String,
    label: Option<String>,
    agent: Option<String>,
    host: Option<String>,
    home_env: Option<String>,
    started: String,
    ended: Option<String>,
    status: SessionStatus,
    events: u64,
    crossings: u64,
    destructive: u64,
    intact: bool,
}

/// `--since`: an RFC 3339 time, a date, or an amount of time ago.
fn parse_since(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    parse_since_at(s, crate::ctx::now())
}

fn parse_since_at(
    s: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<chrono::DateTime<chrono::Utc>, String> {
    let s = s.trim();
    if let Some(t) = flightlog_formats::event::parse_ts(s) {
        return Ok(t);
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: i64 = n.parse().map_err(|_| {
        format!("{s:?} is not a time: use 2026-12-01, an RFC 3339 time, or 30m, 24h, 7d, 2w")
    })?;
    let ago = match unit {
        "s" => chrono::Duration::try_seconds(n),
        "m" => chrono::Duration::try_minutes(n),
        "h" => chrono::Duration::try_hours(n),
        "d" => chrono::Duration::try_days(n),
        "w" => chrono::Duration::try_weeks(n),
        _ => None,
    }
    .ok_or_else(|| format!("{s:?}: the unit must be s, m, h, d or w (as in 7d)"))?;
    now.checked_sub_signed(ago)
        .ok_or_else(|| format!("{s:?} is too far back"))
}

pub fn run(ctx: &Ctx, args: Args) -> Result<ExitCode> {
    if ctx.db_url().is_none() && !ctx.db.exists() {
        if args.json {
            println!("[]");
        } else {
            eprintln!("no sessions yet (no store at {})", ctx.db.display());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let store = ctx.open_ro()?;
    let policy = crate::guard::policy(ctx)?;
    let mut rows = Vec::new();
    for s in store.sessions()? {
        if let Some(since) = args.since
            && flightlog_formats::event::parse_ts(&s.started).is_none_or(|t| t < since)
        {
            continue;
        }
        if let Some(a) = &args.agent
            && !s
                .agent
                .as_deref()
                .is_some_and(|x| x.eq_ignore_ascii_case(a))
        {
            continue;
        }
        let status = store.session_status(&s.id)?;
        if args.status.is_some_and(|want| !want.matches(status)) {
            continue;
        }
        let summary = crate::summary::summarize(ctx, &store, &policy, &s.id)?;
        if (args.crossed && summary.crossings == 0)
            || (args.destructive && summary.destructive == 0)
        {
            continue;
        }
        let home_env = summary.home_env.or(s.home_env);
        if let Some(env) = &args.env
            && home_env.as_deref() != Some(env.as_str())
            && !summary.crossed_into.iter().any(|e| e == env)
        {
            continue;
        }
        rows.push(Row {
            id: s.id,
            label: s.label,
            agent: s.agent,
            host: s.host.or(summary.host),
            home_env,
            started: s.started,
            ended: s.ended,
            status,
            events: s.events,
            crossings: summary.crossings,
            destructive: summary.destructive,
            intact: summary.intact,
        });
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &rows)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    // The team store holds sessions of many machines: say which one each comes from.
    let hosts = store.is_remote();
    let host_col = |h: &str| {
        if hosts {
            format!("{:<16}  ", flightlog_formats::text::line(h))
        } else {
            String::new()
        }
    };
    writeln!(
        out,
        "{:<16}  {}{:<27}  {:<12}  {:<10}  {:<9}  {:>7}  {:>5}  {:>5}  {:<6}  LABEL",
        "ID",
        host_col("HOST"),
        "STARTED",
        "AGENT",
        "HOME",
        "STATUS",
        "EVENTS",
        "CROSS",
        "DESTR",
        "CHAIN"
    )?;
    for r in rows {
        writeln!(
            out,
            "{:<16}  {}{:<27}  {:<12}  {:<10}  {:<9}  {:>7}  {:>5}  {:>5}  {:<6}  {}",
            r.id,
            host_col(r.host.as_deref().unwrap_or("-")),
            r.started,
            flightlog_formats::text::line(r.agent.as_deref().unwrap_or("-")),
            flightlog_formats::text::line(r.home_env.as_deref().unwrap_or("-")),
            r.status.as_str(),
            r.events,
            r.crossings,
            r.destructive,
            if r.intact { "ok" } else { "BROKEN" },
            flightlog_formats::text::line(r.label.as_deref().unwrap_or("")),
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::parse_since_at;
    use chrono::{TimeZone, Utc};

    #[test]
    fn since_takes_times_dates_and_amounts_ago() {
        // 2026 at month, day, hour, minute.
        let at = |mo, d, h, mi| Utc.with_ymd_and_hms(2026, mo, d, h, mi, 0).single();
        let now = at(12, 4, 12, 0).unwrap();
        let cases = [
            ("2026-12-01", at(12, 1, 0, 0)),
            ("2026-12-01T08:30:00Z", at(12, 1, 8, 30)),
            ("30m", at(12, 4, 11, 30)),
            ("24h", at(12, 3, 12, 0)),
            ("7d", at(11, 27, 12, 0)),
            ("2w", at(11, 20, 12, 0)),
            ("7y", None),
            ("yesterday", None),
            ("", None),
            ("99999999999999999999d", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_since_at(input, now).ok(), want, "{input:?}");
        }
    }
}
