-- Schema version 3: the identity of the process holding a lease. Re-entrancy for a run only
-- takes over a lease of a previous (crashed) process of that run, never of the same process.
ALTER TABLE leases ADD COLUMN instance TEXT NOT NULL DEFAULT '';
