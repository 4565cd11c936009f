"""The human report of a run (Markdown with a Mermaid sequence diagram) and the JSON summary."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from scenarios.expectations import Verdict, run_passed
from scenarios.results import Event, JSONValue, RunResult

# Mermaid renders slowly past a few hundred messages; the transcript keeps everything.
MAX_DIAGRAM_EVENTS = 300
SERVICE = "DS"
# Frames worth a line of their own; application texts are shown by the clients' events.
_DIAGRAM_FRAMES = ("commit", "welcome", "key_package", "invitation", "create_group", "error")


def _cell(value: object) -> str:
    """A Markdown table cell: no pipes or line breaks."""
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _mermaid_text(value: object) -> str:
    """Message text Mermaid accepts: ';' ends a statement and '#' starts an entity."""
    text = str(value).replace("\n", " ").replace(";", ",").replace("#", "no.")
    return text if len(text) <= 60 else text[:57] + "..."


def _table(headers: Iterable[str], rows: Iterable[Iterable[object]]) -> list[str]:
    headers = list(headers)
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def _plus(tn: str | None) -> str:
    return f"+{tn}" if tn else "?"


def sequence_diagram(result: RunResult) -> list[str]:
    """The run as a Mermaid sequence diagram (client <-> delivery service)."""
    actors = result.scenario.actors
    seen = {e.actor for e in result.events if e.actor in actors}
    involved = [name for name in actors if name in seen]  # the file's order
    lines = ["```mermaid", "sequenceDiagram"]
    for name in involved:
        lines.append(f"    participant {name} as {name} +{actors[name].tn}")
    lines.append(f"    participant {SERVICE} as delivery service")
    shown = 0
    for event in result.events:
        line = _diagram_line(event, involved)
        if line is None:
            continue
        if shown == MAX_DIAGRAM_EVENTS:
            rest = sum(1 for e in result.events if _diagram_line(e, involved)) - shown
            lines.append(f"    Note over {SERVICE}: ... {rest} more events in the transcript")
            break
        lines.append("    " + line)
        shown += 1
    lines.append("```")
    return lines


def _diagram_line(event: Event, involved: list[str]) -> str | None:
    d = event.data
    who = event.actor if event.actor in involved else None
    group = f" [{event.group}]" if event.group else ""
    match event.kind:
        case "sent" if who:
            what = d.get("text")
            label = f'"{what}"' if what is not None else str(d.get("message", "message"))
            return f"{who}->>{SERVICE}: {_mermaid_text(label + group)}"
        case "received" if who:
            what = d.get("text")
            label = f'"{what}"' if what is not None else str(d.get("message", "message"))
            sender = f" from {d['sender']}" if d.get("sender") else ""
            return f"{SERVICE}->>{who}: {_mermaid_text(label + sender + group)}"
        case "verdict" if not d.get("accepted"):
            subject = d.get("subject") or _plus(_str(d.get("subject_tn")))
            over = who or SERVICE
            text = f"rejects {subject}: {d.get('reason')} ({d.get('rule')})"
            return f"Note over {over}: {_mermaid_text(text)}"
        case "epoch" if who:
            text = f"{event.group} epoch {d.get('epoch')} code {d.get('code')}"
            return f"Note over {who}: {_mermaid_text(text)}"
        case "comparison":
            between = d.get("between")
            if isinstance(between, list) and len(between) == 2:
                a, b = str(between[0]), str(between[1])
                if a in involved and b in involved:
                    verdict = "codes match" if d.get("match") else "CODES DIFFER"
                    return f"{a}-->>{b}: {_mermaid_text('out of band: ' + verdict)}"
            return None
        case "alarm" if who:
            return f"Note over {who}: {_mermaid_text('ALARM: ' + str(d.get('detail', '')))}"
        case "adversary":
            return f"Note over {SERVICE}: {_mermaid_text('adversary: ' + str(d.get('act')))}"
        case "frame" if who and d.get("message") in _DIAGRAM_FRAMES:
            message = str(d.get("message")).replace("_", " ")
            arrow = f"{who}->>{SERVICE}" if d.get("direction") == "to_service" else None
            arrow = arrow or f"{SERVICE}->>{who}"
            epoch = f" epoch {d['epoch']}" if d.get("epoch") is not None else ""
            return f"{arrow}: {_mermaid_text(message + epoch)}"
        case "service" if event.actor is None:
            return f"Note over {SERVICE}: {_mermaid_text(str(d.get('state')))}"
        case "step" if d.get("phase") == "end" and d.get("outcome") == "rejected" and who:
            text = f"{d.get('label')} rejected: {d.get('reason')}"
            return f"Note over {who}: {_mermaid_text(text)}"
    return None


def _str(value: JSONValue) -> str | None:
    return value if isinstance(value, str) else None


def render_report(
    result: RunResult,
    verdicts: tuple[Verdict, ...],
    *,
    transcript: Path | None = None,
) -> str:
    """The Markdown report of a run."""
    scenario = result.scenario
    held = sum(1 for v in verdicts if v.held)
    status = "PASSED" if run_passed(result, verdicts) else "FAILED"
    out = [f"# Scenario: {scenario.name}", ""]
    if scenario.description:
        out += [scenario.description.strip(), ""]
    out += [
        f"**{status}**: {held} of {len(verdicts)} expectations hold. "
        f"Run time {result.seconds:.1f} s; file `{scenario.source}`.",
        "",
    ]
    if result.error:
        out += [f"The run stopped early: {result.error}", ""]
    if transcript is not None:
        out += [f"Transcript: `{transcript}`", ""]

    out += ["## Expectations", ""]
    out += _table(
        ["#", "expectation", "holds", "found"],
        (
            (v.expectation.index, v.description, "yes" if v.held else "**NO**", v.explanation)
            for v in verdicts
        ),
    )
    out += ["", "## Steps", ""]
    out += _table(
        ["#", "step", "action", "actor", "outcome", "rule", "detail"],
        (
            (
                s.index,
                s.label,
                s.action,
                s.actor or "",
                s.outcome + (f" ({s.reason})" if s.reason else ""),
                s.rule or "",
                s.detail or "",
            )
            for s in result.steps
        ),
    )
    out += ["", "## Each member's epoch and code", ""]
    out += [
        "Two members at the same epoch with different codes are not in the same group "
        "(PROFILE.md §8).",
        "",
    ]
    out += _table(
        ["actor", "number", "group", "epoch", "code", "members", "alarm"],
        (
            (
                v.actor,
                _plus(scenario.actors[v.actor].tn) if v.actor in scenario.actors else "",
                v.group,
                v.epoch,
                f"`{v.code}`",
                len(v.members),
                "RAISED" if v.alarm else "",
            )
            for v in sorted(result.views, key=lambda v: (v.group, v.actor))
        ),
    )
    if result.comparisons:
        out += ["", "## Code comparisons (out of band)", ""]
        out += _table(
            ["group", "between", "epochs", "codes", "result"],
            (
                (
                    c.group,
                    " and ".join(c.between),
                    " / ".join(str(e) for e in c.epochs),
                    " / ".join(f"`{code}`" for code in c.codes),
                    "match" if c.match else "**DIFFER**",
                )
                for c in result.comparisons
            ),
        )
    acts = [e for e in result.events if e.kind == "adversary"]
    if acts:
        out += ["", "## What the adversaries did", ""]
        out += [f"- {e.t:.2f} s: {e.data.get('act')}" for e in acts[:100]]
        if len(acts) > 100:
            out.append(f"- ... {len(acts) - 100} more in the transcript")
    out += ["", "## Credentials", ""]
    if not result.verdicts:
        out += ["No credential checks were recorded.", ""]
    else:
        accepted = sum(1 for c in result.verdicts if c.accepted)
        out += [
            f"{accepted} accepted, {len(result.verdicts) - accepted} rejected.",
            "",
        ]
        out += _table(
            ["checked by", "member", "kind", "at", "group", "verdict", "rule", "reason"],
            (
                (
                    c.verifier,
                    (c.subject + " " if c.subject else "") + _plus(c.subject_tn),
                    c.kind or "",
                    c.where,
                    c.group or "",
                    "accepted" if c.accepted else "**rejected**",
                    c.rule or "",
                    (c.reason or "") + (f": {c.detail}" if c.detail else ""),
                )
                for c in result.verdicts
            ),
        )
    out += ["", "## Sequence of the run", ""]
    out += sequence_diagram(result)
    return "\n".join(out) + "\n"


def summary(
    result: RunResult,
    verdicts: tuple[Verdict, ...],
    *,
    report: Path | None = None,
    transcript: Path | None = None,
) -> dict[str, JSONValue]:
    """The ``--json`` summary of a run."""
    return {
        "scenario": result.scenario.name,
        "file": result.scenario.source,
        "passed": run_passed(result, verdicts),
        "seconds": round(result.seconds, 3),
        "error": result.error,
        "expectations": [
            {
                "index": v.expectation.index,
                "line": v.expectation.line,
                "expectation": v.description,
                "held": v.held,
                "found": v.explanation,
            }
            for v in verdicts
        ],
        "steps": [
            {"label": s.label, "action": s.action, "outcome": s.outcome, "reason": s.reason}
            for s in result.steps
        ],
        "codes": [
            {"actor": v.actor, "group": v.group, "epoch": v.epoch, "code": v.code}
            for v in result.views
        ],
        "report": str(report) if report else None,
        "transcript": str(transcript) if transcript else None,
    }


def summary_line(data: dict[str, JSONValue]) -> str:
    """The summary as one line of JSON."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))
