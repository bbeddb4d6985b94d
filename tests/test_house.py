"""The house rules a reader relies on, checked: short functions, imports that only go down the layers of
docs/architecture.md (and so no import circle), torch only where training or the torch side of models
needs it, and each shipped checkpoint trained by exactly the recipe in configs/ that the README names."""
import ast
from pathlib import Path

import pytest

from flashivy.models.checkpoint import DEFAULT_CHECKPOINT, read_metadata
from flashivy.training.recipe import KindConfig, TrainConfig, same_recipe

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "flashivy"
# The folders in the order a video flows to a verdict and on to training: a module imports only from its
# own folder or the ones before it (docs/architecture.md says why each sits where it does).
LAYERS = ("core", "media", "faces", "models", "inference", "explain", "datasets", "evaluation", "training", "app")
# The torch side of the models; training needs torch throughout. Everything else must import without it
# (the core install has none); those modules reach torch only inside the functions that need it.
TORCH_AT_TOP = ("models.registry", "models.branches", "training.")


def _modules() -> dict[str, ast.Module]:
    """``"inference.detector"`` -> its syntax tree, for every module of the package (``""`` for __init__)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = ast.parse(path.read_text())
    return found


def _package_of(name: str, tree_is_package: bool) -> list[str]:
    parts = name.split(".") if name else []
    return parts if tree_is_package else parts[:-1]


def imports(name: str, tree: ast.Module, known: set[str], is_package: bool = False) -> set[str]:
    """The package modules (of ``known``) that module ``name`` imports, at the top or inside functions, as
    dotted names: ``from ..models.kinds import X`` in ``inference.detector`` -> ``models.kinds``,
    ``from ..core import atomic`` -> ``core.atomic``."""
    found = set()
    here = _package_of(name, is_package)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").split(".")[0] == "flashivy"):
            base = (here[:len(here) - node.level + 1] if node.level else []) + \
                (node.module or "").split(".")[0 if node.level else 1:]
            base = [part for part in base if part]
            for alias in node.names:
                sub = ".".join(base + [alias.name])
                found.add(sub if sub in known else ".".join(base))
        elif isinstance(node, ast.Import):
            found |= {a.name.removeprefix("flashivy.") for a in node.names if a.name.startswith("flashivy.")}
    return found & known - {name}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    packages = {name for name in modules if not name or (PACKAGE / name.replace(".", "/") / "__init__.py").exists()}
    return {name: imports(name, tree, known, name in packages) for name, tree in modules.items()}


def layer_of(name: str) -> int:
    """Where a module sits: its folder's place in LAYERS; top-level modules (``__init__``, the v1 shim
    ``detector``, ``__main__``) stand above everything."""
    top = name.split(".")[0]
    return LAYERS.index(top) if top in LAYERS and "." in name else len(LAYERS)


def wrong_way(graph: dict[str, set[str]]) -> list[str]:
    """Every import that goes up the layers: ``inference.detector -> evaluation.metrics``."""
    return sorted(f"{name} -> {dep}" for name, deps in graph.items() for dep in deps
                  if layer_of(dep) > layer_of(name) and layer_of(name) < len(LAYERS))


def find_circle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as a path (``a -> b -> a``), or None."""
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(name):
        state[name] = 1
        path.append(name)
        for dep in sorted(graph.get(name, ())):
            if state.get(dep) == 1:
                return path[path.index(dep):] + [dep]
            if dep not in state and (circle := visit(dep)):
                return circle
        path.pop()
        state[name] = 2
        return None

    for name in sorted(graph):
        if name not in state and (circle := visit(name)):
            return circle
    return None


def test_no_function_in_the_package_is_over_80_lines():
    long = [f"{name}.{node.name}: {node.end_lineno - node.lineno + 1}" for name, tree in _modules().items()
            for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > 80]
    assert not long, long


def test_every_folder_of_the_package_is_a_layer():
    folders = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert folders == set(LAYERS)


def test_imports_only_go_down_the_layers():
    assert wrong_way(_graph()) == []


def test_a_planted_wrong_way_import_is_found():
    modules = _modules()
    planted = ast.parse("def score():\n    from ..training.train import train\n")
    graph = _graph()
    graph["inference.detector"] = graph["inference.detector"] | imports("inference.detector", planted, set(modules))
    assert wrong_way(graph) == ["inference.detector -> training.train"]
    assert "inference.detector" in modules


def test_the_import_reader_resolves_each_form():
    tree = ast.parse("from ..models.kinds import X\nfrom .quality import Y\nfrom ..core import atomic\n"
                     "from .. import __version__\nimport flashivy.media.video\nfrom flashivy.faces.boxes import iou\n")
    known = {"models.kinds", "inference.quality", "core", "core.atomic", "", "media.video", "faces.boxes"}
    assert imports("inference.detector", tree, known) == known - {"core"}


def test_no_import_circle_in_the_package():
    assert find_circle(_graph()) is None


def test_the_circle_search_finds_a_planted_circle():
    graph = {"a.x": {"b.y"}, "b.y": {"c.z"}, "c.z": {"a.x"}, "d.w": set()}
    assert find_circle(graph) == ["a.x", "b.y", "c.z", "a.x"]
    assert find_circle({"a.x": {"b.y"}, "b.y": set()}) is None


def _top_level_imports(tree: ast.Module) -> set[str]:
    names = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_torch_is_imported_at_the_top_only_by_training_and_the_torch_side_of_models():
    heavy = sorted(name for name, tree in _modules().items() if {"torch", "timm"} & _top_level_imports(tree)
                   and not name.startswith(TORCH_AT_TOP))
    assert heavy == []


@pytest.mark.parametrize("checkpoint, config", [("flashivy_default.safetensors", "default.json"),
                                                ("baseline.safetensors", "baseline.json")])
def test_a_shipped_checkpoint_was_trained_by_its_config_file(checkpoint, config):
    meta = read_metadata(DEFAULT_CHECKPOINT.parent / checkpoint)
    assert same_recipe(meta["recipe"], TrainConfig.from_file(ROOT / "configs" / config)) == []


def test_the_shipped_generated_head_was_trained_by_its_config_file():
    meta = read_metadata(DEFAULT_CHECKPOINT)
    recorded = meta["kind_training"]["generated"]["recipe"]
    assert same_recipe(recorded, KindConfig.from_file(ROOT / "configs" / "default_generated.json")) == []


def test_a_changed_recipe_is_noticed():
    meta = read_metadata(DEFAULT_CHECKPOINT)
    cfg = TrainConfig.from_file(ROOT / "configs" / "default.json", epochs=99, workers=7)
    assert same_recipe(meta["recipe"], cfg) == ["epochs"]  # workers say how fast, not what was learnt
