"""Every notebook in nbs/ is a test: it runs top to bottom, skipping cells flagged `slow` or `cuda` (see tst_flags)."""
import os
from pathlib import Path
import pytest
from nbdev.config import get_config
from nbdev.test import test_nb as run_notebook

ROOT = Path(__file__).resolve().parents[1]
NBS = sorted(p for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith('_'))

@pytest.mark.parametrize('nb', NBS, ids=[p.stem for p in NBS])
def test_notebook(nb, tmp_path, monkeypatch):
    monkeypatch.setenv('FTKIT_CACHE', os.environ.get('FTKIT_CACHE', str(tmp_path.parent/'ftkit-cache')))
    monkeypatch.setenv('MPLBACKEND', 'Agg')
    flags = get_config(ROOT).tst_flags.split()
    ok, _ = run_notebook(nb, skip_flags=flags, basepath=ROOT)
    assert ok, f'{nb.name} failed; the failing cell and its traceback are printed above'
