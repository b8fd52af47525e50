-- AetherFlow state, schema version 1 (SQLite).
-- Times are UTC epoch milliseconds. JSON columns hold compact, key-sorted JSON text.
-- Statuses are stored by their enum value.

CREATE TABLE schema_version (
    version    INTEGER PRIMARY KEY,
    applied_at INTEGER NOT NULL
);

CREATE TABLE runs (
    flow_id            TEXT    NOT NULL,
    run_id             TEXT    NOT NULL,
    status             TEXT    NOT NULL,
    started_at         INTEGER NOT NULL,
    ended_at           INTEGER,
    flow_sha256        TEXT,
    bundle_fingerprint TEXT,
    mode               TEXT    NOT NULL,
    aetherflow_version TEXT    NOT NULL,
    host               TEXT    NOT NULL,
    pid                INTEGER NOT NULL,
    plugins            TEXT    NOT NULL,  -- JSON list of {"path", "sha256"}
    selected_job       TEXT,
    resumed            INTEGER NOT NULL,
    PRIMARY KEY (flow_id, run_id)
);

-- `runs list` reads these backwards: an ascending index scanned in reverse yields
-- (started_at DESC, rowid DESC) with no sort step; a DESC index would need one for the rowid.
CREATE INDEX runs_started_at ON runs (started_at);
CREATE INDEX runs_flow_started_at ON runs (flow_id, started_at);
CREATE INDEX runs_status_started_at ON runs (status, started_at);
CREATE INDEX runs_run_id ON runs (run_id);

CREATE TABLE jobs (
    flow_id      TEXT    NOT NULL,
    run_id       TEXT    NOT NULL,
    job_id       TEXT    NOT NULL,
    seq          INTEGER NOT NULL,  -- first-recorded order within the run
    status       TEXT    NOT NULL,
    started_at   INTEGER,
    ended_at     INTEGER,
    outputs      TEXT    NOT NULL,  -- JSON object
    reason       TEXT,
    skip_reason  TEXT,
    skip_trigger TEXT,
    error        TEXT,              -- JSON {"class", "message", "failure_class"}
    PRIMARY KEY (flow_id, run_id, job_id)
);

-- The first FAILED job of a run (`runs list`) is one index probe per listed run.
CREATE INDEX jobs_status_seq ON jobs (flow_id, run_id, status, seq);
CREATE INDEX jobs_seq ON jobs (flow_id, run_id, seq);

CREATE TABLE steps (
    flow_id     TEXT    NOT NULL,
    run_id      TEXT    NOT NULL,
    job_id      TEXT    NOT NULL,
    step_id     TEXT    NOT NULL,
    seq         INTEGER NOT NULL,  -- first-recorded order within the run
    step_type   TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    attempt     INTEGER NOT NULL,
    started_at  INTEGER,
    ended_at    INTEGER,
    outputs     TEXT,              -- JSON object or NULL
    promoted    TEXT,              -- JSON object or NULL: values promoted to the job outputs
    error       TEXT,
    fingerprint TEXT,
    lock_token  INTEGER,
    PRIMARY KEY (flow_id, run_id, job_id, step_id)
);

CREATE INDEX steps_seq ON steps (flow_id, run_id, seq);

CREATE TABLE step_attempts (
    flow_id    TEXT    NOT NULL,
    run_id     TEXT    NOT NULL,
    job_id     TEXT    NOT NULL,
    step_id    TEXT    NOT NULL,
    attempt    INTEGER NOT NULL,
    status     TEXT    NOT NULL,
    started_at INTEGER,
    ended_at   INTEGER,
    error      TEXT,
    PRIMARY KEY (flow_id, run_id, job_id, step_id, attempt)
);

-- Run leases and locks share this table; `token` is the fencing token of the current holder.
CREATE TABLE leases (
    key         TEXT    PRIMARY KEY,
    token       INTEGER NOT NULL,
    run_id      TEXT    NOT NULL,
    flow_id     TEXT    NOT NULL,
    job_id      TEXT,
    step_id     TEXT,
    host        TEXT    NOT NULL,
    pid         INTEGER NOT NULL,
    acquired_at INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);

-- The last token issued per key: only ever incremented, never deleted with the lease.
CREATE TABLE fencing (
    key   TEXT    PRIMARY KEY,
    token INTEGER NOT NULL
);
