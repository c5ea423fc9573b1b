"""Checks on this repo's Dockerfile: dockerfile-parse reads it, docker-py matches .dockerignore."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from docker.utils.build import PatternMatcher
from dockerfile_parse import DockerfileParser
from dockerfile_parse.parser import image_from

KNOWN_INSTRUCTIONS = {
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
    "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
}  # fmt: skip
JSON_FORM = {"CMD", "ENTRYPOINT", "SHELL"}

Instruction = dict[str, Any]  # dockerfile-parse's: instruction (upper case), startline, value...


def parse(text: str) -> DockerfileParser:
    return DockerfileParser(fileobj=io.BytesIO(text.encode()))


def instructions(parser: DockerfileParser) -> list[Instruction]:
    """The instructions in order; comments and parser directives left out."""
    return [ins for ins in parser.structure if ins["instruction"] != "COMMENT"]


def context_copies(text: str) -> list[tuple[list[str], str]]:
    """(sources, destination) of every COPY from the build context, in every stage."""
    out = []
    for ins in instructions(parse(text)):
        words = ins["value"].split()
        if ins["instruction"] == "COPY" and not any(w.startswith("--from=") for w in words):
            paths = [w for w in words if not w.startswith("--")]
            out.append((paths[:-1], paths[-1]))
    return out


def dockerignore_patterns(context: Path) -> list[str]:
    path = context / ".dockerignore"
    if not path.exists():
        return []
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def dockerignore_includes(patterns: list[str], path: str) -> bool:
    """Whether the build context keeps ``path``: the matcher docker-py's image build uses."""
    return not PatternMatcher(patterns).matches(path.strip("/"))


def lint_dockerfile(text: str, context: Path) -> list[str]:
    """Problems a build would hit, or that hadolint would flag, in the Dockerfile text."""
    parser = parse(text)
    ignore = dockerignore_patterns(context)
    problems: list[str] = _directive_problems(text)
    images = iter(parser.parent_images)  # one per FROM, the global ARGs expanded
    stages: list[tuple[str | None, list[Instruction]]] = []  # (name, instructions)
    for ins in instructions(parser):
        where = f"line {ins['startline'] + 1}"
        keyword = ins["instruction"]
        written = ins["content"].split(None, 1)[0]
        if keyword not in KNOWN_INSTRUCTIONS:
            problems.append(f"{where}: unknown instruction {written}")
            continue
        if written != keyword:
            problems.append(f"{where}: write instructions in upper case ({written})")
        if keyword == "FROM":
            names = {name for name, _ in stages}
            problems += [f"{where}: {p}" for p in _from_problems(ins["value"], images, names)]
            stages.append((image_from(ins["value"])[1], []))
        elif not stages:
            if keyword != "ARG":
                problems.append(f"{where}: {keyword} before the first FROM")
        else:
            stages[-1][1].append(ins)
            earlier = {name for name, _ in stages[:-1]}
            problems += [
                f"{where}: {p}" for p in _instruction_problems(ins, earlier, context, ignore)
            ]
    if text.rstrip().endswith("\\"):
        problems.append("the last line continues into the end of the file")
    if not stages:
        return [*problems, "no FROM"]
    return problems + _final_stage_problems(stages[-1][1])


def _directive_problems(text: str) -> list[str]:
    """Parser directives: the comment lines before anything else (Docker reads them there only)."""
    problems = []
    for number, line in enumerate(text.splitlines(), 1):
        directive = re.match(r"#\s*([a-zA-Z]+)\s*=", line)
        if directive is None:
            break
        if directive.group(1).lower() == "syntax":
            problems.append(
                f"line {number}: a syntax directive makes BuildKit pull its Dockerfile frontend "
                "from a registry: remove it, the builder's own frontend reads this file"
            )
    return problems


def _from_problems(value: str, images: Iterator[str], stage_names: set[str | None]) -> list[str]:
    words = value.split()
    image, name = image_from(value)
    if image is None:
        return ["FROM IMAGE [AS NAME]"]
    image = next(images)  # parent_images has one for each FROM with an image
    if len(words) not in (1, 3) or (len(words) == 3 and name is None):
        return ["FROM IMAGE [AS NAME]"]
    if image not in stage_names and (
        ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")
    ):
        return [f"pin the base image tag ({image})"]
    return []


def _instruction_problems(
    ins: Instruction, earlier_stages: set[str | None], context: Path, ignore: list[str]
) -> list[str]:
    keyword, value = ins["instruction"], ins["value"]
    problems = []
    if keyword in JSON_FORM and value.startswith("["):
        problems += _json_problems(keyword, value)
    if keyword == "HEALTHCHECK":
        _, _, command = value.partition("CMD ")
        if value.strip() != "NONE" and not command:
            problems.append("HEALTHCHECK needs CMD")
        if command.startswith("["):
            problems += _json_problems("HEALTHCHECK CMD", command)
    if keyword == "RUN":
        if "pip install" in value and "--no-cache-dir" not in value:
            problems.append("pip install without --no-cache-dir")
        if "apt-get install" in value and "--no-install-recommends" not in value:
            problems.append("apt-get install without --no-install-recommends")
        if re.search(r"(^|&&|;)\s*cd ", value):
            problems.append("use WORKDIR instead of cd")
    if keyword in ("COPY", "ADD"):
        problems += _copy_problems(keyword, value, earlier_stages, context, ignore)
    return problems


def _json_problems(what: str, value: str) -> list[str]:
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        return [f"{what} is not valid JSON"]
    if not isinstance(parsed, list) or not all(isinstance(item, str) for item in parsed):
        return [f"{what} must be a list of strings"]
    return []


def _copy_problems(
    keyword: str, value: str, earlier_stages: set[str | None], context: Path, ignore: list[str]
) -> list[str]:
    words = value.split()
    paths = [w for w in words if not w.startswith("--")]
    if len(paths) < 2:
        return [f"{keyword} needs a source and a destination"]
    stage = next((w.split("=", 1)[1] for w in words if w.startswith("--from=")), None)
    if stage is not None:
        return [] if stage in earlier_stages else [f"COPY --from={stage}: no such earlier stage"]
    problems = []
    for source in paths[:-1]:
        if not (context / source).exists():
            problems.append(f"{source} is not in the build context")
        elif not dockerignore_includes(ignore, source):
            problems.append(f"{source} is excluded by .dockerignore")
    return problems


def _final_stage_problems(final: list[Instruction]) -> list[str]:
    problems = []
    keywords = {ins["instruction"] for ins in final}
    users = [ins["value"] for ins in final if ins["instruction"] == "USER"]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        problems.append("the final stage runs as root: add USER")
    if "HEALTHCHECK" not in keywords:
        problems.append("the final stage has no HEALTHCHECK")
    if "CMD" not in keywords and "ENTRYPOINT" not in keywords:
        problems.append("the final stage has no CMD or ENTRYPOINT")
    return problems
