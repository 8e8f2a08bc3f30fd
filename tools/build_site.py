"""Build the documentation site into `_docs/` from the notebooks in `nbs/`, offline (no Quarto needed).

    python tools/build_site.py                  # run, process and render every notebook; time and page count
    python tools/build_site.py --check-proc     # only nbdev's docs processing of each notebook: failing cells
    python tools/build_site.py --strict         # exit 1 on a notebook nbdev can't process, a cell that fails
    python tools/build_site.py --no-exec        # render the outputs stored in the notebooks (a quick look)

Each notebook, in the order of `nbs/sidebar.yml` (notebooks missing from it come last, with a warning):
1. runs top to bottom with nbclient (cwd `nbs/`, `FTKIT_CACHE` from the environment, offline, matplotlib's
   inline backend so figures become PNG outputs), skipping the cells `nbdev-test` skips (`tst_flags` in
   pyproject.toml, `#| eval: false`), and keeps the widgets' state;
2. goes through nbdev's own docs processing (`nbdev.processors.FilterDefaults`, what `nbdev-docs` runs before
   Quarto: `show_doc` cells added and run, `#| hide` cells dropped, directives turned into Quarto options),
   with two changes: a cell that fails is reported and the rest still run, and `#| export` code stays on the
   page (folded under its `show_doc`, as nbdev shows `#| exports`);
3. has its Quarto options and markdown translated for myst-nb; Sphinx renders the lot with an API page per
   module and its search. Widget views render from their saved state with jupyter-widgets' html-manager,
   which the site serves itself (fetched once from the npm registry into build/static/, checked against its
   published SHA-512).
Each notebook's stderr (kernel, progress bars, warnings) goes to build/site-logs/.
"""
import argparse, copy, json, os, re, shutil, subprocess, sys, tempfile, time, warnings
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT/'nbs'
SITE = ROOT/'tools'/'site'                  # Sphinx conf.py and static files
SRC = ROOT/'build'/'site'                   # generated Sphinx sources (git-ignored)
LOGS = ROOT/'build'/'site-logs'             # each notebook's stderr during the build
OUT = ROOT/'_docs'
WIDGETS = ROOT/'build'/'static'/'widgets'  # html-manager's embed.js and fonts (git-ignored, fetched once)
WIDGETS_TGZ = 'https://registry.npmjs.org/@jupyter-widgets/html-manager/-/html-manager-1.0.15.tgz'
WIDGETS_SHA512 = ('5thBIV6ymNgmPVOHvzx+gGy8ZSKmSazhtGw4/c4xJDVzRhG9PTeQsRjF3FUTopvFi//SABeNz1yp47bCrJ3CQA==')
MIXED = 'imports and other code'            # nbdev's warning for cells it runs because they import something

# ---------------------------------------------------------------- which notebooks, in which order

def sidebar_entries(path=NBS/'sidebar.yml'):
    "`[(section or None, [file, ...]), ...]` from Quarto's sidebar.yml: the navigation order."
    import yaml
    contents = yaml.safe_load(path.read_text())['website']['sidebar']['contents']
    top, out = [], []
    for item in contents:
        if isinstance(item, str): top.append(item)
        elif isinstance(item, dict) and 'contents' in item:
            out.append((item.get('section', ''), _flatten(item['contents'])))
        elif isinstance(item, dict) and 'href' in item: top.append(item['href'])
    return [(None, top)] + out

def _flatten(contents):
    "Files of a sidebar section, nested sections included, in order."
    out = []
    for item in contents:
        if isinstance(item, str): out.append(item)
        elif isinstance(item, dict):
            out += ([item['href']] if 'href' in item else []) + _flatten(item.get('contents', []))
    return out

def site_notebooks():
    "Navigation entries of the notebooks that exist, and the notebooks sidebar.yml leaves out."
    entries = [(sec, [f for f in files if f.endswith('.ipynb') and (NBS/f).exists()])
               for sec, files in sidebar_entries()]
    listed = {f for _, files in entries for f in files}
    extra = sorted(p.name for p in NBS.glob('*.ipynb')
                   if p.name not in listed and not p.name.startswith(('_', '.')))
    return [(s, f) for s, f in entries if f], extra

