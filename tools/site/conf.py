"""Sphinx settings of the documentation site (tools/build_site.py writes the sources, runs Sphinx)."""
from pathlib import Path
from nbdev.config import get_config

ROOT = Path(__file__).resolve().parents[2]
project = get_config(ROOT).title
html_title = project
author = 'ftkit developers'

extensions = ['myst_nb']
exclude_patterns = ['_build', '**.ipynb_checkpoints']
nb_execution_mode = 'off'                   # build_site.py ran every notebook before Sphinx sees it
nb_merge_streams = True
nb_render_markdown_format = 'myst'          # show_doc tables and HTML in markdown outputs
nb_ipywidgets_js = {'widgets/embed.js': {}}  # served from _static/: no require.js, no CDN
myst_enable_extensions = ['colon_fence', 'attrs_inline', 'attrs_block', 'deflist', 'html_image']
myst_heading_anchors = 4                    # ids as Quarto gives them: '### load_config' -> #load_config
suppress_warnings = ['myst.header', 'mystnb.unknown_mime_type', 'misc.highlighting_failure']

default_role = 'code'                       # `name` in docstrings is code, as in the notebooks

html_theme = 'furo'
html_static_path = ['static', str(ROOT/'build'/'static')]  # the second: widget JS build_site.py fetched
html_css_files = ['ftkit.css']
html_js_files = ['ftkit.js']
html_copy_source = False                    # the notebooks are in the repository; keep the site small
html_show_sourcelink = False
html_theme_options = {'navigation_with_keys': True}
html_favicon = 'static/favicon.svg'
