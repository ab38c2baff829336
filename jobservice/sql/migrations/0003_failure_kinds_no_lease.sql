-- A failed job says why in a typed way (jobservice/failures.py), and that kind decides its refund.
-- The lease columns go: one job service owns a data directory (datadir_lock.py), so start-up recovery
-- knows every job left running is orphaned, and nothing read the lease.
ALTER TABLE jobs ADD COLUMN error_code TEXT;
ALTER TABLE jobs DROP COLUMN lease_owner;
ALTER TABLE jobs DROP COLUMN lease_expires;
