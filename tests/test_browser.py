"""The page of `vidcap serve` in a real browser: Debian's Chromium driven by Playwright.

A server is started as a command (`python -m vidcap serve`) on a free loopback port;
the page uploads a generated talking video, runs caption, subtitles and emotions on it,
and searches a small library. Screenshots go to the test's tmp folder. The test is
skipped only when no Chromium is installed (scripts/install-system-deps.sh installs it).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
WAIT = 240_000  # ms a step may take on a loaded 2-core machine

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no Chromium: `apt-get install chromium` "
                                                           "(scripts/install-system-deps.sh does it)"),
    pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="no espeak-ng for the test speech"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    """`vidcap serve` over a library of three generated videos; yields its URL."""
    pytest.importorskip("fastapi", reason="the serve extra is not installed")
    from vidcap import api

    api.synth(tmp_path / "world", num_videos=3, seed=5, seconds=2, workers=1)
    api.index(tmp_path / "world" / "videos", tmp_path / "lib", transcripts=False)
    port = free_port()
    log = open(tmp_path / "server.log", "w")
    env = {k: v for k, v in os.environ.items() if k != "VIDCAP_TOKEN"}
    proc = subprocess.Popen([sys.executable, "-m", "vidcap", "serve", "--port", str(port), "--data",
                             str(tmp_path / "data"), "--library", str(tmp_path / "lib")],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + WAIT / 1000
    while True:
        try:
            with urllib.request.urlopen(url + "/api/health", timeout=5) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            log.close()
            raise AssertionError(f"the server did not start: {(tmp_path / 'server.log').read_text()[-2000:]}")
        time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(60)
    log.close()


def test_the_page_in_chromium(server, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    from golden import speech_video
    from vidcap import api

    video = speech_video(tmp_path / "talk.mp4", tmp_path)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.set_default_timeout(WAIT)
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(server + "/")
            page.wait_for_selector("#app:not([hidden])")
            assert "library lib: 3 videos" in page.text_content("#status")

            page.set_input_files("#file", str(video))
            page.wait_for_selector("#tasks-card:not([hidden])")
            assert "160×120" in page.text_content("#video-info")
            assert page.is_disabled("#tasks input[value=classify]") and page.is_visible("#classify-note") and "no classifier is configured" in page.text_content("#classify-note")
            page.check("#tasks input[value=subtitles]")
            page.check("#tasks input[value=emotions]")
            page.click("#run")

            caption = page.wait_for_selector("article[data-task=caption][data-rendered=done] .caption")
            assert caption.text_content().strip()
            assert page.locator("article[data-task=caption] .frame").count() > 1
            # the caption card shows the model's out-of-domain warning exactly when the result has one
            warned = page.locator("article[data-task=caption] .warning").count()
            assert warned == (0 if api.caption(video)[0].in_domain else 1)
            page.wait_for_selector("article[data-task=subtitles][data-rendered=done] video track", state="attached")
            cues = page.wait_for_function(
                """() => { const t = document.querySelector('article[data-task=subtitles] track');
                           return t && t.readyState === 2 && t.track.cues.length > 0 && t.track.cues.length; }""")
            assert cues.json_value() >= 1
            assert "quick brown fox" in page.text_content("article[data-task=subtitles] table").lower()
            page.wait_for_selector("article[data-task=emotions][data-rendered=done] img.plot")
            page.wait_for_function("""() => { const i = document.querySelector('article[data-task=emotions] img.plot');
                                              return i && i.complete && i.naturalWidth > 0; }""")
            page.screenshot(path=str(shots / "results.png"), full_page=True)

            page.fill("#q", "a red circle moves to the left")
            page.click("#search button")
            page.wait_for_selector(".hit")
            assert page.locator(".hit").count() == 3
            first = page.locator(".hit").first
            hit_id = first.get_attribute("data-id")
            first.locator("p").first.click()
            page.wait_for_function(f"""() => {{ const v = document.querySelector('#hit-video');
                                              return v.dataset.id === '{hit_id}' && v.readyState >= 1; }}""")
            page.screenshot(path=str(shots / "search.png"), full_page=True)

            page.set_viewport_size({"width": 390, "height": 844})  # a phone
            width = page.evaluate("() => document.documentElement.scrollWidth")
            assert width <= 390, f"the page is {width} px wide at a phone's 390 px"
            page.screenshot(path=str(shots / "phone.png"), full_page=True)
            assert not errors, errors
        finally:
            browser.close()
    assert all((shots / n).stat().st_size > 1000 for n in ("results.png", "search.png", "phone.png"))
