-- Per snapshot, owner and combined stage: units, total score, amount, weighted amount.
-- One MERGE replaces the snapshot's rows atomically.
MERGE `{{ params.dataset_ref }}.hs_pipeline_score_history` AS t
USING (
    SELECT snapshot_id, MIN(snapshot_at) AS snapshot_at, MIN(unit) AS unit, owner_id, combined_stage,
           COUNT(*) AS num_units, SUM(score) AS total_score,
           COALESCE(SUM(deal_amount), 0) AS total_amount, COALESCE(SUM(weighted_amount), 0) AS weighted_amount
    FROM `{{ params.dataset_ref }}.hs_pipeline_units_snapshot`
    WHERE snapshot_id = @snapshot_id
    GROUP BY snapshot_id, owner_id, combined_stage
) AS s
ON FALSE
WHEN NOT MATCHED BY SOURCE AND t.snapshot_id = @snapshot_id THEN DELETE
WHEN NOT MATCHED THEN INSERT
    (snapshot_id, snapshot_at, unit, owner_id, combined_stage, num_units, total_score, total_amount,
     weighted_amount, scored_at)
VALUES
    (s.snapshot_id, s.snapshot_at, s.unit, s.owner_id, s.combined_stage, s.num_units, s.total_score,
     s.total_amount, s.weighted_amount, CURRENT_TIMESTAMP());
