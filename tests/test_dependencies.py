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


def read_groups(path):
    """The params groups a stage script reads: the literal list given to load_params."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "load_params":
            return [e.value for e in node.args[0].elts]
    return []


def test_every_params_group_a_stage_reads_is_declared_by_it():
    """Static check of the other half: a group the script reads (its validated settings feed its
    results) is a declared param of the stage, whole or by the keys it uses. Settings that do not
    change results (runtime.progress, runtime.resume_every) are deliberately not declared."""
    for name, stage in stages().items():
        declared = [str(p) for p in stage.get("params", [])]
        for group in read_groups(ROOT / script_of(stage)):
            assert group in SCHEMA, f"stage {name} reads an unknown group {group}"
            assert any(d == group or d.startswith(group + ".") for d in declared), \
                f"stage {name} reads params group {group} but declares none of it: {declared}"
