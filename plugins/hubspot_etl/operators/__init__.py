"""Operators for the HubSpot sync DAGs."""

from hubspot_etl.operators.sync import (
    HubSpotAssociationsOperator,
    HubSpotExtractOperator,
    HubSpotFinalizeOperator,
    HubSpotHistoryOperator,
    HubSpotLoadOperator,
    HubSpotOwnersOperator,
    HubSpotPrepareOperator,
    HubSpotPublishOperator,
    HubSpotReconcileOperator,
)

__all__ = [
    "HubSpotAssociationsOperator",
    "HubSpotExtractOperator",
    "HubSpotFinalizeOperator",
    "HubSpotHistoryOperator",
    "HubSpotLoadOperator",
    "HubSpotOwnersOperator",
    "HubSpotPrepareOperator",
    "HubSpotPublishOperator",
    "HubSpotReconcileOperator",
]
