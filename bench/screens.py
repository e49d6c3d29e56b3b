"""What a user sees after a sweep, in a real browser: screenshots by headless Chromium of the MLflow
runs table the sweep's URL opens, a trial's solution plot, the report's first screen and
optuna-dashboard's history, with the checks a picture alone does not give.

    python bench/screens.py                          # a small real sho sweep into a temp folder
    python bench/screens.py --out /tmp/screens       # the PNGs there
    python bench/screens.py -- --trials 4 --iterations 30    # other sweep options after --
    python bench/screens.py --summary S.json         # a sweep already run (its --summary-json)

Needs Debian's ``chromium`` (``apt-get install chromium``; ``--chromium`` for another binary),
Playwright's Python package and optuna-dashboard (``pip install -c constraints.txt -e
".[screens]"``; Playwright's own browser download is not used). The sweep is ``gansweep run sho
--smoke-test`` with real stores in the temp folder (sqlite MLflow and Optuna, Tune's folder),
1600 x 1000 windows, and every server is started here on a free port and stopped by its handle.

Writes, into the folder it prints:
  mlflow_runs.png        the runs URL the sweep printed, a first visit (MLflow opens its assistant
                         panel on a browser's first visit)
  mlflow_runs_wide.png   the same once that panel is closed
  solution.png           the best trial's plots/solution.png on its MLflow run page
  report.png             the report's first screen; report_full.png the whole page
  optuna_history.png     the study's history in optuna-dashboard
and prints the checks: the runs table's params and eval metric columns, the report page's width
against the window's, the dashboard's objective name. Exits 1 if one fails.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout

WINDOW = {"width": 1600, "height": 1000}
SWEEP = ("--smoke-test", "--trials", "6", "--iterations", "200", "--confirm-seeds", "4")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    extra = args[args.index("--") + 1:] if "--" in args else []
    a = _parser().parse_args(args[:args.index("--")] if "--" in args else args)
    chromium = shutil.which(a.chromium) or a.chromium
    if not Path(chromium).is_file():
        print(f"screens: no Chromium at {a.chromium}: apt-get install -y chromium, or pass "
              "--chromium PATH", file=sys.stderr)
        return 2
    try:
        import optuna_dashboard  # noqa: F401
        from playwright.sync_api import sync_playwright
    except ImportError as e:
        print(f"screens: {e.name} is not installed: pip install -c constraints.txt -e "
              "\".[screens]\" (Playwright's browser download is not needed)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="gansweep_screens_"))
    out = Path(a.out).resolve() if a.out else work / "screens"
    out.mkdir(parents=True, exist_ok=True)
    summary = json.loads(Path(a.summary).read_text()) if a.summary else \
        _sweep(work, [*SWEEP, *extra])
    checks: dict[str, bool] = {}
    with sync_playwright() as p, ExitStack() as stack:
        browser = p.chromium.launch(executable_path=chromium,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-quic"])
        stack.callback(browser.close)
        mlflow = stack.enter_context(_server("mlflow", _mlflow_cmd(summary)))
        checks.update(_mlflow_shots(browser, mlflow, summary, out))
        checks.update(_report_shots(browser, summary, work, out))
        dashboard = stack.enter_context(_server("optuna-dashboard", _dashboard_cmd(summary)))
        checks.update(_dashboard_shot(browser, dashboard, summary, out))
    print(f"screens: {out}")
    for name, ok in checks.items():
        print(f"  {'ok  ' if ok else 'FAIL'} {name}")
    return 0 if all(checks.values()) else 1


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench/screens.py", description=__doc__.split("\n")[0])
    p.add_argument("--out", help="folder for the PNGs (default: screens/ in the temp folder)")
    p.add_argument("--summary", help="the --summary-json of a sweep already run: no new sweep")
    p.add_argument("--chromium", default="/usr/bin/chromium", help="the browser binary")
    return p


# -- the sweep and the servers ---------------------------------------------------------------------
def _sweep(work: Path, options: list[str]) -> dict[str, Any]:
    """A small real sweep with its stores in `work`; returns its summary."""
    summary = work / "summary.json"
    cmd = [sys.executable, "-m", "sweeps", "run", "sho", *options,
           "--tracking-uri", f"sqlite:///{work / 'mlflow.db'}",
           "--storage-path", str(work / "ray"), "--summary-json", str(summary)]
    print("screens: " + " ".join(cmd[2:]), flush=True)
    proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, env=_env())
    if proc.returncode != 0:
        raise SystemExit(f"screens: the sweep failed (exit {proc.returncode}):\n"
                         + proc.stdout[-2000:] + proc.stderr[-2000:])
    return json.loads(summary.read_text())


def _env() -> dict[str, str]:
    """This checkout first on the path, for the sweep, the report and the servers."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


Server = tuple[list[str], int, str, dict[str, str]]  # command, port, a path that answers, env


def _mlflow_cmd(summary: dict[str, Any]) -> Server:
    port = _free_port()
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri",
           summary["mlflow"]["tracking_uri"], "--host", "127.0.0.1", "--port", str(port),
           "--workers", "1"]
    # no job workers: they run GenAI evaluations, and would take CPU from a shared machine
    return cmd, port, "/health", {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


def _dashboard_cmd(summary: dict[str, Any]) -> Server:
    port = _free_port()
    code = ("import optuna_dashboard, sys; "
            "optuna_dashboard.run_server(sys.argv[1], host='127.0.0.1', port=int(sys.argv[2]))")
    return [sys.executable, "-c", code, summary["optuna"]["storage"], str(port)], port, \
        "/api/studies", {}


@contextmanager
def _server(name: str, spec: Server, timeout: float = 120) -> Iterator[str]:
    """Start a server, wait until `path` answers 200, yield its base URL; stop it by its handle."""
    cmd, port, path, env = spec
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**_env(), **env})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise SystemExit(f"screens: {name} exited ({proc.returncode}):\n"
                                 + log.read().decode()[-2000:])
            try:
                with urllib.request.urlopen(base + path, timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"screens: {name} did not answer at {base}{path} in {timeout}s")
            time.sleep(0.5)  # poll interval while the server starts, not a wait for a count
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


