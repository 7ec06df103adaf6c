"""The blank-page detection of tests/docs/check_site.py (make docs).

The browser check must fail on an empty or unstyled page: these tests feed
its screenshot check PNGs made here, in the formats Chromium writes (8-bit
RGB and RGBA, every PNG filter type), and one rendered page's worth of
variety.
"""
import os
import struct
import sys
import zlib

import pytest

from collection_path import REPO_ROOT

sys.path.insert(0, os.path.join(REPO_ROOT, "tests", "docs"))
import check_site  # noqa: E402


def write_png(path, pixels, channels=3, filter_type=0):
    """PIXELS: rows of (r, g, b) tuples. Filter types 0 and 1 (Sub) are written."""
    height, width = len(pixels), len(pixels[0])
    raw = bytearray()
    for row in pixels:
        line = bytearray()
        for pixel in row:
            line += bytes(pixel) + (b"\xff" if channels == 4 else b"")
        if filter_type == 1:
            line = bytearray((line[i] - (line[i - channels] if i >= channels else 0)) & 0xFF
                             for i in range(len(line)))
        raw += bytes([filter_type]) + line

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    colour = {3: 2, 4: 6}[channels]
    with open(path, "wb") as handle:
        handle.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(bytes(raw))) + chunk(b"IEND", b""))


def page_like(width=160, height=120):
    """A white page with coloured bars and grey text-like strokes."""
    rows = []
    for y in range(height):
        row = []
        for x in range(width):
            if y < 12:
                row.append((20, 20, 20))
            elif x < 30:
                row.append((40 + y % 60, 60, 70))
            elif (x // 3 + y // 4) % 5 == 0:
                row.append(((x * 7) % 256, (y * 5) % 256, (x + y) % 256))
            else:
                row.append((255, 255, 255))
        rows.append(row)
    return rows


@pytest.mark.parametrize("channels", [3, 4])
@pytest.mark.parametrize("filter_type", [0, 1])
def test_a_blank_screenshot_is_reported(tmp_path, channels, filter_type):
    path = tmp_path / "blank.png"
    write_png(str(path), [[(255, 255, 255)] * 160] * 120, channels, filter_type)
    problems = check_site.check_screenshot(str(path))
    assert any("colours" in p for p in problems)
    assert any("differ from the background" in p for p in problems)


@pytest.mark.parametrize("channels", [3, 4])
@pytest.mark.parametrize("filter_type", [0, 1])
def test_a_rendered_page_passes(tmp_path, channels, filter_type):
    path = tmp_path / "page.png"
    write_png(str(path), page_like(), channels, filter_type)
    assert check_site.check_screenshot(str(path)) == []


def test_the_pixels_are_decoded_exactly(tmp_path):
    path = tmp_path / "page.png"
    pixels = page_like(40, 30)
    write_png(str(path), pixels, 4, 1)
    width, height, rows = check_site.png_pixels(str(path))
    assert (width, height) == (40, 30)
    assert rows == [[bytes(p) for p in row] for row in pixels]
