"""The house rules a reader relies on, checked: short functions, no import circle, and each shipped
checkpoint trained by exactly the recipe in configs/ that the README names."""
import ast
from pathlib import Path

import pytest

from flashivy.checkpoint import DEFAULT_CHECKPOINT, read_metadata
from flashivy.recipe import KindConfig, TrainConfig, same_recipe

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "flashivy"


def _modules():
    return {path.stem: ast.parse(path.read_text()) for path in sorted(PACKAGE.glob("*.py"))}


def test_no_function_in_the_package_is_over_80_lines():
    long = [f"{name}.{node.name}: {node.end_lineno - node.lineno + 1}" for name, tree in _modules().items()
            for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > 80]
    assert not long, long


def _imports(tree: ast.Module) -> set[str]:
    """Package modules a module imports, at the top or inside functions (``from .x import`` / ``from . import x``)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found |= {node.module.split(".")[0]} if node.module else {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("flashivy."):
            found.add(node.module.split(".")[1])
    return found


def test_no_import_circle_in_the_package():
    graph = {name: _imports(tree) & set(_modules()) - {name} for name, tree in _modules().items()}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(name):
        state[name] = 1
        path.append(name)
        for dep in sorted(graph[name]):
            if state.get(dep) == 1:
                raise AssertionError(" -> ".join(path[path.index(dep):] + [dep]))
            if dep not in state:
                visit(dep)
        path.pop()
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)


def test_the_circle_check_finds_a_circle():
    a, b = ast.parse("from .b import x"), ast.parse("def f():\n    from .a import y")
    assert _imports(a) == {"b"} and _imports(b) == {"a"}


@pytest.mark.parametrize("checkpoint, config", [("flashivy_default.safetensors", "default.json"),
                                                ("baseline.safetensors", "baseline.json")])
def test_a_shipped_checkpoint_was_trained_by_its_config_file(checkpoint, config):
    meta = read_metadata(DEFAULT_CHECKPOINT.parent / checkpoint)
    assert same_recipe(meta["recipe"], TrainConfig.from_file(ROOT / "configs" / config)) == []


def test_the_shipped_generated_head_was_carried_over_by_its_config_file():
    meta = read_metadata(DEFAULT_CHECKPOINT)
    recorded = meta["kind_training"]["generated"]["recipe"]
    assert same_recipe(recorded, KindConfig.from_file(ROOT / "configs" / "default_heads.json")) == []


def test_a_changed_recipe_is_noticed():
    meta = read_metadata(DEFAULT_CHECKPOINT)
    cfg = TrainConfig.from_file(ROOT / "configs" / "default.json", epochs=99, workers=7)
    assert same_recipe(meta["recipe"], cfg) == ["epochs"]  # workers say how fast, not what was learnt