# ---------------------------------------------------------------- 1. execute

def skipped_cells(path, flags):
    "Indices of the code cells nbdev-test leaves out of `path` (flagged with `flags`, or `#| eval: false`)."
    from nbdev.process import NBProcessor
    from nbdev.test import _skip_cell
    nb = NBProcessor(path, rm_directives=False, process=True).nb
    skip = _skip_cell(nb, flags)
    return {i for i, c in enumerate(nb.cells) if c.cell_type == 'code' and skip(c)}

def execute(path, flags, timeout):
    "`path` run with nbclient in `nbs/` (skipped cells keep any stored outputs), widget state kept."
    import nbformat
    from nbclient import NotebookClient

    class Client(NotebookClient):
        async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
            if cell_index in skip: return cell
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)

    skip = skipped_cells(path, flags)
    nb = nbformat.read(path, as_version=4)
    Client(nb, timeout=timeout, kernel_name='python3', allow_errors=True, store_widget_state=True,
           record_timing=False, resources={'metadata': {'path': str(NBS)}}).execute()
    return nb

def cell_errors(nb):
    "`[(cell id, 'Name: value')]` of the error outputs in `nb`."
    return [(c.get('id'), f"{o.get('ename')}: {str(o.get('evalue'))[:300]}") for c in nb['cells']
            for o in c.get('outputs', []) if o.get('output_type') == 'error']

# ---------------------------------------------------------------- 2. nbdev's processing

def site_filter():
    "nbdev's `FilterDefaults` for the site: failing cells noted (not raised), exported code kept."
    from nbdev.processors import FilterDefaults, exec_show_docs, rm_export

    class exec_show_docs_noting(exec_show_docs):
        "nbdev's `exec_show_docs`; a cell that fails is noted (nbdev would raise) and the rest still run."
        def begin(self):
            self.nb.failures_, self.nb.mixed_ = [], []
            super().begin()
        def __call__(self, cell):
            outputs = copy.deepcopy(cell.get('outputs'))
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter('always')
                try: super().__call__(cell)
                except Exception as e:
                    self.nb.failures_.append(failure(cell, e))
                    self.k.exc = None
                    if outputs is not None: cell['outputs'] = outputs
            if any(MIXED in str(w.message) for w in caught): self.nb.mixed_.append(cell.get('id'))

    class SiteFilter(FilterDefaults):
        def base_procs(self):
            procs = [exec_show_docs_noting if p is exec_show_docs else p for p in super().base_procs()]
            return [keep_exports if p is rm_export else p for p in procs] + [export_after_docs]
    return SiteFilter()

def failure(cell, e):
    "What to tell a notebook's author about cell `cell` failing nbdev's processing with `e`."
    err = e.__cause__ or e
    return dict(id=cell.get('id'), first_line=(_code_lines(cell.source) or [''])[0],
                error=f'{type(err).__name__}: {err}'[:400], hint=_hint(cell, err))

def _code_lines(src):
    return [l for l in src.splitlines() if l.strip() and not l.lstrip().startswith('#|')]

def _hint(cell, err):
    "The fix for a cell that fails nbdev's processing."
    if {'export', 'exporti', 'exports'} & set(cell.directives_):
        return 'exported code fails when nbdev runs it from the project root: make it import-safe'
    fix = 'put its imports in a cell of their own (or in the imports cell at the top)'
    return fix + (' (the relative path is looked up from the project root)' if '../' in str(err) else '')

_fold = {'export': ('show', 'Exported source'), 'exporti': ('true', 'Internal source')}

def keep_exports(cell):
    "Like nbdev's `rm_export`, but `#| export` / `#| exporti` code stays, folded (Quarto's `code-fold`)."
    if cell.cell_type != 'code' or not cell.directives_: return
    d = cell.directives_.keys()
    if d & {'hide', 'default_exp'}: del cell['source']
    elif kind := next((k for k in ('export', 'exporti') if k in d), None):
        fold, summary = _fold[kind]
        cell.source = f'#| code-fold: {fold}\n#| code-summary: "{summary}"\n{cell.source}'
        cell.exported_ = True

