"""Line charts as PNG bytes in pure Python (zlib + struct), small enough to inline in a mail.

The image holds only the plot: grid, axes and lines. Titles, scale labels and the legend go in
the HTML around it, where mail clients render text crisply at any zoom.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

Color = tuple[int, int, int]

# colour-blind safe (Okabe-Ito), dark enough on white
PALETTE: tuple[Color, ...] = (
    (0, 114, 178),
    (213, 94, 0),
    (0, 158, 115),
    (204, 121, 167),
    (230, 159, 0),
    (86, 180, 233),
    (0, 0, 0),
)
BACKGROUND: Color = (255, 255, 255)
GRID: Color = (226, 229, 233)
AXIS: Color = (120, 126, 134)


def color_hex(color: Color) -> str:
    return "#{:02x}{:02x}{:02x}".format(*color)


def encode_png(width: int, height: int, rows: Sequence[bytes | bytearray]) -> bytes:
    """An 8-bit RGB PNG from ``height`` rows of ``3 * width`` bytes each."""
    if len(rows) != height or any(len(row) != 3 * width for row in rows):
        raise ValueError("every row must hold 3 * width bytes and there must be height rows")

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    # filter type 0 (None) before each scanline
    raw = b"".join(b"\x00" + bytes(row) for row in rows)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


class Canvas:
    """An RGB pixel buffer with the few drawing operations a line chart needs."""

    def __init__(self, width: int, height: int, background: Color = BACKGROUND) -> None:
        self.width = width
        self.height = height
        self.rows = [bytearray(bytes(background) * width) for _ in range(height)]

    def pixel(self, x: int, y: int, color: Color) -> None:
        if 0 <= x < self.width and 0 <= y < self.height:
            i = 3 * x
            self.rows[y][i : i + 3] = bytes(color)

    def get(self, x: int, y: int) -> Color:
        i = 3 * x
        r, g, b = self.rows[y][i : i + 3]
        return (r, g, b)

    def hline(self, x0: int, x1: int, y: int, color: Color) -> None:
        for x in range(min(x0, x1), max(x0, x1) + 1):
            self.pixel(x, y, color)

    def vline(self, x: int, y0: int, y1: int, color: Color) -> None:
        for y in range(min(y0, y1), max(y0, y1) + 1):
            self.pixel(x, y, color)

    def dot(self, x: int, y: int, color: Color, radius: int = 1) -> None:
        for dy in range(-radius, radius + 1):
            for dx in range(-radius, radius + 1):
                self.pixel(x + dx, y + dy, color)

    def line(self, x0: int, y0: int, x1: int, y1: int, color: Color, width: int = 2) -> None:
        """Bresenham's line, each point a ``width`` x ``width`` square."""
        lo, hi = -((width - 1) // 2), width // 2
        dx, dy = abs(x1 - x0), -abs(y1 - y0)
        sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
        err = dx + dy
        while True:
            for oy in range(lo, hi + 1):
                for ox in range(lo, hi + 1):
                    self.pixel(x0 + ox, y0 + oy, color)
            if x0 == x1 and y0 == y1:
                return
            e2 = 2 * err
            if e2 >= dy:
                err += dy
                x0 += sx
            if e2 <= dx:
                err += dx
                y0 += sy

    def png(self) -> bytes:
        return encode_png(self.width, self.height, self.rows)


@dataclass(frozen=True)
class Line:
    """One series: ``(unix time, value)`` points; NaN values leave a gap."""

    label: str
    points: Sequence[tuple[float, float]]
    color: Color = PALETTE[0]


@dataclass(frozen=True)
class Chart:
    """A time-series chart over ``[start, end]`` with a fixed value range ``[low, high]``."""

    start: float
    end: float
    lines: Sequence[Line]
    low: float = 0.0
    high: float = 1.0
    grid_steps: int = 4
    hours_per_tick: int = 6
    width: int = 560
    height: int = 160
    margin: int = 4

    def _x(self, t: float) -> int:
        span = max(self.end - self.start, 1e-9)
        inner = self.width - 2 * self.margin - 1
        return self.margin + round((t - self.start) / span * inner)

    def _y(self, value: float) -> int:
        span = max(self.high - self.low, 1e-9)
        inner = self.height - 2 * self.margin - 1
        clamped = min(max(value, self.low), self.high)
        return self.height - 1 - self.margin - round((clamped - self.low) / span * inner)

    def render(self) -> bytes:
        canvas = Canvas(self.width, self.height)
        left, right = self.margin, self.width - 1 - self.margin
        top, bottom = self.margin, self.height - 1 - self.margin
        for step in range(self.grid_steps + 1):
            y = self._y(self.low + (self.high - self.low) * step / self.grid_steps)
            canvas.hline(left, right, y, GRID)
        tick = self.hours_per_tick * 3600.0
        if tick > 0:
            # vertical grid lines counted back from the end, so "now" is always a line
            t = self.end
            while t >= self.start:
                canvas.vline(self._x(t), top, bottom, GRID)
                t -= tick
        canvas.hline(left, right, bottom, AXIS)
        canvas.vline(left, top, bottom, AXIS)
        for line in self.lines:
            previous: tuple[int, int] | None = None
            for t, value in line.points:
                if not (self.start <= t <= self.end) or math.isnan(value):
                    previous = None
                    continue
                point = (self._x(t), self._y(value))
                if previous is None:
                    canvas.dot(*point, line.color, radius=2)
                else:
                    canvas.line(*previous, *point, line.color)
                previous = point
        return canvas.png()


def decode_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and RGB rows of a PNG written by ``encode_png`` (filter 0 only)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        if zlib.crc32(kind + body) != crc:
            raise ValueError(f"bad CRC in {kind!r} chunk")
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = 3 * width + 1
    rows = [raw[i * stride + 1 : (i + 1) * stride] for i in range(height)]
    return width, height, rows
