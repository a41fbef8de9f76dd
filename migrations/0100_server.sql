-- modelship API server: API keys, batch jobs, their inputs and results.

CREATE TABLE IF NOT EXISTS api_keys (
  id          text PRIMARY KEY,                 -- public part of the key (ms_<id>_<secret>)
  name        text NOT NULL,
  key_hash    bytea NOT NULL,                   -- sha256 of the whole key; compared in constant time
  created_at  timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz,
  revoked_at  timestamptz
);

CREATE TABLE IF NOT EXISTS jobs (
  id          uuid PRIMARY KEY,
  task        text NOT NULL CHECK (task IN ('image', 'text', 'detect')),
  model       text NOT NULL,
  options     jsonb NOT NULL DEFAULT '{}'::jsonb,
  state       text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'completed', 'failed')),
  total       integer NOT NULL CHECK (total >= 0),
  api_key_id  text REFERENCES api_keys(id) ON DELETE SET NULL,
  error       text,
  attempts    integer NOT NULL DEFAULT 0,
  created_at  timestamptz NOT NULL DEFAULT now(),
  started_at  timestamptz,
  finished_at timestamptz
);
CREATE INDEX IF NOT EXISTS jobs_state_idx ON jobs (state, created_at);

-- Inputs live in PostgreSQL, not in Redis: a queue entry only names its job.
CREATE TABLE IF NOT EXISTS job_inputs (
  job_id      uuid NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  input_index integer NOT NULL,
  name        text,
  content     bytea,
  text        text,
  PRIMARY KEY (job_id, input_index)
);

-- One row per input, written once: a retried or re-delivered job never stores a result twice.
CREATE TABLE IF NOT EXISTS job_results (
  job_id      uuid NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  input_index integer NOT NULL,
  name        text,
  result      jsonb,
  error       text,
  error_code  text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT job_results_once UNIQUE (job_id, input_index)
);
