"""Screenshots of the Label Studio compilation project for the README (headless Chromium).

    .venv/bin/python scripts/screenshot_annotation.py [--out docs/img]

Starts a private Label Studio on 127.0.0.1 (annotation.local_server), downloads the demo
compilation into its document root through the real download stage, pushes it with
pre-annotations, logs in as the annotator and saves the labeling page and the task list.
Needs: .venv-ls (scripts/install.sh --test), Debian chromium + chromium-driver, pip selenium.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from annotation.client import connect
from annotation.local_server import label_studio_executable, running_server
from annotation.projects import find_project
from tiktok_dm.cli import cli
from tiktok_dm.config import DownloadConfig
from tiktok_dm.model.build_dir import BuildDir
from tiktok_dm.pipeline.demo import DEMO_CLIPS, make_demo_compilation
from tiktok_dm.stages.base import run_item
from tiktok_dm.stages.download import DownloadItem, DownloadStage
from tiktok_dm.testing.loopback import serve_directory

PROJECT = "Demo compilation"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("docs/img"))
    args = parser.parse_args()
    executable = label_studio_executable()
    if executable is None:
        raise SystemExit("Label Studio is not installed: run `bash scripts/install.sh --test`")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tdm-shots-") as work, running_server(executable, Path(work)) as server:
        task_url = push_demo(server, Path(work))
        take_screenshots(server, task_url, args.out)


def push_demo(server: dict[str, str], work: Path) -> str:
    media = work / "media"
    spans = make_demo_compilation(media)
    build_dir = BuildDir(Path(server["document_root"]) / "build")
    manifest = work / "manifest.csv"
    with serve_directory(media) as base:
        url = f"{base}/compilation.mp4"
        result = run_item(DownloadStage(DownloadConfig(), build_dir), DownloadItem("demo", url))
        if not result.ok:
            raise SystemExit(result.error)
    pd.DataFrame([{"compilation_id": "demo", "url": url, "clip_id": clip.clip_id, "start_s": start, "end_s": end,
                   "song_id": clip.song.song_id, "num_dancers": clip.num_dancers}
                  for clip, (start, end) in zip(DEMO_CLIPS, spans)]).to_csv(manifest, index=False)
    pushed = CliRunner().invoke(cli, ["annotate", "push", "--url", server["url"], "--project", PROJECT,
                                      "--manifest", str(manifest), "--build", str(build_dir.root),
                                      "--document-root", server["document_root"]],
                                env={"LABEL_STUDIO_API_KEY": server["token"]})
    print(pushed.output.strip())
    client = connect(server["url"], server["token"])
    project = find_project(client, PROJECT)
    task = next(iter(client.tasks.list(project=project.id)))
    return f"{server['url']}/projects/{project.id}/data?task={task.id}"


def take_screenshots(server: dict[str, str], task_url: str, out: Path) -> None:
    from selenium import webdriver
    from selenium.webdriver.common.by import By

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1500,1250", "--autoplay-policy=no-user-gesture-required"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService("/usr/bin/chromedriver"))
    try:
        driver.get(f"{server['url']}/user/login/")
        driver.find_element(By.NAME, "email").send_keys(server["username"])
        driver.find_element(By.NAME, "password").send_keys(server["password"])
        driver.find_element(By.CSS_SELECTOR, "button[type=submit], input[type=submit]").click()
        time.sleep(3)
        driver.get(task_url.split("?")[0])
        time.sleep(6)
        driver.save_screenshot(str(out / "annotation_tasks.png"))
        driver.get(task_url)
        time.sleep(12)  # the labeling interface loads the video and draws the timeline regions
        _select_first_region(driver)
        driver.save_screenshot(str(out / "annotation_compilation.png"))
    finally:
        driver.quit()
    print(f"wrote {out / 'annotation_tasks.png'} and {out / 'annotation_compilation.png'}")


def _select_first_region(driver) -> None:
    """Click the first region in the side panel so its song / dancers / usability fields show."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By

    try:
        regions = driver.find_elements(By.XPATH, "//*[normalize-space(text())='clip']")
        if regions:
            regions[0].click()
            time.sleep(2)
    except WebDriverException as error:  # the screenshot is still useful without a selection
        print(f"could not select a region: {error.msg}")


if __name__ == "__main__":
    main()
