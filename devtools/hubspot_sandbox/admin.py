"""Sandbox-only admin API under ``/_sandbox/`` (no auth, never faulted or rate-limited).

Each route is a thin wrapper around a :class:`~hubspot_sandbox.portal.Portal` method or
a server control; see docs/sandbox.md for the full list with request/response examples.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ._util import PortalError
from .history import API, MERGE, Source

if TYPE_CHECKING:
    from .server import Request, Response, Route, SandboxServer

_SEG = r"([^/]+)"


def _body(req: Request) -> dict[str, Any]:
    body = req.json()
    if not isinstance(body, dict):
        raise PortalError(400, "VALIDATION_ERROR", "request body must be a JSON object")
    return body


def _source(body: dict[str, Any], default: Source) -> Source:
    """The write's history source from ``sourceType`` / ``sourceId`` / ``sourceLabel`` /
    ``updatedByUserId`` in the body (``default`` without ``sourceType``)."""
    try:
        return Source.from_body(body, default)
    except (TypeError, ValueError) as exc:
        raise PortalError(400, "VALIDATION_ERROR", str(exc)) from exc


def admin_routes(server: SandboxServer) -> list[Route]:
    """Build the admin route table bound to ``server``."""
    from .server import Route, _json

    def p() -> Any:
        return server.portal

    def ok(payload: Any, status: int = 200) -> Response:
        return _json(status, payload)

    def health(req: Request) -> Response:
        return ok(
            {"status": "ok", "portalId": p().portal_id, "objectTypes": [t.name for t in p().types.values()]}
        )

    def counters(req: Request) -> Response:
        return ok(server.counters())

    def reset_counters(req: Request) -> Response:
        server.reset_counters()
        return ok({"status": "ok"})

    def reset_limits(req: Request) -> Response:
        server.reset_rate_limits()
        return ok({"status": "ok"})

    def get_config(req: Request) -> Response:
        return ok(server.config.to_dict())

    def patch_config(req: Request) -> Response:
        server.config.update(_body(req))
        return ok(server.config.to_dict())

    def state_owners(req: Request) -> Response:
        return ok(p().owners_snapshot())

    def state(req: Request) -> Response:
        return ok(p().snapshot(req.args[0]))

    def create(req: Request) -> Response:
        body = _body(req)
        rec = p().create(
            req.args[0],
            body.get("properties") or {},
            record_id=body.get("id"),
            created_at=body.get("createdAt"),
            updated_at=body.get("updatedAt"),
            source=_source(body, API),
        )
        return ok(rec, 201)

    def get_one(req: Request) -> Response:
        snap_type = p().object_type(req.args[0])
        rec = snap_type.records.get(int(req.args[1])) if req.args[1].isdigit() else None
        if rec is None:
            raise PortalError(404, "OBJECT_NOT_FOUND", f"{snap_type.singular} {req.args[1]} not found")
        payload = snap_type.wire(rec, None)
        if rec.merged_into is not None:
            payload["mergedInto"] = str(rec.merged_into)
        return ok(payload)

    def update(req: Request) -> Response:
        body = _body(req)
        return ok(
            p().update(
                req.args[0],
                req.args[1],
                body.get("properties") or {},
                updated_at=body.get("updatedAt"),
                source=_source(body, API),
            )
        )

    def archive(req: Request) -> Response:
        return ok(p().archive(req.args[0], req.args[1]))

    def restore(req: Request) -> Response:
        return ok(p().restore(req.args[0], req.args[1]))

    def merge(req: Request) -> Response:
        body = _body(req)
        if "primaryObjectId" not in body or "objectIdToMerge" not in body:
            raise PortalError(400, "VALIDATION_ERROR", "primaryObjectId and objectIdToMerge are required")
        return ok(
            p().merge(
                req.args[0], body["primaryObjectId"], body["objectIdToMerge"], source=_source(body, MERGE)
            )
        )

    def history(req: Request) -> Response:
        return ok(p().history_snapshot(req.args[0]))

    def history_one(req: Request) -> Response:
        return ok(p().record_history(req.args[0], req.args[1]))

    def library(req: Request) -> Response:
        return ok(p().set_library_object(req.args[0], bool(_body(req).get("enabled", True))))

    def associate(req: Request) -> Response:
        body = _body(req)
        ft, fid, tt, tid = req.args
        return ok(
            p().associate(
                ft,
                fid,
                tt,
                tid,
                type_id=body.get("typeId"),
                category=body.get("category"),
                label=body.get("label"),
            )
        )

    def disassociate(req: Request) -> Response:
        ft, fid, tt, tid = req.args
        type_id = req.param("typeId")
        return ok(p().disassociate(ft, fid, tt, tid, type_id=int(type_id) if type_id else None))

    def add_property(req: Request) -> Response:
        return ok(p().add_property(req.args[0], _body(req)), 201)

    def add_owner(req: Request) -> Response:
        return ok(p().add_owner(_body(req)), 201)

    def define_label(req: Request) -> Response:
        body = _body(req)
        if not body.get("label"):
            raise PortalError(400, "VALIDATION_ERROR", "label is required")
        return ok(
            p().define_label(
                req.args[0],
                req.args[1],
                body["label"],
                body.get("inverseLabel"),
                body.get("category", "USER_DEFINED"),
            ),
            201,
        )

    def rename_label(req: Request) -> Response:
        body = _body(req)
        return ok(p().rename_label(req.args[0], req.args[1], int(req.args[2]), str(body.get("label"))))

    def add_pipeline(req: Request) -> Response:
        return ok(p().add_pipeline(req.args[0], _body(req)), 201)

    def change_pipeline(req: Request) -> Response:
        return ok(p().change_pipeline(req.args[0], req.args[1], _body(req)))

    def add_stage(req: Request) -> Response:
        return ok(p().add_stage(req.args[0], req.args[1], _body(req)), 201)

    def change_stage(req: Request) -> Response:
        return ok(p().change_pipeline(req.args[0], req.args[1], _body(req), stage_id=req.args[2]))

    r = re.compile
    return [
        Route("GET", r("/_sandbox/health"), "admin.health", health),
        Route("GET", r("/_sandbox/counters"), "admin.counters", counters),
        Route("POST", r("/_sandbox/counters/reset"), "admin.counters_reset", reset_counters),
        Route("POST", r("/_sandbox/ratelimit/reset"), "admin.ratelimit_reset", reset_limits),
        Route("GET", r("/_sandbox/config"), "admin.config", get_config),
        Route("PATCH", r("/_sandbox/config"), "admin.config", patch_config),
        Route("GET", r("/_sandbox/state/owners"), "admin.state_owners", state_owners),
        Route("GET", r(f"/_sandbox/state/{_SEG}"), "admin.state", state),
        Route("GET", r(f"/_sandbox/history/{_SEG}"), "admin.history", history),
        Route("GET", r(f"/_sandbox/history/{_SEG}/{_SEG}"), "admin.history_one", history_one),
        Route("PUT", r(f"/_sandbox/object-library/{_SEG}"), "admin.object_library", library),
        Route("POST", r(f"/_sandbox/objects/{_SEG}/merge"), "admin.merge", merge),
        Route("POST", r(f"/_sandbox/objects/{_SEG}/{_SEG}/restore"), "admin.restore", restore),
        Route("POST", r(f"/_sandbox/objects/{_SEG}"), "admin.create", create),
        Route("GET", r(f"/_sandbox/objects/{_SEG}/{_SEG}"), "admin.get", get_one),
        Route("PATCH", r(f"/_sandbox/objects/{_SEG}/{_SEG}"), "admin.update", update),
        Route("DELETE", r(f"/_sandbox/objects/{_SEG}/{_SEG}"), "admin.archive", archive),
        Route("PUT", r(f"/_sandbox/associations/{_SEG}/{_SEG}/{_SEG}/{_SEG}"), "admin.associate", associate),
        Route(
            "DELETE",
            r(f"/_sandbox/associations/{_SEG}/{_SEG}/{_SEG}/{_SEG}"),
            "admin.disassociate",
            disassociate,
        ),
        Route("POST", r(f"/_sandbox/properties/{_SEG}"), "admin.add_property", add_property),
        Route("POST", r("/_sandbox/owners"), "admin.add_owner", add_owner),
        Route("POST", r(f"/_sandbox/association-labels/{_SEG}/{_SEG}"), "admin.define_label", define_label),
        Route(
            "PATCH",
            r(f"/_sandbox/association-labels/{_SEG}/{_SEG}/{_SEG}"),
            "admin.rename_label",
            rename_label,
        ),
        Route("POST", r(f"/_sandbox/pipelines/{_SEG}"), "admin.add_pipeline", add_pipeline),
        Route("PATCH", r(f"/_sandbox/pipelines/{_SEG}/{_SEG}"), "admin.change_pipeline", change_pipeline),
        Route("POST", r(f"/_sandbox/pipelines/{_SEG}/{_SEG}/stages"), "admin.add_stage", add_stage),
        Route(
            "PATCH", r(f"/_sandbox/pipelines/{_SEG}/{_SEG}/stages/{_SEG}"), "admin.change_stage", change_stage
        ),
    ]
