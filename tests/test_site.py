"""The documentation site in a real browser: Debian's Chromium, headless, Playwright, a local server.

Uses `_docs/` if it is built (CI builds it first: `python tools/build_site.py`), else builds it. Skips only
when Chromium or Playwright is missing and this is not CI. `FTKIT_SAVE_SCREENSHOTS=1` also writes the two
screenshots kept in `docs/screenshots/` (the masks page's mask view, the memory page's chart).
"""
import functools, http.server, os, re, shutil, subprocess, sys, tempfile, threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlparse
from urllib.request import Request, urlopen
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT/'_docs'
SHOTS = ROOT/'docs'/'screenshots'
CI = bool(os.environ.get('CI'))
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync']
TRAINED_BG = 'rgb(200, 230, 201)'      # #c8e6c9, the background ftkit.masks.mask_html gives a trained token

def chromium():
    "Debian's Chromium, or a skip (outside CI) / failure (in CI)."
    path = shutil.which('chromium') or ('/usr/bin/chromium' if Path('/usr/bin/chromium').exists() else None)
    if path: return path
    if CI: pytest.fail('chromium not found: .ci/run installs it with apt-get install chromium')
    pytest.skip('chromium not installed (apt-get install -y chromium); CI runs this test')

@pytest.fixture(scope='module')
def site():
    "The built site's folder (built here if `_docs/` has no index page)."
    if not (DOCS/'index.html').exists():
        if not CI:
            pytest.importorskip('sphinx')
            pytest.importorskip('myst_nb')
        subprocess.run([sys.executable, str(ROOT/'tools'/'build_site.py')], cwd=ROOT, check=True)
    return DOCS

class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args): pass

@pytest.fixture(scope='module')
def server(site):
    "Base URL of `_docs/` served on 127.0.0.1."
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(Quiet, directory=str(site)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f'http://127.0.0.1:{srv.server_address[1]}/'
    srv.shutdown()
    srv.server_close()

@pytest.fixture(scope='module')
def browser(site):
    "A Chromium browser context (temporary HOME and profile) that refuses every request off this machine."
    exe = chromium()
    if CI: from playwright.sync_api import sync_playwright
    else: sync_playwright = pytest.importorskip('playwright.sync_api').sync_playwright
    home = tempfile.mkdtemp(prefix='ftkit-chromium-home-')
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            str(Path(home)/'profile'), executable_path=exe, headless=True, args=FLAGS,
            env={**os.environ, 'HOME': home}, viewport={'width': 1280, 'height': 900})
        ctx.offsite = []
        ctx.route('**/*', functools.partial(_local_only, ctx.offsite))
        yield ctx
        ctx.close()
    shutil.rmtree(home, ignore_errors=True)

def _local_only(offsite, route):
    "Let requests to 127.0.0.1 through; refuse and note the others (the site must work offline)."
    host = urlparse(route.request.url).hostname
    if host == '127.0.0.1' or route.request.url.startswith(('data:', 'blob:', 'about:')):
        return route.continue_()
    offsite.append(route.request.url)
    return route.abort()

def pages(site):
    "Every HTML page of the site, as paths relative to it."
    return sorted(str(p.relative_to(site)) for p in site.rglob('*.html'))

def page_of(module):
    "The page that documents `module`, from nbdev's index of the package (`ftkit/_modidx.py`), not its name."
    from ftkit._modidx import d
    docs = {v[0].split('#')[0] for v in d['syms'].get(module, {}).values()}
    assert len(docs) == 1, f'{module} is documented on {sorted(docs) or "no page"}'
    return docs.pop()

@pytest.fixture(scope='module')
def crawl(site, server, browser):
    "Open every page once; what each shows: errors, requests that failed, links, ids, error outputs."
    out, page = {}, browser.new_page()
    for rel in pages(site):
        seen = dict(console=[], failed=[], bad_status=[])
        def on_console(m):
            if m.type == 'error': seen['console'].append(m.text)
        def on_response(r):
            if r.status >= 400: seen['bad_status'].append(f'{r.status} {r.url}')
        listeners = dict(console=on_console, response=on_response,
                         pageerror=lambda e: seen['console'].append(f'uncaught: {e}'),
                         requestfailed=lambda r: seen['failed'].append(f'{r.url} ({r.failure})'))
        for event, fn in listeners.items(): page.on(event, fn)
        page.goto(server + rel, wait_until='load')
        page.wait_for_load_state('networkidle')
        seen.update(page.evaluate(_SCAN))
        for event, fn in listeners.items(): page.remove_listener(event, fn)
        out[rel] = seen
    page.close()
    return out

_SCAN = r"""() => {
  const text = el => el.innerText || '';
  const outputs = [...document.querySelectorAll('.cell_output .output')];
  const head = o => text(o).split('\n').filter(l => /Error|Exception/.test(l)).pop() || text(o).slice(0, 300);
  const traceback = o => o.classList.contains('traceback') || /Traceback \(/.test(text(o));
  const stderr = o => o.classList.contains('stderr');
  return {
    links: [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href')),
    ids: [...document.querySelectorAll('[id]')].map(e => e.id),
    tracebacks: outputs.filter(traceback).map(head),
    stderr_errors: outputs.filter(o => stderr(o) && /Traceback|\b\w+Error\b:/.test(text(o))).map(head),
    widget_views: document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]').length,
    widgets_shown: document.querySelectorAll('.jupyter-widgets, .widget-subarea > *').length,
  };
}"""

