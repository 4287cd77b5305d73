//! Replay on a 1M-event session: open + first frame, step, jump, and memory.
//!
//! `cargo bench -p flightlog-viewer --bench replay` (set `REPLAY_BENCH_EVENTS` for another
//! size). The store is built once with `flightlog_formats::synth` into the temp directory and
//! reused. With `REPLAY_BENCH_PG_URL=postgres://...` (an empty database the URL's role may set
//! up) the session is first pushed to the team store there (the push rate is printed) and the replay is measured from PostgreSQL. Targets (PRODUCT.md §4): first frame <= 300 ms, any step or jump <= 16 ms,
//! RSS <= 200 MB.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use flightlog_formats::synth::{Rng, event, session_meta};
use flightlog_formats::{Redactor, Store};
use flightlog_viewer::action::{Action, GoTo, Marker};
use flightlog_viewer::headless::Headless;

const SESSION: &str = "bench00replay1m0";

fn build(db: &PathBuf, total: u64) {
    if let Ok(s) = Store::open_read_only(db)
        && s.head(SESSION).map(|h| h.0).unwrap_or(0) == total
    {
        return;
    }
    let _ = std::fs::remove_file(db);
    let start = Instant::now();
    let store = Store::open(db).expect("store");
    let t0 = flightlog_formats::event::parse_ts("2026-04-25T10:00:00Z").expect("ts");
    store
        .create_session(&session_meta(SESSION, "1M-event bench"), t0)
        .expect("session");
    let redactor = Redactor::new([1u8; 32]);
    let mut rng = Rng::new(42);
    let mut i = 0;
    while i < total {
        let n = 2_000.min(total - i);
        let batch = (i..i + n).map(|k| event(&mut rng, k, total, t0)).collect();
        store
            .append_batch(SESSION, batch, &redactor)
            .expect("append");
        i += n;
    }
    eprintln!("built {total} events in {:.1?}", start.elapsed());
}

/// A line of /proc/self/status, in MB (VmRSS, VmHWM, RssAnon, RssFile).
fn status_mb(key: &str) -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

fn time<T>(f: impl FnOnce() -> T) -> (Duration, T) {
    let s = Instant::now();
    let v = f();
    (s.elapsed(), v)
}

fn row(what: &str, d: Duration, target_ms: f64) {
    let ms = d.as_secs_f64() * 1e3;
    let ok = if ms <= target_ms { "ok" } else { "OVER" };
    println!("| {what:<44} | {ms:>10.3} ms | <= {target_ms:>5} ms | {ok:<4} |");
}

/// Pushes the bench session into the team store at `url` (as `flightlog push` does: binary
/// COPY, one transaction per batch) and prints the rate.
fn push_to(db: &std::path::Path, url: &str, total: u64) {
    use flightlog_formats::store::pg;
    pg::init(url, pg::DEFAULT_WRITER, pg::DEFAULT_READER).expect("team init");
    let store = Store::open_read_only(db).expect("store");
    let mut pusher = pg::Pusher::connect(url, "bench").expect("connect");
    let (have, _) = pusher.remote_head(SESSION).expect("head");
    if have == total {
        println!("(the team store has the session already: push rate not measured)");
        return;
    }
    let s = store.session_meta(SESSION).expect("meta").expect("session");
    pusher
        .push_session_row(&pg::PushSession {
            id: SESSION,
            label: s.label.as_deref(),
            agent: s.agent.as_deref(),
            home_env: s.home_env.as_deref(),
            external_id: None,
            started: &s.started,
        })
        .expect("session row");
    let start = Instant::now();
    let mut next = have;
    while next < total {
        let batch = store
            .rows_for_push(SESSION, next, pg::PUSH_BATCH as u64)
            .expect("rows");
        pusher.send_batch(SESSION, &batch).expect("push");
        next += batch.len() as u64;
    }
    let d = start.elapsed();
    let rate = (total - have) as f64 / d.as_secs_f64();
    println!(
        "push: {} events in {:.2} s = {rate:.0} events/s (target >= 50000)",
        total - have,
        d.as_secs_f64(),
    );
    let anchor = copy_anchor(&store, url, total);
    println!(
        "push anchor: the same rows by binary COPY into a table without triggers, same batches: \
         {anchor:.0} rows/s; push is {:.2}x its rate",
        rate / anchor
    );
}

