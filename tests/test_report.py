"""`tiktok-dm report`: the HTML QA report with its plots, checked in headless Chromium."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import soundfile
from click.testing import CliRunner

from conftest import _need
from quality_fixtures import click_track, fake_build, posed_clip, shifted_audio, stopping_dancer
from tiktok_dm.quality.cli import report_command
from tiktok_dm.quality.report import PLOTS

pytestmark = [pytest.mark.needs_shared, pytest.mark.filterwarnings("ignore:SymbolDatabase.GetPrototype:UserWarning")]

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def report_build(real_dance_dir: Path, tmp_path_factory) -> Path:
    """Two real clips with their soundtracks, iper_akun_1 again in another compilation with its audio 0.3 s late
    (flagged as a duplicate; its motion does not measurably follow its sound, so no offset), and a body stopping at
    irregular moments with clicks 0.4 s after each stop (flagged: out of sync)."""
    iper, romp = posed_clip(real_dance_dir, "iper_akun_1"), posed_clip(real_dance_dir, "romp_sample_video2")
    samples, rate = soundfile.read(iper[1], dtype="float32")
    stopping, rests = stopping_dancer(tmp_path_factory.mktemp("stopping"))
    clips = [
        dict(clip_id="iper", compilation_id="c1", song_id="s1", split="train", video=iper[0], audio=iper[1],
             poses=iper[2], start_s=0.0, end_s=7.3),
        dict(clip_id="romp", compilation_id="c1", song_id="s2", split="test", video=romp[0], audio=romp[1],
             poses=romp[2], start_s=7.3, end_s=17.31),
        dict(clip_id="iper_late", compilation_id="c2", song_id="s1", split="train", video=iper[0],
             audio=(shifted_audio(samples, rate, 0.3), rate), poses=iper[2], start_s=0.0, end_s=7.3),
        dict(clip_id="clicks_late", compilation_id="c3", song_id="s3", split="test", video=romp[0],
             audio=(click_track((rests + 0.4)[rests + 0.4 < 9.9], 10.0, rate), rate), poses=stopping, start_s=0.0,
             end_s=10.0),
    ]
    root = tmp_path_factory.mktemp("report") / "build"
    fake_build(root, clips)
    result = CliRunner().invoke(report_command, [str(root)])
    assert result.exit_code == 0, result.output
    assert f"report: {root / 'report' / 'index.html'}" in result.output
    return root


def test_report_files(report_build: Path):
    index = report_build / "report" / "index.html"
    page = index.read_text()
    for name in PLOTS:
        plot = report_build / "report" / "plots" / f"{name}.png"
        assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert f"plots/{name}.png" in page
    assert "id='clip-iper_late'" in page and "id='clip-clicks_late'" in page and "likely out of sync" in page
    for suffix in ("thumb", "skeleton", "offset"):
        assert (report_build / "report" / "clips" / f"iper_late_{suffix}.png").is_file()
        assert (report_build / "report" / "clips" / f"clicks_late_{suffix}.png").is_file()
    assert (report_build / "qa.csv").is_file() and (report_build / "report" / "qa_config.yaml").is_file()


def test_report_renders_in_headless_chromium(report_build: Path, tmp_path: Path):
    _need(Path(CHROMIUM).is_file() and Path(CHROMIUM).stat().st_mode & 0o111 and Path(CHROMEDRIVER).is_file(),
          f"headless Chromium is absent ({CHROMIUM}, {CHROMEDRIVER}): apt-get install chromium chromium-driver")
    try:
        from selenium import webdriver
        from selenium.webdriver.common.by import By
    except ImportError as error:
        _need(False, f"selenium is not installed ({error}): pip install selenium")

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1400,2000", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(CHROMEDRIVER))
    try:
        driver.get((report_build / "report" / "index.html").as_uri())
        assert driver.title == "Dataset QA"
        assert driver.execute_script("return document.readyState") == "complete"
        for name in PLOTS:
            plot = driver.find_element(By.ID, f"plot-{name}")
            width = driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth", plot)
            assert width and width >= 300, f"plot {name} did not load"
        flagged = driver.find_element(By.ID, "clip-iper_late")
        images = flagged.find_elements(By.TAG_NAME, "img")
        assert len(images) == 3
        assert all(driver.execute_script("return arguments[0].naturalWidth", image) > 0 for image in images)
        screenshot = tmp_path / "report.png"
        assert driver.save_screenshot(str(screenshot))
        assert screenshot.stat().st_size > 10_000
    finally:
        driver.quit()
        shutil.rmtree(tmp_path / "profile", ignore_errors=True)
