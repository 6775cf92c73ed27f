-- Scoring tables (docs/scoring.md), Snowflake. Templated only for the schema name; keys are
-- informational (Snowflake enforces NOT NULL only).
CREATE TABLE IF NOT EXISTS "{{ params.schema }}".hs_stage_mapping (
    stage_type VARCHAR NOT NULL,               -- 'lifecycle' | 'deal'
    pipeline_id VARCHAR NOT NULL DEFAULT '',   -- '' for lifecycle stages
    stage_id VARCHAR NOT NULL,
    label VARCHAR,
    combined_stage VARCHAR NOT NULL,
    score NUMBER(38,10) NOT NULL,
    probability NUMBER(38,10),                    -- HubSpot's stage probability when the row was added
    source VARCHAR NOT NULL,                   -- 'file' | 'auto' | 'user'
    created_at TIMESTAMP_TZ NOT NULL DEFAULT CURRENT_TIMESTAMP(),
    updated_at TIMESTAMP_TZ NOT NULL DEFAULT CURRENT_TIMESTAMP(),
    PRIMARY KEY (stage_type, pipeline_id, stage_id)
);
CREATE TABLE IF NOT EXISTS "{{ params.schema }}".hs_snapshot_registry (
    snapshot_id VARCHAR PRIMARY KEY,
    source VARCHAR NOT NULL,                   -- 'sync' | 'import'
    unit VARCHAR NOT NULL,                     -- 'companies' | 'deals'
    dag_id VARCHAR,
    run_id VARCHAR,
    snapshot_at TIMESTAMP_TZ NOT NULL,
    ingest_status VARCHAR,
    ingest_finished_at TIMESTAMP_TZ,
    deals_synced_at TIMESTAMP_TZ,
    owners_synced_at TIMESTAMP_TZ,
    scoring_status VARCHAR NOT NULL,           -- 'running' | 'success' | 'failed'
    scoring_started_at TIMESTAMP_TZ,
    scoring_finished_at TIMESTAMP_TZ,
    num_input_units NUMBER(19,0),
    num_units NUMBER(19,0),
    num_history_rows NUMBER(19,0),
    config_version VARCHAR,
    updated_at TIMESTAMP_TZ NOT NULL DEFAULT CURRENT_TIMESTAMP()
);
CREATE TABLE IF NOT EXISTS "{{ params.schema }}".hs_scoring_input_companies (
    snapshot_id VARCHAR NOT NULL, id NUMBER(19,0) NOT NULL, owner_id NUMBER(19,0), lifecycle_stage VARCHAR,
    PRIMARY KEY (snapshot_id, id)
);
CREATE TABLE IF NOT EXISTS "{{ params.schema }}".hs_scoring_input_deals (
    snapshot_id VARCHAR NOT NULL, id NUMBER(19,0) NOT NULL, owner_id NUMBER(19,0), pipeline_id VARCHAR, stage_id VARCHAR,
    amount NUMBER(38,10), PRIMARY KEY (snapshot_id, id)
);
CREATE TABLE IF NOT EXISTS "{{ params.schema }}".hs_scoring_input_company_deal (
    snapshot_id VARCHAR NOT NULL, company_id NUMBER(19,0) NOT NULL, deal_id NUMBER(19,0) NOT NULL,
    PRIMARY KEY (snapshot_id, company_id, deal_id)
);
CREATE TABLE IF NOT EXISTS "{{ params.schema }}".hs_scoring_input_stages (
    snapshot_id VARCHAR NOT NULL, pipeline_id VARCHAR NOT NULL, stage_id VARCHAR NOT NULL, label VARCHAR,
    display_order NUMBER(10,0), probability NUMBER(38,10), is_closed BOOLEAN,
    PRIMARY KEY (snapshot_id, pipeline_id, stage_id)
);
CREATE TABLE IF NOT EXISTS "{{ params.schema }}".hs_pipeline_units_snapshot (
    snapshot_id VARCHAR NOT NULL,
    snapshot_at TIMESTAMP_TZ NOT NULL,
    unit VARCHAR NOT NULL,
    unit_id NUMBER(19,0) NOT NULL,                -- company id (or deal id when unit = 'deals')
    owner_id NUMBER(19,0),
    lifecycle_stage VARCHAR,
    deal_id NUMBER(19,0),                         -- the most advanced open deal (or the deal itself)
    deal_pipeline_id VARCHAR,
    deal_stage_id VARCHAR,
    deal_stage_label VARCHAR,
    combined_stage VARCHAR NOT NULL,
    score NUMBER(38,10) NOT NULL,
    deal_amount NUMBER(38,10),
    deal_probability NUMBER(38,10),
    weighted_amount NUMBER(38,10),
    scored_at TIMESTAMP_TZ NOT NULL DEFAULT CURRENT_TIMESTAMP(),
    PRIMARY KEY (snapshot_id, unit_id)
);
CREATE TABLE IF NOT EXISTS "{{ params.schema }}".hs_pipeline_score_history (
    snapshot_id VARCHAR NOT NULL,
    snapshot_at TIMESTAMP_TZ NOT NULL,
    unit VARCHAR NOT NULL,
    owner_id NUMBER(19,0),
    combined_stage VARCHAR NOT NULL,
    num_units NUMBER(19,0) NOT NULL,
    total_score NUMBER(38,10) NOT NULL,
    total_amount NUMBER(38,10) NOT NULL,
    weighted_amount NUMBER(38,10) NOT NULL,
    scored_at TIMESTAMP_TZ NOT NULL DEFAULT CURRENT_TIMESTAMP()
);
