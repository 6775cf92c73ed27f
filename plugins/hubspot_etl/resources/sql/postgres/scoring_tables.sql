-- Scoring tables (docs/scoring.md). Templated only for the schema name.
CREATE TABLE IF NOT EXISTS "{{ params.schema }}".hs_stage_mapping (
    stage_type text NOT NULL,               -- 'lifecycle' | 'deal'
    pipeline_id text NOT NULL DEFAULT '',   -- '' for lifecycle stages
    stage_id text NOT NULL,
    label text,
    combined_stage text NOT NULL,
    score numeric NOT NULL,
    probability numeric,                    -- HubSpot's stage probability when the row was added
    source text NOT NULL,                   -- 'file' | 'auto' | 'user'
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stage_type, pipeline_id, stage_id)
);
CREATE TABLE IF NOT EXISTS "{{ params.schema }}".hs_snapshot_registry (
    snapshot_id text PRIMARY KEY,
    source text NOT NULL,                   -- 'sync' | 'import'
    unit text NOT NULL,                     -- 'companies' | 'deals'
    dag_id text,
    run_id text,
    snapshot_at timestamptz NOT NULL,
    ingest_status text,
    ingest_finished_at timestamptz,
    deals_synced_at timestamptz,
    owners_synced_at timestamptz,
    scoring_status text NOT NULL,           -- 'running' | 'success' | 'failed'
    scoring_started_at timestamptz,
    scoring_finished_at timestamptz,
    num_input_units bigint,
    num_units bigint,
    num_history_rows bigint,
    config_version text,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS "{{ params.schema }}".hs_scoring_input_companies (
    snapshot_id text NOT NULL, id bigint NOT NULL, owner_id bigint, lifecycle_stage text,
    PRIMARY KEY (snapshot_id, id)
);
CREATE TABLE IF NOT EXISTS "{{ params.schema }}".hs_scoring_input_deals (
    snapshot_id text NOT NULL, id bigint NOT NULL, owner_id bigint, pipeline_id text, stage_id text,
    amount numeric, PRIMARY KEY (snapshot_id, id)
);
CREATE TABLE IF NOT EXISTS "{{ params.schema }}".hs_scoring_input_company_deal (
    snapshot_id text NOT NULL, company_id bigint NOT NULL, deal_id bigint NOT NULL,
    PRIMARY KEY (snapshot_id, company_id, deal_id)
);
CREATE TABLE IF NOT EXISTS "{{ params.schema }}".hs_scoring_input_stages (
    snapshot_id text NOT NULL, pipeline_id text NOT NULL, stage_id text NOT NULL, label text,
    display_order integer, probability numeric, is_closed boolean,
    PRIMARY KEY (snapshot_id, pipeline_id, stage_id)
);
CREATE TABLE IF NOT EXISTS "{{ params.schema }}".hs_pipeline_units_snapshot (
    snapshot_id text NOT NULL,
    snapshot_at timestamptz NOT NULL,
    unit text NOT NULL,
    unit_id bigint NOT NULL,                -- company id (or deal id when unit = 'deals')
    owner_id bigint,
    lifecycle_stage text,
    deal_id bigint,                         -- the most advanced open deal (or the deal itself)
    deal_pipeline_id text,
    deal_stage_id text,
    deal_stage_label text,
    combined_stage text NOT NULL,
    score numeric NOT NULL,
    deal_amount numeric,
    deal_probability numeric,
    weighted_amount numeric,
    scored_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (snapshot_id, unit_id)
);
CREATE TABLE IF NOT EXISTS "{{ params.schema }}".hs_pipeline_score_history (
    snapshot_id text NOT NULL,
    snapshot_at timestamptz NOT NULL,
    unit text NOT NULL,
    owner_id bigint,
    combined_stage text NOT NULL,
    num_units bigint NOT NULL,
    total_score numeric NOT NULL,
    total_amount numeric NOT NULL,
    weighted_amount numeric NOT NULL,
    scored_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS hs_pipeline_score_history_snapshot
    ON "{{ params.schema }}".hs_pipeline_score_history (snapshot_id);