class export_after_docs:
    "Move each exported cell after the `show_doc` cells that follow it (nbdev's `mv_exports`, for `export`)."
    def __init__(self, nb): self.nb = nb
    def begin(self):
        cells, i = self.nb.cells, 0
        while i < len(cells):
            j = i + 1
            if getattr(cells[i], 'exported_', False):
                while j < len(cells) and _is_doc_cell(cells[j]): j += 1
                if j > i + 1: cells.insert(j - 1, cells.pop(i))
            i = j

def _is_doc_cell(cell):
    "A `show_doc` cell, added by nbdev or written by the author."
    if getattr(cell, 'has_sd', False): return True
    return cell.cell_type == 'code' and split_options(cell.source)[1].startswith('show_doc')

@contextmanager
def in_dir(path, **env):
    "Run with cwd `path` and environment variables `env` set, both restored after."
    old_cwd, old_env = os.getcwd(), {k: os.environ.get(k) for k in env}
    os.chdir(path)
    os.environ.update(env)
    try: yield
    finally:
        os.chdir(old_cwd)
        for k, v in old_env.items():
            if v is None: os.environ.pop(k, None)
            else: os.environ[k] = v

def nbdev_process(nb):
    "The site's nbdev processing of fastcore notebook `nb`, in place, run as `nbdev-docs` runs it."
    with in_dir(ROOT, IN_TEST='1'): site_filter()(nb)
    return nb

# ---------------------------------------------------------------- 3. Quarto -> myst-nb

_opt = re.compile(r'^#\|\s*([\w-]+)\s*:\s*(.*?)\s*$')

def split_options(src):
    "Quarto cell options (`#| key: value` lines at the top) and the code after them."
    lines, opts = src.splitlines(), {}
    while lines and (m := _opt.match(lines[0])):
        opts[m[1]] = m[2].strip('"\'')
        lines.pop(0)
    return opts, '\n'.join(lines)

_callout = re.compile(r'^(:{3,})\s*\{\s*\.callout-(\w+)([^}]*)\}\s*$', re.M)
_title_attr = re.compile(r'title\s*=\s*"([^"]*)"')
_heading_attr = re.compile(r'^(#{1,6} .*?)\s*\{#([\w.:-]+)[^}]*\}\s*$', re.M)
_link_attr = re.compile(r'\[([^\]]+)\]\(([^)\s]+)\)\{([^}]*)\}')
_admonitions = ('note', 'tip', 'warning', 'important', 'caution')

def callout(m):
    "A Quarto callout opening (`::: {.callout-note title=\"T\"}`) as a MyST admonition."
    kind = m[2] if m[2] in _admonitions else 'note'
    title = _title_attr.search(m[3])
    return f'{m[1]}{{admonition}} {title[1]}\n:class: {kind}' if title else f'{m[1]}{{{kind}}}'

def link_html(m):
    "A Quarto link with attributes (`[t](u){target=\"_blank\" ...}`) as an HTML link."
    target = ' target="_blank"' if '_blank' in m[3] else ''
    return f'<a class="ftkit-link" href="{m[2]}"{target}>{m[1]}</a>'

def quarto_md(md, links):
    "Quarto-flavoured markdown made MyST: callouts, heading ids, link attributes, links between pages."
    md = _callout.sub(callout, md)
    md = _heading_attr.sub(lambda m: f'<span id="{m[2]}"></span>\n\n{m[1]}', md)
    md = _link_attr.sub(link_html, md)
    return page_links(md, links)

_rel_link = re.compile(r'(?<!!)\[([^\]]+)\]\((?![a-z]+:|/)([^)\s#]+\.(?:html|ipynb))(#[^)\s]*)?\)')

