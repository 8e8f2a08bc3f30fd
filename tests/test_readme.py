import subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def test_readme_matches_index_notebook():
    r = subprocess.run([sys.executable, str(ROOT/'tools'/'make_readme.py'), '--check'])
    assert r.returncode == 0, 'README.md is out of date: run `python tools/make_readme.py`'

def test_readme_names_the_two_commands():
    text = (ROOT/'README.md').read_text()
    assert 'pip install -e . && ftkit train examples/honeycomb-tiny.yml' in text
    assert "pip install -e '.[dev]' && python -m pytest -n 2 --dist loadfile -q" in text
