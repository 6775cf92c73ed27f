-- One row per unit (company, or deal when unit = 'deals') of the snapshot; re-running the
-- same snapshot replaces its rows. Inputs (hs_scoring_input_*) hold live, non-deleted,
-- non-merged records only.
DELETE FROM "{{ params.schema }}".hs_pipeline_units_snapshot WHERE snapshot_id = %(snapshot_id)s;
INSERT INTO "{{ params.schema }}".hs_pipeline_units_snapshot
    (snapshot_id, snapshot_at, unit, unit_id, owner_id, lifecycle_stage, deal_id, deal_pipeline_id,
     deal_stage_id, deal_stage_label, combined_stage, score, deal_amount, deal_probability,
     weighted_amount, scored_at)
WITH reg AS (
    SELECT snapshot_at, unit FROM "{{ params.schema }}".hs_snapshot_registry
    WHERE snapshot_id = %(snapshot_id)s
),
deals AS (
    SELECT d.id, d.owner_id, d.pipeline_id, d.stage_id, d.amount, s.label, s.probability,
           s.display_order, COALESCE(s.is_closed, false) AS is_closed,
           COALESCE(m.combined_stage, s.label, d.stage_id, 'none') AS combined_stage,
           COALESCE(m.score, ROUND(s.probability * 100, 2), 0) AS score
    FROM "{{ params.schema }}".hs_scoring_input_deals AS d
    LEFT JOIN "{{ params.schema }}".hs_scoring_input_stages AS s
        ON s.snapshot_id = d.snapshot_id AND s.pipeline_id = d.pipeline_id AND s.stage_id = d.stage_id
    LEFT JOIN "{{ params.schema }}".hs_stage_mapping AS m
        ON m.stage_type = 'deal' AND m.pipeline_id = d.pipeline_id AND m.stage_id = d.stage_id
    WHERE d.snapshot_id = %(snapshot_id)s
),
best_open AS (
    -- the most advanced open deal of each company (Snowflake's QUALIFY keeps the first per company)
    SELECT l.company_id, dl.*
    FROM "{{ params.schema }}".hs_scoring_input_company_deal AS l
    JOIN deals AS dl ON dl.id = l.deal_id
    WHERE l.snapshot_id = %(snapshot_id)s AND NOT dl.is_closed
    QUALIFY ROW_NUMBER() OVER (
        PARTITION BY l.company_id
        ORDER BY dl.score DESC, dl.probability DESC NULLS LAST, dl.display_order DESC NULLS LAST,
                 dl.amount DESC NULLS LAST, dl.id) = 1
)
SELECT %(snapshot_id)s, reg.snapshot_at, 'companies', c.id, c.owner_id, c.lifecycle_stage,
       b.id, b.pipeline_id, b.stage_id, b.label,
       IFF(b.id IS NOT NULL, b.combined_stage, COALESCE(lm.combined_stage, c.lifecycle_stage, 'none')),
       IFF(b.id IS NOT NULL, b.score, COALESCE(lm.score, 0)),
       b.amount, b.probability, b.amount * b.probability, CURRENT_TIMESTAMP()
FROM "{{ params.schema }}".hs_scoring_input_companies AS c
CROSS JOIN reg
LEFT JOIN best_open AS b ON b.company_id = c.id
LEFT JOIN "{{ params.schema }}".hs_stage_mapping AS lm
    ON lm.stage_type = 'lifecycle' AND lm.pipeline_id = '' AND lm.stage_id = c.lifecycle_stage
WHERE c.snapshot_id = %(snapshot_id)s AND reg.unit = 'companies'
UNION ALL
SELECT %(snapshot_id)s, reg.snapshot_at, 'deals', d.id, d.owner_id, NULL,
       d.id, d.pipeline_id, d.stage_id, d.label, d.combined_stage, d.score,
       d.amount, d.probability, d.amount * d.probability, CURRENT_TIMESTAMP()
FROM deals AS d
CROSS JOIN reg
WHERE reg.unit = 'deals';
