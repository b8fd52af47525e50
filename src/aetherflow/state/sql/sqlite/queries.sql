-- Named queries of the SQLite state store. Each block starts with "-- name: <name>" and holds
-- one statement with named parameters. Statuses are bound as parameters, never spelled here.

-- name: record_version
INSERT INTO schema_version (version, applied_at) VALUES (:version, :applied_at);

-- name: start_run
-- A second start of the same run is a resume: keep the first started_at, mark it resumed.
INSERT INTO runs (flow_id, run_id, status, started_at, ended_at, flow_sha256, bundle_fingerprint,
                  mode, aetherflow_version, host, pid, plugins, selected_job, resumed)
VALUES (:flow_id, :run_id, :status, :started_at, :ended_at, :flow_sha256, :bundle_fingerprint,
        :mode, :aetherflow_version, :host, :pid, :plugins, :selected_job, :resumed)
ON CONFLICT (flow_id, run_id) DO UPDATE SET
    status = excluded.status,
    ended_at = excluded.ended_at,
    flow_sha256 = excluded.flow_sha256,
    bundle_fingerprint = excluded.bundle_fingerprint,
    mode = excluded.mode,
    aetherflow_version = excluded.aetherflow_version,
    host = excluded.host,
    pid = excluded.pid,
    plugins = excluded.plugins,
    selected_job = excluded.selected_job,
    resumed = 1;

-- name: get_run
SELECT * FROM runs WHERE flow_id = :flow_id AND run_id = :run_id;

-- name: find_runs
SELECT * FROM runs WHERE run_id = :run_id ORDER BY started_at DESC, rowid DESC;

-- name: finish_run
UPDATE runs SET status = :status, ended_at = :ended_at
WHERE flow_id = :flow_id AND run_id = :run_id;

-- name: list_runs
-- The where marker below becomes fixed conditions on r.flow_id / r.status (values stay bound).
SELECT r.*,
       (SELECT j.job_id FROM jobs AS j
        WHERE j.flow_id = r.flow_id AND j.run_id = r.run_id AND j.status = :failed
        ORDER BY j.seq LIMIT 1) AS failed_job
FROM runs AS r
/*where*/
ORDER BY r.started_at DESC, r.rowid DESC
LIMIT :limit;

-- name: record_job
INSERT INTO jobs (flow_id, run_id, job_id, seq, status, started_at, ended_at, outputs, reason,
                  skip_reason, skip_trigger, error)
VALUES (:flow_id, :run_id, :job_id,
        (SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs WHERE flow_id = :flow_id AND run_id = :run_id),
        :status, :started_at, :ended_at, :outputs, :reason, :skip_reason, :skip_trigger, :error)
ON CONFLICT (flow_id, run_id, job_id) DO UPDATE SET
    status = excluded.status,
    started_at = excluded.started_at,
    ended_at = excluded.ended_at,
    outputs = excluded.outputs,
    reason = excluded.reason,
    skip_reason = excluded.skip_reason,
    skip_trigger = excluded.skip_trigger,
    error = excluded.error;

-- name: get_jobs
SELECT * FROM jobs WHERE flow_id = :flow_id AND run_id = :run_id ORDER BY seq;

-- name: put_step
-- seq: see 0004_step_writes.sql (the rowid this row gets, when it is new).
INSERT INTO steps (flow_id, run_id, job_id, step_id, seq, step_type, status, attempt, started_at,
                   ended_at, outputs, promoted, error, fingerprint, lock_token)
VALUES (:flow_id, :run_id, :job_id, :step_id, (SELECT COALESCE(MAX(rowid), 0) + 1 FROM steps),
        :step_type, :status, :attempt, :started_at, :ended_at, :outputs, :promoted, :error,
        :fingerprint, :lock_token)
ON CONFLICT (flow_id, run_id, job_id, step_id) DO UPDATE SET
    step_type = excluded.step_type,
    status = excluded.status,
    attempt = excluded.attempt,
    started_at = excluded.started_at,
    ended_at = excluded.ended_at,
    outputs = excluded.outputs,
    promoted = excluded.promoted,
    error = excluded.error,
    fingerprint = excluded.fingerprint,
    lock_token = excluded.lock_token;

