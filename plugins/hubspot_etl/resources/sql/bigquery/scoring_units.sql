-- One row per unit (company, or deal when unit = 'deals') of the snapshot. One MERGE replaces
-- the snapshot's rows atomically (re-running a snapshot never duplicates it). Inputs
-- (hs_scoring_input_*) hold live, non-deleted, non-merged records only.
MERGE `{{ params.dataset_ref }}.hs_pipeline_units_snapshot` AS t
USING (
    WITH reg AS (
        SELECT snapshot_at, unit FROM `{{ params.dataset_ref }}.hs_snapshot_registry`
        WHERE snapshot_id = @snapshot_id
    ),
    deals AS (
        SELECT d.id, d.owner_id, d.pipeline_id, d.stage_id, d.amount, s.label, s.probability,
               s.display_order, COALESCE(s.is_closed, FALSE) AS is_closed,
               COALESCE(m.combined_stage, s.label, d.stage_id, 'none') AS combined_stage,
               COALESCE(m.score, ROUND(s.probability * 100, 2), 0) AS score
        FROM `{{ params.dataset_ref }}.hs_scoring_input_deals` AS d
        LEFT JOIN `{{ params.dataset_ref }}.hs_scoring_input_stages` AS s
            ON s.snapshot_id = d.snapshot_id AND s.pipeline_id = d.pipeline_id AND s.stage_id = d.stage_id
        LEFT JOIN `{{ params.dataset_ref }}.hs_stage_mapping` AS m
            ON m.stage_type = 'deal' AND m.pipeline_id = d.pipeline_id AND m.stage_id = d.stage_id
        WHERE d.snapshot_id = @snapshot_id
    ),
    best_open AS (
        SELECT * FROM (
            SELECT l.company_id, dl.*,
                   ROW_NUMBER() OVER (
                       PARTITION BY l.company_id
                       ORDER BY dl.score DESC, dl.probability DESC NULLS LAST, dl.display_order DESC NULLS LAST,
                                dl.amount DESC NULLS LAST, dl.id) AS rn
            FROM `{{ params.dataset_ref }}.hs_scoring_input_company_deal` AS l
            JOIN deals AS dl ON dl.id = l.deal_id
            WHERE l.snapshot_id = @snapshot_id AND NOT dl.is_closed
        ) AS ranked
        WHERE rn = 1
    )
    SELECT @snapshot_id AS snapshot_id, reg.snapshot_at, 'companies' AS unit, c.id AS unit_id,
           c.owner_id, c.lifecycle_stage, b.id AS deal_id, b.pipeline_id AS deal_pipeline_id,
           b.stage_id AS deal_stage_id, b.label AS deal_stage_label,
           CASE WHEN b.id IS NOT NULL THEN b.combined_stage
                ELSE COALESCE(lm.combined_stage, c.lifecycle_stage, 'none') END AS combined_stage,
           CASE WHEN b.id IS NOT NULL THEN b.score ELSE COALESCE(lm.score, 0) END AS score,
           b.amount AS deal_amount, b.probability AS deal_probability,
           b.amount * b.probability AS weighted_amount
    FROM `{{ params.dataset_ref }}.hs_scoring_input_companies` AS c
    CROSS JOIN reg
    LEFT JOIN best_open AS b ON b.company_id = c.id
    LEFT JOIN `{{ params.dataset_ref }}.hs_stage_mapping` AS lm
        ON lm.stage_type = 'lifecycle' AND lm.pipeline_id = '' AND lm.stage_id = c.lifecycle_stage
    WHERE c.snapshot_id = @snapshot_id AND reg.unit = 'companies'
    UNION ALL
    SELECT @snapshot_id, reg.snapshot_at, 'deals', d.id, d.owner_id, CAST(NULL AS STRING),
           d.id, d.pipeline_id, d.stage_id, d.label, d.combined_stage, d.score,
           d.amount, d.probability, d.amount * d.probability
    FROM deals AS d
    CROSS JOIN reg
    WHERE reg.unit = 'deals'
) AS s
ON FALSE
WHEN NOT MATCHED BY SOURCE AND t.snapshot_id = @snapshot_id THEN DELETE
WHEN NOT MATCHED THEN INSERT
    (snapshot_id, snapshot_at, unit, unit_id, owner_id, lifecycle_stage, deal_id, deal_pipeline_id,
     deal_stage_id, deal_stage_label, combined_stage, score, deal_amount, deal_probability,
     weighted_amount, scored_at)
VALUES
    (s.snapshot_id, s.snapshot_at, s.unit, s.unit_id, s.owner_id, s.lifecycle_stage, s.deal_id,
     s.deal_pipeline_id, s.deal_stage_id, s.deal_stage_label, s.combined_stage, s.score, s.deal_amount,
     s.deal_probability, s.weighted_amount, CURRENT_TIMESTAMP());
