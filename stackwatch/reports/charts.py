"""Time-series charts for the daily report as PNG, drawn with matplotlib's Agg canvas.

Each chart shows a filled area per series, a y axis in the series' unit, the local time of day
on the x axis, the alert threshold as a dashed line, min/avg/max in its legend and, when
Prometheus holds less than the whole window, a shade saying since when it has data. Images are
drawn at twice their size in the HTML, so they stay sharp on high-density screens.

matplotlib is imported inside ``render`` only: the exporter, the alerter and the command line
never load it, and the report pays for it once, when it draws its first chart.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

# colour-blind safe (Okabe-Ito), dark enough on white
PALETTE: tuple[str, ...] = (
    "#0072b2",
    "#d55e00",
    "#009e73",
    "#cc79a7",
    "#e69f00",
    "#56b4e9",
    "#000000",
)
THRESHOLD_COLOR = "#c1121f"
SHADE_COLOR = "#e5e7eb"
TEXT_COLOR = "#374151"
GRID_COLOR = "#e5e7eb"
SCALE = 2  # image pixels per HTML pixel
MAX_BYTES = 60_000  # the most one inlined chart may weigh
PALETTE_SIZES = (128, 64, 32, 16)  # colours tried in turn, until the image weighs MAX_BYTES
LEGEND_ROW = 14  # HTML pixels per legend line

Formatter = Callable[[float], str]


def percent_tick(value: float) -> str:
    return f"{value * 100:.0f} %"


@dataclass(frozen=True)
class Series:
    """One series: ``(unix time, value)`` points; NaN values leave a gap."""

    label: str
    points: Sequence[tuple[float, float]]
    color: str = PALETTE[0]

    @property
    def values(self) -> list[float]:
        return [v for _, v in self.points if not math.isnan(v)]

    def stats(self) -> tuple[float, float, float] | None:
        """Min, average and max over the points; None when there are none."""
        values = self.values
        if not values:
            return None
        return min(values), sum(values) / len(values), max(values)


@dataclass(frozen=True)
class Chart:
    """A time-series chart over ``[start, end]`` (unix seconds).

    ``fmt`` prints a value in the chart's unit (legend, text); ``tick`` the y axis's labels.
    ``low``/``high`` fix the value range (None: from the data). ``data_since``: the first
    moment Prometheus has data for, when after ``start``; the time before it is shaded.
    ``width`` and ``height`` are the size in the HTML; the image has ``SCALE`` times the pixels.
    """

    start: float
    end: float
    series: Sequence[Series]
    fmt: Formatter
    tick: Formatter | None = None
    low: float | None = 0.0
    high: float | None = None
    threshold: float | None = None
    threshold_label: str = ""
    data_since: float | None = None
    tz: tzinfo | None = None
    width: int = 600
    height: int = 170  # the plot and its axes; the legend's rows are added below
    hours_per_tick: int = 3
    binary: bool = False  # y ticks at round multiples of KiB, MiB, GiB

    def legend_lines(self) -> list[str]:
        """``label: min … · avg … · max …`` per series, as the legend and the HTML say it."""
        out = []
        for line in self.series:
            stats = line.stats()
            if stats is None:
                out.append(f"{line.label}: no data")
            else:
                low, avg, high = (self.fmt(v) for v in stats)
                out.append(f"{line.label}: min {low} · avg {avg} · max {high}")
        return out

    def no_data_before(self) -> str | None:
        """``HH:MM`` (local time) before which there is no data, when that is inside the chart."""
        if self.data_since is None or self.data_since <= self.start:
            return None
        return datetime.fromtimestamp(self.data_since, tz=self._tz()).strftime("%H:%M")

    def _tz(self) -> tzinfo:
        return self.tz or local_zone()

    @property
    def legend_height(self) -> int:
        return LEGEND_ROW * max(1, len(self.series)) + 6

    @property
    def image_height(self) -> int:
        """The height in the HTML: the plot and the legend under it."""
        return self.height + self.legend_height

    def pixel_size(self) -> tuple[int, int]:
        return self.width * SCALE, self.image_height * SCALE


def local_zone() -> tzinfo:
    """The machine's time zone (``TZ``, else ``/etc/localtime``): the report's time of day."""
    return datetime.now().astimezone().tzinfo or UTC


def _runs(points: Sequence[tuple[float, float]]) -> list[tuple[list[float], list[float]]]:
    """The points split at NaN values: each run is drawn on its own, leaving the gaps empty."""
    runs: list[tuple[list[float], list[float]]] = []
    xs: list[float] = []
    ys: list[float] = []
    for t, v in points:
        if math.isnan(v):
            if xs:
                runs.append((xs, ys))
            xs, ys = [], []
            continue
        xs.append(t / 86400.0)  # matplotlib's dates: days since the Unix epoch
        ys.append(v)
    if xs:
        runs.append((xs, ys))
    return runs


def binary_step(span: float) -> float:
    """A y tick step for bytes: 1, 2, 2.5 or 5 times a power of ten of KiB, MiB or GiB, so that
    about four steps cover ``span``."""
    unit = 1.0
    while span / unit >= 1024 and unit < 1024**4:
        unit *= 1024
    rough = max(span / unit / 4, 1e-9)
    power = 10.0 ** math.floor(math.log10(rough))
    for factor in (1, 2, 2.5, 5, 10):
        if factor * power >= rough:
            return factor * power * unit
    return 10 * power * unit


def _value_range(chart: Chart) -> tuple[float, float]:
    values = [v for s in chart.series for v in s.values]
    if chart.threshold is not None:
        values.append(chart.threshold)
    low = chart.low if chart.low is not None else min(values, default=0.0)
    if chart.high is not None:
        return low, chart.high
    top = max(values, default=1.0)
    if top <= low:
        top = low + 1.0
    return low, low + (top - low) * 1.15


def render(chart: Chart) -> bytes:
    """The chart as PNG bytes of ``chart.pixel_size()``."""
    # matplotlib is imported here, not at the top: only drawing a chart pays for it
    from matplotlib import dates as mdates
    from matplotlib import ticker
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from PIL import Image

    legend = chart.legend_lines()
    legend_px = chart.legend_height
    height = chart.image_height
    dpi = 100 * SCALE
    fig = Figure(figsize=(chart.width / 100, height / 100), dpi=dpi, facecolor="white")
    # margins in HTML pixels: y labels on the left, the legend's rows under the time axis
    bottom = (legend_px + 34) / height
    fig.subplots_adjust(
        left=58 / chart.width, right=1 - 20 / chart.width, top=1 - 8 / height, bottom=bottom
    )
    ax = fig.add_subplot()
    ax.set_facecolor("white")
    for spine in ("top", "right"):
        ax.spines[spine].set_visible(False)
    for spine in ("left", "bottom"):
        ax.spines[spine].set_color("#9ca3af")
    ax.tick_params(colors=TEXT_COLOR, labelsize=7.5, length=3)
    ax.grid(True, color=GRID_COLOR, linewidth=0.6)
    ax.set_axisbelow(True)

    start, end = chart.start / 86400.0, chart.end / 86400.0
    low, high = _value_range(chart)
    ax.set_xlim(start, end)
    ax.set_ylim(low, high)
    tz = chart._tz()
    every = range(0, 24, chart.hours_per_tick)
    ax.xaxis.set_major_locator(mdates.HourLocator(byhour=every, tz=tz))  # type: ignore[no-untyped-call]
    hours = mdates.DateFormatter("%H:%M", tz=tz)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_formatter(hours)
    tick = chart.tick or chart.fmt
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _pos: tick(v)))
    if chart.binary:
        ax.yaxis.set_major_locator(ticker.MultipleLocator(binary_step(high - low)))
    else:
        ax.yaxis.set_major_locator(ticker.MaxNLocator(nbins=4, min_n_ticks=3))
    zone = datetime.fromtimestamp(chart.end, tz=tz).strftime("%Z") or "local"
    ax.set_xlabel(f"time of day ({zone})", fontsize=7, color="#6b7280", labelpad=2)

    before = chart.no_data_before()
    if before is not None and chart.data_since is not None:
        since = min(chart.data_since, chart.end) / 86400.0
        ax.axvspan(start, since, color=SHADE_COLOR, linewidth=0, zorder=0.5)
        inside = (since - start) / (end - start) > 0.3
        ax.text(
            (start + since) / 2 if inside else since,
            low + (high - low) * 0.5,
            f"no data before {before}",
            ha="center" if inside else "left",
            va="center",
            fontsize=8,
            color="#4b5563",
            zorder=3,
        )

    handles = []
    alpha = 0.2 if len(chart.series) == 1 else 0.08  # overlapping areas stay readable
    for line, label in zip(chart.series, legend, strict=True):
        runs = _runs(line.points)
        drawn = None
        for xs, ys in runs:
            if len(xs) == 1:
                drawn = ax.plot(xs, ys, "o", markersize=3, color=line.color, zorder=2)[0]
                continue
            ax.fill_between(xs, ys, low, color=line.color, alpha=alpha, linewidth=0, zorder=1)
            drawn = ax.plot(xs, ys, color=line.color, linewidth=1.3, zorder=2)[0]
        if drawn is None:
            drawn = ax.plot([], [], color=line.color, linewidth=1.3)[0]
        drawn.set_label(label)
        handles.append(drawn)

    if chart.threshold is not None:
        ax.axhline(
            chart.threshold, color=THRESHOLD_COLOR, linewidth=1.1, linestyle=(0, (5, 3)), zorder=2.5
        )
        ax.text(
            1.0,
            chart.threshold,
            chart.threshold_label or f"alert above {tick(chart.threshold)}",
            transform=ax.get_yaxis_transform(),
            ha="right",
            va="bottom",
            fontsize=7.5,
            color=THRESHOLD_COLOR,
            zorder=3,
        )
    if handles:
        fig.legend(
            handles=handles,
            loc="lower left",
            bbox_to_anchor=(48 / chart.width, 0),
            frameon=False,
            fontsize=7.5,
            labelcolor=TEXT_COLOR,
            handlelength=1.2,
            borderaxespad=0.2,
            labelspacing=0.35,
        )
    canvas = FigureCanvasAgg(fig)
    canvas.draw()  # type: ignore[no-untyped-call]
    rgba = canvas.buffer_rgba()  # type: ignore[no-untyped-call]
    image = Image.frombuffer("RGBA", canvas.get_width_height(), rgba).convert("RGB")
    # A palette keeps the antialiased edges at a third of the size; noisy data (many edges)
    # gets fewer colours until the image fits in a mail.
    out = b""
    for colors in PALETTE_SIZES:
        small = image.quantize(
            colors=colors, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE
        )
        buffer = io.BytesIO()
        small.save(buffer, format="PNG", compress_level=9)
        out = buffer.getvalue()
        if len(out) <= MAX_BYTES:
            break
    return out
