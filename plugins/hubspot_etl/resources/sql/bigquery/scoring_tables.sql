-- Scoring tables (docs/scoring.md). Templated only for the dataset: {{ params.dataset_ref }}
-- is `project.dataset` (or `dataset` when the connection's project is used).
CREATE TABLE IF NOT EXISTS `{{ params.dataset_ref }}.hs_stage_mapping` (
    stage_type STRING NOT NULL,         -- 'lifecycle' | 'deal'
    pipeline_id STRING NOT NULL,        -- '' for lifecycle stages
    stage_id STRING NOT NULL,
    label STRING,
    combined_stage STRING NOT NULL,
    score BIGNUMERIC NOT NULL,
    probability BIGNUMERIC,             -- HubSpot's stage probability when the row was added
    source STRING NOT NULL,             -- 'file' | 'auto' | 'user'
    created_at TIMESTAMP,
    updated_at TIMESTAMP
);
CREATE TABLE IF NOT EXISTS `{{ params.dataset_ref }}.hs_snapshot_registry` (
    snapshot_id STRING NOT NULL,
    source STRING NOT NULL,
    unit STRING NOT NULL,
    dag_id STRING,
    run_id STRING,
    snapshot_at TIMESTAMP NOT NULL,
    ingest_status STRING,
    ingest_finished_at TIMESTAMP,
    deals_synced_at TIMESTAMP,
    owners_synced_at TIMESTAMP,
    scoring_status STRING NOT NULL,
    scoring_started_at TIMESTAMP,
    scoring_finished_at TIMESTAMP,
    num_input_units INT64,
    num_units INT64,
    num_history_rows INT64,
    config_version STRING,
    updated_at TIMESTAMP
);
CREATE TABLE IF NOT EXISTS `{{ params.dataset_ref }}.hs_scoring_input_companies` (
    snapshot_id STRING NOT NULL, id INT64 NOT NULL, owner_id INT64, lifecycle_stage STRING
) CLUSTER BY snapshot_id;
CREATE TABLE IF NOT EXISTS `{{ params.dataset_ref }}.hs_scoring_input_deals` (
    snapshot_id STRING NOT NULL, id INT64 NOT NULL, owner_id INT64, pipeline_id STRING, stage_id STRING,
    amount BIGNUMERIC
) CLUSTER BY snapshot_id;
CREATE TABLE IF NOT EXISTS `{{ params.dataset_ref }}.hs_scoring_input_company_deal` (
    snapshot_id STRING NOT NULL, company_id INT64 NOT NULL, deal_id INT64 NOT NULL
) CLUSTER BY snapshot_id;
CREATE TABLE IF NOT EXISTS `{{ params.dataset_ref }}.hs_scoring_input_stages` (
    snapshot_id STRING NOT NULL, pipeline_id STRING NOT NULL, stage_id STRING NOT NULL, label STRING,
    display_order INT64, probability BIGNUMERIC, is_closed BOOL
) CLUSTER BY snapshot_id;
CREATE TABLE IF NOT EXISTS `{{ params.dataset_ref }}.hs_pipeline_units_snapshot` (
    snapshot_id STRING NOT NULL,
    snapshot_at TIMESTAMP NOT NULL,
    unit STRING NOT NULL,
    unit_id INT64 NOT NULL,
    owner_id INT64,
    lifecycle_stage STRING,
    deal_id INT64,
    deal_pipeline_id STRING,
    deal_stage_id STRING,
    deal_stage_label STRING,
    combined_stage STRING NOT NULL,
    score BIGNUMERIC NOT NULL,
    deal_amount BIGNUMERIC,
    deal_probability BIGNUMERIC,
    weighted_amount BIGNUMERIC,
    scored_at TIMESTAMP NOT NULL
) PARTITION BY DATE(snapshot_at) CLUSTER BY snapshot_id;
CREATE TABLE IF NOT EXISTS `{{ params.dataset_ref }}.hs_pipeline_score_history` (
    snapshot_id STRING NOT NULL,
    snapshot_at TIMESTAMP NOT NULL,
    unit STRING NOT NULL,
    owner_id INT64,
    combined_stage STRING NOT NULL,
    num_units INT64 NOT NULL,
    total_score BIGNUMERIC NOT NULL,
    total_amount BIGNUMERIC NOT NULL,
    weighted_amount BIGNUMERIC NOT NULL,
    scored_at TIMESTAMP NOT NULL
) PARTITION BY DATE(snapshot_at) CLUSTER BY snapshot_id, owner_id;
