"""ftkit's modules as they were before the safety and chat-template work, to reproduce the old failures beside the fix.

Commit 7c8fa0a is main just before that work (it added `ftkit.files` and changed nothing these tests look at). Each
reproduction runs the old code from git history on the same input as the new code; without git or that commit (a
shallow clone, an unpacked sdist) the reproductions are skipped and the checks of the new behaviour still run.
"""
import subprocess, types
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
BEFORE = '7c8fa0a5e248854fae82b81e6f22e6c1a89d020b'

def old_module(name, commit=BEFORE):
    "Module `ftkit.<name>` as of `commit` (its relative imports resolve to today's ftkit), or skip the test."
    try: r = subprocess.run(['git', 'show', f'{commit}:ftkit/{name}.py'], cwd=ROOT, capture_output=True, text=True)
    except OSError: r = None
    if r is None or r.returncode: pytest.skip(f'the old ftkit/{name}.py needs git history with {commit[:7]}')
    mod = types.ModuleType(f'ftkit._before_{name}')
    mod.__package__ = 'ftkit'
    exec(compile(r.stdout, f'ftkit/{name}.py@{commit[:7]}', 'exec'), mod.__dict__)
    return mod
