-- Per snapshot, owner and combined stage: units, total score, amount, weighted amount.
-- Re-running the same snapshot replaces its rows.
DELETE FROM "{{ params.schema }}".hs_pipeline_score_history WHERE snapshot_id = %(snapshot_id)s;
INSERT INTO "{{ params.schema }}".hs_pipeline_score_history
    (snapshot_id, snapshot_at, unit, owner_id, combined_stage, num_units, total_score, total_amount,
     weighted_amount, scored_at)
SELECT snapshot_id, MIN(snapshot_at), MIN(unit), owner_id, combined_stage, COUNT(*), SUM(score),
       COALESCE(SUM(deal_amount), 0), COALESCE(SUM(weighted_amount), 0), CURRENT_TIMESTAMP()
FROM "{{ params.schema }}".hs_pipeline_units_snapshot
WHERE snapshot_id = %(snapshot_id)s
GROUP BY snapshot_id, owner_id, combined_stage;