def page_links(md, links):
    "Links to other pages (`x.ipynb`, `x.html`, nbdev's links to the published site) as relative HTML links."
    def html(text, page, anchor):
        if anchor and anchor.startswith('#_'): return _md_code(text)  # a private name: not documented, no link
        return f'<a class="ftkit-link" href="{page}{anchor or ""}">{_md_code(text)}</a>'
    def rel(m):
        name = Path(m[2]).name
        page = links['pages'].get(name, Path(name).stem) + '.html' if name.endswith('.ipynb') else m[2]
        return html(m[1], page, m[3])
    md = _rel_link.sub(rel, md)
    if links.get('doc_url'):
        pub = re.compile(r'\[([^\]]+)\]\(' + re.escape(links['doc_url']) + r'/([^)\s#]*)(#[^)\s]*)?\)')
        md = pub.sub(lambda m: html(m[1], m[2] or 'index.html', m[3]), md)
    return md

def _md_code(text):
    "Backticked text as HTML code (markdown is not parsed inside an inline HTML link here)."
    return re.sub(r'`([^`]+)`', lambda m: f'<code>{_esc(m[1])}</code>', text)

def _esc(s): return s.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')

_sd_heading = re.compile(r'^(#{2,6}) (\S+)\s*$', re.M)

def slug(text):
    "The id myst gives a heading (`myst_heading_anchors`: GitHub's rule)."
    return re.sub(r'[^\w\- ]', '', text.strip().lower()).replace(' ', '-')

def showdoc_md(md, links):
    "A `show_doc` result as page markdown: the anchor Quarto gives it (`#config.to_dict`), no leading rule."
    md = re.sub(r'^\s*---\s*\n', '', md)
    def anchor(m):
        qid = m[2].lower()
        return m[0] if slug(m[2]) == qid else f'<span id="{_esc(qid)}"></span>\n\n{m[0]}'
    return quarto_md(_sd_heading.sub(anchor, md), links)

def asis_markdown(outputs):
    "The markdown of a cell with `output: asis` (Quarto puts it in the page as markdown), or None."
    shown = [o for o in outputs if o.get('output_type') in ('execute_result', 'display_data')]
    md = [''.join(o['data']['text/markdown']) for o in shown if 'text/markdown' in o.get('data', {})]
    return '\n\n'.join(md) if md else None

def myst_cells(cell, links):
    "One processed notebook cell as the cells myst-nb renders (an `asis` output becomes a markdown cell)."
    if cell['cell_type'] == 'markdown': return [md_cell(quarto_md(cell['source'], links))]
    if cell['cell_type'] != 'code': return []
    opts, code = split_options(cell['source'])
    if opts.get('include') == 'false': return []
    tags, meta = [], {}
    if opts.get('echo') == 'false' or not code.strip(): tags.append('remove-input')
    if opts.get('output') == 'false': tags.append('remove-output')
    if opts.get('code-fold') in ('true', 'show'):
        tags.append('hide-input')
        if opts['code-fold'] == 'show': tags.append('ftkit-open')
        summary = opts.get('code-summary', 'Code')
        meta['mystnb'] = {'code_prompt_show': summary, 'code_prompt_hide': summary}
    outputs = cell.get('outputs', [])
    asis = asis_markdown(outputs) if opts.get('output') == 'asis' else None
    out = []
    if 'remove-input' not in tags or (asis is None and outputs and 'remove-output' not in tags):
        out.append(code_cell(code, [] if asis is not None else outputs, tags, meta, cell))
    if asis is not None:
        is_doc = code.lstrip().startswith('show_doc')
        out.append(md_cell(showdoc_md(asis, links) if is_doc else quarto_md(asis, links)))
    return out

def md_cell(src): return dict(cell_type='markdown', metadata={}, source=src)

def code_cell(code, outputs, tags, meta, cell):
    return dict(cell_type='code', metadata={**meta, **({'tags': tags} if tags else {})}, source=code,
                outputs=outputs, execution_count=cell.get('execution_count'))

def title_cells(nb):
    "The page title and the `> summary` line (nbdev moved them into frontmatter) as markdown cells."
    fm = getattr(nb, 'frontmatter_', {}) or {}
    out = [md_cell(f"# {fm.get('title') or Path(nb.path_).stem}")]
    if fm.get('description'): out.append(md_cell('{.ftkit-description}\n' + str(fm['description'])))
    return out

