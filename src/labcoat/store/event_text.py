"""Transcript events told as sentences, for people: one wording for `labcoat show` and the dashboard.

`describe(ev)` turns an event (kind, phase, payload) into an `EventText`: a
short bold head, a sentence, an optional longer detail (an agent's text, a
reason) and a tone. The terminal and the web page only style it. A kind with
no sentence of its own (a custom phase's) is told as `field: value` pairs,
never as a JSON document.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable

Tone = str  # "", "ok", "warn", "bad", "phase", "copilot"
ARG = re.compile(r"\s*(\w+)(=|:\n```\n)")


@dataclass(frozen=True)
class EventText:
    head: str
    text: str = ""
    detail: str = ""
    tone: Tone = ""
    code: str = ""  # program text an agent sent (shown as code, apart from the words)


def _num(value: Any, digits: int = 4) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "-" if value is None else str(value)
    return f"{value:.{digits}g}"


def _names(values: Any, limit: int = 8) -> str:
    items = [str(v) for v in values] if isinstance(values, (list, tuple)) else [str(values)]
    more = len(items) - limit
    return ", ".join(items[:limit]) + (f" and {more} more" if more > 0 else "")


def _plural(n: Any, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _phase_name(value: Any) -> str:
    return str(value or "the phase")


def scalar(value: Any, limit: int = 160) -> str:
    """A payload value in a few words: scalars as they are, lists joined, objects by their size."""
    if isinstance(value, dict):
        return f"({_plural(len(value), 'field')})"
    if isinstance(value, (list, tuple)):
        if all(not isinstance(v, (dict, list, tuple)) for v in value):
            return _names(value) if value else "none"
        return f"({_plural(len(value), 'item')})"
    if isinstance(value, float):
        return _num(value, 6)
    text = " ".join(str(value).split()) if value is not None else "-"
    return text if len(text) <= limit else text[:limit] + "…"


def fields(payload: dict) -> str:
    """A payload without a sentence of its own, as `field: value` pairs."""
    return "; ".join(f"{k.replace('_', ' ')}: {scalar(v)}" for k, v in payload.items()) or "(no details)"


def readable(value: Any) -> str:
    """A command argument in words: lists joined, objects as `key value` pairs, nothing quoted."""
    if isinstance(value, dict):
        return ", ".join(f"{k.replace('_', ' ')} {readable(v)}" for k, v in value.items()) or "-"
    if isinstance(value, list):
        joint = "; " if any(isinstance(v, (dict, list)) for v in value) else ", "
        return joint.join(readable(v) for v in value) if value else "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "-" if value is None else str(value)


def command_text(command: Any, text: str) -> tuple[str, str]:
    """An agent's command as the transcript records it (`name: key=<json> key:<block>`), re-told:
    (its arguments in words, its blocks of program text).

    Text of any other shape (a dialogue turn, an older transcript) is returned as it is.
    """
    prefix = f"{command}: "
    if not command or not text.startswith(prefix):
        return text, ""
    rest, at, out, blocks = text[len(prefix):], 0, [], []
    decoder = json.JSONDecoder()
    while at < len(rest):
        arg = ARG.match(rest, at)
        if arg is None:
            return text, ""
        if arg.group(2) == "=":
            try:
                value, at = decoder.raw_decode(rest, arg.end())
            except ValueError:
                return text, ""
            out.append(f"{arg.group(1).replace('_', ' ')}: {readable(value)}")
        else:
            close = rest.find("\n```", arg.end())
            if close < 0:
                return text, ""
            blocks.append(f"# {arg.group(1).replace('_', ' ')}\n{rest[arg.end():close]}")
            at = close + 4
    return "\n".join(out), "\n".join(blocks)


def _agent_turn(p: dict, ev: dict) -> EventText:
    head = str(p.get("role", "?")) + (f" › {p['command']}" if p.get("command") else "")
    step = f"step {p['step']}" if p.get("step") is not None else ""
    words, code = command_text(p.get("command"), str(p.get("text", "")))
    return EventText(head, step, words, code=code)


def _lab_feedback(p: dict, ev: dict) -> EventText:
    step = f"step {p['step']}" if p.get("step") is not None else ""
    tool = f"{p['tool']}" if p.get("tool") else ""
    return EventText("lab", " · ".join(x for x in (step, tool) if x), str(p.get("text", "")))


def _run_start(p: dict, ev: dict) -> EventText:
    phases = p.get("phases") or []
    return EventText("run started", f"{_plural(len(phases), 'phase')}: {_names(phases, 10)}",
                     str(p.get("topic", "")), "phase")


def _run_end(p: dict, ev: dict) -> EventText:
    warnings = p.get("warnings") or 0
    return EventText("run ended", f"with {_plural(warnings, 'warning')}" if warnings else "without warnings",
                     tone="warn" if warnings else "ok")


def _phase_start(p: dict, ev: dict) -> EventText:
    notes = p.get("notes") or []
    return EventText("started", f"(attempt {p.get('attempt', 0)})", "; ".join(map(str, notes)), "phase")


def _gate(p: dict, ev: dict) -> EventText:
    return EventText(f"co-pilot: {p.get('decision')}", "", str(p.get("notes") or ""), "copilot")


def _copilot_revision(p: dict, ev: dict) -> EventText:
    # Kept apart from a revisit: a co-pilot revision re-runs a phase and uses no refinement round.
    return EventText(f"co-pilot revision {p.get('revision')} of {_phase_name(ev.get('phase'))}:",
                     f"attempt {p.get('next_attempt')} next; uses no refinement round "
                     f"({p.get('refinement_rounds_used', 0)} used so far)", tone="copilot")


def _revisit(p: dict, ev: dict) -> EventText:
    return EventText(f"revisit → {p.get('to')}", f"(refinement round {p.get('round')} of {p.get('rounds', '?')})",
                     str(p.get("notes") or ""), "warn")


def _refinement_decision(p: dict, ev: dict) -> EventText:
    decision = f"back to {p['phase']}" if p.get("decision") == "revisit" and p.get("phase") else p.get("decision")
    extra = f"; co-pilot revisions {p['copilot_revisions']}" if p.get("copilot_revisions") else ""
    return EventText(f"PhD decision: {decision}",
                     f"(refinement rounds used {p.get('round', '?')}, left {p.get('rounds_left', '?')}{extra})",
                     str(p.get("reason") or ""))


def _turn_skipped(p: dict, ev: dict) -> EventText:
    return EventText(f"{p.get('role')} sent no valid command; turn skipped", "", str(p.get("error") or ""), "bad")


def _warning(p: dict, ev: dict) -> EventText:
    return EventText("warning:", str(p.get("message", "")), tone="warn")


def _reply_error(p: dict, ev: dict) -> EventText:
    return EventText(f"{p.get('role')}'s reply was not a valid command",
                     f"({p.get('kind')}, {p.get('model')}); asked again", str(p.get("feedback") or ""), "warn")


def _plan(p: dict, ev: dict) -> EventText:
    metrics = p.get("metrics") or []
    return EventText("plan", f"measured by {_names(metrics)}" if metrics else "", str(p.get("question", "")), "ok")


def _mle_seed(p: dict, ev: dict) -> EventText:
    if p.get("file"):
        return EventText("experiments start", f"from the {p.get('kind')} seed program {p['file']}")
    return EventText("experiments start", "from a program the ML engineer writes")


def _mle_node(p: dict, ev: dict) -> EventText:
    status = p.get("status")
    came = f"{p.get('operation')} of {p['parent']}" if p.get("parent") else str(p.get("operation"))
    if status == "ok":
        return EventText(f"node {p.get('id')}", f"({came}) ran: metric {_num(p.get('metric'))}", tone="ok")
    if status == "refused":
        return EventText(f"node {p.get('id')}", f"({came}) refused", str(p.get("refusal") or ""), "warn")
    return EventText(f"node {p.get('id')}", f"({came}) {status}", tone="bad")


def _mle_pool(p: dict, ev: dict) -> EventText:
    return EventText(f"step {p.get('step')}", f"best candidate {p.get('offered')} offered to the pool: "
                     f"{p.get('outcome')}; pool now {_names(p.get('pool') or [])}")


def _mle_dropped(p: dict, ev: dict) -> EventText:
    nodes = p.get("nodes") or []
    return EventText(f"step {p.get('step')}", f"dropped {_plural(len(nodes), 'failed node')}: {_names(nodes)}")


def _mle_best(p: dict, ev: dict) -> EventText:
    tests = [m for m in p.get("test") or [] if isinstance(m, dict)]
    test = "; test " + ", ".join(f"{m.get('name')} {_num(m.get('value'))}" for m in tests) if tests else \
        "; no test metrics"
    reward = f"reward {_num(p.get('reward'), 2)}" if p.get("reward") is not None else "no reward"
    name = p.get("metric_name")
    if p.get("metric") is not None:
        said = f"dev {name or 'metric'} {_num(p.get('metric'))}, {reward}"
    elif name:  # the plan's metric was never recorded under its name: the search ranked by the reward model
        said = f"{reward} (no dev {name} recorded: ranked by reward)"
    elif "metric_name" in p:
        said = f"{reward} (the plan names no metric: ranked by reward)"
    else:  # an event from before metric_name was recorded says nothing either way
        said = f"dev metric -, {reward}"
    return EventText(f"best node {p.get('node')}", f"{said}{test}", tone="ok")


def _paper_draft(p: dict, ev: dict) -> EventText:
    section = str(p.get("section"))
    if p.get("refused"):
        keys = f" ({_names(p['keys'])})" if p.get("keys") else ""
        return EventText(f"draft of {section} sent back", f"(turn {p.get('turn')}): {p['refused']}{keys}",
                         tone="warn")
    lines = p.get("lines") or []
    where = f" as lines {lines[0]}–{lines[1]}" if len(lines) == 2 else ""
    return EventText(f"drafted {section}", f"(turn {p.get('turn')}){where}", tone="ok")


def _paper_search(p: dict, ev: dict) -> EventText:
    added = p.get("added") or []
    return EventText(f"search for {p.get('section')}", f"'{p.get('query')}': "
                     + (f"added {_names(added)}" if added else "nothing new"))


def _version_words(p: dict) -> str:
    compiled = "compiles" if p.get("compiled") else "does not compile"
    return (f"{compiled}, {_plural(p.get('integrity_errors', 0), 'integrity error')}, "
            f"reviewer score {_num(p.get('score'), 3)}")


def _paper_version(p: dict, ev: dict) -> EventText:
    which = "the draft" if p.get("step") == 0 else f"step {p.get('step')}'s version"
    return EventText(f"paper: {which}", _version_words(p) + ("; kept" if p.get("kept") else "; not kept"),
                     tone="ok" if p.get("kept") else "")


def _paper_compile(p: dict, ev: dict) -> EventText:
    if p.get("ok"):
        return EventText("LaTeX compiled", tone="ok")
    errors = [str(e) for e in p.get("errors") or []]
    return EventText("LaTeX did not compile", f"({_plural(len(errors), 'error')})", "\n".join(errors[:5]), "bad")


def _paper_edit(p: dict, ev: dict) -> EventText:
    return EventText(f"edit at step {p.get('step')} refused", f"(attempt {p.get('attempt')})",
                     str(p.get("refused") or ""), "warn")


def _figure_check(p: dict, ev: dict) -> EventText:
    problems = [str(x) for x in p.get("problems") or []]
    return EventText(f"figure {p.get('figure')} looked at", f"by {p.get('model')}: "
                     + (_plural(len(problems), "problem") if problems else "fine"),
                     "\n".join(problems[:5]), "warn" if problems else "ok")


def _paper_done(p: dict, ev: dict) -> EventText:
    pdf = f"PDF {p['pdf']}" if p.get("pdf") else "no PDF"
    return EventText("paper done", f"{pdf}; {_plural(p.get('integrity_errors', 0), 'integrity error')}; "
                     f"reviewer score {_num(p.get('score'), 3)}", tone="ok" if p.get("pdf") else "warn")


def _published(p: dict, ev: dict) -> EventText:
    return EventText(f"published as {p.get('archive_id')}", f"to the archive at {p.get('url')}", tone="ok")


def _reviews(p: dict, ev: dict) -> EventText:
    reviews = [r for r in p.get("reviews") or [] if isinstance(r, dict)]
    scores = ", ".join(f"{r.get('reviewer')} {r.get('overall')}" for r in reviews)
    skipped = f"; no review from {_names(p['skipped_reviewers'])}" if p.get("skipped_reviewers") else ""
    return EventText(f"{_plural(len(reviews), 'review')}",
                     f"overall mean {_num(p.get('overall_mean'), 3)} (spread {_num(p.get('overall_spread'), 3)}), "
                     f"decision {p.get('decision')}: {scores}{skipped}")


WORDS: dict[str, Callable[[dict, dict], EventText]] = {
    "agent_turn": _agent_turn, "lab_feedback": _lab_feedback, "run_start": _run_start, "run_end": _run_end,
    "phase_start": _phase_start, "phase_end": lambda p, ev: EventText("done", tone="phase"), "gate": _gate,
    "copilot_revision": _copilot_revision, "revisit": _revisit, "refinement_decision": _refinement_decision,
    "turn_skipped": _turn_skipped, "warning": _warning, "llm_reply_error": _reply_error, "plan": _plan,
    "mle_seed": _mle_seed, "mle_node": _mle_node, "mle_pool": _mle_pool, "mle_dropped": _mle_dropped,
    "mle_best": _mle_best, "paper_draft": _paper_draft, "paper_search": _paper_search,
    "paper_version": _paper_version, "paper_compile": _paper_compile, "paper_edit": _paper_edit,
    "paper_done": _paper_done, "figure_check": _figure_check, "published": _published, "reviews": _reviews,
}


def describe(ev: dict) -> EventText:
    """The event as a sentence; a payload that does not have the expected shape still reads as fields."""
    payload = ev.get("payload")
    if not isinstance(payload, dict):
        payload = {"value": payload}
    words = WORDS.get(str(ev.get("kind")))
    if words is not None:
        try:
            return words(payload, ev)
        except (TypeError, ValueError, KeyError, AttributeError, IndexError):
            pass  # an older or hand-written payload: told as fields below
    return EventText(str(ev.get("kind")).replace("_", " "), fields(payload))
