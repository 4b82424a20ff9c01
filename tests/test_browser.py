"""The widgets in a real browser: JupyterLab, headless Chromium, a live kernel.

An executed notebook with the forgetting slider and the model probe is opened in
JupyterLab without running it (the static views must show, not the widgets'
`VBox(children=...)` text), then run in a live kernel: moving the slider and
pressing the probe's button must change what they show. Screenshots go to
runs/browser/. Skipped only where Chromium, chromedriver or selenium is missing
(`.ci/run` installs them).
"""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import nbformat
import pytest
from nbclient import NotebookClient

from companion.config import PROJECT_ROOT

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

pytestmark = pytest.mark.slow
BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
if not (BROWSER and DRIVER):
    pytest.skip("no chromium/chromedriver here (.ci/run installs them)",
                allow_module_level=True)

SHOTS = PROJECT_ROOT / "runs" / "browser"
CELLS = [
    "import pandas as pd\nfrom companion.models import load_model\n"
    "from companion.widgets import forgetting_slider, model_probe",
    # a trajectory as forgetting_trajectory makes it, the stage stopping at step 10
    "trajectory = pd.DataFrame([{'step': s, 'forget_regurgitation': max(0.0, 0.9 - s / 20),"
    " 'retain_regurgitation': 0.9 - s / 80, 'forget_loss': s / 10, 'retain_loss': 0.1,"
    " 'sample': f'completion at step {s}'} for s in range(0, 25, 5)])\n"
    "trajectory.attrs.update(stop_step=10, target=0.4, prompt='Mara Olsen')\n"
    "forgetting_slider(trajectory);",
    "model = load_model('tiny-distilgpt2', device='cpu')\n"
    "model_probe({'fresh': model}, 'The river Vel flows', max_new_tokens=4);",
]


def executed_notebook(folder):
    """The three cells, executed headless as `make course` does (widget state saved)."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    NotebookClient(notebook, timeout=300, kernel_name="python3").execute()
    path = folder / "widgets.ipynb"
    nbformat.write(notebook, path)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lab")
    executed_notebook(folder)
    port, token = free_port(), "course-browser-test"
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "JUPYTER_CONFIG_DIR":
           str(folder / ".jupyter"), "TQDM_DISABLE": "1"}
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}",
         "--ip=127.0.0.1", f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={folder}", "--expose-app-in-browser",
         "--LabApp.news_url=", "--ServerApp.allow_root=True"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
            break
        except OSError:
            time.sleep(0.5)
    else:
        server.terminate()
        pytest.fail("JupyterLab did not start within 60 s")
    yield f"{url}/lab/tree/widgets.ipynb?token={token}"
    server.terminate()
    server.wait(timeout=30)


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = BROWSER
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                 "--window-size=1400,1800"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(DRIVER), options=options)
    yield driver
    driver.quit()


KERNEL_IDLE = """const w = window.jupyterapp.shell.currentWidget;
const k = w && w.sessionContext && w.sessionContext.session
          && w.sessionContext.session.kernel;
return !!k && k.status === 'idle';"""


def outputs(driver) -> str:
    return driver.execute_script(
        "return [...document.querySelectorAll('.jp-OutputArea-output')]"
        ".map(e => e.innerText).join('\\n---\\n')")


def test_executed_copy_shows_static_views_and_the_live_widgets_respond(lab, browser):
    SHOTS.mkdir(parents=True, exist_ok=True)
    wait = WebDriverWait(browser, 120)
    browser.get(lab)
    # opened without running: a static figure and table, never the widgets' repr
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output img"))
    wait.until(lambda d: "The river Vel flows" in outputs(d))
    browser.save_screenshot(str(SHOTS / "executed_copy.png"))
    static = outputs(browser)
    assert "VBox(children" not in static and "ViewBox(" not in static, static[:300]
    # a live kernel: once it is idle, run every cell; then the widgets themselves
    # appear (Run All again once if a first request found no kernel: a fresh clone's
    # first kernel can take long to start on a busy machine)
    wait.until(lambda d: d.execute_script(KERNEL_IDLE))
    slider = None
    for attempt in range(2):
        browser.execute_script(
            "window.jupyterapp.commands.execute('notebook:run-all-cells')")
        try:
            slider = WebDriverWait(browser, 150).until(
                lambda d: d.find_element(By.CSS_SELECTOR, ".noUi-handle"))
            break
        except TimeoutException:
            browser.save_screenshot(str(SHOTS / f"no_slider_{attempt}.png"))
    assert slider is not None, "no live slider after Run All twice (see the screenshots)"
    wait.until(lambda d: "step 10: forget regurgitation" in outputs(d))
    assert "step 10: forget regurgitation" in outputs(browser)  # opens at the stop
    slider.click()
    slider.send_keys(Keys.ARROW_RIGHT)
    wait.until(lambda d: "step 15: forget regurgitation" in outputs(d))
    # live, the widget replaces the static view: an image now is the slider's figure
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output img"))
    assert "<Figure size" not in outputs(browser)  # the figure is drawn, not named
    prompt = browser.find_element(By.CSS_SELECTOR, ".widget-text input")
    prompt.send_keys(Keys.CONTROL, "a")
    prompt.send_keys("Mara Olsen was born")
    browser.find_element(By.XPATH, "//button[normalize-space()='complete']").click()
    wait.until(lambda d: "Mara Olsen was born ..." in outputs(d))
    browser.save_screenshot(str(SHOTS / "live_widgets.png"))
    assert (SHOTS / "live_widgets.png").stat().st_size > 10_000
