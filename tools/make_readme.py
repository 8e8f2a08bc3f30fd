"""Write README.md from the markdown cells of nbs/index.ipynb (nbdev-readme does this with Quarto; this needs none).

    python tools/make_readme.py          # write README.md
    python tools/make_readme.py --check  # exit 1 if README.md is out of date (CI and tests use this)
"""
import json, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def readme_text():
    "The README: the index notebook's markdown cells, title first, separated by blank lines."
    cells = json.loads((ROOT/'nbs'/'index.ipynb').read_text())['cells']
    body = '\n\n'.join(''.join(c['source']).strip() for c in cells if c['cell_type'] == 'markdown')
    return '<!-- Generated from nbs/index.ipynb by tools/make_readme.py: edit the notebook, not this file. -->\n\n' + body + '\n'

if __name__ == '__main__':
    text, path = readme_text(), ROOT/'README.md'
    if '--check' in sys.argv: sys.exit(0 if path.exists() and path.read_text() == text else 1)
    path.write_text(text)
