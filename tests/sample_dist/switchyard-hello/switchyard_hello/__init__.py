"""A third-party plugin as a real distribution would ship it; the kernel is not changed for it."""

import asyncio
import os

from litestar import get


@get("/hello", opt={"exclude_from_csrf": True})
async def hello() -> dict:
    return {"hello": "world"}


@get("/hello/slow", opt={"exclude_from_csrf": True})
async def slow(seconds: float = 1.0) -> dict:
    await asyncio.sleep(seconds)
    return {"slept": seconds}


def page(request):
    return {"greeting": "Hello from a plugin"}


def on_shutdown(registry, **_):
    with open(os.path.join(registry.settings.home, "hello-shutdown.txt"), "w") as fh:
        fh.write("clean shutdown\n")


def includeme(config):
    config.add_route(hello)
    config.add_route(slow)
    config.add_view("/hello", page, template="hello/index.html", title="Hello")
    config.add_nav_item("Hello", "/ui/hello", icon="wave")
    config.add_hook("shutdown", on_shutdown)
