-- Schema version 5: a step's latest attempt is its row in `steps`; the history table keeps the
-- attempts that a later one replaced (a retry, a re-run after resume) and those of step rows
-- that were deleted (a job re-run on resume). The final write of a step is therefore the same
-- single upsert as its RUNNING write, with no history row on the happy path (two b-tree writes
-- fewer per step). `step_attempts` becomes a view with every attempt, as the table held before.

DROP TRIGGER step_finish_insert;
DROP VIEW step_finish;
ALTER TABLE step_attempts RENAME TO step_attempt_history;

-- The latest finished attempt of each recorded step is its `steps` row from now on.
DELETE FROM step_attempt_history
WHERE EXISTS (
    SELECT 1 FROM steps AS s
    WHERE s.flow_id = step_attempt_history.flow_id AND s.run_id = step_attempt_history.run_id
      AND s.job_id = step_attempt_history.job_id AND s.step_id = step_attempt_history.step_id
      AND s.attempt = step_attempt_history.attempt AND s.status <> 'RUNNING'
);

-- A finished attempt that a new RUNNING write replaces moves to the history, in the same
-- statement (so atomically).
CREATE TRIGGER steps_keep_replaced_attempt BEFORE UPDATE OF status ON steps
WHEN NEW.status = 'RUNNING' AND OLD.status <> 'RUNNING'
BEGIN
    INSERT OR REPLACE INTO step_attempt_history (flow_id, run_id, job_id, step_id, attempt,
                                                 status, started_at, ended_at, error)
    VALUES (OLD.flow_id, OLD.run_id, OLD.job_id, OLD.step_id, OLD.attempt, OLD.status,
            OLD.started_at, OLD.ended_at, OLD.error);
END;

-- So does the finished attempt of a deleted step row.
CREATE TRIGGER steps_keep_deleted_attempt BEFORE DELETE ON steps
WHEN OLD.status <> 'RUNNING'
BEGIN
    INSERT OR REPLACE INTO step_attempt_history (flow_id, run_id, job_id, step_id, attempt,
                                                 status, started_at, ended_at, error)
    VALUES (OLD.flow_id, OLD.run_id, OLD.job_id, OLD.step_id, OLD.attempt, OLD.status,
            OLD.started_at, OLD.ended_at, OLD.error);
END;

-- Every finished attempt (a history entry that a step row of the same attempt number replaced
-- again is hidden by that row), for people reading the database directly.
CREATE VIEW step_attempts AS
SELECT h.flow_id, h.run_id, h.job_id, h.step_id, h.attempt, h.status, h.started_at, h.ended_at,
       h.error
FROM step_attempt_history AS h
WHERE NOT EXISTS (
    SELECT 1 FROM steps AS s
    WHERE s.flow_id = h.flow_id AND s.run_id = h.run_id AND s.job_id = h.job_id
      AND s.step_id = h.step_id AND s.attempt = h.attempt AND s.status <> 'RUNNING'
)
UNION ALL
SELECT flow_id, run_id, job_id, step_id, attempt, status, started_at, ended_at, error
FROM steps WHERE status <> 'RUNNING';
