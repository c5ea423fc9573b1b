"""node_exporter's textfile collector: the ``*.prom`` files that cron jobs and scripts write.

As node_exporter 1.5 does: the files are read in name order and parsed with the text format;
a file that does not parse, or has a sample with a timestamp, is skipped whole and sets
``node_textfile_scrape_error`` 1, as does a directory that cannot be read. Families of the same
name are merged across files; a family without HELP gets ``Metric read from <files>``. Where
files disagree (another HELP or TYPE for a name, or a series that an earlier file already has)
the later metric is dropped, as node_exporter's registry drops it, without an error. Missing
labels within a file's family are filled with "", and each file read has its
``node_textfile_mtime_seconds{file}`` (whole seconds).

# HELP node_textfile_scrape_error 1 if there was an error opening or reading a file, 0 otherwise
# TYPE node_textfile_scrape_error gauge
# HELP node_textfile_mtime_seconds Unixtime mtime of textfiles successfully read.
# TYPE node_textfile_mtime_seconds gauge
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from exporter.collectors.node.base import NodeCollector, ProcFiles
from exporter.collectors.node.textformat import Family, Labels, TextFormatError, parse_text_format

log = logging.getLogger(__name__)

# prometheus_client's types; its exposition appends _total to counters, so a counter without
# that suffix can only be exposed untyped.
_CLIENT_TYPES = {"untyped": "unknown"}


@dataclass
class _Merged:
    """One family as exposed: the first file's help and type, then every metric that fits."""

    name: str
    type: str
    help: str
    seen: set[Labels] = field(default_factory=set)
    metric: Metric | None = None


def _fill(family: Family) -> Iterator[tuple[Labels, list[tuple[str, dict[str, str], float]]]]:
    """Each metric's key labels and samples, with the family's label names all present."""
    names = {
        k for sample in family.samples for k, _ in sample.labels if k not in ("le", "quantile")
    }
    for key, samples in family.metrics():
        missing = dict.fromkeys(names - {k for k, _ in key}, "")
        full = tuple(sorted((*key, *missing.items())))
        yield full, [(s.name, {**dict(s.labels), **missing}, s.value) for s in samples]


class TextfileCollector(NodeCollector):
    """The metrics of ``*.prom`` files in ``exporter.textfile_directory``."""

    name = "textfile"

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._problems: set[str] = set()
        self._logged: set[str] = set()

    def _problem(self, message: str) -> None:
        self._problems.add(message)
        # Logged once while it lasts, not on every scrape.
        if message not in self._logged:
            log.warning("%s", message)

    def _read(self) -> tuple[list[tuple[str, list[Family]]], dict[str, int], bool]:
        """The parsed files (path, families), their mtimes, and whether anything failed."""
        parsed: list[tuple[str, list[Family]]] = []
        mtimes: dict[str, int] = {}
        if self.directory is None:
            return parsed, mtimes, False
        try:
            names = sorted(entry.name for entry in os.scandir(self.directory))
        except OSError as exc:
            self._problem(f"textfile directory {self.directory}: {exc.strerror}")
            return parsed, mtimes, True
        errored = False
        for name in names:
            if not name.endswith(".prom"):
                continue
            path = self.directory / name
            try:
                with path.open("rb") as handle:
                    families = parse_text_format(handle.read().decode("utf-8", "replace"))
                    if any(s.timestamp is not None for f in families for s in f.samples):
                        raise TextFormatError("contains unsupported client-side timestamps")
                    mtime = os.fstat(handle.fileno()).st_mtime_ns // 1_000_000_000
            except (OSError, TextFormatError) as exc:
                self._problem(f"textfile {path} skipped: {exc}")
                errored = True
                continue
            parsed.append((str(path), families))
            mtimes[str(path)] = mtime
        return parsed, mtimes, errored

    def collect(self, proc: ProcFiles) -> Iterator[Metric]:
        self._problems = set()
        try:
            yield from self._collect()
        finally:
            self._logged = self._problems

    def _collect(self) -> Iterator[Metric]:
        parsed, mtimes, errored = self._read()
        files_of: dict[str, list[str]] = {}
        for path, families in parsed:
            for family in families:
                files_of.setdefault(family.name, []).append(path)
        merged: dict[str, _Merged] = {}
        for path, families in parsed:
            for family in families:
                doc = family.help
                if doc is None:
                    doc = f"Metric read from {', '.join(files_of[family.name])}"
                out = merged.get(family.name)
                if out is None:
                    out = merged[family.name] = _Merged(family.name, family.type, doc)
                if (out.type, out.help) != (family.type, doc):
                    self._problem(f"textfile {path}: {family.name} has another HELP or TYPE")
                    continue
                for key, samples in _fill(family):
                    if key in out.seen:
                        self._problem(f"textfile {path}: {family.name}{dict(key)} was read before")
                        continue
                    out.seen.add(key)
                    if out.metric is None:
                        out.metric = self._metric(out, family)
                    for sample_name, labels, value in samples:
                        out.metric.add_sample(sample_name, labels, value)
        for out in merged.values():
            if out.metric is not None:
                yield out.metric
        if mtimes:
            mtime = GaugeMetricFamily(
                "node_textfile_mtime_seconds",
                "Unixtime mtime of textfiles successfully read.",
                labels=["file"],
            )
            for path, seconds in sorted(mtimes.items()):
                mtime.add_metric([path], float(seconds))
            yield mtime
        yield GaugeMetricFamily(
            "node_textfile_scrape_error",
            "1 if there was an error opening or reading a file, 0 otherwise",
            value=1.0 if errored else 0.0,
        )

    @staticmethod
    def _metric(out: _Merged, family: Family) -> Metric:
        kind = _CLIENT_TYPES.get(out.type, out.type)
        if kind == "counter" and not out.name.endswith("_total"):
            kind = "unknown"
        # The exposition adds a counter's _total to the family's name; the samples keep theirs.
        name = out.name.removesuffix("_total") if kind == "counter" else out.name
        return Metric(name, out.help, kind)
