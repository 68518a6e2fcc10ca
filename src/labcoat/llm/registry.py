"""`ModelRegistry`: the one door agents and phases use to talk to models.

`ctx.models.ask(key=..., role=..., system=..., messages=..., commands=...)`
picks the model with `config.models.for_agent(ctx.phase, role)` (`auto` goes
through `labcoat.llm.auto.resolve_auto`), and makes each attempt a memoised
effect of kind `llm` at `<key>/llm/<attempt>`. The recorded request is the
model string, system text, messages, wire schema and parameters, never a key,
so a resumed or replayed run serves the recorded completion: 0 tokens, $0, no
ledger row. A live call first checks the budget (`BudgetExceeded` when the
estimate would pass `budget.dollars`), then writes a ledger row and reports
spend to `ctx.progress`. A malformed reply is answered with the parser's exact
error and asked again, up to `config.models.reply_retries` times; each attempt
is its own effect and its own `llm_reply_error` event; past the budget the run
pauses (`MalformedReply`) and resuming with more re-asks goes on. Local models
(`local:NAME`) start a `LocalServer` on first use; `close()` stops it.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from labcoat.errors import BudgetExceeded, ConfigError, RunPaused
from labcoat.llm.commands import CommandSet, ReplyError
from labcoat.llm.faults import ProviderError
from labcoat.retry import Backoff
from labcoat.llm.model import Model, system_with, to_reply
from labcoat.llm.presets import PRESETS, ModelRef, api_key_for, base_url_for, parse_model
from labcoat.llm.pricing import Pricer
from labcoat.llm.types import Reply, Usage
from labcoat.llm.vision import accepts_images, for_record, has_images, text_of


class MalformedReply(RunPaused):
    """The model kept sending invalid commands past `models.reply_retries`.

    A pause, not a failure: resuming with more re-asks (or another model) replays
    the recorded attempts and goes on from the last one.
    """

    reason = "malformed_reply"


LOCAL_TIMEOUT_S = 900.0
IMAGE_CHARS = 6000  # a budget estimate of an image's input, about 1500 tokens


class ModelRegistry:
    def __init__(self, ctx: Any, *, env: Mapping[str, str] | None = None, backoff: Backoff | None = None,
                 sleep: Callable[[float], None] | None = None, local_server_factory: Callable[[str], Any] | None = None):
        self.ctx = ctx
        self.config = ctx.config
        self.env = dict(os.environ if env is None else env)
        self.backoff = backoff or Backoff()
        self.sleep = sleep
        self.local_server_factory = local_server_factory
        self.pricer = Pricer(self.config.prices, warn=self._note)
        self._models: dict[str, Model] = {}
        self._servers: dict[str, Any] = {}
        self._auto: str | None = None
        self._wires: dict[tuple, tuple[CommandSet, dict]] = {}
        # Calls may run in parallel (candidates): building models and budget reservations are guarded.
        self._lock = threading.RLock()
        self._reserved = 0.0

    # -- choosing and building models -----------------------------------------
    def secrets(self) -> list[str]:
        """Every key value this registry could send, for scrubbing."""
        names = {p.key_env for p in PRESETS.values() if p.key_env}
        return [self.env[n] for n in names if self.env.get(n, "").strip()]

    def model_for(self, role: str | None) -> str:
        configured = self.config.models.for_agent(self.ctx.phase, role)
        if configured.strip().lower() != "auto":
            return parse_model(configured).id
        if self._auto is None:
            try:
                from labcoat.llm.auto import resolve_auto
            except ImportError as exc:
                raise ConfigError(f"model: auto cannot be resolved here ({exc}); name a model such as "
                                  "openai:gpt-4o-mini", path="models.default") from None
            # A recorded choice: a resumed run keeps the model it started with even if
            # a key was set or Ollama appeared meanwhile (`--set models.default=...` changes it).
            choice = self.ctx.effects.run("model_choice", "run/model-auto", {"model": "auto"},
                                          lambda: list(resolve_auto(self.env)))
            self._auto = parse_model(choice[0]).id
            self._note(choice[1])
        return self._auto

    def get(self, model: str) -> Model:
        ref = parse_model(model)
        with self._lock:
            if ref.id not in self._models:
                self._models[ref.id] = self._build(ref)
            return self._models[ref.id]

    def _build(self, ref: ModelRef) -> Model:
        served = None
        if ref.preset.name == "local":
            server = self._local_server(ref.name)
            base_url, served = server.base_url, getattr(server, "model_alias", ref.name)
        else:
            base_url = base_url_for(ref.preset, self.config.services.provider_base_urls, self.env)
        m = self.config.models
        timeout = m.request_timeout_s
        if ref.preset.name in ("local", "ollama", "llamacpp"):
            # Models on this machine's CPU read long prompts slowly (tens of tokens a
            # second on 2 cores): give them minutes, not a hosted API's deadline.
            timeout = max(timeout, LOCAL_TIMEOUT_S)
        return Model(ref, base_url=base_url, api_key=api_key_for(ref, self.env), timeout_s=timeout,
                     retries=m.retries, backoff=self.backoff, pricer=self.pricer, secrets=tuple(self.secrets()),
                     served_name=served, sleep=self.sleep, on_retry=self._note)

    def _local_server(self, name: str) -> Any:
        # called under self._lock (from get), so one server starts per model
        if name not in self._servers:
            if self.local_server_factory is not None:
                server = self.local_server_factory(name)
            else:
                from labcoat.llm.local_server import LocalServer
                server = LocalServer(model=name)
            server.start()
            self._servers[name] = server
        return self._servers[name]

    @property
    def local_servers(self) -> list[Any]:
        """The local model servers this registry started (stopped by `close`)."""
        return list(self._servers.values())

    def close(self) -> None:
        for model in self._models.values():
            model.close()
        self._models.clear()
        servers, self._servers = list(self._servers.values()), {}
        for server in servers:
            server.stop()

    def _note(self, text: str) -> None:
        # Live-only notices go to the log and terminal, not the transcript (replays must emit the same events).
        self.ctx.store.log("llm", text)
        self.ctx.progress.message(text, level="warning")

    # -- asking -----------------------------------------------------------------
    def ask(self, *, key: str, role: str, system: str, messages: Sequence[Mapping[str, str]],
            commands: Sequence[type] | None = None, temperature: float | None = None,
            max_tokens: int | None = None, choices: Mapping[str, Sequence[str]] | None = None) -> Reply:
        # The model is built (and a local server started) only for a live call: replay needs neither.
        ref = parse_model(self.model_for(role))
        cmdset, wire, full_system = self._prepare(ref, system, commands, choices)
        temperature = self.config.models.temperature if temperature is None else temperature
        max_tokens = max_tokens or self.config.models.max_tokens
        convo = [{"role": str(m["role"]), "content": m["content"] if isinstance(m["content"], list)
                  else str(m["content"])} for m in messages]
        if any(has_images(m["content"]) for m in convo) and not accepts_images(ref):
            raise ProviderError(f"{ref.id} does not accept images (labcoat.llm.vision lists the models that do); "
                                f"ask a vision model at {key}, or skip the image")
        usage, dollars, replayed, last_error = Usage(), 0.0, True, None
        for attempt in range(self.config.models.reply_retries + 1):
            effect_key = f"{key}/llm/{attempt}"
            # images are recorded by their hash; the live call sends their bytes
            request = {"model": ref.id, "system": full_system, "schema": wire, "temperature": temperature,
                       "max_tokens": max_tokens,
                       "messages": [{**m, "content": for_record(m["content"])} for m in convo]}
            live: list[bool] = []

            def call(request=request, effect_key=effect_key, live=live, sent=list(convo)) -> dict:
                live.append(True)
                return self._live(self.get(ref.id), effect_key, role, {**request, "messages": sent})

            raw = self.ctx.effects.run("llm", effect_key, request, call)
            replayed = replayed and not live
            usage, dollars = usage + Usage.from_dict(raw.get("usage")), dollars + float(raw.get("dollars") or 0)
            if cmdset is None:
                return to_reply(raw, None, model=ref.id, attempts=attempt + 1, replayed=replayed, usage=usage,
                                dollars=dollars)
            try:
                command = cmdset.parse(raw, ref.mode)  # type: ignore[arg-type]
            except ReplyError as err:
                last_error = err
                self.ctx.emit("llm_reply_error", {"key": effect_key, "role": role, "model": ref.id,
                                                  "kind": err.kind, "feedback": err.feedback})
                convo = [*convo, {"role": "assistant", "content": render_attempt(raw)},
                         {"role": "user", "content": f"Error: {err.feedback}"}]
                continue
            return to_reply(raw, command, model=ref.id, attempts=attempt + 1, replayed=replayed, usage=usage,
                            dollars=dollars)
        retries = self.config.models.reply_retries
        raise MalformedReply(f"{ref.id} sent no valid command at {key} in {retries + 1} attempts; "
                             f"last error: {last_error.feedback if last_error else '?'}",
                             hint=f"labcoat resume {self.ctx.run_id} --set models.reply_retries={retries * 2 + 2} "
                                  "(or choose a stronger model for this role)")

    def _prepare(self, ref: ModelRef, system: str, commands: Sequence[type] | None,
                 choices: Mapping[str, Sequence[str]] | None = None) -> tuple:
        """(CommandSet, wire schema, system text); schemas are built once per command list and mode."""
        if not commands:
            return None, None, system
        if choices:  # changes from reply to reply: not worth caching
            cmdset = CommandSet(commands, choices)
            return cmdset, cmdset.wire(ref.mode), system_with(system, cmdset, ref.mode)  # type: ignore[arg-type]
        key = (tuple(commands), ref.mode)
        with self._lock:
            if key not in self._wires:
                cmdset = CommandSet(commands)
                self._wires[key] = (cmdset, cmdset.wire(ref.mode))  # type: ignore[arg-type]
            cmdset, wire = self._wires[key]
        return cmdset, wire, system_with(system, cmdset, ref.mode)

    def _live(self, model: Model, effect_key: str, role: str, request: dict) -> dict:
        chars = len(request["system"]) + sum(len(text_of(m["content"])) for m in request["messages"])
        chars += IMAGE_CHARS * sum(has_images(m["content"]) for m in request["messages"])
        if request["schema"]:
            chars += len(str(request["schema"]))
        reserved = self._reserve_budget(model, effect_key, chars, request["max_tokens"])
        try:
            raw = model.call(request["system"], request["messages"], request["schema"],
                             temperature=request["temperature"], max_tokens=request["max_tokens"],
                             cache_key=self.cache_key(role))
            usage = Usage.from_dict(raw["usage"])
            self._ledger(effect_key, role, model, raw)
        except RunPaused as pause:
            pause.hint = pause.hint.replace("labcoat resume RUN", f"labcoat resume {self.ctx.run_id}")
            raise
        finally:
            with self._lock:  # released only once the ledger holds the real cost
                self._reserved -= reserved
        self.ctx.progress.spend(usage.total, raw["dollars"])
        return raw

    def cache_key(self, role: str) -> str:
        """One key per run and role: calls sharing a prefix share a key. Hashed, so the provider sees
        neither the run's name nor the role's; not part of the recorded request (replays are unchanged)."""
        digest = hashlib.sha256(f"{self.ctx.run_id}\n{role}".encode()).hexdigest()
        return f"labcoat-{digest[:24]}"

    def experiment_call(self, effect_key: str, request: dict, *, node: str | None) -> dict:
        """One live chat call an experiment program made through the gateway (`labcoat.llm.chat`).

        Under the same budget as agents' calls (`BudgetExceeded` before sending when it
        could pass the cap); the ledger row has role `experiment` and the program's node.
        The caller records it as an effect, so a replay never comes here.
        """
        from labcoat.llm.chat import prompt_chars

        model = self.get(request["model"])
        reserved = self._reserve_budget(model, effect_key, prompt_chars(request), request["max_tokens"])
        try:
            raw = model.chat(request)
            self._ledger(effect_key, "experiment", model, raw, node=node)
        except RunPaused as pause:
            pause.hint = pause.hint.replace("labcoat resume RUN", f"labcoat resume {self.ctx.run_id}")
            raise
        finally:
            with self._lock:
                self._reserved -= reserved
        self.ctx.progress.spend(Usage.from_dict(raw["usage"]).total, raw["dollars"])
        return raw

    def _ledger(self, effect_key: str, role: str, model: Model, raw: dict, node: str | None = None) -> None:
        usage = Usage.from_dict(raw["usage"])
        self.ctx.store.put_ledger(effect_key, phase=self.ctx.phase, role=role, model=model.id,
                                  input_tokens=usage.input_tokens, cached_tokens=usage.cached_tokens,
                                  cache_write_tokens=usage.cache_write_tokens,
                                  output_tokens=usage.output_tokens, reasoning_tokens=usage.reasoning_tokens,
                                  dollars=raw["dollars"], latency_s=raw["latency_s"], node=node)

    def _reserve_budget(self, model: Model, effect_key: str, chars: int, max_tokens: int) -> float:
        """Hold the call's worst-case cost against the cap while it runs (parallel calls count too)."""
        cap = self.config.budget.dollars
        if cap is None:
            return 0.0
        estimate = self.pricer.estimate(model.ref, chars, max_tokens)
        with self._lock:
            spent = self.ctx.store.dollars_spent() + self._reserved
            if spent + estimate <= cap:
                self._reserved += estimate
                return estimate
        suggest = max(cap * 2, spent + estimate * 10)
        raise BudgetExceeded(
            f"budget reached: ${spent:.4f} of ${cap:.4f} spent or committed, and the next call ({model.id} at "
            f"{effect_key}) could cost up to ${estimate:.4f}",
            hint=f"labcoat resume {self.ctx.run_id} --set budget.dollars={suggest:.2f}")


def render_attempt(raw: dict) -> str:
    """A rejected reply as plain assistant text (no tool-call blocks, valid for every wire)."""
    parts = [raw.get("text") or ""]
    for call in raw.get("tool_calls") or []:
        parts.append(f"[called {call.get('name')} with {call.get('arguments')}]")
    return "\n".join(p for p in parts if p) or "(empty reply)"
