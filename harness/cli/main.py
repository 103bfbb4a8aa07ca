"""``harness`` / ``python -m harness``: validate, run, load, gate, and the embedded servers.

Exit codes, for every command: 0 all held; 1 a threshold breached or a test failed; 2 bad input
(scenario, options); 3 infrastructure could not start (the message says why and how to fix it).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from harness.errors import EXIT_BREACH, EXIT_INPUT, EXIT_OK, HarnessError, InputError

app = typer.Typer(
    name="harness",
    help="Chaos and resilience harness for GenAI services.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
vendor_app = typer.Typer(help="The fake OpenAI/Anthropic vendor.", no_args_is_help=True)
toxiproxy_app = typer.Typer(help="The embedded Toxiproxy-compatible server.", no_args_is_help=True)
app.add_typer(vendor_app, name="vendor")
app.add_typer(toxiproxy_app, name="toxiproxy")

out = Console(highlight=False, soft_wrap=True, markup=False)  # scenario text is not markup
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)

DisableOpt = Annotated[
    list[str] | None,
    typer.Option("--disable-plugin", "-d", help="Disable a plugin by name (repeatable)."),
]


def _pm(disable: list[str] | None) -> Any:
    from harness.plugin.manager import get_plugin_manager

    return get_plugin_manager(disable=disable or ())


def _fail(exc: HarnessError) -> typer.Exit:
    err.print(f"error: {exc}")
    return typer.Exit(exc.exit_code)


@app.command("plugins")
def plugins_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    disable: DisableOpt = None,
) -> None:
    """List the loaded plugins, their fault kinds, backends and reporters."""
    try:
        pm = _pm(disable)
    except HarnessError as exc:
        raise _fail(exc) from exc
    rows = pm.describe()
    if as_json:
        out.print_json(json.dumps(rows))
        return
    for row in rows:
        out.print(f"{row['name']}  ({row['module']})")
        for backend, kinds in row["backends"].items():
            out.print(f"  backend {backend}: {', '.join(kinds)}")
        if row["fault_kinds"]:
            out.print(f"  declares fault kinds: {', '.join(row['fault_kinds'])}")
        if row["reporters"]:
            out.print(f"  reporters: {', '.join(row['reporters'])}")
        out.print(f"  hooks: {', '.join(row['hooks']) or '-'}")
    builtin = sorted(k for k, o in pm.kind_owner.items() if o.startswith("harness"))
    out.print(f"engine fault kinds: {', '.join(builtin)}")


@app.command("validate")
def validate_cmd(
    files: Annotated[list[Path], typer.Argument(help="Scenario files (YAML).")],
    disable: DisableOpt = None,
) -> None:
    """Check scenario files; exit 0 when all are valid, 2 otherwise."""
    try:
        pm = _pm(disable)
    except HarnessError as exc:
        raise _fail(exc) from exc
    bad = 0
    for path in files:
        try:
            scenario = pm.load_scenario(path)
            _check_backends(scenario, pm, str(path))
        except InputError as exc:
            bad += 1
            err.print(str(exc))
            continue
        faults = sum(len(p.faults) for p in scenario.phases)
        out.print(
            f"{path}: ok ({scenario.name}: {len(scenario.phases)} phases, {faults} faults, "
            f"{len(scenario.sla)} thresholds)",
        )
    raise typer.Exit(EXIT_INPUT if bad else EXIT_OK)


def _check_backends(scenario: Any, pm: Any, source: str) -> None:
    from harness.run.checks import check_scenario

    check_scenario(scenario, pm, source)


@app.command("run")
def run_cmd(
    scenario_file: Annotated[Path, typer.Argument(help="A scenario file.")],
    report_dir: Annotated[Path, typer.Option(help="Where reports go.")] = Path("reports"),
    seed: Annotated[int | None, typer.Option(help="Seed for fault schedules.")] = None,
    resilience: Annotated[
        bool, typer.Option(help="Run the target with the resilient core on.")
    ] = True,
    users: Annotated[int | None, typer.Option(help="Override the scenario's users.")] = None,
    no_fail: Annotated[
        bool, typer.Option("--no-fail", help="Exit 0 even if the SLA breaks.")
    ] = False,
    disable: DisableOpt = None,
) -> None:
    """Run one scenario in-process (asyncio load) and write its reports."""
    from harness.report.summary import run_summary
    from harness.run.session import RunOptions, run_scenario

    try:
        pm = _pm(disable)
        scenario = pm.load_scenario(scenario_file)
        _check_backends(scenario, pm, str(scenario_file))
        report = run_scenario(
            scenario,
            pm,
            RunOptions(report_dir=report_dir, seed=seed, resilience=resilience, users=users),
            source=str(scenario_file),
            on_progress=_print_progress,
        )
    except HarnessError as exc:
        raise _fail(exc) from exc
    for line in run_summary(report):
        out.print(line)
    out.print(f"reports: {report_dir / report.run_id}.*")
    raise typer.Exit(EXIT_OK if report.held or no_fail else EXIT_BREACH)


def _print_progress(progress: Any) -> None:
    err.print(
        f"  [{progress.elapsed:5.1f}s] phase={progress.phase or '-'} users={progress.users} "
        f"requests={progress.requests} failed={progress.failed}"
    )


@app.command("gate")
def gate_cmd(
    reports: Annotated[list[Path], typer.Argument(help="Report files (reports/*.json).")],
) -> None:
    """Exit 0 when every threshold of every report held, 1 on any breach, 2 on a bad report."""
    from harness.report.gate import gate

    code, lines = gate(reports)
    for line in lines:
        (out if code == EXIT_OK else err).print(line)
    raise typer.Exit(code)


@vendor_app.command("serve")
def vendor_serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0: a free one).")] = 0,
    seed: Annotated[int | None, typer.Option(help="Default seed of fault schedules.")] = None,
    options_json: Annotated[
        str,
        typer.Option(
            help='FakeVendor options as a JSON object, e.g. {"stream_chunk_delay": 0.01}.'
        ),
    ] = "{}",
) -> None:
    """Serve the fake OpenAI/Anthropic vendor until Ctrl-C."""
    from harness_fake_vendor import serve

    try:
        options = json.loads(options_json)
        if not isinstance(options, dict):
            raise TypeError("not an object")
    except (ValueError, TypeError) as exc:
        raise _fail(InputError(f"--options-json: expected a JSON object ({exc})")) from exc
    try:
        serve(host=host, port=port, seed=seed, **options)
    except HarnessError as exc:
        raise _fail(exc) from exc


app_app = typer.Typer(
    help="Serve a target ASGI app (the example service or yours).", no_args_is_help=True
)
app.add_typer(app_app, name="app")


@app_app.command("serve")
def app_serve(
    factory: Annotated[str, typer.Argument(help="module:factory returning an ASGI app.")],
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0: a free one).")] = 0,
) -> None:
    """Serve ``module:factory`` with uvicorn; prints ``app listening on http://HOST:PORT``."""
    from harness.run.appserver import serve_app

    try:
        serve_app(factory, host=host, port=port)
    except HarnessError as exc:
        raise _fail(exc) from exc


