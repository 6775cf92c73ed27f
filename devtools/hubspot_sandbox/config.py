"""Runtime knobs of the sandbox server (:class:`SandboxConfig`).

The server reads the config object on every request, so changing an attribute (in Python
or through ``PATCH /_sandbox/config``) takes effect immediately. ``None`` or ``0`` disables
a limit.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .catalog import ALL_SCOPES


def _default_tokens() -> dict[str, list[str]]:
    return {"sandbox-token": list(ALL_SCOPES)}


@dataclass
class SandboxConfig:
    """Behaviour knobs. See docs/sandbox.md for the meaning of each field."""

    tokens: dict[str, list[str]] = field(default_factory=_default_tokens)
    rate_limit_max: int | None = 190
    rate_limit_interval_ms: int | None = 10_000
    daily_limit: int | None = 1_000_000
    search_per_second: int | None = 5
    latency_ms: int = 0
    fault_5xx_rate: float = 0.0
    fault_429_rate: float = 0.0
    drop_connection_rate: float = 0.0
    truncate_body_rate: float = 0.0
    search_index_lag_s: float = 0.0
    max_url_length: int | None = 16_000
    seed: int = 0
    association_page_size: int = 500
    list_max_limit: int = 100
    search_max_limit: int = 200
    search_max_results: int = 10_000
    batch_read_max_inputs: int = 100
    association_batch_max_inputs: int = 1000
    owners_max_limit: int = 500
    #: Exports API (see exports.py): rows per CSV file of a ZIP; a lone CSV over this many bytes
    #: is zipped; associated ids per row and type; polls / seconds until COMPLETE; exports built
    #: at once (the rest queue); starts per rolling 24 hours; lifetime of a download URL
    export_partition_rows: int = 1_000_000
    export_zip_bytes: int | None = 2_000_000
    export_association_cap: int | None = 1000
    export_polls_to_complete: int = 3
    export_seconds_to_complete: float = 0.0
    export_max_concurrent: int = 1
    export_daily_limit: int | None = 30
    export_url_ttl_s: float = 300.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def update(self, changes: dict[str, Any]) -> None:
        """Apply ``changes`` (field -> value). Raises ValueError on unknown fields or bad types."""
        known = {f.name: f for f in fields(self)}
        for key in changes:
            if key not in known:
                raise ValueError(f"unknown config field {key!r} (known: {', '.join(sorted(known))})")
        for key, value in changes.items():
            if key == "tokens":
                if not isinstance(value, dict) or not all(
                    v is None or isinstance(v, list) for v in value.values()
                ):
                    raise ValueError(
                        "tokens must be an object token -> list of scopes (or null for all scopes)"
                    )
            elif value is not None and not isinstance(value, int | float) or isinstance(value, bool):
                raise ValueError(f"{key} must be a number or null")
            setattr(self, key, value)