def myst_notebook(nb, links):
    "The processed fastcore notebook `nb` as an nbformat notebook for myst-nb (frontmatter made a title)."
    import nbformat
    cells = title_cells(nb)
    for c in nb.cells:
        if c.cell_type == 'raw' and str(c.source).startswith('---'): continue
        cells += myst_cells(dict(cell_type=c.cell_type, source=c.source, outputs=c.get('outputs', []),
                                 execution_count=c.get('execution_count')), links)
    new = nbformat.v4.new_notebook(metadata=_nb_metadata(nb))
    new.cells = [_nbformat_cell(c) for c in cells]
    nbformat.validator.normalize(new)
    return new

def _nb_metadata(nb):
    meta = {'kernelspec': {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'},
            'language_info': {'name': 'python'}}
    widgets = nb.metadata.get('widgets')
    if widgets: meta['widgets'] = json.loads(json.dumps(widgets))
    return meta

def _nbformat_cell(c):
    import nbformat
    if c['cell_type'] == 'markdown': return nbformat.v4.new_markdown_cell(c['source'], metadata=c['metadata'])
    outputs = [nbformat.from_dict(json.loads(json.dumps(o))) for o in c['outputs']]
    return nbformat.v4.new_code_cell(c['source'], metadata=c['metadata'], outputs=outputs,
                                     execution_count=c['execution_count'])

# ---------------------------------------------------------------- one notebook, start to end (in a worker)

def page_name(nb, path):
    "The page's file name as Quarto names it: frontmatter `output-file`, else the notebook's."
    fm = getattr(nb, 'frontmatter_', {}) or {}
    return Path(fm.get('output-file') or path.with_suffix('.html').name).stem

def page_names(names):
    "`{notebook: page}`, each page named as nbdev names it for Quarto (`04_config.ipynb` -> `config`)."
    from nbdev.frontmatter import FrontmatterProc
    from nbdev.process import NBProcessor
    return {name: page_name(NBProcessor(NBS/name, procs=[FrontmatterProc], process=True).nb, NBS/name)
            for name in names}

def build_page(name, opts):
    "Execute, process and translate notebook `name`; write its myst-nb notebook; return what happened."
    import nbformat
    from fastcore.nbio import dict2nb
    os.environ.update(opts['env'])
    path, t0, report = NBS/name, time.time(), dict(notebook=name, log=str(_log_to(LOGS/f'{name}.log')))
    try:
        if opts['execute']: nb = execute(path, opts['flags'], opts['timeout'])
        else: nb = nbformat.read(path, as_version=4)
        report['exec_errors'] = cell_errors(nb)
        fnb = dict2nb(json.loads(nbformat.writes(nb)))
        fnb['path_'] = str(path)
        nbdev_process(fnb)
        fm = getattr(fnb, 'frontmatter_', {}) or {}
        report.update(failures=fnb.failures_, mixed=fnb.mixed_, page=page_name(fnb, path),
                      module=_default_exp(path), title=fm.get('title'))
        nbformat.write(myst_notebook(fnb, opts['links']), SRC/f"{report['page']}.ipynb")
    except Exception as e:
        report['crash'] = f'{type(e).__name__}: {e}'[:2000]
    report['seconds'] = round(time.time() - t0, 1)
    return report

def _log_to(path):
    "Send this process's stderr, and so its kernels' (progress bars, warnings), to `path`."
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(fd, 2)
    sys.stderr = open(2, 'w', closefd=False)
    return path.relative_to(ROOT)

def _default_exp(path):
    "The module a notebook exports to (`#| default_exp NAME`), or None."
    cells = json.loads(path.read_text())['cells']
    src = '\n'.join(''.join(c['source']) for c in cells if c['cell_type'] == 'code')
    m = re.search(r'^\s*#\|\s*default_exp\s+(\S+)', src, re.M)
    return m[1] if m else None

# ---------------------------------------------------------------- --check-proc: nbdev's own step, unmodified

def nbdev_check(name):
    "nbdev's docs processing of one notebook as `nbdev-docs` runs it (`nbdev.serve_drv`): None, or why not."
    import nbdev.serve_drv
    from nbdev.processors import FilterDefaults
    with tempfile.TemporaryDirectory() as d, in_dir(ROOT):
        try: nbdev.serve_drv.main((NBS/name, Path(d)/name, FilterDefaults))
        except Exception as e:
            err = e.__cause__ or e
            return f'{str(e).splitlines()[0][:200]} ... {type(err).__name__}: {str(err)[:300]}'
    return None

def check_page(name):
    "nbdev's verdict on notebook `name`, and every cell that fails its processing (one by one)."
    from fastcore.nbio import read_nb
    _log_to(LOGS/f'check-{name}.log')
    nb = nbdev_process(read_nb(NBS/name))
    return dict(notebook=name, nbdev=nbdev_check(name), failures=nb.failures_, mixed=nb.mixed_)

# ---------------------------------------------------------------- the API pages and the navigation

def api_markdown(module, lesson, lib='ftkit'):
    "The API page of `lib.module`: each name in its `__all__`, signature, docstring and a link to its lesson."
    import importlib
    mod = importlib.import_module(f'{lib}.{module}')
    syms = importlib.import_module(f'{lib}._modidx').d['syms'].get(f'{lib}.{module}', {})
    page, title = lesson
    out = [f'# {lib}.{module}', '', f'Taught in the lesson <a href="../{page}.html">{_esc(title)}</a>.', '',
           f'```{{py:module}} {lib}.{module}', ':no-index:', '```', '']
    for name in getattr(mod, '__all__', []):
        if not hasattr(mod, name): continue
        where = syms.get(f'{lib}.{module}.{name}', (None,))[0]
        out += api_entry(name, getattr(mod, name), f'{lib}.{module}', f'../{where or page + ".html"}')
    return '\n'.join(out) + '\n'

def api_entry(name, obj, module, href):
    "One object as a MyST `py:` directive (so Sphinx's search and index know it), its docstring as markdown."
    import inspect
    kind = 'class' if inspect.isclass(obj) else 'function' if callable(obj) else 'data'
    doc = inspect.getdoc(obj) if kind != 'data' else f'`{_short(repr(obj))}`'
    head = name if kind == 'data' else f'{name}{_signature(obj)}'
    lesson = f'<a class="ftkit-lesson" href="{href}">In the lesson</a>'
    body = [f':module: {module}', '', doc or '', '', lesson]
    if kind == 'class':
        for m, f in vars(obj).items():
            if m.startswith('_') or not inspect.isfunction(f) or not f.__doc__: continue
            body += ['', f'```{{py:method}} {m}{_signature(f)}', '', inspect.getdoc(f), '```']
    return [f'````{{py:{kind}}} {head}', *body, '````', '']

def _signature(obj):
    import inspect
    try: sig = str(inspect.signature(obj))
    except (TypeError, ValueError): return '()'
    return re.sub(r'<([^<>]*)>', r'\1', re.sub(r'\s+', ' ', sig))

def _short(s, n=100): return s if len(s) <= n else s[:n - 3] + '...'

def api_pages(modules, lessons):
    "The API page of each of `modules` (run in a process of its own: it imports the package)."
    _log_to(LOGS/'api.log')
    return [api_markdown(m, l) for m, l in zip(modules, lessons)]

def write_api(pages, lib='ftkit'):
    "One API page per exported module and an index of them (under SRC/api); the module names."
    api = SRC/'api'
    api.mkdir(parents=True, exist_ok=True)
    mods = [r for r in pages if r.get('module') and (ROOT/lib/f"{r['module']}.py").exists()]
    lessons = [(r['page'], r.get('title') or r['page']) for r in mods]
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context('spawn')) as ex:  # imports the package
        texts = ex.submit(api_pages, [r['module'] for r in mods], lessons).result()
    names = [f"{lib}.{r['module']}" for r in mods]
    for name, text in zip(names, texts): (api/f'{name}.md').write_text(text)
    intro = 'Every public function and class of the package, module by module; each links to its lesson.'
    toc = '\n'.join(names)
    (api/'index.md').write_text(f'# API reference\n\n{intro}\n\n```{{toctree}}\n:maxdepth: 1\n\n{toc}\n```\n')
    return names

