"""An institution's own colour on its meldpunt pages, only where white text stays readable."""

from __future__ import annotations

import re

DEFAULT = "#154273"
HEX = re.compile(r"^#[0-9a-fA-F]{6}\Z")
MIN_CONTRAST_WITH_WHITE = 4.5  # WCAG 2.2 AA for normal text


def _luminance(colour: str) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast_with_white(colour: str) -> float:
    return 1.05 / (_luminance(colour) + 0.05)


def readable(colour: str | None) -> bool:
    return (
        bool(colour and HEX.match(colour))
        and contrast_with_white(colour) >= MIN_CONTRAST_WITH_WHITE
    )


def header_colour(colour: str | None) -> str:
    """The colour to use behind the white header text: the institution's, or the default."""
    return colour.lower() if readable(colour) else DEFAULT
