"""dvc.yaml declares exactly the code each stage runs: its script and the script's import closure
inside the package. An undeclared import would let a code change slip past `dvc repro`; a declared
file the stage never imports would rerun it for nothing."""
import ast

import yaml

from conftest import ROOT
from shapes_vae.params import SCHEMA

PACKAGE = "shapes_vae"


def imported_modules(path):
    """The shapes_vae modules a Python file imports (at any depth of its code)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == PACKAGE:
            if node.module == PACKAGE:  # from shapes_vae import figures
                found |= {f"{PACKAGE}.{a.name}" for a in node.names}
            else:
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == PACKAGE}
    return found


def import_closure(script):
    """The script and every package file it reaches through imports, as repository paths."""
    todo, seen = [ROOT / script], set()
    while todo:
        path = todo.pop()
        rel = path.relative_to(ROOT).as_posix()
        if rel in seen:
            continue
        seen.add(rel)
        for module in imported_modules(path):
            file = ROOT / (module.replace(".", "/") + ".py")
            if file.exists():
                todo.append(file)
    return seen - {f"{PACKAGE}/__init__.py"}


def stages():
    """{stage name: definition} of dvc.yaml, a foreach group counted once (its `do`)."""
    raw = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    return {name: (d["do"] if "do" in d else d) for name, d in raw.items()}


def script_of(stage):
    return stage["cmd"].split()[1]


def test_every_stage_declares_exactly_the_code_it_imports():
    for name, stage in stages().items():
        declared = {d for d in stage.get("deps", []) if d.endswith(".py")}
        closure = import_closure(script_of(stage))
        assert declared == closure, (f"stage {name}: undeclared {sorted(closure - declared)}, "
                                     f"declared but not imported {sorted(declared - closure)}")


def declared_keys(path):
    """The literal PARAMS list of a stage script, which must be the keys it asks load_params for
    (its only call of load_params takes PARAMS)."""
    tree = ast.parse(path.read_text())
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "load_params"]
    assert [getattr(c.args[0], "id", None) for c in calls] == ["PARAMS"], f"{path}: load_params must be called once, with PARAMS"
    for node in tree.body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["PARAMS"]:
            return [e.value for e in node.value.elts]
    raise AssertionError(f"{path} has no PARAMS list")


def test_every_stage_reads_exactly_the_params_it_declares():
    """The other half, statically: a stage's PARAMS (all load_params returns to it, so reading an
    undeclared key fails in every run) are the params of its dvc.yaml entry, key for key. Settings
    that change no result (params.UNTRACKED) are deliberately not declared."""
    for name, stage in stages().items():
        declared = [str(p).replace("${item}", "{variant}").replace("${key}", "{variant}") for p in stage.get("params", [])]
        keys = declared_keys(ROOT / script_of(stage))
        assert sorted(keys) == sorted(declared), f"stage {name}: script reads {keys}, dvc.yaml declares {declared}"
        for key in keys:
            group, _, rest = key.partition(".")
            assert group in SCHEMA, f"stage {name} reads an unknown group {group}"
            if rest and group != "models":
                assert rest.split(".")[0] in SCHEMA[group], f"stage {name} reads an unknown setting {key}"