def write_nav(entries, extra, pages):
    "The navigation (hidden toctrees at the end of the index page): sidebar.yml's order, then the API."
    import nbformat
    by_nb = {r['notebook']: r['page'] for r in pages if 'page' in r}
    index = by_nb.get('index.ipynb', 'index')
    trees = []
    for section, files in entries + ([('More lessons', extra)] if extra else []):
        docs = [by_nb[f] for f in files if f in by_nb and by_nb[f] != index]
        if not docs: continue
        caption = f':caption: {section}\n' if section else ''
        trees.append(f'```{{toctree}}\n:hidden:\n{caption}\n' + '\n'.join(docs) + '\n```')
    trees.append('```{toctree}\n:hidden:\n:caption: Reference\n\napi/index\n```')
    path = SRC/f'{index}.ipynb'
    nb = nbformat.read(path, as_version=4) if path.exists() else nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell('\n\n'.join(trees)))
    nbformat.write(nb, path)

# ---------------------------------------------------------------- Sphinx, and what the pages load

def sphinx(quiet=True):
    "Render SRC into OUT with Sphinx (built in build/, beside which myst-nb writes its images); its warnings."
    html = ROOT/'build'/'site-html'
    shutil.rmtree(html, ignore_errors=True)
    fetch_widgets()  # conf.py serves build/static/ beside tools/site/static/
    cmd = [sys.executable, '-m', 'sphinx', '-b', 'html', '-c', str(SITE), '-E', '-q' if quiet else '-v',
           '-d', str(ROOT/'build'/'site-doctrees'), str(SRC), str(html)]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if r.returncode: sys.exit(f'sphinx-build failed:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}')
    shutil.rmtree(OUT, ignore_errors=True)
    shutil.move(html, OUT)
    return [l for l in r.stderr.splitlines() if re.search(r'\b(WARNING|ERROR|CRITICAL):', l)]

