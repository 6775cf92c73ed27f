-- Add stages seen in this snapshot that hs_stage_mapping does not know yet (source 'auto').
-- Insert-only: existing rows (from the file, earlier runs or user edits) are never changed.
-- Deal stages score probability x 100; lifecycle stages score 0 until someone edits them.
INSERT INTO "{{ params.schema }}".hs_stage_mapping
    (stage_type, pipeline_id, stage_id, label, combined_stage, score, probability, source, created_at, updated_at)
SELECT 'deal', s.pipeline_id, s.stage_id, s.label, COALESCE(s.label, s.stage_id),
       COALESCE(ROUND(s.probability * 100, 2), 0), s.probability, 'auto', CURRENT_TIMESTAMP(), CURRENT_TIMESTAMP()
FROM "{{ params.schema }}".hs_scoring_input_stages AS s
WHERE s.snapshot_id = %(snapshot_id)s
  AND NOT EXISTS (
      SELECT 1 FROM "{{ params.schema }}".hs_stage_mapping AS m
      WHERE m.stage_type = 'deal' AND m.pipeline_id = s.pipeline_id AND m.stage_id = s.stage_id)
UNION ALL
SELECT 'lifecycle', '', l.lifecycle_stage, l.lifecycle_stage, l.lifecycle_stage, 0, NULL, 'auto', CURRENT_TIMESTAMP(), CURRENT_TIMESTAMP()
FROM (
    SELECT DISTINCT c.lifecycle_stage
    FROM "{{ params.schema }}".hs_scoring_input_companies AS c
    WHERE c.snapshot_id = %(snapshot_id)s AND c.lifecycle_stage IS NOT NULL
) AS l
WHERE NOT EXISTS (
    SELECT 1 FROM "{{ params.schema }}".hs_stage_mapping AS m
    WHERE m.stage_type = 'lifecycle' AND m.pipeline_id = '' AND m.stage_id = l.lifecycle_stage);
