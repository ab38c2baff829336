-- The credit history: one entry per change of an account's balance, written in the statement that changes
-- it, so the entries of an account always sum to its balance (GET /v1/account/credits, `phonos credits
-- history`). Job submissions and refunds change the balance in triggers, and so write their entries there;
-- an account's opening balance is written by a trigger on the account's row; an operator's top-up or
-- take-back (`phonos credits add`) is written by jobservice/accounts.py in the top-up's transaction.
--
-- kind: grant (an opening balance, an operator's top-up or take-back, the balance before this history
-- began), charge (a job's submission), refund (a refunded failure, a cancel while pending). A job's entries
-- outlive its deletion (DELETE /v1/jobs/{id} keeps the row): what was charged stays explained.
CREATE TABLE credit_entries (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,  -- the order the balance changed in
    account_id    INTEGER NOT NULL REFERENCES accounts(id),
    created_at    REAL NOT NULL,
    amount        INTEGER NOT NULL,                  -- signed: + credits in, - credits out
    balance_after INTEGER NOT NULL CHECK (balance_after >= 0),
    kind          TEXT NOT NULL CHECK (kind IN ('grant', 'charge', 'refund')),
    job_id        TEXT REFERENCES jobs(id),
    note          TEXT                               -- a short reason (never the job's name: deletion clears it)
);
CREATE INDEX credit_entries_account ON credit_entries (account_id, id);

-- Accounts from before: one grant of their balance, so every account's entries sum to its balance.
INSERT INTO credit_entries (account_id, created_at, amount, balance_after, kind, note)
SELECT id, (julianday('now') - 2440587.5) * 86400.0, credits, credits, 'grant',
       'balance before the credit history began'
FROM accounts ORDER BY id;

CREATE TRIGGER accounts_opening_grant AFTER INSERT ON accounts
BEGIN
    INSERT INTO credit_entries (account_id, created_at, amount, balance_after, kind, note)
    VALUES (NEW.id, NEW.created_at, NEW.credits, NEW.credits, 'grant', 'opening balance');
END;

DROP TRIGGER jobs_debit_on_submit;
CREATE TRIGGER jobs_debit_on_submit AFTER INSERT ON jobs
WHEN NEW.credits_used > 0
BEGIN
    UPDATE accounts SET credits = credits - NEW.credits_used WHERE id = NEW.account_id;
    INSERT INTO credit_entries (account_id, created_at, amount, balance_after, kind, job_id, note)
    VALUES (NEW.account_id, NEW.created_at, -NEW.credits_used,
            (SELECT credits FROM accounts WHERE id = NEW.account_id), 'charge', NEW.id, NEW.model || ' job submitted');
END;

-- As 0050_usage_net_of_refunds.sql's, and the refund's entry: why it came back (a cancel while pending, or
-- the failure's error_code, jobservice/failures.py).
DROP TRIGGER jobs_refund;
CREATE TRIGGER jobs_refund AFTER UPDATE OF refunded ON jobs
WHEN NEW.refunded > OLD.refunded
BEGIN
    UPDATE accounts SET credits = credits + (NEW.refunded - OLD.refunded) WHERE id = NEW.account_id;
    INSERT INTO usage_hourly (account_id, hour, endpoint, model, status_code, transport, requests, credits_used,
                              elapsed_ms)
    VALUES (NEW.account_id, CAST(NEW.updated_at / 3600 AS INTEGER) * 3600, NEW.endpoint, NEW.model, 0, 'refund', 0,
            -(NEW.refunded - OLD.refunded), 0)
    ON CONFLICT (account_id, hour, endpoint, model, status_code, transport) DO UPDATE SET
        credits_used = credits_used + excluded.credits_used;
    INSERT INTO credit_entries (account_id, created_at, amount, balance_after, kind, job_id, note)
    VALUES (NEW.account_id, NEW.updated_at, NEW.refunded - OLD.refunded,
            (SELECT credits FROM accounts WHERE id = NEW.account_id), 'refund', NEW.id,
            NEW.model || CASE WHEN NEW.status = 'cancelled' THEN ' job cancelled before it ran'
                              ELSE ' job failed (' || COALESCE(NEW.error_code, 'error') || ')' END);
END;
