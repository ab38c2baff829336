-- As SQLite's 0040_job_inputs.sql: a job's stored request lives apart from its row, so gets, lists and
-- watch streams never load it; only claims read it. Existing rows move over; the column goes.
CREATE TABLE job_inputs (
    job_id        TEXT PRIMARY KEY REFERENCES jobs(id),
    request_json  TEXT NOT NULL              -- the ValidatedJob the spec accepted
);
INSERT INTO job_inputs (job_id, request_json) SELECT id, request_json FROM jobs;
ALTER TABLE jobs DROP COLUMN request_json;