/// The anchor for the push rate, measured right after it on the same server: the same rows, in
/// the same batches (one transaction each), by the same binary COPY, into a table with the same
/// columns and primary key but no triggers (so no pgcrypto digest and no head check per row).
fn copy_anchor(store: &Store, url: &str, total: u64) -> f64 {
    use flightlog_formats::store::pg;
    let mut c = postgres::Client::connect(url, postgres::NoTls).expect("anchor connect");
    c.batch_execute(
        "DROP TABLE IF EXISTS public.bench_copy_anchor; \
         CREATE TABLE public.bench_copy_anchor (session text NOT NULL, seq bigint NOT NULL, \
         ts text NOT NULL, kind text NOT NULL, prev bytea NOT NULL, hash bytea NOT NULL, \
         raw bytea NOT NULL, PRIMARY KEY (session, seq))",
    )
    .expect("anchor table");
    let start = Instant::now();
    let mut next = 0;
    while next < total {
        let batch = store
            .rows_for_push(SESSION, next, pg::PUSH_BATCH as u64)
            .expect("rows");
        let mut tx = c.transaction().expect("tx");
        pg::copy_events(&mut tx, "public.bench_copy_anchor", SESSION, &batch).expect("copy");
        tx.commit().expect("commit");
        next += batch.len() as u64;
    }
    let rate = total as f64 / start.elapsed().as_secs_f64();
    c.batch_execute("DROP TABLE public.bench_copy_anchor")
        .expect("drop anchor");
    rate
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    let total: u64 = std::env::var("REPLAY_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let db = std::env::temp_dir().join(format!("flightlog-replay-bench-{total}.db"));
    build(&db, total);
    let size = (160, 48);
    let (db, backend) = match std::env::var("REPLAY_BENCH_PG_URL") {
        Ok(url) if !url.is_empty() => {
            push_to(&db, &url, total);
            (PathBuf::from(url), "PostgreSQL")
        }
        _ => (db, "SQLite"),
    };
    // The peak RSS reported is the replay's: building the store and pushing it (which maps the
    // whole SQLite file) happen in this process before it, so the peak is reset here (Linux:
    // writing 5 to clear_refs resets VmHWM).
    let _ = std::fs::write("/proc/self/clear_refs", "5");

    println!(
        "| replay from {backend}, {total} events, {}x{} | time | target | |",
        size.0, size.1
    );
    println!("|---|---:|---:|---|");
    let (d, h) = time(|| {
        let h = Headless::open(&db, SESSION, size, 2_000).expect("open");
        let _ = h.render();
        h
    });
    row("open + first frame", d, 300.0);
    let mut h = h;
    let (d, _) = time(|| h.finish_index().expect("index"));
    println!(
        "| {:<44} | {:>10.3} ms | (background) | |",
        "index complete",
        d.as_secs_f64() * 1e3
    );
    let (d, _) = time(|| h.check().expect("check"));
    println!(
        "| {:<44} | {:>10.3} ms | (background) | |",
        "verify + findings",
        d.as_secs_f64() * 1e3
    );

    let mut worst = Duration::ZERO;
    let mut sum = Duration::ZERO;
    let n = 2_000;
    for _ in 0..n {
        let (d, _) = time(|| {
            h.act(Action::Next);
            h.render()
        });
        worst = worst.max(d);
        sum += d;
    }
    row("step + frame (mean of 2000)", sum / n, 16.0);
    row("step + frame (worst of 2000)", worst, 16.0);

    let jumps: Vec<(&str, Action)> = vec![
        ("jump: last event (G)", Action::Last),
        ("jump: first event (g)", Action::First),
        ("jump: next error (e)", Action::Jump(Marker::Error, true)),
        (
            "jump: next crossing, none (full scan)",
            Action::Jump(Marker::Crossing, true),
        ),
        ("go to seq 500000", Action::GoTo(GoTo::Seq(total / 2))),
        ("go to +20000s", Action::GoTo(GoTo::Time(20_000.0))),
        (
            "previous destructive (backward scan)",
            Action::Jump(Marker::Destructive, false),
        ),
        (
            "filter kind=exec (1M scan)",
            Action::SetFilter("kind=exec".into()),
        ),
        ("step under the filter", Action::Next),
        ("clear filter", Action::SetFilter(String::new())),
    ];
    for (name, a) in jumps {
        let (d, _) = time(|| {
            h.act(a);
            h.render()
        });
        row(&format!("{name} + frame"), d, 16.0);
    }
    let (d, _) = time(|| {
        h.act(Action::First);
        h.act(Action::Search("volumeDelete".into()));
    });
    println!(
        "| {:<44} | {:>10.3} ms | (async) | |",
        "search volumeDelete from the start (SQL)",
        d.as_secs_f64() * 1e3
    );
    let (anon, file) = (status_mb("RssAnon:"), status_mb("RssFile:"));
    println!(
        "| {:<44} | {anon:>7.1} MB | | |",
        "  of which anonymous (heap, SQLite caches)"
    );
    println!(
        "| {:<44} | {file:>7.1} MB | | |",
        "  of which file-backed (mapped store pages)"
    );
    let (rss, hwm) = (status_mb("VmRSS:"), status_mb("VmHWM:"));
    println!(
        "| {:<44} | {rss:>7.1} MB | <= 200 MB | {} |",
        "RSS now",
        if rss <= 200.0 { "ok" } else { "OVER" }
    );
    println!(
        "| {:<44} | {hwm:>7.1} MB | <= 200 MB | {} |",
        "RSS peak",
        if hwm <= 200.0 { "ok" } else { "OVER" }
    );
}
