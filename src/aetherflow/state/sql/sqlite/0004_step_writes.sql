-- Schema version 4: each of a step's two writes is one statement (its own implicit
-- transaction), and a step row costs one index fewer.
--
-- Order of steps: `get_steps` now orders by rowid. A row keeps its rowid when an upsert
-- replaces it and a new row gets MAX(rowid) + 1, so rowid order is first-recorded order; the
-- old per-run `seq` values ran in the same order. `seq` is still filled (with that rowid,
-- one b-tree probe) but nothing searches it any more, so its index only cost one page
-- written per step.
DROP INDEX steps_seq;

-- `step_finished` inserts into this view: the trigger below writes the final step row and its
-- attempt history entry, atomically, in that one statement. Reading the view gives nothing.
CREATE VIEW step_finish AS
SELECT flow_id, run_id, job_id, step_id, step_type, status, attempt, started_at, ended_at,
       outputs, promoted, error, fingerprint, lock_token
FROM steps WHERE 0;

CREATE TRIGGER step_finish_insert INSTEAD OF INSERT ON step_finish
BEGIN
    INSERT INTO steps (flow_id, run_id, job_id, step_id, seq, step_type, status, attempt,
                       started_at, ended_at, outputs, promoted, error, fingerprint, lock_token)
    VALUES (NEW.flow_id, NEW.run_id, NEW.job_id, NEW.step_id,
            (SELECT COALESCE(MAX(rowid), 0) + 1 FROM steps),
            NEW.step_type, NEW.status, NEW.attempt, NEW.started_at, NEW.ended_at, NEW.outputs,
            NEW.promoted, NEW.error, NEW.fingerprint, NEW.lock_token)
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
    INSERT INTO step_attempts (flow_id, run_id, job_id, step_id, attempt, status, started_at,
                               ended_at, error)
    VALUES (NEW.flow_id, NEW.run_id, NEW.job_id, NEW.step_id, NEW.attempt, NEW.status,
            NEW.started_at, NEW.ended_at, NEW.error)
    ON CONFLICT (flow_id, run_id, job_id, step_id, attempt) DO UPDATE SET
        status = excluded.status,
        started_at = excluded.started_at,
        ended_at = excluded.ended_at,
        error = excluded.error;
END;