_external = re.compile(r'<(?:script|link)\b[^>]*\b(?:src|href)\s*=\s*["\']?(?:https?:)?//', re.I)

def external_refs(out=OUT):
    "Pages that load a script or stylesheet from another host: `[(page, tag)]` (the site must work offline)."
    return [(str(p.relative_to(out)), m.group(0)) for p in out.rglob('*.html')
            for m in _external.finditer(p.read_text())]

def fetch_widgets(dest=WIDGETS):
    "html-manager's standalone `embed.js`, its licence notes and fonts in `dest`, from the npm registry, once."
    if (dest/'embed.js').exists(): return dest
    import base64, hashlib, io, tarfile, urllib.request
    data = urllib.request.urlopen(WIDGETS_TGZ, timeout=120).read()
    if base64.b64encode(hashlib.sha512(data).digest()).decode() != WIDGETS_SHA512:
        raise SystemExit(f'{WIDGETS_TGZ}: not the published file (SHA-512 differs)')
    tmp = dest.with_name(dest.name + '.tmp')
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for m in tar.getmembers():
            name = Path(m.name)
            wanted = name.suffix == '.woff2' or name.name in ('embed.js', 'embed.js.LICENSE.txt')
            if name.parent == Path('package/dist') and wanted:
                (tmp/name.name).write_bytes(tar.extractfile(m).read())
    os.replace(tmp, dest)
    return dest

# ---------------------------------------------------------------- reports

def report_proc(pages):
    "Print the notebooks whose nbdev processing fails, cell by cell; how many fail."
    failing = [r for r in pages if r.get('failures') or r.get('nbdev')]
    for r in failing:
        stops = (r.get('nbdev') or '').replace('\n', ' ')
        print(f"\nnbs/{r['notebook']}: nbdev's docs processing fails"
              + (f"\n  nbdev-docs stops with: {stops}" if stops else ''))
        for f in r['failures']:
            mixed = ' (mixes imports with other code)' if f['id'] in r.get('mixed', []) else ''
            error = f['error'].strip().replace('\n', '\n      ')
            print(f"  cell {f['id']}{mixed}: {f['first_line']}\n    {error}\n    fix: {f['hint']}")
    mixed = sum(len(r.get('mixed', [])) for r in pages)
    print(f"\nnbdev processing: {len(pages) - len(failing)} of {len(pages)} notebooks pass; "
          f"{mixed} cells mix imports with other code.\nTo render show_doc, nbdev runs every cell that "
          "imports something, alone, from the project root, without the cells around it: such a "
          "cell fails on names and relative paths the notebook sets up elsewhere.")
    return len(failing)

