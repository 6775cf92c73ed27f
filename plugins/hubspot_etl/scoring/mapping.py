"""The stage mapping file: rows for ``hs_stage_mapping``.

``scoring.stage_mapping_file`` names it. A path is read as is; a bare name is looked up
beside the sync config file (the config module resolves that to a path), then among the
package's resources, where the default ``stage_mapping.yaml`` ships.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from hubspot_etl.resources import DEFAULT_STAGE_MAPPING, resource


@dataclass(frozen=True)
class MappingRow:
    stage_type: str  # 'lifecycle' | 'deal'
    pipeline_id: str  # '' for lifecycle stages
    stage_id: str
    combined_stage: str
    score: Decimal


@dataclass(frozen=True)
class StageMapping:
    rows: tuple[MappingRow, ...]
    version: str  # config version: file version + content hash


class MappingFileError(ValueError):
    """The stage mapping file is invalid; the message names the file and the key."""


def _entry(source: str, key: str, value: Any) -> tuple[str, Decimal]:
    if not isinstance(value, dict) or "score" not in value or "combined_stage" not in value:
        raise MappingFileError(f"{source}: {key}: needs combined_stage and score")
    try:
        score = Decimal(str(value["score"]))
    except Exception as exc:
        raise MappingFileError(f"{source}: {key}.score: not a number: {value['score']!r}") from exc
    return str(value["combined_stage"]), score


def parse_mapping(document: dict[str, Any], source: str = "<mapping>", settings: Any = None) -> StageMapping:
    if not isinstance(document, dict):
        raise MappingFileError(f"{source}: the top level must be a mapping")
    rows: list[MappingRow] = []
    for stage_id, value in (document.get("lifecycle_stages") or {}).items():
        combined, score = _entry(source, f"lifecycle_stages.{stage_id}", value)
        rows.append(MappingRow("lifecycle", "", str(stage_id), combined, score))
    for pipeline_id, stages in (document.get("deal_stages") or {}).items():
        if not isinstance(stages, dict):
            raise MappingFileError(f"{source}: deal_stages.{pipeline_id}: must map stage ids to entries")
        for stage_id, value in stages.items():
            combined, score = _entry(source, f"deal_stages.{pipeline_id}.{stage_id}", value)
            rows.append(MappingRow("deal", str(pipeline_id), str(stage_id), combined, score))
    canonical = json.dumps(
        {
            "file": document,
            # the file is hashed by content: where it lives does not change the version
            "settings": settings.model_dump(exclude={"stage_mapping_file"}) if settings is not None else None,
        },
        sort_keys=True,
        default=str,
    )
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:12]
    return StageMapping(tuple(rows), f"v{document.get('version', 1)}-{digest}")


def load_mapping(file_name: str = DEFAULT_STAGE_MAPPING, settings: Any = None) -> StageMapping:
    """Read the mapping file: a path (absolute, or resolved beside the config), else a packaged one."""
    path = Path(file_name)
    if path.is_absolute():
        if not path.is_file():
            raise MappingFileError(f"scoring.stage_mapping_file: {path} does not exist")
        source, text = str(path), path.read_text(encoding="utf-8")
    else:
        try:
            text = resource(file_name).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise MappingFileError(
                f"scoring.stage_mapping_file: {file_name!r} is neither beside the sync config nor a "
                f"packaged mapping (the packaged one is {DEFAULT_STAGE_MAPPING!r})"
            ) from None
        source = f"{DEFAULT_STAGE_MAPPING} (packaged)" if file_name == DEFAULT_STAGE_MAPPING else file_name
    try:
        document = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise MappingFileError(f"{source}: not valid YAML: {exc}") from exc
    return parse_mapping(document, source, settings)
