"""``harness`` / ``python -m harness``: validate, run, load, gate, stack, and plugins' commands.

Exit codes, for every command: 0 all held; 1 a threshold breached or a test failed; 2 bad input
(scenario, options); 3 infrastructure could not start (the message says why and how to fix it);
4 inconclusive (the measurement itself cannot be trusted: the load generator was saturated, or
a percentile rests on too few samples).
Commands raise :class:`~harness.errors.HarnessError`; :func:`main` alone turns it into the
message and the exit code. Plugins add commands through the ``harness_add_commands`` hook
(the fake vendor adds ``harness vendor``, the Toxiproxy plugin ``harness toxiproxy``).
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from harness.errors import EXIT_BREACH, EXIT_INPUT, EXIT_OK, HarnessError, InputError
from harness.plugin.manager import PluginManager, get_plugin_manager
from harness.report.files import check_report_dir
from harness.report.gate import exit_code
from harness.run.signals import sigterm_as_interrupt
from harness.units import parse_duration

out = Console(highlight=False, soft_wrap=True, markup=False)  # scenario text is not markup
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)

DisableOpt = Annotated[
    list[str] | None,
    typer.Option("--disable-plugin", "-d", help="Disable a plugin by name (repeatable)."),
]
ReportDirOpt = Annotated[Path, typer.Option(help="Where reports go.")]
SeedOpt = Annotated[int | None, typer.Option(help="Seed for fault schedules.")]
ResilienceOpt = Annotated[
    bool, typer.Option(help="Run the target with the resilient core on (off: the naive client).")
]
UsersOpt = Annotated[int | None, typer.Option(min=1, help="Override the scenario's users.")]
ScenarioArg = Annotated[Path, typer.Argument(help="A scenario file.")]
StackOpt = Annotated[
    Path | None,
    typer.Option(
        "--stack",
        help="Attach to the stack `harness stack up` started (its stack file) instead of "
        "starting one.",
    ),
]


def plugins_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    disable: DisableOpt = None,
) -> None:
    """List the loaded plugins, their fault kinds, backends and reporters."""
    pm = get_plugin_manager(disable=disable or ())
    rows = pm.describe()
    if as_json:
        out.print_json(json.dumps(rows))
        return
    for row in rows:
        out.print(f"{row['name']}  ({row['module']})")
        for backend, kinds in row["backends"].items():
            out.print(f"  backend {backend}: {', '.join(kinds) or '-'}")
        if row["fault_kinds"]:
            out.print(f"  declares fault kinds: {', '.join(row['fault_kinds'])}")
        if row["reporters"]:
            out.print(f"  reporters: {', '.join(row['reporters'])}")
        out.print(f"  hooks: {', '.join(row['hooks']) or '-'}")
    builtin = sorted(k for k, o in pm.kind_owner.items() if o.startswith("harness"))
    out.print(f"engine fault kinds: {', '.join(builtin)}")


def validate_cmd(
    files: Annotated[list[Path], typer.Argument(help="Scenario files (YAML).")],
    disable: DisableOpt = None,
) -> None:
    """Check scenario files; exit 0 when all are valid, 2 otherwise."""
    pm = get_plugin_manager(disable=disable or ())
    bad = 0
    for path in files:
        try:
            scenario = pm.load_scenario(path)
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


def run_cmd(
    scenario_file: ScenarioArg,
    report_dir: ReportDirOpt = Path("reports"),
    seed: SeedOpt = None,
    resilience: ResilienceOpt = True,
    users: UsersOpt = None,
    no_fail: Annotated[
        bool, typer.Option("--no-fail", help="Exit 0 even if the SLA breaks.")
    ] = False,
    stack: StackOpt = None,
    disable: DisableOpt = None,
) -> None:
    """Run one scenario in-process (asyncio load) and write its reports."""
    from harness.report.summary import run_summary
    from harness.run.session import RunOptions, run_scenario

    pm = get_plugin_manager(disable=disable or ())
    scenario = pm.load_scenario(scenario_file)
    check_report_dir(report_dir)
    report = run_scenario(
        scenario,
        pm,
        RunOptions(
            report_dir=report_dir,
            seed=seed,
            resilience=resilience,
            users=users,
            stack_file=stack,
        ),
        source=str(scenario_file),
        on_progress=_print_progress,
    )
    for line in run_summary(report):
        out.print(line)
    out.print(f"reports: {report_dir / report.run_id}.*")
    raise typer.Exit(EXIT_OK if no_fail else exit_code(report))


def _print_progress(progress: Any) -> None:
    err.print(
        f"  [{progress.elapsed:5.1f}s] phase={progress.phase or '-'} users={progress.users} "
        f"requests={progress.requests} failed={progress.failed}"
    )


def gate_cmd(
    reports: Annotated[list[Path], typer.Argument(help="Report files (reports/*.json).")],
    allow_inconclusive: Annotated[
        bool,
        typer.Option(
            "--allow-inconclusive",
            help="Count an inconclusive report (untrustworthy measurement) as held.",
        ),
    ] = False,
) -> None:
    """Exit 0 when every threshold of every report held, 1 on any breach, 2 on a bad report,
    4 when nothing breached but a report is inconclusive."""
    from harness.report.gate import gate

    code, lines = gate(reports, allow_inconclusive=allow_inconclusive)
    for line in lines:
        (out if code == EXIT_OK else err).print(line)
    raise typer.Exit(code)


def app_serve_cmd(
    factory: Annotated[str, typer.Argument(help="module:factory returning an ASGI app.")],
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: a free one).")] = 0,
) -> None:
    """Serve ``module:factory`` with uvicorn; prints ``app listening on http://HOST:PORT``."""
    from harness.run.appserver import serve_app

    serve_app(factory, host=host, port=port)


