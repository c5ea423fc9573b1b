"""The textfile collector: node_exporter 1.5's semantics, compared with Debian's node_exporter."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from exporter.collectors.host import HostCollector
from exporter.collectors.node.base import ProcFiles
from exporter.collectors.node.textfile import TextfileCollector
from exporter.collectors.node.textformat import TextFormatError, parse_text_format
from exporter.exposition import TextRenderer
from exporter.registry import build_registry
from stackwatch.config import Config
from tests.support.node_exporter import Family, families, node_exporter

FIXTURES = Path(__file__).parent / "fixtures" / "textfile"
SCRIPTS = Path("/usr/share/prometheus-node-exporter-collectors")
# node_exporter's own families, which are not the textfile collector's.
OWN = ("go_", "process_", "promhttp_", "node_exporter_build_info", "node_scrape_collector_")


def ours(directory: Path | None) -> dict[str, Family]:
    collector = TextfileCollector(directory)
    text = TextRenderer().render(collector.collect(ProcFiles(Path("/proc"))))
    return families(text.decode())


def theirs(directory: Path) -> dict[str, Family]:
    args = ("--collector.disable-defaults", "--collector.textfile")
    with node_exporter(*args, f"--collector.textfile.directory={directory}") as exporter:
        found = exporter.families()
    return {name: family for name, family in found.items() if not name.startswith(OWN)}


def differences(mine: dict[str, Family], reference: dict[str, Family]) -> list[str]:
    out = [f"missing {name}" for name in sorted(reference.keys() - mine.keys())]
    out += [f"extra {name}" for name in sorted(mine.keys() - reference.keys())]
    for name in sorted(mine.keys() & reference.keys()):
        a, b = mine[name], reference[name]
        for what in ("type", "help", "samples"):
            if getattr(a, what) != getattr(b, what):
                out.append(f"{name} {what}: {getattr(a, what)!r} != {getattr(b, what)!r}")
    return out


def equal_with_nan(mine: dict[str, Family], reference: dict[str, Family]) -> list[str]:
    # NaN != NaN: compare those samples by their text
    for found in (mine, reference):
        for family in found.values():
            family.samples = {k: (repr(v) if v != v else v) for k, v in family.samples.items()}
    return differences(mine, reference)


def test_files_merge_and_disagreements_drop_as_node_exporter_does(tmp_path: Path) -> None:
    directory = tmp_path / "textfile"
    shutil.copytree(FIXTURES, directory)
    mine, reference = ours(directory), theirs(directory)
    assert equal_with_nan(mine, reference) == []
    # what a user sees: merged files, the first file's help wins, broken files skipped
    jobs = mine["backup_jobs_total"]
    assert jobs.help == "Backup jobs run."
    assert jobs.samples == {
        (("host", ""), ("job", "db")): 3.0,
        (("host", "a"), ("job", "files")): 4.0,
    }
    assert mine["backup_size_bytes"].samples == {
        (("job", "db"),): 123456.0,
        (("job", "files"),): 42.0,
    }
    assert mine["backup_size_bytes"].help.startswith("Metric read from ")
    assert mine["node_textfile_scrape_error"].samples == {(): 1.0}
    read = {dict(k)["file"] for k in mine["node_textfile_mtime_seconds"].samples}
    assert read == {str(directory / n) for n in ("later_conflicts.prom", "jobs.prom", "more.prom")}
    assert "stamped_metric" not in mine
    assert "twice" not in mine


def test_disagreeing_files_alone_are_no_error(tmp_path: Path) -> None:
    for name in ("jobs.prom", "later_conflicts.prom"):
        shutil.copy(FIXTURES / name, tmp_path / name)
    mine, reference = ours(tmp_path), theirs(tmp_path)
    assert equal_with_nan(mine, reference) == []
    assert mine["node_textfile_scrape_error"].samples == {(): 0.0}


def run_script(script: str, out: Path, *args: str) -> None:
    path = SCRIPTS / script
    if not path.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(
                f"{path} is missing: apt-get install -y prometheus-node-exporter-collectors"
            )
        pytest.skip(f"{path} is missing (prometheus-node-exporter-collectors)")
    result = subprocess.run(
        [str(path), *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    out.write_text(result.stdout)


def test_debian_collector_scripts_read_as_node_exporter_reads_them(tmp_path: Path) -> None:
    directory = tmp_path / "textfile"
    directory.mkdir()
    sizes = [str(FIXTURES), str(Path(__file__).parent / "support")]
    run_script("directory-size.sh", directory / "directory_size.prom", *sizes)
    run_script("fstab-check.sh", directory / "fstab.prom")
    run_script("inotify-instances", directory / "inotify.prom")
    # a broken file beside them: skipped, the others still read
    (directory / "half_written.prom").write_text('node_directory_size_bytes{directory="/x"')
    mine, reference = ours(directory), theirs(directory)
    assert differences(mine, reference) == []
    assert {dict(k)["directory"] for k in mine["node_directory_size_bytes"].samples} == set(sizes)
    assert mine["node_textfile_scrape_error"].samples == {(): 1.0}


def test_no_directory_and_a_missing_one(tmp_path: Path) -> None:
    assert ours(None)["node_textfile_scrape_error"].samples == {(): 0.0}
    missing = tmp_path / "nowhere"
    mine, reference = ours(missing), theirs(missing)
    assert differences(mine, reference) == []
    assert mine["node_textfile_scrape_error"].samples == {(): 1.0}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("# TYPE a gauge\n# TYPE a gauge\na 1\n", "line 2: second TYPE line"),
        ("a 1\n# TYPE a gauge\n", "line 2: second TYPE line"),
        ("# HELP a x\n# HELP a y\n", "line 2: second HELP line"),
        ("# TYPE a gauges\n", "line 1: unknown metric type"),
        ("a one\n", "line 1: expected float as value"),
        ('a{b="1} 1\n', "line 1: unterminated label value"),
        ('a{b="\\t"} 1\n', "line 1: invalid escape sequence"),
        ('a{b="1",b="2"} 1\n', "line 1: duplicate label name"),
        ("a 1 2 3\n", "line 1: expected float as value"),
        ("a 1 x\n", "line 1: expected integer as timestamp"),
        ("# TYPE h histogram\nh_bucket 1\n", "line 2: histogram sample without label 'le'"),
    ],
)
def test_parser_rejects_what_go_rejects(text: str, message: str) -> None:
    with pytest.raises(TextFormatError, match=message):
        parse_text_format(text)


def test_parser_reads_comments_blanks_and_special_values() -> None:
    text = '# a comment\n\n  a{b="x",} +Inf\n# HELP a A \\\\ help\\nline.\na -Inf 17\nc 0x1p3\n'
    parsed = {f.name: f for f in parse_text_format(text)}
    assert parsed["a"].help == "A \\ help\nline."
    assert [(s.labels, s.value, s.timestamp) for s in parsed["a"].samples] == [
        ((("b", "x"),), float("inf"), None),
        ((), float("-inf"), 17),
    ]
    assert parsed["c"].samples[0].value == 8.0


def test_a_broken_file_is_logged_once_while_it_stays_broken(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "broken.prom").write_text("not a sample\n")
    collector = TextfileCollector(tmp_path)
    for _ in range(3):
        list(collector.collect(ProcFiles(Path("/proc"))))
    assert len([r for r in caplog.records if "broken.prom skipped" in r.getMessage()]) == 1
    (tmp_path / "broken.prom").write_text("fixed 1\n")
    list(collector.collect(ProcFiles(Path("/proc"))))
    (tmp_path / "broken.prom").write_text("broken again\n")
    list(collector.collect(ProcFiles(Path("/proc"))))
    assert len([r for r in caplog.records if "broken.prom skipped" in r.getMessage()]) == 2


def test_the_config_key_turns_on_the_folder(tmp_path: Path) -> None:
    (tmp_path / "backup.prom").write_text("# TYPE backup_ok gauge\nbackup_ok 1\n")
    config = Config.model_validate({"exporter": {"textfile_directory": str(tmp_path)}})
    registry = build_registry({"host": HostCollector.from_config(config)})
    assert registry.get_sample_value("backup_ok") == 1.0
    assert registry.get_sample_value("node_textfile_scrape_error") == 0.0
    file = str(tmp_path / "backup.prom")
    assert registry.get_sample_value("node_textfile_mtime_seconds", {"file": file}) == float(
        int((tmp_path / "backup.prom").stat().st_mtime)
    )
