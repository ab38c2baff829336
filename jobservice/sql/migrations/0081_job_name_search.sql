-- Job-name search (GET /v1/jobs?name=, the dashboard's search, `phonos jobs ls --name`) without reading every job of
-- the account: a trigram index of each job's lowered name, a PREFILTER only. The named queries that use it
-- (list_jobs_named, list_jobs_after_named, count_jobs_named) still check instr(unicode_lower(name),
-- unicode_lower(:name)) on each candidate, so the answers are the old ones exactly; the index only narrows the rows.
--
-- What is indexed is name_search_text(name): unicode_lower(name), a NUL as a space (jobservice/db.py; every
-- connection of the service has these functions; a sqlite3 shell, which has neither, can read the store and change other
-- columns, but not insert a job or change a name), with case_sensitive 1: FTS5's own case folding is not Python's (dotless/dotted i, final sigma), and trigrams
-- of the already-lowered text make "the lowered needle is a substring" imply "its trigrams are in the row" exactly.
-- A needle of fewer than 3 characters has no trigram: the old queries serve it (jobservice/jobs.py picks).
--
-- Each row also holds its account as one trigram of its own (name_search_account), and a search asks for the
-- account's trigram AND the needle's phrase: FTS5 steps the two lists of rows together, so a search reads the
-- account's matches only, not those of every account (a text common in the lab costs a small account nothing).
--
-- Keyed by jobs.seq, not jobs.rowid: jobs has no INTEGER PRIMARY KEY, so VACUUM may renumber its rowids; seq is the
-- job's stable, unique submission number. columnsize 0: no per-row sizes (for ranking, unused). A regular (not
-- contentless) FTS5 table: it keeps its copy of each lowered name, so a removal never depends on lowering the old
-- name the same way again (a newer Python's Unicode tables).
CREATE VIRTUAL TABLE jobs_name_search USING fts5(account, name, tokenize = 'trigram case_sensitive 1', columnsize = 0);

-- Deleted jobs have no name (delete_job clears it), so every named row is a live one. About 1 s per 100,000 jobs
-- (bench/query_scale.py prints it), once, in the migration's transaction at the start.
INSERT INTO jobs_name_search (rowid, account, name)
SELECT seq, name_search_account(account_id), name_search_text(name) FROM jobs WHERE name IS NOT NULL;

CREATE TRIGGER jobs_name_search_insert AFTER INSERT ON jobs
WHEN NEW.name IS NOT NULL
BEGIN
    INSERT INTO jobs_name_search (rowid, account, name)
    VALUES (NEW.seq, name_search_account(NEW.account_id), name_search_text(NEW.name));
END;

-- A job's name changes only when its deletion clears it (there is no rename); any change is followed all the same.
CREATE TRIGGER jobs_name_search_update AFTER UPDATE OF name, seq, account_id ON jobs
BEGIN
    DELETE FROM jobs_name_search WHERE rowid = OLD.seq;
    INSERT INTO jobs_name_search (rowid, account, name)
    SELECT NEW.seq, name_search_account(NEW.account_id), name_search_text(NEW.name) WHERE NEW.name IS NOT NULL;
END;

CREATE TRIGGER jobs_name_search_delete AFTER DELETE ON jobs
BEGIN
    DELETE FROM jobs_name_search WHERE rowid = OLD.seq;
END;

-- The Unicode version of the Python that lowered the indexed names (name_search_unicode(): unicodedata's). A Python
-- with other Unicode tables may lower some letter differently, and names indexed before would then be missed by a
-- search through that letter: the job service rebuilds the index at its start when this differs (jobservice/db.py).
CREATE TABLE jobs_name_search_unicode (version TEXT NOT NULL);
INSERT INTO jobs_name_search_unicode (version) VALUES (name_search_unicode());
