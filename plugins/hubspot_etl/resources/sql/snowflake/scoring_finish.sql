-- Mark the snapshot scored, with its row counts.
UPDATE "{{ params.schema }}".hs_snapshot_registry AS r
SET scoring_status = 'success',
    scoring_finished_at = CURRENT_TIMESTAMP(),
    num_units = (SELECT COUNT(*) FROM "{{ params.schema }}".hs_pipeline_units_snapshot AS u
                 WHERE u.snapshot_id = r.snapshot_id),
    num_history_rows = (SELECT COUNT(*) FROM "{{ params.schema }}".hs_pipeline_score_history AS h
                        WHERE h.snapshot_id = r.snapshot_id),
    updated_at = CURRENT_TIMESTAMP()
WHERE r.snapshot_id = %(snapshot_id)s;
