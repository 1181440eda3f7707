"""The README's Python example runs as written and prints what the README says it prints."""

import contextlib
import io
import os
import re

from conftest import ROOT


def blocks(text, lang):
    return re.findall(rf"```{lang}\n(.*?)```", text, re.S)


def test_the_readme_example_prints_what_the_readme_shows(tmp_path):
    readme = (ROOT / "README.md").read_text()
    python = readme[readme.index("## Python") :]
    code = blocks(python, "python")[0]
    shown = blocks(python, "text")[0].strip().splitlines()
    assert len(code.strip().splitlines()) <= 18
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, "README.md", "exec"), {})
    finally:
        os.chdir(cwd)
    assert out.getvalue().strip().splitlines() == shown
