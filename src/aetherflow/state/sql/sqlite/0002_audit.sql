-- Schema version 2: an audit trail of operator actions (forced lock releases).
CREATE TABLE audit (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,   -- UTC epoch milliseconds
    action  TEXT    NOT NULL,   -- e.g. lock_forced_release
    key     TEXT    NOT NULL,
    detail  TEXT    NOT NULL    -- JSON object: reason, actor, the removed holder and token
);
CREATE INDEX audit_at ON audit (at);
