"""Run notebooks as the site build does and keep their outputs in the .ipynb files, so a reader sees results on
GitHub or in Jupyter before running anything.

    python tools/store_outputs.py nbs/04_config.ipynb nbs/05_data.ipynb   # some
    python tools/store_outputs.py                                          # every notebook of the site

Cells flagged `slow` or `cuda` (and `#| eval: false`) are not run and keep the outputs they have (from a run on a
machine that can). A cell that raises is reported and the notebook is not written. `nbdev-clean` runs afterwards.
"""
import os, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tools'))
import build_site  # noqa: E402  (the same executor as the site)

def store(path) -> bool:
    "Execute notebook `path` and write its outputs into it; False (nothing written) if a cell raised."
    import nbformat
    from nbdev.config import get_config
    cfg = get_config(ROOT)
    env = dict(HF_HUB_OFFLINE='1', HF_DATASETS_OFFLINE='1', TRANSFORMERS_VERBOSITY='error', MPLBACKEND='Agg')
    for k, v in env.items(): os.environ.setdefault(k, v)
    os.environ['MPLBACKEND'] = 'module://matplotlib_inline.backend_inline'  # figures become PNG outputs
    nb = build_site.execute(Path(path), cfg.tst_flags.split(), int(cfg.get('cell_timeout', 600) or 600))
    errors = build_site.cell_errors(nb)
    for cid, err in errors: print(f'{path}: cell {cid} raised {err}')
    if errors: return False
    nbformat.write(nb, str(path))
    subprocess.run(['nbdev-clean', '--fname', str(path)], check=True)
    return True

if __name__ == '__main__':
    entries, extra = build_site.site_notebooks()
    paths = sys.argv[1:] or [build_site.NBS/f for _, files in entries for f in files] + [build_site.NBS/f for f in extra]
    failed = [p for p in paths if not store(p)]
    sys.exit(1 if failed else 0)