StateOpt = Annotated[Path, typer.Option("--state", help="The stack file.")]
DEFAULT_STATE = Path(".harness/stack.json")


def stack_up_cmd(
    scenario_file: ScenarioArg,
    state: StateOpt = DEFAULT_STATE,
    resilience: ResilienceOpt = True,
    seed: SeedOpt = None,
    env: Annotated[
        bool,
        typer.Option(
            "--env",
            help="Print only `export` lines for a service you start by hand "
            '(eval "$(harness stack up s.yaml --env)").',
        ),
    ] = False,
    disable: DisableOpt = None,
) -> None:
    """Start the scenario's vendors, Toxiproxy, proxies and target; write the stack file.

    Then run your own service against it (``harness stack env``), and ``harness run`` /
    ``harness load`` / ``pytest`` with ``--stack`` / ``--chaos-stack-file`` the stack file."""
    from harness.cli.stack import stack_up

    info = stack_up(scenario_file, state, resilience=resilience, seed=seed, disable=disable or [])
    if env:
        _print_env(info.env)
        return
    out.print(f"target {info.target_url}")
    for line in info.endpoint_lines():
        out.print(line)
    out.print(f"stack file {state} (stop it with: harness stack down --state {state})")
    out.print(
        f'environment for a service you start by hand: eval "$(harness stack env --state {state})"'
    )


def stack_env_cmd(state: StateOpt = DEFAULT_STATE) -> None:
    """Print `export` lines: the environment a service started by hand needs to use the stack
    (the scenario's target.env with its placeholders filled, and the HARNESS_* variables)."""
    from harness.run.procstack import StackInfo

    if not state.exists():
        raise InputError(f"{state}: no stack file (run `harness stack up` first, or pass --state)")
    _print_env(StackInfo.load(state).env)


def _print_env(env: dict[str, str]) -> None:
    for key, value in sorted(env.items()):
        out.print(f"export {key}={shlex.quote(value)}")


def stack_down_cmd(state: StateOpt = DEFAULT_STATE) -> None:
    """Stop every process of the stack file and remove it."""
    from harness.cli.stack import stack_down

    out.print(f"stopped {stack_down(state)} process(es)")


def load_cmd(
    scenario_file: ScenarioArg,
    users: UsersOpt = None,
    duration: Annotated[
        str | None, typer.Option(help="Override the duration, e.g. 60s (phases are scaled).")
    ] = None,
    processes: Annotated[
        int, typer.Option(min=0, help="Locust worker processes (0: one process).")
    ] = 0,
    report_dir: ReportDirOpt = Path("reports"),
    seed: SeedOpt = None,
    resilience: ResilienceOpt = True,
    stack: StackOpt = None,
    disable: DisableOpt = None,
) -> None:
    """Run a scenario as a Locust load test (headless) with live progress, then gate on its SLA."""
    from harness.cli.load import run_load

    check_report_dir(report_dir)
    if duration is not None:
        duration = _load_duration(duration)
    raise typer.Exit(
        run_load(
            scenario_file,
            users=users,
            duration=duration,
            processes=processes,
            report_dir=report_dir,
            seed=seed,
            resilience=resilience,
            disable=disable or [],
            stack_file=stack,
        )
    )


MAX_DURATION = 24 * 3600.0


def _load_duration(text: str) -> str:
    """``--duration`` checked here (Locust would answer a bad one with a traceback)."""
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise InputError(f"--duration {text!r}: {exc}") from None
    if not 0 < seconds <= MAX_DURATION:
        raise InputError(
            f"--duration {text!r}: expected more than 0s and at most 24h, e.g. 30s or 5m"
        )
    return f"{seconds:g}s"


def build_app(pm: PluginManager | None) -> typer.Typer:
    """The ``harness`` command: the engine's commands, then those ``pm``'s plugins add."""
    app = typer.Typer(
        name="harness",
        help="Chaos and resilience harness for GenAI services.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    app.command("plugins")(plugins_cmd)
    app.command("validate")(validate_cmd)
    app.command("run")(run_cmd)
    app.command("load")(load_cmd)
    app.command("gate")(gate_cmd)
    app_app = typer.Typer(
        help="Serve a target ASGI app (the example service or yours).", no_args_is_help=True
    )
    app_app.command("serve")(app_serve_cmd)
    app.add_typer(app_app, name="app")
    stack_app = typer.Typer(
        help="Start or stop a scenario's stack as background processes.", no_args_is_help=True
    )
    stack_app.command("up")(stack_up_cmd)
    stack_app.command("env")(stack_env_cmd)
    stack_app.command("down")(stack_down_cmd)
    app.add_typer(stack_app, name="stack")
    if pm is not None:
        pm.hook.harness_add_commands(app=app)
    return app


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (usage errors are 2, as click makes them). The one
    place a :class:`HarnessError` becomes a message and an exit code."""
    try:
        app = build_app(get_plugin_manager())
        with sigterm_as_interrupt():  # SIGTERM cleans up like Ctrl-C: faults, processes, files
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
