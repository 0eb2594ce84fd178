"""The C guest SDK: ``switchyard_plugin.h``, its helpers, and :func:`build_c` (zig cc)."""

from sandbox.sdk.build import SDK_DIR, BuildError, build_c

__all__ = ["SDK_DIR", "BuildError", "build_c"]
