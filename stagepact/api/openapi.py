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
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Meldpunt Stagediscriminatie: statistics API",
            "version": "1.0.0",
            "description": (
                "Counts of reports of internship discrimination, after disclosure control: "
                'counts from 1 to 4 are the string "<5", other hidden cells null. '
                "The same tables as the statistics page and its exports."
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
                        "suppression",
                        "notes",
                        "columns",
                        "rows",
                    ],
                    "additionalProperties": False,
                    "properties": {
                        "title": {"type": "string"},
                        "period": {
                            "type": "object",
                            "required": ["label", "start", "end"],
                            "additionalProperties": False,
                            "properties": {
                                "label": {"type": "string"},
                                "start": {"type": "string", "format": "date"},
                                "end": {
                                    "type": "string",
                                    "format": "date",
                                    "description": "The day after the period.",
                                },
                            },
                        },
                        "level": {"type": "string", "enum": list(statistics.LEVELS)},
                        "dimensions": {
                            "type": "array",
                            "items": {"type": "string", "enum": dimensions},
                            "minItems": 1,
                            "maxItems": 2,
                        },
                        "suppression": {"type": "string"},
                        "notes": {"type": "array", "items": {"type": "string"}},
                        "columns": {"type": "array", "items": {"type": "string"}},
                        "rows": {
                            "type": "array",
                            "description": "The first cell is the row's label; the last row is the total.",
                            "items": {"type": "array", "items": CELL},
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
                            "period", list(PERIOD_KINDS), "Kind of period (default year)."
                        ),
                        {
                            "name": "year",
                            "in": "query",
                            "required": False,
                            "description": "Year (for a school year: the year it starts).",
                            "schema": {"type": "integer", "minimum": 2000, "maximum": 2100},
                        },
                        {
                            "name": "month",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "integer", "minimum": 1, "maximum": 12},
                        },
                        {
                            "name": "quarter",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "integer", "minimum": 1, "maximum": 4},
                        },
                        {
                            "name": "date_from",
                            "in": "query",
                            "required": False,
                            "description": "With period=range: a day in the first month. "
                            "A range runs in whole months.",
                            "schema": {"type": "string", "format": "date"},
                        },
                        {
                            "name": "date_to",
                            "in": "query",
                            "required": False,
                            "description": "With period=range: a day in the last month (included).",
                            "schema": {"type": "string", "format": "date"},
                        },
                        _enum_parameter("level", list(statistics.LEVELS), "Default sector."),
                        _enum_parameter("dimension", dimensions, "Default phase."),
                        _enum_parameter(
                            "dimension2",
                            dimensions,
                            "A second dimension, at sector level only; leave it out for one.",
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
                        "400": {
                            "description": "Invalid parameters",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Error"}
                                }
                            },
                        },
                        "401": {
                            "description": "No valid token",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Error"}
                                }
                            },
                        },
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
