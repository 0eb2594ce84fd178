#!/usr/bin/env python3
"""Writes the request bodies the benchmarks POST (run it again after editing).

Why generated: the bodies must look like real client traffic (Claude Code's
system blocks, tool schemas, metadata and thinking settings; a typical OpenAI
chat call) so a gateway pays its real parsing and translation cost, and a
script keeps the streaming and non-streaming variants identical but for
``stream``. Each file is 2-8 KB.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SESSION = "6f1c2a9e-4b7d-4e21-9a53-0c8d7e2f1b44"


def _tool(name: str, description: str, props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "name": name,
        "description": description,
        "input_schema": {
            "type": "object",
            "properties": props,
            "required": required,
            "additionalProperties": False,
        },
    }


def _s(desc: str) -> dict[str, str]:
    return {"type": "string", "description": desc}


TOOLS = [
    _tool("Task", "Launch a new agent to handle complex, multi-step tasks autonomously.",
          {"description": _s("A short (3-5 word) description of the task"),
           "prompt": _s("The task for the agent to perform"),
           "subagent_type": _s("The type of specialized agent to use for this task")},
          ["description", "prompt", "subagent_type"]),
    _tool("Bash", "Executes a given bash command in a persistent shell session with optional timeout.",
          {"command": _s("The command to execute"),
           "timeout": {"type": "number", "description": "Optional timeout in milliseconds (max 600000)"},
           "description": _s("Clear, concise description of what this command does in 5-10 words"),
           "run_in_background": {"type": "boolean", "description": "Run this command in the background"}},
          ["command"]),
    _tool("Glob", "Fast file pattern matching tool that works with any codebase size.",
          {"pattern": _s("The glob pattern to match files against"),
           "path": _s("The directory to search in; defaults to the current working directory")},
          ["pattern"]),
    _tool("Grep", "A powerful search tool built on ripgrep.",
          {"pattern": _s("The regular expression pattern to search for in file contents"),
           "path": _s("File or directory to search in"),
           "glob": _s("Glob pattern to filter files (e.g. \"*.js\")"),
           "output_mode": {"type": "string", "enum": ["content", "files_with_matches", "count"]},
           "-i": {"type": "boolean", "description": "Case insensitive search"},
           "head_limit": {"type": "number", "description": "Limit output to first N lines/entries"}},
          ["pattern"]),
    _tool("Read", "Reads a file from the local filesystem.",
          {"file_path": _s("The absolute path to the file to read"),
           "offset": {"type": "number", "description": "The line number to start reading from"},
           "limit": {"type": "number", "description": "The number of lines to read"}},
          ["file_path"]),
    _tool("Edit", "Performs exact string replacements in files.",
          {"file_path": _s("The absolute path to the file to modify"),
           "old_string": _s("The text to replace"),
           "new_string": _s("The text to replace it with (must be different from old_string)"),
           "replace_all": {"type": "boolean", "default": False,
                           "description": "Replace all occurences of old_string (default false)"}},
          ["file_path", "old_string", "new_string"]),
    _tool("Write", "Writes a file to the local filesystem.",
          {"file_path": _s("The absolute path to the file to write"),
           "content": _s("The content to write to the file")},
          ["file_path", "content"]),
    _tool("NotebookEdit", "Completely replaces the contents of a specific cell in a Jupyter notebook.",
          {"notebook_path": _s("The absolute path to the Jupyter notebook file to edit"),
           "cell_id": _s("The ID of the cell to edit"),
           "new_source": _s("The new source for the cell"),
           "edit_mode": {"type": "string", "enum": ["replace", "insert", "delete"]}},
          ["notebook_path", "new_source"]),
    _tool("WebFetch", "Fetches content from a specified URL and processes it using an AI model.",
          {"url": {"type": "string", "format": "uri", "description": "The URL to fetch content from"},
           "prompt": _s("The prompt to run on the fetched content")},
          ["url", "prompt"]),
    _tool("TodoWrite", "Use this tool to create and manage a structured task list for your current session.",
          {"todos": {"type": "array", "description": "The updated todo list", "items": {
              "type": "object",
              "properties": {"content": {"type": "string", "minLength": 1},
                             "status": {"type": "string", "enum": ["pending", "in_progress", "completed"]},
                             "activeForm": {"type": "string", "minLength": 1}},
              "required": ["content", "status", "activeForm"], "additionalProperties": False}}},
          ["todos"]),
    _tool("WebSearch", "Allows Claude to search the web and use the results to inform responses.",
          {"query": {"type": "string", "minLength": 2, "description": "The search query to use"},
           "allowed_domains": {"type": "array", "items": {"type": "string"}},
           "blocked_domains": {"type": "array", "items": {"type": "string"}}},
          ["query"]),
    _tool("ExitPlanMode", "Use this tool when you are in plan mode and have finished presenting your plan.",
          {"plan": _s("The plan you came up with, that you want to run by the user for approval")},
          ["plan"]),
]

SYSTEM = [
    {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude.",
     "cache_control": {"type": "ephemeral"}},
    {"type": "text", "cache_control": {"type": "ephemeral"}, "text": (
        "You are an interactive CLI tool that helps users with software engineering tasks. "
        "Use the instructions below and the tools available to you to assist the user.\n\n"
        "IMPORTANT: Assist with defensive security tasks only.\n\n"
        "# Tone and style\nBe concise, direct, and to the point. Answer in fewer than 4 lines "
        "unless the user asks for detail.\n\n# Doing tasks\nUse the TodoWrite tool to plan, "
        "search the codebase to understand it, implement the solution, verify it with tests.\n\n"
        "<env>\nWorking directory: /home/dev/project\nIs directory a git repo: Yes\n"
        "Platform: linux\nOS Version: Linux 6.12.0\nToday's date: 2026-11-26\n</env>"
    )},
]

MESSAGES = [
    {"role": "user", "content": [
        {"type": "text", "text": "<system-reminder>\nThis is a reminder that your todo list is "
                                 "currently empty.\n</system-reminder>"},
        {"type": "text", "text": "The tests in tests/test_parser.py fail since the last commit. "
                                 "Find out why and fix it."},
    ]},
    {"role": "assistant", "content": [
        {"type": "text", "text": "I'll run the failing tests first."},
        {"type": "tool_use", "id": "toolu_01A9xQ2bZ7kLmN3pR4sT5uV6", "name": "Bash",
         "input": {"command": "python -m pytest tests/test_parser.py -x -q",
                   "description": "Run the parser tests"}},
    ]},
    {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_01A9xQ2bZ7kLmN3pR4sT5uV6", "is_error": True,
         "content": "F\n=== FAILURES ===\n___ test_parse_empty ___\n    def test_parse_empty():\n"
                    ">       assert parse('') == []\nE       TypeError: 'NoneType' object is not "
                    "iterable\nsrc/parser.py:42: TypeError\n1 failed in 0.12s"},
    ]},
]


def anthropic(stream: bool) -> dict[str, Any]:
    return {
        "model": "claude-sonnet-5-5",
        "max_tokens": 32000,
        "system": SYSTEM,
        "messages": MESSAGES,
        "tools": TOOLS,
        "metadata": {"user_id": json.dumps(
            {"device_id": "3b9f0c1d8e7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c",
             "account_uuid": "", "session_id": SESSION}, separators=(",", ":"))},
        "thinking": {"type": "adaptive"},
        "output_config": {"effort": "medium"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "stream": stream,
    }


def openai(stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant for a software team. "
                                          "Answer briefly and cite file paths when relevant."},
            {"role": "user", "content": "Summarise what this function does:\n\n"
                                        "def chunks(xs, n):\n    for i in range(0, len(xs), n):\n"
                                        "        yield xs[i:i + n]\n"},
            {"role": "assistant", "content": "It yields consecutive slices of `xs` of length `n`; "
                                             "the last one may be shorter."},
            {"role": "user", "content": "Now write a test for it with pytest, covering an empty list."},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_Q3v8ZkT1mN2bX7cY4dR5eF6g", "type": "function",
                 "function": {"name": "read_file", "arguments": "{\"path\":\"tests/conftest.py\"}"}}]},
            {"role": "tool", "tool_call_id": "call_Q3v8ZkT1mN2bX7cY4dR5eF6g",
             "content": "import pytest\n\n\n@pytest.fixture\ndef sample():\n"
                        "    return list(range(10))\n\n\n@pytest.fixture\ndef empty():\n"
                        "    return []\n"},
        ],
        "tools": [
            {"type": "function", "function": {
                "name": "read_file", "description": "Read a file from the repository.",
                "parameters": {"type": "object", "properties": {
                    "path": {"type": "string", "description": "Path relative to the repo root"}},
                    "required": ["path"]}}},
            {"type": "function", "function": {
                "name": "search_code", "description": "Search the repository for a regular expression.",
                "parameters": {"type": "object", "properties": {
                    "pattern": {"type": "string", "description": "A Python regular expression"},
                    "glob": {"type": "string", "description": "Only files matching this glob"},
                    "max_results": {"type": "integer", "minimum": 1, "maximum": 200}},
                    "required": ["pattern"]}}},
            {"type": "function", "function": {
                "name": "write_file", "description": "Create or overwrite a file in the repository.",
                "parameters": {"type": "object", "properties": {
                    "path": {"type": "string", "description": "Path relative to the repo root"},
                    "content": {"type": "string", "description": "The full new content"}},
                    "required": ["path", "content"]}}},
            {"type": "function", "function": {
                "name": "run_tests", "description": "Run pytest on a path and return the output.",
                "parameters": {"type": "object", "properties": {
                    "path": {"type": "string"}, "keyword": {"type": "string"}},
                    "required": ["path"]}}},
        ],
        "temperature": 0.2,
        "max_tokens": 1024,
        "user": "bench-user-1",
        "stream": stream,
    }
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body


FILES = {
    "anthropic_claude_code.json": lambda: anthropic(False),
    "anthropic_claude_code_stream.json": lambda: anthropic(True),
    "openai_chat.json": lambda: openai(False),
    "openai_chat_stream.json": lambda: openai(True),
}


def main() -> None:
    argparse.ArgumentParser(description=__doc__).parse_args()
    for name, make in FILES.items():
        data = json.dumps(make(), indent=None, separators=(",", ":")).encode()
        (HERE / name).write_bytes(data)
        print(f"{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
