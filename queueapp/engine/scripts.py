"""ScriptSet: finds lua/, expands ``--- @include "lib/x"`` lines, and hands out
the flattened sources (redis-py's register_script does SHA caching and NOSCRIPT).

Each include is inlined once, before the first file that needs it, in
dependency order; a missing include, a cycle, or the same include listed twice
in one file is a LuaIncludeError. Pure: no Redis here.
"""

from __future__ import annotations

import os
import re
from functools import cache
from pathlib import Path

from .errors import LuaIncludeError

INCLUDE = re.compile(r'^\s*---\s*@include\s+"([^"]+)"\s*$')


def lua_dir() -> Path:
    """FAIRQUEUE_LUA_DIR, else the repository's lua/ beside the package."""
    env = os.environ.get("FAIRQUEUE_LUA_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "lua"


class ScriptSet:
    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root else lua_dir()
        if not self.root.is_dir():
            raise LuaIncludeError(f"Lua script directory not found: {self.root}")
        self.sources: dict[str, str] = {path.stem: self.expand(path.stem) for path in sorted(self.root.glob("*.lua"))}

    def __getitem__(self, name: str) -> str:
        return self.sources[name]

    def names(self) -> list[str]:
        return sorted(self.sources)

    def expand(self, name: str) -> str:
        """The flattened source of `name` (a path relative to root, without .lua)."""
        seen: set[str] = set()
        parts: list[str] = []
        self._inline(name, [], seen, parts)
        return "\n".join(parts)

    def _read(self, name: str, needed_by: str | None) -> str:
        path = self.root / f"{name}.lua"
        if not path.is_file():
            where = f" (included by {needed_by})" if needed_by else ""
            raise LuaIncludeError(f"missing Lua include {name!r}{where}: no file {path}")
        return path.read_text()

    def _inline(self, name: str, stack: list[str], seen: set[str], parts: list[str]) -> None:
        if name in stack:
            raise LuaIncludeError("circular Lua include: " + " -> ".join([*stack, name]))
        text = self._read(name, stack[-1] if stack else None)
        body: list[str] = []
        listed: set[str] = set()
        for line in text.splitlines():
            match = INCLUDE.match(line)
            if not match:
                body.append(line)
                continue
            dep = match.group(1)
            if dep in listed:
                raise LuaIncludeError(f"duplicate Lua include {dep!r} in {name}")
            listed.add(dep)
            if dep not in seen:
                self._inline(dep, [*stack, name], seen, parts)
        seen.add(name)
        parts.append(f"-- ==== {name}.lua ====")
        parts.extend(body)


@cache
def default_scripts() -> ScriptSet:
    return ScriptSet()
