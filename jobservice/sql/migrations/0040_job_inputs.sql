-- A job's stored request (the sequence, PDB text, A3Ms: up to tens of MB) lives apart from its row, so
-- gets, lists and watch streams (which read `jobs`) never load it; only a claim (dispatch) reads it.
-- Existing rows move over; the column goes.
CREATE TABLE job_inputs (
    job_id        TEXT PRIMARY KEY REFERENCES jobs(id),
    request_json  TEXT NOT NULL              -- the ValidatedJob the spec accepted
);
INSERT INTO job_inputs (job_id, request_json) SELECT id, request_json FROM jobs;
ALTER TABLE jobs DROP COLUMN request_json;
