"""Headless Chromium (Debian's ``chromium``) rendering an HTML page to PNG, over DevTools.

One browser process per call, spoken to over ``--remote-debugging-pipe`` (the DevTools
protocol as NUL-terminated JSON on file descriptors 3 and 4), so no port and no client library
is needed. The page is laid out at the given viewport width; the result holds the full-page
screenshot and what the page measured: its scroll width (wider than the viewport means
something overflows) and the rendered size of each image.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import select
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

BINARY_NAMES = ("chromium", "chromium-browser")

# measured in the page once it has loaded: the layout's width and each image as drawn
MEASURE = """JSON.stringify({
  scrollWidth: Math.max(document.documentElement.scrollWidth, document.body.scrollWidth),
  scrollHeight: Math.max(document.documentElement.scrollHeight, document.body.scrollHeight),
  images: Array.from(document.images).map(i => ({
    src: i.currentSrc.slice(0, 40), alt: i.alt, complete: i.complete,
    naturalWidth: i.naturalWidth, naturalHeight: i.naturalHeight,
    x: i.getBoundingClientRect().left + window.scrollX,
    y: i.getBoundingClientRect().top + window.scrollY,
    width: i.getBoundingClientRect().width, height: i.getBoundingClientRect().height,
  })),
  wide: (() => {
    const edge = document.documentElement.clientWidth + 0.5;
    const wide = Array.from(document.querySelectorAll('body *'))
      .filter(e => e.getBoundingClientRect().right > edge);
    // the innermost ones: what pushes the page wider, not every box around it
    return wide.filter(e => !wide.some(o => o !== e && e.contains(o)))
      .slice(0, 8).map(e => e.tagName + ': ' + (e.textContent || '').trim().slice(0, 60));
  })(),
})"""


@dataclass
class Rendered:
    """A page as Chromium drew it at ``width`` CSS pixels."""

    width: int
    png: bytes
    scroll_width: int
    scroll_height: int
    images: list[dict[str, Any]] = field(default_factory=list)
    too_wide: list[str] = field(default_factory=list)  # elements that reach past the viewport


def chromium_binary() -> str:
    """The Chromium to run; a missing one skips the test, except under CI where it fails."""
    for name in BINARY_NAMES:
        found = shutil.which(name)
        if found:
            return found
    message = "chromium is not installed (scripts/system-deps.sh test installs it)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


class _Pipe:
    """The DevTools protocol over a pipe pair: one JSON message per NUL-terminated chunk."""

    def __init__(self, send: int, receive: int, timeout: float) -> None:
        self.send_fd = send
        self.receive = os.fdopen(receive, "rb", buffering=0)
        self.timeout = timeout
        self.next_id = 0
        self.buffer = b""
        self.events: list[dict[str, Any]] = []

    def _read_message(self) -> dict[str, Any]:
        while b"\0" not in self.buffer:
            ready, _, _ = select.select([self.receive], [], [], self.timeout)
            if not ready:
                raise TimeoutError(f"chromium did not answer within {self.timeout} s")
            chunk = self.receive.read(65536)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        return message

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self.send_fd, json.dumps(message).encode() + b"\0")
        while True:
            answer = self._read_message()
            if answer.get("id") == self.next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                result: dict[str, Any] = answer.get("result", {})
                return result
            self.events.append(answer)

    def wait_event(self, method: str) -> dict[str, Any]:
        for i, event in enumerate(self.events):
            if event.get("method") == method:
                return self.events.pop(i)
        while True:
            event = self._read_message()
            if event.get("method") == method:
                return event
            self.events.append(event)


def render_html(html: str, width: int, out: Path, *, timeout: float = 60.0) -> Rendered:
    """Lay ``html`` out at ``width`` CSS pixels (scale 1), screenshot the whole page to ``out``.

    Remote content is not fetched: the page must carry its images as ``data:`` URLs.
    """
    binary = chromium_binary()
    with tempfile.TemporaryDirectory(prefix="chromium-") as tmp:
        page = Path(tmp) / "page.html"
        page.write_text(html, encoding="utf-8")
        to_browser_r, to_browser_w = os.pipe()
        from_browser_r, from_browser_w = os.pipe()
        args = [
            binary,
            "--headless",
            "--remote-debugging-pipe",
            "--no-sandbox",  # the tests may run as root, which Chromium's sandbox refuses
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            "--host-resolver-rules=MAP * ~NOTFOUND",  # nothing outside the page itself
            f"--user-data-dir={tmp}/profile",
            "about:blank",
        ]
        log = (Path(tmp) / "chromium.log").open("wb")
        # Chromium reads commands on fd 3 and writes answers on fd 4
        process = subprocess.Popen(
            [
                "bash",  # dash cannot redirect from descriptors above 9
                "-c",
                'exec 3<&"$1" 4>&"$2"; shift 2; exec "$@"',
                "bash",
                str(to_browser_r),
                str(from_browser_w),
                *args,
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            pass_fds=(to_browser_r, from_browser_w),
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        pipe = _Pipe(to_browser_w, from_browser_r, timeout)
        try:
            target = pipe.call("Target.createTarget", url="about:blank")["targetId"]
            session = pipe.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            pipe.call(
                "Emulation.setDeviceMetricsOverride",
                session,
                width=width,
                height=800,
                deviceScaleFactor=1,
                mobile=False,
            )
            pipe.call("Page.enable", session)
            pipe.call("Page.navigate", session, url=page.as_uri())
            pipe.wait_event("Page.loadEventFired")
            measured = json.loads(
                pipe.call("Runtime.evaluate", session, expression=MEASURE, returnByValue=True)[
                    "result"
                ]["value"]
            )
            shot = pipe.call(
                "Page.captureScreenshot",
                session,
                format="png",
                captureBeyondViewport=True,
                clip={
                    "x": 0,
                    "y": 0,
                    "width": width,
                    "height": measured["scrollHeight"],
                    "scale": 1,
                },
            )
            # the browser may close the pipe before it answers
            with contextlib.suppress(RuntimeError):
                pipe.call("Browser.close")
        except (OSError, RuntimeError, TimeoutError) as exc:
            log.flush()
            said = (Path(tmp) / "chromium.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"chromium failed: {exc}\n{said}") from exc
        finally:
            os.close(to_browser_w)
            pipe.receive.close()
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()
    png = base64.b64decode(shot["data"])
    out.write_bytes(png)
    return Rendered(
        width=width,
        png=png,
        scroll_width=measured["scrollWidth"],
        scroll_height=measured["scrollHeight"],
        images=measured["images"],
        too_wide=measured["wide"],
    )


# --- mail -----------------------------------------------------------------------------------

WIDTHS = (680, 375)  # the widest a mail client gives a mail, and a phone's


def mail_html(message: EmailMessage) -> str:
    """A mail's HTML part with its inline images (``cid:``) as ``data:`` URLs, as a mail client
    shows it."""
    part = message.get_body(preferencelist=("html",))
    assert isinstance(part, EmailMessage), "the mail has no HTML part"
    html = str(part.get_content())
    for related in message.walk():
        cid = related.get("Content-ID")
        if cid and related.get_content_maintype() == "image":
            data = base64.b64encode(related.get_payload(decode=True)).decode("ascii")
            url = f"data:{related.get_content_type()};base64,{data}"
            html = html.replace(f"cid:{str(cid).strip('<>')}", url)
    return html


def screenshot(html: str, name: str, width: int, folder: Path) -> Rendered:
    """``html`` rendered at ``width``, kept as ``folder/name-WIDTH.png`` beside the page itself,
    ``folder/name.html`` (the paths are printed: ``pytest -s`` shows them)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.html").write_text(html, encoding="utf-8")
    path = folder / f"{name}-{width}.png"
    rendered = render_html(html, width, path)
    print(f"screenshot: {path}")
    return rendered


def screenshots(html: str, name: str, folder: Path) -> list[Rendered]:
    """``html`` rendered at each of ``WIDTHS`` (see ``screenshot``)."""
    return [screenshot(html, name, width, folder) for width in WIDTHS]


def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots are kept: ``screenshots/`` in the session's pytest temp folder."""
    return tmp_path_factory.getbasetemp() / "screenshots"


def overflow(rendered: Rendered) -> str | None:
    """Why the page is wider than its viewport, or None when it fits."""
    if rendered.scroll_width <= rendered.width:
        return None
    return (
        f"at {rendered.width} px the page is {rendered.scroll_width} px wide; "
        f"too wide: {rendered.too_wide}"
    )


def image_spread(rendered: Rendered, image: dict[str, Any]) -> float:
    """The standard deviation of brightness where ``image`` is drawn in the screenshot: near 0
    for a blank or missing image."""
    from PIL import Image, ImageStat

    shot = Image.open(io.BytesIO(rendered.png)).convert("L")
    box = (
        round(image["x"]),
        round(image["y"]),
        round(image["x"] + image["width"]),
        round(image["y"] + image["height"]),
    )
    return float(ImageStat.Stat(shot.crop(box)).stddev[0])
