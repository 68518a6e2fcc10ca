"""Dollars per call: `config.prices` overrides first, then `genai-prices`, else $0.

Overrides are keyed by the full model string (`ollama:llama3`) or the bare model
name. A model with no price costs $0 and is reported once per model through
`warn`. `estimate` bounds a call before it is made (prompt characters / 3 as
tokens, an over-count for English and code, plus the full `max_tokens` of
output) so the budget check errs on the side of stopping early.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from labcoat.llm.presets import ModelRef
from labcoat.llm.types import Usage

CHARS_PER_TOKEN_ESTIMATE = 3


class Pricer:
    def __init__(self, overrides: Mapping[str, Any] | None = None, warn: Callable[[str], None] | None = None):
        self.overrides = dict(overrides or {})
        self.warn = warn
        self._warned: set[str] = set()

    def _override(self, ref: ModelRef) -> Any:
        return self.overrides.get(ref.id) or self.overrides.get(ref.name)

    def _lookup(self, ref: ModelRef, **tokens: int | None) -> Decimal | None:
        """The table's price of `tokens` (genai_prices.Usage fields), or None when it has no entry."""
        import genai_prices  # deferred: its price table takes a third of a second to load

        usage = genai_prices.Usage(**tokens)
        providers = [ref.preset.price_provider] if ref.preset.price_provider else []
        if "/" in ref.name:  # router names such as openai/gpt-4o
            providers.append(None)
        for provider in providers:
            for name in dict.fromkeys([ref.name, ref.base]):
                try:
                    return genai_prices.calc_price(usage, name, provider_id=provider).total_price
                except LookupError:
                    continue
        return None

    def per_mtok(self, ref: ModelRef) -> tuple[float, float] | None:
        """(input, output) dollars per million tokens, or None when unknown."""
        over = self._override(ref)
        if over is not None:
            return float(over.input_per_mtok), float(over.output_per_mtok)
        # Priced at 1k tokens and scaled: a million at once would hit long-context tiers.
        ins = self._lookup(ref, input_tokens=1000)
        outs = self._lookup(ref, output_tokens=1000)
        if ins is None or outs is None:
            return None
        return float(ins) * 1000, float(outs) * 1000

    def dollars(self, ref: ModelRef, usage: Usage) -> float:
        over = self._override(ref)
        if over is not None:
            cached_rate = over.cached_input_per_mtok if over.cached_input_per_mtok is not None else over.input_per_mtok
            fresh = usage.input_tokens - usage.cached_tokens
            return (fresh * over.input_per_mtok + usage.cached_tokens * cached_rate
                    + usage.output_tokens * over.output_per_mtok) / 1_000_000
        price = self._lookup(ref, input_tokens=usage.input_tokens, cache_read_tokens=usage.cached_tokens or None,
                             cache_write_tokens=usage.cache_write_tokens or None, output_tokens=usage.output_tokens)
        if price is None:
            self._warn_unpriced(ref)
            return 0.0
        return float(price)

    def estimate(self, ref: ModelRef, prompt_chars: int, max_tokens: int) -> float:
        guess = Usage(input_tokens=prompt_chars // CHARS_PER_TOKEN_ESTIMATE + 1, output_tokens=max_tokens)
        over = self._override(ref)
        if over is None and self._lookup(ref, input_tokens=1) is None:
            return 0.0
        return self.dollars(ref, guess)

    def _warn_unpriced(self, ref: ModelRef) -> None:
        if ref.id in self._warned:
            return
        self._warned.add(ref.id)
        if self.warn is not None:
            what = "a local model" if ref.preset.local else "not in the price table"
            self.warn(f"{ref.id} is {what}: its calls are counted as $0. "
                      f"Set prices.{ref.id!r} (input_per_mtok, output_per_mtok) in the config to price it.")