# -- the screenshots -----------------------------------------------------------------------------
def _page(browser: Any) -> Any:
    """A page in a fresh browser profile (a first visit), or in `browser` if it is a context."""
    page = browser.new_page(viewport=WINDOW) if hasattr(browser, "new_context") else \
        browser.new_page()
    page.set_default_timeout(60_000)
    return page


def _mlflow_shots(browser: Any, base: str, summary: dict[str, Any], out: Path) -> dict[str, bool]:
    """The runs URL as printed (its host swapped for this server's), first visit and with the
    assistant panel closed; the best trial's solution plot on its run page."""
    m = summary["mlflow"]
    url = re.sub(r"^https?://[^/]+", base, m["runs_url"])
    browser = browser.new_context(viewport=WINDOW)  # one profile: the run page is a later visit
    page = _page(browser)
    page.goto(url)
    _runs_table(page)
    page.screenshot(path=out / "mlflow_runs.png")
    close = page.get_by_role("button", name="Close")
    if close.count():  # closed once, it stays closed in this profile: the URL opened again
        close.first.click()
        close.first.wait_for(state="detached")
        page.goto("about:blank")
        page.goto(url)
        _runs_table(page)
    page.screenshot(path=out / "mlflow_runs_wide.png")
    # the columns the grid has drawn: those in view (it renders only what fits, and a little)
    headers = [h.get_attribute("col-id") or "" for h in page.query_selector_all(".ag-header-cell")]
    trials = page.get_by_text(re.compile(r"^train_trial_")).count()
    page.close()

    from mlflow.tracking import MlflowClient

    client = MlflowClient(m["tracking_uri"])
    best = client.search_runs(
        [m["experiment_id"]],
        filter_string=f"tags.trial_id = '{summary['best']['trial_id']}'")[0]
    page = _page(browser)
    page.goto(f"{base}/#/experiments/{m['experiment_id']}/runs/{best.info.run_id}"
              "/artifacts/plots/solution.png?workflowType=machine_learning")
    page.wait_for_function("() => [...document.images].some(i => i.complete && "
                           "i.naturalWidth > 400)")  # the plot itself, not an icon
    page.screenshot(path=out / "solution.png")
    browser.close()
    from sweeps.spec import SweepSpec

    searched = SweepSpec.load(summary["ray_results"]).searched()
    shown = [k for k in searched if f"params.`{k}`" in headers]
    metric = summary.get("metric", "mse")
    return {f"runs table lists the {summary['num_trials']} trials without a click":
            trials >= summary["num_trials"],
            f"runs table shows objective, eval/{metric}, eval/{metric}_worst, "
            f"eval/failure_rate and {len(shown)} of the {len(searched)} searched params "
            "(the rest a scroll away)":
            {f"metrics.`{k}`" for k in ("objective", f"eval/{metric}", f"eval/{metric}_worst",
                                       "eval/failure_rate")} <= set(headers) and len(shown) > 0}


def _runs_table(page: Any) -> None:
    """Wait for the runs table's trials and its objective column."""
    page.get_by_text(re.compile(r"^train_trial_")).first.wait_for()
    page.locator(".ag-header-cell[col-id='metrics.`objective`']").wait_for()


def _report_shots(browser: Any, summary: dict[str, Any], work: Path, out: Path
                  ) -> dict[str, bool]:
    """`python -m analysis report` of the sweep, its first screen and whole page; its width."""
    m = summary["mlflow"]
    folder = work / "report"
    cmd = [sys.executable, "-m", "analysis", "report", m["experiment_name"], "--tracking-uri",
           m["tracking_uri"], "--sweep", summary["sweep"], "--out", str(folder), "--no-mlflow"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env())
    if proc.returncode != 0:
        raise SystemExit("screens: the report failed:\n" + proc.stdout[-2000:] + proc.stderr[-2000:])
    page = _page(browser)
    page.goto((folder / "report.html").as_uri())
    page.wait_for_load_state("load")
    page.screenshot(path=out / "report.png")
    page.screenshot(path=out / "report_full.png", full_page=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    page.close()
    return {f"report page {width} px wide in a {WINDOW['width']} px window":
            width <= WINDOW["width"]}


def _dashboard_shot(browser: Any, base: str, summary: dict[str, Any], out: Path
                    ) -> dict[str, bool]:
    """The study's page (its history plot first) in optuna-dashboard."""
    import optuna

    storage = optuna.storages.RDBStorage(summary["optuna"]["storage"])
    study_id = storage.get_study_id_from_name(summary["sweep"])
    names = optuna.load_study(study_name=summary["sweep"], storage=storage).metric_names or []
    page = _page(browser)
    page.goto(f"{base}/dashboard/studies/{study_id}")
    page.locator(".js-plotly-plot").first.wait_for()
    from playwright.sync_api import TimeoutError as Timeout

    try:  # the history plot's axis title, once plotly has drawn it
        page.get_by_text(names[0] if names else "Objective 0").first.wait_for(timeout=30_000)
        shown = bool(names)
    except Timeout:
        shown = False
    page.screenshot(path=out / "optuna_history.png")
    page.close()
    return {f"optuna-dashboard names the objective {names[0] if names else None!r}": shown}


if __name__ == "__main__":
    sys.exit(main())