def test_every_page_loads_cleanly(crawl, browser):
    assert len(crawl) > 10, f'only {len(crawl)} pages'
    problems = {p: {k: s[k] for k in ('console', 'failed', 'bad_status') if s[k]} for p, s in crawl.items()}
    assert not {p: v for p, v in problems.items() if v}
    assert browser.offsite == [], f'pages asked other hosts for files: {sorted(set(browser.offsite))[:5]}'

def test_no_page_loads_from_another_host(site):
    ext = re.compile(r'<(?:script|link)\b[^>]*\b(?:src|href)\s*=\s*["\']?(?:https?:)?//', re.I)
    found = {p: ext.findall((site/p).read_text()) for p in pages(site)}
    assert not {p: v for p, v in found.items() if v}

def test_internal_links_resolve(site, server, crawl):
    broken, status = [], {}
    for rel, seen in crawl.items():
        base = server + rel
        for href in seen['links']:
            url, anchor = urldefrag(urljoin(base, href))
            if not url.startswith(server): continue
            target = url[len(server):] or 'index.html'
            if target.endswith('/'): target += 'index.html'
            if target not in status:
                try: status[target] = urlopen(Request(server + target, method='HEAD')).status
                except Exception as e: status[target] = getattr(e, 'code', str(e))
            if status[target] != 200: broken.append(f'{rel}: {href} -> {status[target]}')
            elif anchor and target in crawl and anchor not in crawl[target]['ids']:
                broken.append(f'{rel}: {href} -> no id {anchor!r} on {target}')
    assert not broken, f'{len(broken)} broken links, e.g. ' + '\n'.join(sorted(set(broken))[:20])

def test_no_cell_shows_an_error(crawl):
    errs = {p: s['tracebacks'] + s['stderr_errors'] for p, s in crawl.items()}
    assert not {p: e for p, e in errs.items() if e}

def test_widget_views_render(crawl):
    with_widgets = {p: s for p, s in crawl.items() if s['widget_views']}
    assert with_widgets, 'no page has a widget view (ftkit.masks shows MaskBrowser)'
    assert not [p for p, s in with_widgets.items() if not s['widgets_shown']], 'widget views not rendered'

def test_navigation_follows_the_sidebar(site):
    sys.path.insert(0, str(ROOT/'tools'))
    import build_site
    entries, _ = build_site.site_notebooks()
    names = build_site.page_names([f for _, files in entries for f in files])
    want = [names[f] + '.html' for _, files in entries for f in files if names[f] != 'index']
    sidebar = (site/'index.html').read_text().split('sidebar-tree')[1]
    nav = re.findall(r'<a class="reference internal" href="([^"#]+)">', sidebar)
    assert [h for h in nav if h in want] == want

def shoot(page, locator, name):
    "Screenshot from the cell of `locator` down; kept in docs/screenshots/ if FTKIT_SAVE_SCREENSHOTS=1."
    top = {'block': 'start', 'behavior': 'instant'}    # furo scrolls smoothly: a shot mid-scroll is blank
    locator.evaluate("(e, top) => (e.closest('div.cell') || e).scrollIntoView(top)", top)
    page.wait_for_timeout(300)
    path = Path(tempfile.mkdtemp())/name
    page.screenshot(path=str(path))
    assert path.stat().st_size > 10_000
    if os.environ.get('FTKIT_SAVE_SCREENSHOTS'):
        SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, SHOTS/name)

def test_masks_page_shows_coloured_tokens(server, browser):
    page = browser.new_page()
    page.goto(server + page_of('ftkit.masks'))
    page.wait_for_load_state('networkidle')
    spans = page.locator('.cell_output span[title^="id "]')
    green = spans.evaluate_all(f"""els => els.filter(e => e.getBoundingClientRect().width > 0
                                   && getComputedStyle(e).backgroundColor === '{TRAINED_BG}').length""")
    assert green > 5, f'{green} green token spans on the masks page'
    shoot(page, spans.first, 'masks.png')
    page.close()

def test_memory_page_shows_the_chart(server, browser):
    page = browser.new_page()
    page.goto(server + page_of('ftkit.memory'))
    page.wait_for_load_state('networkidle')
    imgs = page.locator('.cell_output img[src$=".png"]')
    sizes = imgs.evaluate_all('els => els.map(e => [e.naturalWidth, e.naturalHeight, e.clientWidth])')
    charts = [s for s in sizes if s[0] > 200 and s[1] > 100 and s[2] > 0]
    assert charts, f'no matplotlib figure shown on the memory page (images: {sizes})'
    shoot(page, imgs.first, 'memory.png')
    page.close()

def test_search_finds_load_config(server, browser):
    page = browser.new_page()
    page.goto(server + 'search.html?q=load_config')
    hit = page.locator('#search-results li a', has_text='load_config').first
    hit.wait_for(timeout=20_000)
    assert 'config' in hit.get_attribute('href')
    page.close()
