#!/usr/bin/env bash
# Deploy the HubSpot package to a Cloud Composer 3 environment (docs/deploy.md, "Cloud Composer 3").
# Set these four, then run: bash deploy.sh
set -euo pipefail
: "${ENVIRONMENT:?name of the Composer environment}"
: "${LOCATION:?its region, e.g. europe-west1}"
: "${PROJECT:?the Google Cloud project}"
: "${REPOSITORY:=airflow-packages}"   # an Artifact Registry Python repository (created if missing)
cd "$(dirname "$0")"

# 1. Publish the wheel to Artifact Registry (Composer installs PyPI packages from there).
gcloud artifacts repositories describe "$REPOSITORY" --location "$LOCATION" --project "$PROJECT" >/dev/null 2>&1 ||
  gcloud artifacts repositories create "$REPOSITORY" --repository-format python --location "$LOCATION" --project "$PROJECT"
python3 -m pip install --quiet twine keyrings.google-artifactregistry-auth
python3 -m twine upload --repository-url "https://$LOCATION-python.pkg.dev/$PROJECT/$REPOSITORY/" @WHEEL@

# 2. Let the environment's pip read that repository, then install the package.
BUCKET=$(gcloud composer environments describe "$ENVIRONMENT" --location "$LOCATION" --project "$PROJECT" \
  --format 'value(config.dagGcsPrefix)' | sed 's#/dags$##')
printf '[global]\nextra-index-url = https://%s-python.pkg.dev/%s/%s/simple/\n' "$LOCATION" "$PROJECT" "$REPOSITORY" > pip.conf
gcloud storage cp pip.conf "$BUCKET/config/pip/pip.conf"
gcloud composer environments update "$ENVIRONMENT" --location "$LOCATION" --project "$PROJECT" \
  --update-pypi-packages-from-file requirements.txt

# 3. Upload the DAGs folder (DAG files and hubspot_sync.yaml; the code came with the package).
gcloud composer environments storage dags import --environment "$ENVIRONMENT" --location "$LOCATION" \
  --project "$PROJECT" --source dags/

# 4. The pool every HubSpot task shares (created on first use otherwise; see docs/deploy.md).
gcloud composer environments run "$ENVIRONMENT" --location "$LOCATION" --project "$PROJECT" \
  pools -- set hubspot_api 4 "HubSpot API"
echo "deployed; now create the connections (docs/deploy.md) and trigger hubspot_healthcheck"
