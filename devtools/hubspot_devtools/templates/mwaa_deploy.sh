#!/usr/bin/env bash
# Deploy the HubSpot package to an Amazon MWAA environment (docs/deploy.md, "Amazon MWAA").
# Set ENVIRONMENT and BUCKET (the environment's versioned S3 bucket), then run: bash deploy.sh
set -euo pipefail
: "${ENVIRONMENT:?name of the MWAA environment}"
: "${BUCKET:?the environment's S3 bucket, without s3://}"
: "${DAGS_PREFIX:=dags}"   # the environment's DAG folder in the bucket
cd "$(dirname "$0")"

# 1. The wheel (plugins.zip) and the requirements that install it from the plugins folder.
aws s3 cp plugins.zip "s3://$BUCKET/plugins.zip"
aws s3 cp requirements.txt "s3://$BUCKET/requirements.txt"
plugins_version=$(aws s3api head-object --bucket "$BUCKET" --key plugins.zip --query VersionId --output text)
requirements_version=$(aws s3api head-object --bucket "$BUCKET" --key requirements.txt --query VersionId --output text)
aws mwaa update-environment --name "$ENVIRONMENT" \
  --plugins-s3-path plugins.zip --plugins-s3-object-version "$plugins_version" \
  --requirements-s3-path requirements.txt --requirements-s3-object-version "$requirements_version"

# 2. The DAGs folder: DAG files and hubspot_sync.yaml only (the code came with the wheel).
aws s3 cp --recursive dags/ "s3://$BUCKET/$DAGS_PREFIX/"

# 3. The pool every HubSpot task shares (created on first use otherwise; see docs/deploy.md).
#    Run once the environment is AVAILABLE again after the update.
aws mwaa invoke-rest-api --name "$ENVIRONMENT" --method POST --path /pools \
  --body '{"name": "hubspot_api", "slots": 4, "description": "HubSpot API", "include_deferred": false}' ||
  echo "create the pool in the Airflow UI (Admin > Pools): hubspot_api, 4 slots"
echo "deployed; now create the connections (docs/deploy.md) and trigger hubspot_healthcheck"
