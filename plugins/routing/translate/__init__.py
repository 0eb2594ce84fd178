"""Anthropic Messages <-> OpenAI Chat Completions translation, both directions, streaming too.

Pure functions and small state machines over plain dicts (decoded with msgspec) and bytes:
no I/O and no framework, so the gateway's hot path can call them directly and tests can
run them on recorded fixtures. Every mapping and every knowingly dropped field is listed
in README.md next to this file.
"""

from __future__ import annotations

from ._common import TranslateOptions, TranslationError
from .errors import anthropic_error, error_message_from_upstream, openai_error
from .gemini import anthropic_request_to_gemini, gemini_response_to_anthropic
from .request_a2o import anthropic_request_to_openai, drop_unsigned_thinking
from .request_o2a import openai_request_to_anthropic
from .responses import anthropic_response_to_openai, openai_response_to_anthropic
from .sse import SSEParser, anthropic_sse, openai_sse
from .stream_a2o import AnthropicToOpenAIStream
from .stream_gemini import GeminiToAnthropicStream
from .stream_o2a import OpenAIToAnthropicStream

__all__ = [
    "AnthropicToOpenAIStream",
    "GeminiToAnthropicStream",
    "OpenAIToAnthropicStream",
    "SSEParser",
    "TranslateOptions",
    "TranslationError",
    "anthropic_error",
    "anthropic_request_to_gemini",
    "anthropic_request_to_openai",
    "anthropic_response_to_openai",
    "anthropic_sse",
    "drop_unsigned_thinking",
    "error_message_from_upstream",
    "gemini_response_to_anthropic",
    "openai_error",
    "openai_request_to_anthropic",
    "openai_response_to_anthropic",
    "openai_sse",
]
