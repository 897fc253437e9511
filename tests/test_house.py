"""The shape of the package: imports flow one way, option parsing stays in the command line,
and Layer.mode / Layer.device are the one way to run a model for inference and to find it.

The import graph is read from the source (every ``import`` statement, at module level and
inside functions), not from ``sys.modules``, so an import that only runs in one code path counts.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from minigan import nn
from minigan.models.dcgan import Generator

PACKAGE = Path(__file__).resolve().parents[1] / "minigan"
MAX_LINES = 600  # longer modules must say in their docstring why they are one idea


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported_modules(name: str, path: Path) -> set[str]:
    """The ``minigan`` modules that ``name`` imports anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # ``from . import nn`` imports the submodule minigan.nn; ``from .x import f`` imports x
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:  # ``import minigan.nn.conv`` -> that module
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


GRAPH = {name: imported_modules(name, path) for name, path in MODULES.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as ``[a, b, ..., a]``, or None (depth-first search, three colours)."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_import_reader_sees_function_level_and_relative_imports():
    graph = GRAPH["minigan.cli.args"]
    assert {"minigan.latent", "minigan.sampling", "minigan.checkpoint", "minigan.errors"} <= graph
    assert "minigan.kernels" in GRAPH["minigan.nn.conv"]  # ``from .. import kernels``


def test_no_import_cycle_in_minigan():
    """A package's ``__init__`` importing its own modules is how packages work; any other loop
    (a imports b, b imports a, directly or through others) is a cycle."""
    graph = {name: {t for t in targets if not (name.startswith(t + ".") and MODULES[t].name == "__init__.py")}
             for name, targets in GRAPH.items()}
    assert find_cycle(graph) is None


def test_option_parsing_lives_in_the_command_line_only():
    for name, path in MODULES.items():
        if name in ("minigan.cli", "minigan.__main__") or name.startswith("minigan.cli."):
            continue  # the command line, and ``python -m minigan`` that runs it
        source = path.read_text()
        assert "argparse" not in source, f"{name} uses argparse: commands parse, the library computes"
        assert not any(t == "minigan.cli" or t.startswith("minigan.cli.") for t in GRAPH[name]), \
            f"{name} imports the command line"


@pytest.mark.parametrize("forbidden", ["minigan.train", "minigan.data", "minigan.cli", "minigan.studio"])
def test_nn_imports_no_application_code(forbidden):
    for name, targets in GRAPH.items():
        if name.startswith("minigan.nn"):
            assert not any(t == forbidden or t.startswith(forbidden + ".") for t in targets), (name, forbidden)


def test_modules_are_short_or_say_why():
    for name, path in MODULES.items():
        lines = path.read_text().count("\n")
        if lines > MAX_LINES:
            doc = ast.get_docstring(ast.parse(path.read_text())) or ""
            assert "one idea" in doc, f"{name} has {lines} lines; split it or say in its docstring why it is one idea"


def test_function_level_imports_say_why():
    for name, path in MODULES.items():
        source = path.read_text().splitlines()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for inner in ast.walk(node):
                    if isinstance(inner, (ast.Import, ast.ImportFrom)):
                        line = source[inner.lineno - 1]
                        assert "# noqa: PLC0415 (" in line, f"{name}:{inner.lineno} imports inside a function without saying why"


# -- one way to run a model for inference ------------------------------------------------------------


def test_mode_sets_every_layer_and_restores_each_layers_own_setting():
    G = Generator(nz=4, ngf=2, image_size=8, rng=0)
    layers = [layer for _, layer in G.named_layers()]
    layers[1].training = False  # a mixed state, to see that each layer gets its own back
    layers[0].needs_input_grad = False
    before = [(l.training, l.requires_grad, l.needs_input_grad) for l in layers]
    with G.mode(training=False, requires_grad=False, needs_input_grad=True) as same:
        assert same is G
        assert all(not l.training and not l.requires_grad and l.needs_input_grad for l in layers)
    assert [(l.training, l.requires_grad, l.needs_input_grad) for l in layers] == before
    with G.mode(requires_grad=False):  # None leaves the other modes alone
        assert [l.training for l in layers] == [b[0] for b in before]
    with pytest.raises(RuntimeError), G.mode(training=False):
        raise RuntimeError("restored on the way out all the same")
    assert [(l.training, l.requires_grad, l.needs_input_grad) for l in layers] == before


def test_mode_training_false_uses_running_statistics():
    bn = nn.BatchNorm2d(2)
    bn.running_mean[...] = 5.0
    x = np.random.default_rng(0).standard_normal((4, 2, 3, 3)).astype(np.float32)
    with bn.mode(training=False):
        y = bn.forward(x)
    np.testing.assert_allclose(y, (x - 5.0) / np.sqrt(1 + 1e-5), rtol=1e-5)
    assert bn.training


def test_device_and_array_module():
    G = Generator(nz=4, ngf=2, image_size=8, rng=0)
    assert G.device == "cpu" and G.xp is np
    assert nn.ReLU().device == "cpu"  # no arrays: where it would run
