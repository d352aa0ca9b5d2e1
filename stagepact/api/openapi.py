"""The OpenAPI 3.1 document of /api/v1, written out by hand and checked by the tests."""

from __future__ import annotations

from .. import statistics
from ..stats.forms import PERIOD_KINDS

CELL = {"type": ["integer", "number", "string", "null"]}


def _enum_parameter(name: str, values: list[str], description: str) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": "string", "enum": values},
    }


def _labelled(codes: list[str] | None = None) -> dict:
    code = {"type": "string"}
    if codes:
        code = {"type": "string", "enum": codes}
    return {
        "type": "object",
        "required": ["code", "label"],
        "additionalProperties": False,
        "properties": {"code": code, "label": {"type": "string"}},
    }


def methods_of(path: str) -> list[str]:
    """The HTTP methods the document lists for `path` ("/statistics"), upper case."""
    return sorted(method.upper() for method in document()["paths"].get(path, {}))


def document() -> dict:
    dimensions = list(statistics.DIMENSIONS)
    error = {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {"type": "string"},
            "fields": {
                "type": "object",
                "additionalProperties": {"type": "array", "items": {"type": "string"}},
            },
        },
    }
    json_error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Meldpunt Stagediscriminatie: statistics API",
            "version": "2.0.0",
            "description": (
                "Counts of reports of internship discrimination, protected by the cell-key "
                "method: every count is perturbed by at most `method.max_noise`, the same "
                "way for the same reports in every table; a perturbed count from 1 to "
                '`method.threshold` - 1 is the string "<5"; shares (whole percent) and '
                "medians (whole days) are null for fewer than `method.measure_min` reports. "
                "A total is a perturbed count of its own, not the sum of the cells. Only "
                "closed quarters, school years and calendar years are served, and trends "
                "over them. The same tables as the statistics page and its exports. "
                "Each path answers only the methods listed for it: any other method, HEAD "
                "and OPTIONS included, is answered 405 with an `Allow` header."
            ),
        },
        "servers": [{"url": "/api/v1"}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": error,
                "Table": {
                    "type": "object",
                    "required": [
                        "title",
                        "period",
                        "level",
                        "dimensions",
                        "method",
                        "computed_at",
                        "notes",
                        "rows_are",
                        "columns",
                        "rows",
                    ],
                    "additionalProperties": False,
                    "properties": {
                        "title": {"type": "string"},
                        "period": {
                            "type": "object",
                            "required": ["kind", "code", "label"],
                            "additionalProperties": False,
                            "properties": {
                                "kind": {"type": "string", "enum": list(PERIOD_KINDS)},
                                "granularity": {
                                    "type": "string",
                                    "enum": list(statistics.PERIOD_KINDS),
                                    "description": "Of a trend: the kind of its periods.",
                                },
                                "code": {
                                    "type": "string",
                                    "description": "Stable: 2025-q1, 2024-2025, 2025, "
                                    "or trend-quarter.",
                                },
                                "label": {"type": "string"},
                                "start": {"type": "string", "format": "date"},
                                "end": {
                                    "type": "string",
                                    "format": "date",
                                    "description": "The day after the period.",
                                },
                            },
                        },
                        "level": _labelled(list(statistics.LEVELS)),
                        "dimensions": {
                            "type": "array",
                            "items": _labelled(dimensions),
                            "minItems": 1,
                            "maxItems": 2,
                        },
                        "method": {
                            "type": "object",
                            "required": [
                                "name",
                                "threshold",
                                "max_noise",
                                "measure_min",
                                "description",
                            ],
                            "additionalProperties": False,
                            "properties": {
                                "name": {"type": "string", "enum": ["cell-key"]},
                                "threshold": {"type": "integer"},
                                "max_noise": {"type": "integer"},
                                "measure_min": {"type": "integer"},
                                "description": {"type": "string"},
                            },
                        },
                        "computed_at": {
                            "type": ["string", "null"],
                            "format": "date-time",
                            "description": "When the figures were computed (UTC).",
                        },
                        "notes": {"type": "array", "items": {"type": "string"}},
                        "rows_are": _labelled(["period", "region", "institution", *dimensions]),
                        "columns": {
                            "type": "array",
                            "description": "One-way tables: count, median_ack_days, "
                            "median_close_days, ack_on_time, feedback_on_time (percent). "
                            "Two-way tables and trends with a dimension: its codes, then total.",
                            "items": _labelled(),
                        },
                        "rows": {
                            "type": "array",
                            "description": "The last row of a table is the total (code "
                            "total); a trend has one row per period and no total.",
                            "items": {
                                "type": "object",
                                "required": ["code", "label", "values"],
                                "additionalProperties": False,
                                "properties": {
                                    "code": {"type": "string"},
                                    "label": {"type": "string"},
                                    "values": {"type": "array", "items": CELL},
                                },
                            },
                        },
                    },
                },
            },
        },
        "security": [{"bearer": []}],
        "paths": {
            "/statistics": {
                "get": {
                    "operationId": "getStatistics",
                    "summary": "One table of report counts",
                    "parameters": [
                        _enum_parameter(
                            "period",
                            list(PERIOD_KINDS),
                            "quarter (default), school_year, year, or trend.",
                        ),
                        {
                            "name": "year",
                            "in": "query",
                            "required": False,
                            "description": "Year (for a school year: the year it starts). "
                            "The period must have ended when the figures were computed.",
                            "schema": {"type": "integer", "minimum": 2000, "maximum": 2100},
                        },
                        {
                            "name": "quarter",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "integer", "minimum": 1, "maximum": 4},
                        },
                        _enum_parameter(
                            "granularity",
                            list(statistics.PERIOD_KINDS),
                            "With period=trend: one row per quarter (default), school year "
                            "or calendar year.",
                        ),
                        _enum_parameter(
                            "level",
                            list(statistics.LEVELS),
                            "Default sector; institution only per school year.",
                        ),
                        _enum_parameter("dimension", dimensions, "Default phase."),
                        _enum_parameter(
                            "dimension2",
                            dimensions,
                            "A second dimension, at sector level only; leave it out for one.",
                        ),
                        _enum_parameter(
                            "lang", ["nl", "en"], "The labels' language (default: yours)."
                        ),
                    ],
                    "responses": {
                        "200": {
                            "description": "The table",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Table"}
                                }
                            },
                        },
                        "400": {"description": "Invalid parameters", "content": json_error},
                        "401": {"description": "No valid token", "content": json_error},
                        "429": {"description": "Too many requests", "content": json_error},
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "operationId": "getOpenApi",
                    "summary": "This document",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "The OpenAPI document",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
        },
    }
