-- flightlog team store on PostgreSQL, schema 1. Never edit a released migration; add a new file.
-- `@pgcrypto@` is replaced by the (quoted) schema that holds the pgcrypto extension.

-- The tables mirror the SQLite store's, plus the host each session comes from and the public
-- key of every host that signs checkpoints.
CREATE TABLE flightlog.sessions (
    id          text PRIMARY KEY,
    host        text NOT NULL,
    label       text,
    agent       text,
    home_env    text,
    external_id text,
    started     text NOT NULL,
    pushed      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sessions_started ON flightlog.sessions (started, id);

-- One row per event: `raw` holds the canonical bytes that are hashed, `prev` and `hash` the
-- chain links as written (verify recomputes them from `raw`).
CREATE TABLE flightlog.events (
    session text   NOT NULL,
    seq     bigint NOT NULL,
    ts      text   NOT NULL,
    kind    text   NOT NULL,
    prev    bytea  NOT NULL,
    hash    bytea  NOT NULL,
    raw     bytea  NOT NULL,
    PRIMARY KEY (session, seq)
);

-- Each store's signed checkpoints, chained by prev_sig, keyed by the key that signed them.
CREATE TABLE flightlog.checkpoints (
    key_id text   NOT NULL,
    no     bigint NOT NULL,
    body   bytea  NOT NULL,
    sig    text   NOT NULL,
    PRIMARY KEY (key_id, no)
);

-- The signing keys each host pushed with; the first one is trusted, another one for the same
-- host is a problem that verify reports.
CREATE TABLE flightlog.host_keys (
    host       text NOT NULL,
    key_id     text NOT NULL,
    pubkey     text NOT NULL,
    first_seen timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (host, key_id)
);

-- Nobody but a superuser changes or removes what was written.
CREATE FUNCTION flightlog.refuse_change() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'flightlog: % of %.% is refused: the team store is append-only',
        TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER sessions_append_only BEFORE UPDATE OR DELETE ON flightlog.sessions
    FOR EACH ROW EXECUTE FUNCTION flightlog.refuse_change();
CREATE TRIGGER sessions_no_truncate BEFORE TRUNCATE ON flightlog.sessions
    FOR EACH STATEMENT EXECUTE FUNCTION flightlog.refuse_change();
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON flightlog.events
    FOR EACH ROW EXECUTE FUNCTION flightlog.refuse_change();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON flightlog.events
    FOR EACH STATEMENT EXECUTE FUNCTION flightlog.refuse_change();
CREATE TRIGGER checkpoints_append_only BEFORE UPDATE OR DELETE ON flightlog.checkpoints
    FOR EACH ROW EXECUTE FUNCTION flightlog.refuse_change();
CREATE TRIGGER checkpoints_no_truncate BEFORE TRUNCATE ON flightlog.checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION flightlog.refuse_change();
CREATE TRIGGER host_keys_append_only BEFORE UPDATE OR DELETE ON flightlog.host_keys
    FOR EACH ROW EXECUTE FUNCTION flightlog.refuse_change();
CREATE TRIGGER host_keys_no_truncate BEFORE TRUNCATE ON flightlog.host_keys
    FOR EACH STATEMENT EXECUTE FUNCTION flightlog.refuse_change();

-- An event is stored only as the next link of its session's chain. Inserts into one session
-- are serialised by an advisory lock held to the end of the transaction; the head query runs
-- after the lock is taken, so it sees what the transaction before committed (and, within a
-- multi-row INSERT or a COPY, the rows before this one). SECURITY DEFINER: a writer may not
-- read the events table, the check must.
CREATE FUNCTION flightlog.events_chain() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    head_seq  bigint;
    head_hash bytea;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('flightlog.events:' || NEW.session, 0));
    SELECT e.seq, e.hash INTO head_seq, head_hash
        FROM flightlog.events e WHERE e.session = NEW.session ORDER BY e.seq DESC LIMIT 1;
    IF NOT FOUND THEN
        head_seq := -1;
        head_hash := '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea;
    END IF;
    IF NEW.seq <> head_seq + 1 THEN
        RAISE EXCEPTION 'flightlog: event % of session % is not the next one (expected %)',
            NEW.seq, NEW.session, head_seq + 1
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF NEW.prev <> head_hash THEN
        RAISE EXCEPTION 'flightlog: event % of session % does not link to the head of the chain',
            NEW.seq, NEW.session
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF NEW.hash <> @pgcrypto@.digest(NEW.prev || NEW.raw, 'sha256') THEN
        RAISE EXCEPTION 'flightlog: event % of session % has a hash that is not SHA-256(prev || raw)',
            NEW.seq, NEW.session
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER events_chain BEFORE INSERT ON flightlog.events
    FOR EACH ROW EXECUTE FUNCTION flightlog.events_chain();

-- What a pusher needs to resume, without the right to read the log: the next seq of a session
-- and the hash it must link to; the newest checkpoint number of a key.
CREATE FUNCTION flightlog.session_head(s text, OUT next bigint, OUT hash bytea)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(max(e.seq) + 1, 0),
           coalesce((SELECT h.hash FROM flightlog.events h WHERE h.session = s
                     ORDER BY h.seq DESC LIMIT 1),
                    '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea)
    FROM flightlog.events e WHERE e.session = s
$$;

CREATE FUNCTION flightlog.checkpoint_head(k text) RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT coalesce(max(c.no), 0) FROM flightlog.checkpoints c WHERE c.key_id = k
$$;

REVOKE ALL ON FUNCTION flightlog.session_head(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION flightlog.checkpoint_head(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION flightlog.events_chain() FROM PUBLIC;
REVOKE ALL ON FUNCTION flightlog.refuse_change() FROM PUBLIC;
