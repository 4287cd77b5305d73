-- flightlog store, schema 1. Never edit a released migration; add a new file.
CREATE TABLE sessions (
    id          TEXT PRIMARY KEY,
    label       TEXT,
    agent       TEXT,
    home_env    TEXT,
    external_id TEXT,
    started     TEXT NOT NULL,
    ended       TEXT
);
CREATE INDEX sessions_external ON sessions(agent, external_id);

-- One row per event. `raw` holds the canonical bytes that are hashed; `prev` and `hash` are the
-- chain links as written (verify recomputes them from `raw`).
CREATE TABLE events (
    session TEXT    NOT NULL,
    seq     INTEGER NOT NULL,
    ts      TEXT    NOT NULL,
    kind    TEXT    NOT NULL,
    prev    BLOB    NOT NULL,
    hash    BLOB    NOT NULL,
    raw     BLOB    NOT NULL,
    PRIMARY KEY (session, seq)
) WITHOUT ROWID;

-- Store-wide signed checkpoints, chained by prev_sig.
CREATE TABLE checkpoints (
    no   INTEGER PRIMARY KEY,
    body BLOB NOT NULL,
    sig  TEXT NOT NULL
);

-- Tool-call ids seen per session, to join pre and post hook events.
CREATE TABLE calls (
    session TEXT NOT NULL,
    call_id TEXT NOT NULL,
    seq     INTEGER NOT NULL,
    PRIMARY KEY (session, call_id)
) WITHOUT ROWID;

-- Live writers (recorders) per session; a dead one is noticed and its session sealed with a gap.
CREATE TABLE writers (
    session TEXT NOT NULL,
    pid     INTEGER NOT NULL,
    boot    TEXT NOT NULL,
    started TEXT NOT NULL,
    PRIMARY KEY (session, pid)
);