stack_app = typer.Typer(
    help="Start or stop a scenario's stack as background processes.", no_args_is_help=True
)
app.add_typer(stack_app, name="stack")
StateOpt = Annotated[Path, typer.Option("--state", help="The stack file.")]
DEFAULT_STATE = Path(".harness/stack.json")


@stack_app.command("up")
def stack_up(
    scenario_file: Annotated[Path, typer.Argument(help="A scenario file.")],
    state: StateOpt = DEFAULT_STATE,
    resilience: Annotated[
        bool, typer.Option(help="Start the target with the resilient core on.")
    ] = True,
    seed: Annotated[int | None, typer.Option(help="Seed for fault schedules.")] = None,
    disable: DisableOpt = None,
) -> None:
    """Start the scenario's vendors, Toxiproxy, proxies and target; write the stack file."""
    from harness.cli.stack import stack_up as up

    try:
        info = up(scenario_file, state, resilience=resilience, seed=seed, disable=disable or [])
    except HarnessError as exc:
        raise _fail(exc) from exc
    out.print(f"target {info.target_url}")
    for endpoint in info.endpoints:
        where = endpoint.get("url") or endpoint.get("address")
        out.print(f"{endpoint['role']} {endpoint['name']} ({endpoint['backend']}): {where}")
    out.print(f"stack file {state} (stop it with: harness stack down --state {state})")


@stack_app.command("down")
def stack_down(state: StateOpt = DEFAULT_STATE) -> None:
    """Stop every process of the stack file and remove it."""
    from harness.cli.stack import stack_down as down

    try:
        stopped = down(state)
    except HarnessError as exc:
        raise _fail(exc) from exc
    out.print(f"stopped {stopped} process(es)")


@app.command("load")
def load_cmd(
    scenario_file: Annotated[Path, typer.Argument(help="A scenario file.")],
    users: Annotated[int | None, typer.Option(help="Override the scenario's users.")] = None,
    duration: Annotated[str | None, typer.Option(help="Override the duration (e.g. 60s).")] = None,
    processes: Annotated[int, typer.Option(help="Locust worker processes (0: one process).")] = 0,
    report_dir: Annotated[Path, typer.Option(help="Where reports go.")] = Path("reports"),
    seed: Annotated[int | None, typer.Option(help="Seed for fault schedules.")] = None,
    resilience: Annotated[
        bool, typer.Option(help="Run the target with the resilient core on.")
    ] = True,
    disable: DisableOpt = None,
) -> None:
    """Run a scenario as a Locust load test (headless) with live progress, then gate on its SLA."""
    from harness.cli.load import run_load

    try:
        code = run_load(
            scenario_file,
            users=users,
            duration=duration,
            processes=processes,
            report_dir=report_dir,
            seed=seed,
            resilience=resilience,
            disable=disable or [],
        )
    except HarnessError as exc:
        raise _fail(exc) from exc
    raise typer.Exit(code)


@toxiproxy_app.command("serve")
def toxiproxy_serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="API port (0: a free one).")] = 8474,
    config: Annotated[
        Path | None, typer.Option(help="Proxies to create (JSON, as toxiproxy -config).")
    ] = None,
) -> None:
    """Serve the embedded Toxiproxy-compatible API until Ctrl-C."""
    from harness_toxiproxy import serve

    serve(host=host, port=port, config_path=str(config) if config else None)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (usage errors are 2, as click makes them)."""
    try:
        app(args=argv, standalone_mode=True)
    except SystemExit as exc:
        if exc.code is None:
            return EXIT_OK
        return exc.code if isinstance(exc.code, int) else EXIT_BREACH
    except HarnessError as exc:
        err.print(f"error: {exc}")
        return exc.exit_code
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
