"""ScriptSet: finds lua/, expands ``--- @include "lib/x"`` lines, and hands out
the sources in two shapes: one flattened script per operation (EVAL/EVALSHA,
redis-py's register_script does SHA caching and NOSCRIPT), and one Redis
Functions library holding every operation (FUNCTION LOAD once, then FCALL):
the shared Lua functions are then defined once per load, not on every call.

Each include is inlined once, before the first file that needs it, in
dependency order; a missing include, a cycle, or the same include listed twice
in one file is a LuaIncludeError. Pure: no Redis here.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class Library:
    """Every operation as one Redis Functions library. Names carry a hash of the code,
    so two releases sharing one Redis (a rolling deploy) each call their own."""

    name: str
    code: str
    functions: dict[str, str]  # operation (script name) -> function name


class ScriptSet:
    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root else lua_dir()
        if not self.root.is_dir():
            raise LuaIncludeError(f"Lua script directory not found: {self.root}")
        self.sources: dict[str, str] = {path.stem: self.expand(path.stem) for path in sorted(self.root.glob("*.lua"))}
        self._library: Library | None = None

    def library(self) -> Library:
        """The Functions library: KEYS and ARGV become upvalues each function sets from its
        arguments before begin_call() (lib/call.lua) resets the per-call state; the shared
        files are inlined once, each operation's own file becomes one function's body."""
        if self._library is None:
            seen: set[str] = set()
            libs: list[str] = []
            bodies: list[tuple[str, list[str]]] = []
            for name in self.names():
                _, body = self._split(name, None)
                parts: list[str] = []
                self._inline(name, [], seen, parts)
                seen.discard(name)
                banner = parts.index(f"-- ==== {name}.lua ====")
                libs.extend(parts[:banner])
                bodies.append((name, body))
            digest = hashlib.sha1("\n".join(libs + [line for _, b in bodies for line in b]).encode()).hexdigest()[:12]
            functions = {name: f"fq_{digest}_{name}" for name, _ in bodies}
            code = [f"#!lua name=fairqueue_{digest}", "local KEYS, ARGV = {}, {}", *libs]
            for name, body in bodies:
                code.append(f"-- ==== {name}.lua ====")
                code.append(f"redis.register_function('{functions[name]}', function(keys, args)")
                code.append("KEYS, ARGV = keys, args")
                code.append("begin_call()")
                code.extend(body)
                code.append("end)")
            self._library = Library(f"fairqueue_{digest}", "\n".join(code), functions)
        return self._library

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

    def _split(self, name: str, needed_by: str | None) -> tuple[list[str], list[str]]:
        """(includes in order, the other lines) of one file."""
        deps: list[str] = []
        body: list[str] = []
        for line in self._read(name, needed_by).splitlines():
            match = INCLUDE.match(line)
            if not match:
                body.append(line)
            elif match.group(1) in deps:
                raise LuaIncludeError(f"duplicate Lua include {match.group(1)!r} in {name}")
            else:
                deps.append(match.group(1))
        return deps, body

    def _inline(self, name: str, stack: list[str], seen: set[str], parts: list[str]) -> None:
        if name in stack:
            raise LuaIncludeError("circular Lua include: " + " -> ".join([*stack, name]))
        deps, body = self._split(name, stack[-1] if stack else None)
        for dep in deps:
            if dep not in seen:
                self._inline(dep, [*stack, name], seen, parts)
        seen.add(name)
        parts.append(f"-- ==== {name}.lua ====")
        parts.extend(body)


@cache
def default_scripts() -> ScriptSet:
    return ScriptSet()