-- name: get_steps
-- rowid order is first-recorded order (0004_step_writes.sql).
SELECT * FROM steps WHERE flow_id = :flow_id AND run_id = :run_id ORDER BY rowid;

-- name: get_attempts
-- Every finished attempt (0005_attempt_history.sql): the replaced ones from the history, the
-- latest from the step rows; by step (first-recorded order; steps whose row was deleted first),
-- then attempt number.
SELECT flow_id, run_id, job_id, step_id, attempt, status, started_at, ended_at, error
FROM (
    SELECT h.flow_id, h.run_id, h.job_id, h.step_id, h.attempt, h.status, h.started_at,
           h.ended_at, h.error,
           COALESCE((SELECT s.rowid FROM steps AS s
                     WHERE s.flow_id = h.flow_id AND s.run_id = h.run_id
                       AND s.job_id = h.job_id AND s.step_id = h.step_id), 0) AS step_order
    FROM step_attempt_history AS h
    WHERE h.flow_id = :flow_id AND h.run_id = :run_id
      AND NOT EXISTS (
          SELECT 1 FROM steps AS s
          WHERE s.flow_id = h.flow_id AND s.run_id = h.run_id AND s.job_id = h.job_id
            AND s.step_id = h.step_id AND s.attempt = h.attempt AND s.status <> 'RUNNING')
    UNION ALL
    SELECT flow_id, run_id, job_id, step_id, attempt, status, started_at, ended_at, error,
           rowid AS step_order
    FROM steps
    WHERE flow_id = :flow_id AND run_id = :run_id AND status <> 'RUNNING'
)
ORDER BY step_order, job_id, step_id, attempt;

-- name: delete_step
DELETE FROM steps
WHERE flow_id = :flow_id AND run_id = :run_id AND job_id = :job_id AND step_id = :step_id;

-- name: lease_is_held
-- A live lease blocks the caller unless it is re-entrant for the caller's own run and was taken
-- by another (previous, crashed) process of that run: the caller holds the run lease, so that
-- process is gone. The same process asking again (a nested lock on the same key) is blocked.
SELECT 1 FROM leases
WHERE key = :key AND expires_at > :now
  AND NOT (:reentrant_run AND run_id = :run_id AND flow_id = :flow_id
           AND instance != :instance);

-- name: bump_fencing
INSERT INTO fencing (key, token) VALUES (:key, 1)
ON CONFLICT (key) DO UPDATE SET token = token + 1;

-- name: fencing_token
SELECT token FROM fencing WHERE key = :key;

-- name: put_lease
INSERT INTO leases (key, token, run_id, flow_id, job_id, step_id, host, pid, instance,
                    acquired_at, expires_at)
VALUES (:key, :token, :run_id, :flow_id, :job_id, :step_id, :host, :pid, :instance,
        :acquired_at, :expires_at)
ON CONFLICT (key) DO UPDATE SET
    token = excluded.token,
    run_id = excluded.run_id,
    flow_id = excluded.flow_id,
    job_id = excluded.job_id,
    step_id = excluded.step_id,
    host = excluded.host,
    pid = excluded.pid,
    instance = excluded.instance,
    acquired_at = excluded.acquired_at,
    expires_at = excluded.expires_at;

-- name: renew_lease
-- Renewal only needs the token to match: a lease past its expiry that nobody took is still ours.
UPDATE leases SET expires_at = :expires_at WHERE key = :key AND token = :token;

-- name: get_lease
SELECT * FROM leases WHERE key = :key;

-- name: list_leases
SELECT * FROM leases WHERE substr(key, 1, :prefix_length) = :prefix ORDER BY key;

-- name: release_lease
DELETE FROM leases WHERE key = :key AND token = :token;

-- name: force_release
DELETE FROM leases WHERE key = :key;

-- name: record_audit
INSERT INTO audit (at, action, key, detail) VALUES (:at, :action, :key, :detail);

-- name: list_audit
SELECT * FROM audit ORDER BY id DESC LIMIT :limit;
