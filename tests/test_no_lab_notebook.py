"""The repository speaks to its users about what the project is, not about how it was built: no
tracker numbers, no talk of the sittings it was built in, no commit hash as the label of a measurement, no
targets set from outside the project. Python code is read in its comments and docstrings only (a
test's made-up commit id is data); every other tracked text file is read whole."""
import ast
import io
import re
import subprocess
import tokenize

from conftest import ROOT

# the words this test looks for are spelled in pieces, so that the test itself holds none of them
SITTING, TRACKER = "sess" + "ion", "iss" + "ue"
RULES = {
    "talk of the sittings it was built in": re.compile(rf"\b{SITTING}s?\b", re.I),
    "a tracker number": re.compile(rf"\b(?:{TRACKER}s?|tickets?|PR|pull requests?) ?#?\d+\b|(?<![\w&$#/])#\d+\b", re.I),
    "a commit hash": re.compile(r"(?<![#\w])(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{7,40}\b"),
    "narration of the work": re.compile(rf"\bthe (?:{TRACKER}|brief|ticket)\b|\bas (?:the {TRACKER}|asked)\b"
                                        r"|\b(?:yesterday|last week|earlier today|this morning)\b", re.I),
    "a target from outside the project": re.compile(r"\bnot met\b|\btarget(?:s)? (?:met|missed)\b", re.I),
}
# pytest's name for the widest fixture scope is not ours to rename
ALLOWED = re.compile(rf"""scope=["']{SITTING}["']""")
DATA = re.compile(r"\.(?:csv|json|png|npz|pt|lock)$|^dvc\.lock$")
# third-party code inlined into the repository by a tool (tools/build_plots_template.py): not ours to word
VENDORED = {".dvc/plots/offline_page.html"}


def offences(text):
    """[(rule, the matched text)] in a piece of prose."""
    text = ALLOWED.sub("", text)
    return [(rule, m.group(0)) for rule, pattern in RULES.items() for m in pattern.finditer(text)]


def python_prose(source):
    """The comments and docstrings of a Python file, one string."""
    parts = [tok.string for tok in tokenize.generate_tokens(io.StringIO(source).readline) if tok.type == tokenize.COMMENT]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            parts.append(ast.get_docstring(node, clean=False) or "")
    return "\n".join(parts)


def script_prose(source):
    """The comments of a JavaScript or CSS file, one string (its colours and code are not prose)."""
    return "\n".join(re.findall(r"/\*.*?\*/|//[^\n]*", source, re.S))


def test_the_rules_catch_lab_notebook_text_and_nothing_else():
    caught = [f"as this {SITTING} measured", f"fixed in {TRACKER} 23", "see #" + "23", "measured at 2662d38",
              "the bench at f79e903a (AVX-512)", f"as the {TRACKER} asks", "Target 300 s: not met", f"{TRACKER.title()}s #" + "7"]
    for text in caught:
        assert offences(text), text
    clean = [f'@pytest.fixture(scope="{SITTING}")', "see [Seeds](#seeds)", "colour #4f7fbf", "a 2048x2048 product",
             "the run's baseline commit", "pytest_sessionfinish", "1e-05", "step 12345678", "facade"]
    for text in clean:
        assert not offences(text), (text, offences(text))
    code = 'BASE = "abcdef1234567890"  # a made-up commit id\n\ndef f():\n    """At 2662d38 it ran."""\n'
    assert offences(python_prose(code)) == [("a commit hash", "2662d38")]
    style = f"a {{ color: #222; }} /* the fix for {TRACKER} 12 */\nlet c = '#666'; // see #" + "40\n"
    assert [hit for _, hit in offences(script_prose(style))] == [f"{TRACKER} 12", "#" + "40"]


def test_no_lab_notebook_text_in_the_repository():
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.splitlines()
    found = []
    for name in listed:
        path = ROOT / name
        if DATA.search(name) or name in VENDORED or not path.is_file() or path.name == "test_no_lab_notebook.py":
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue  # binary
        prose = (python_prose(text) if name.endswith(".py") else script_prose(text) if name.endswith((".js", ".css"))
                 else text)
        found += [f"{name}: {rule}: {hit!r}" for rule, hit in offences(prose)]
    assert not found, "\n".join(found)