def report_exec(pages):
    "Print the cells that raised while running and the notebooks not built; how many notebooks."
    bad = [r for r in pages if r.get('exec_errors') or r.get('crash')]
    for r in bad:
        if r.get('crash'): print(f"\nnbs/{r['notebook']}: not built: {r['crash']} (its log: {r['log']})")
        for cid, err in r.get('exec_errors', []):
            print(f"nbs/{r['notebook']}: cell {cid} raised " + err.replace('\n', '\n    '))
    return len(bad)

def run_all(fn, names, jobs, *args):
    "`fn(name, *args)` for every notebook, each in a fresh process, `jobs` at a time."
    fresh = {'max_tasks_per_child': 1} if sys.version_info >= (3, 11) else {}
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context('spawn'), **fresh) as ex:
        return list(ex.map(fn, names, *[[a]*len(names) for a in args]))

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--check-proc', action='store_true', help="only nbdev's processing: the failing cells")
    p.add_argument('--strict', action='store_true', help='exit 1 on any processing failure or cell error')
    p.add_argument('--no-exec', action='store_true', help="don't execute: render stored outputs only")
    p.add_argument('--jobs', type=int, default=min(2, os.cpu_count() or 1), help='notebooks at a time')
    a = p.parse_args(argv)
    t0 = time.time()
    entries, extra = site_notebooks()
    names = [f for _, files in entries for f in files] + extra
    for f in extra: print(f'nbs/{f} is not in nbs/sidebar.yml: listed last in the navigation; add it there')
    if a.check_proc:
        n = report_proc(run_all(check_page, names, a.jobs))
        return 1 if n and a.strict else 0
    from nbdev.config import get_config
    cfg = get_config(ROOT)
    dflt = dict(HF_HUB_OFFLINE='1', HF_DATASETS_OFFLINE='1', TRANSFORMERS_VERBOSITY='error',
                TOKENIZERS_PARALLELISM='false', OMP_NUM_THREADS=str(max(1, (os.cpu_count() or 1)//a.jobs)))
    env = {k: os.environ.get(k, v) for k, v in dflt.items()}
    env['MPLBACKEND'] = 'module://matplotlib_inline.backend_inline'  # Agg drawing; figures become PNG outputs
    links = dict(doc_url=f'{cfg.doc_host}{cfg.doc_baseurl}'.rstrip('/'), pages=page_names(names))
    opts = dict(execute=not a.no_exec, flags=cfg.tst_flags.split(), env=env, links=links,
                timeout=int(cfg.get('cell_timeout', 600) or 600))
    shutil.rmtree(SRC, ignore_errors=True)
    SRC.mkdir(parents=True)
    pages = run_all(build_page, names, a.jobs, opts)
    for r in pages: print(f"  {r['notebook']:28s} {r['seconds']:6.1f}s  -> {r.get('page', '(not built)')}")
    built = [r for r in pages if 'page' in r]
    write_api(built)
    write_nav(entries, extra, built)
    t1 = time.time()
    warns = sphinx()
    t2 = time.time()
    n_proc, n_exec = report_proc(pages), report_exec(pages)
    ext = external_refs()
    for page, tag in ext: print(f'{page} loads from another host: {tag}')
    if warns: print(f'sphinx: {len(warns)} warnings:\n  ' + '\n  '.join(warns[:10]))
    n_pages = len(list(OUT.rglob('*.html')))
    print(f'site: {OUT.relative_to(ROOT)}/ {n_pages} pages ({len(built)} notebooks) '
          f'in {time.time() - t0:.0f} s (notebooks {t1 - t0:.0f} s, Sphinx {t2 - t1:.0f} s)')
    if ext or len(built) < len(names): return 1
    return 1 if a.strict and (n_proc or n_exec) else 0

if __name__ == '__main__': sys.exit(main())
