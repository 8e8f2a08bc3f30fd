"""Every shipped example config loads and passes the checks (what torchtune calls a config test)."""
from pathlib import Path
import pytest
from ftkit.config import load_config
from ftkit.files import resolve_path

EXAMPLES = sorted((Path(__file__).resolve().parents[1]/'examples').glob('*.yml'))

@pytest.mark.parametrize('path', EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_config_loads(path):
    cfg = load_config(path)
    for ds in [*cfg.datasets, *(cfg.test_datasets or [])]:
        if ds['path'].startswith('ftkit:'): assert Path(resolve_path(ds['path'])).exists()

def test_quickstart_is_there():
    assert 'honeycomb-tiny' in [p.stem for p in EXAMPLES]
