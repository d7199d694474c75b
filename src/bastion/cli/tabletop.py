"""``bastion tabletop``: run incident-response exercises from a scenario (injects on the
session clock, decisions timed against the playbook's deadlines, an after-action report
recorded as evidence). Nothing in an exercise executes a playbook action."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from bastion.cli._common import Format, FormatOpt, out, print_json, print_table, workspace
from bastion.cli.incident import ActorOpt, _actor
from bastion.core.errors import InputError

app = typer.Typer(
    help="Tabletop exercises: scripted injects, decisions against deadlines, after-action reports.",
    no_args_is_help=True,
)


def _show(s: Any, format: Format) -> None:
    from bastion.incidents._tabletop import fmt_offset

    if format is Format.JSON:
        print_json(s.to_dict())
        return
    out.print(
        f"[bold]{s.scenario.title}[/] (session {s.id})\n"
        f"playbook {s.playbook}, clock {fmt_offset(s.clock_s)} (x{s.speed:g}), "
        f"{len(s.injects)} inject(s) delivered, {s.pending_injects} to come"
    )
    print_table(
        "Steps",
        ["step", "owners", "deadline", "decided", "status"],
        [(st.step, ", ".join(st.owners), fmt_offset(st.deadline_s), fmt_offset(st.decided_s),
          st.status) for st in s.steps],
    )  # fmt: skip
    rows = [(fmt_offset(i["at_s"]), "scenario", f"{i['kind']}: {i['title']}") for i in s.injects]
    rows += [(fmt_offset(d["at_s"]), d["actor"],
              (f"[{d['step']}] " if d.get("step") else "") + d["decision"]) for d in s.decisions]  # fmt: skip
    print_table("Timeline", ["at", "who", "what"], sorted(rows))


@app.command("scenarios")
def scenarios(format: Format = FormatOpt) -> None:
    """The shipped scenarios (id, expected playbook, injects, clock speed)."""
    from bastion.incidents import shipped_scenarios

    got = shipped_scenarios()
    if format is Format.JSON:
        print_json([s.model_dump(mode="json") for s in got])
        return
    print_table(
        "Scenarios",
        ["id", "playbook", "injects", "speed", "title"],
        [(s.id, s.playbook, len(s.injects), f"x{s.speed:g}", s.title) for s in got],
    )


@app.command("start")
def start(
    scenario: str = typer.Argument(help="A shipped scenario id or a scenario YAML file."),
    speed: float | None = typer.Option(
        None, help="Scenario seconds per wall second (default: the scenario's)."
    ),
    actor: str | None = ActorOpt,
    format: Format = FormatOpt,
) -> None:
    """Start a session: the first inject opens an exercise incident and the playbook's
    steps are planned with their owners and deadlines (no action runs)."""
    from bastion.incidents import get_scenario, start_session

    with workspace() as ws:
        s = start_session(ws, get_scenario(scenario), actor=_actor(actor), speed=speed)
    _show(s, format)


@app.command("status")
def status(session: str, format: Format = FormatOpt) -> None:
    """The session now: its clock, the injects it reached, steps and decisions."""
    from bastion.incidents import tabletop_session

    with workspace() as ws:
        s = tabletop_session(ws, session)
    _show(s, format)


@app.command("decide")
def decide(
    session: str,
    decision: str = typer.Argument(help="What was decided."),
    step: str | None = typer.Option(None, help="The playbook step it answers."),
    actor: str | None = ActorOpt,
    format: Format = FormatOpt,
) -> None:
    """Record a participant's decision (who, what, the session clock), optionally for a
    playbook step: the step is then met or late against its deadline."""
    from bastion.incidents import decide as do

    with workspace() as ws:
        s = do(ws, session, decision, actor=_actor(actor), step=step)
    _show(s, format)


@app.command("advance")
def advance(
    session: str,
    by: str = typer.Argument(help="A duration: 30m, 2h, 1d."),
    actor: str | None = ActorOpt,
    format: Format = FormatOpt,
) -> None:
    """Jump the session clock forward (the facilitator's 'two hours later')."""
    from bastion.incidents import advance as do

    with workspace() as ws:
        s = do(ws, session, by, actor=_actor(actor))
    _show(s, format)


@app.command("report")
def report(
    session: str,
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write the report here (.md or .html)."
    ),
    actor: str | None = ActorOpt,
    format: Format = FormatOpt,
) -> None:
    """The after-action report (timeline, each step met, late, missed or open, gaps),
    recorded as incidents.tabletop evidence. Exit 1 when a step was missed."""
    from bastion.incidents import after_action

    with workspace() as ws:
        rep = after_action(ws, session, actor=_actor(actor))
    if output is not None:
        body = rep.html() if output.suffix in (".html", ".htm") else rep.markdown()
        try:
            output.write_text(body, encoding="utf-8")
        except OSError as exc:
            raise InputError(f"--output {output.name}: cannot write ({exc.strerror})") from None
    if format is Format.JSON:
        print_json(rep.to_dict())
    else:
        out.print(rep.markdown())
    if rep.counts["missed"]:
        raise typer.Exit(1)
