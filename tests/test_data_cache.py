"""The prepared-data cache (issue #10): damaged entries, concurrent writers, what clear_cache removes. Each old failure
is reproduced with the old code first."""
import json, os, signal, subprocess, sys
from pathlib import Path
import datasets, pytest
from _before import ROOT, old_module
from ftkit.config import load_config
from ftkit.data import REPORT, clear_cache, prepare_dataset
from ftkit.files import resolve_path
from ftkit.models import load_tokenizer

QUICK = str(ROOT/'examples'/'honeycomb-tiny.yml')
ENV = {**os.environ, 'HF_HUB_OFFLINE': '1', 'MPLBACKEND': 'Agg', 'TRANSFORMERS_VERBOSITY': 'error'}

@pytest.fixture(scope='module')
def tok(): return load_tokenizer(load_config(QUICK))

@pytest.fixture
def small(tmp_path):
    "A data file of 200 bundled rows."
    p = tmp_path/'small.jsonl'
    p.write_text('\n'.join(Path(resolve_path('ftkit:honeycomb/train.jsonl')).read_text().splitlines()[:200]) + '\n')
    return p

def cfg_for(data, cache): return load_config({'datasets': [{'path': str(data), 'type': 'sharegpt'}],
                                              'dataset_prepared_path': str(cache)})

def entry(cache): return next(p for p in Path(cache).iterdir() if p.is_dir())

def flip(b):
    b = bytearray(b)
    b[len(b) // 3] ^= 1  # a bit of some token id
    return bytes(b)

DAMAGE = {'cut in half': lambda e: _arrow(e, lambda b: b[:len(b) // 2]),
          'zero bytes': lambda e: _arrow(e, lambda b: b''),
          'bad state file': lambda e: (e/'state.json').write_text('{"_data_files": ['),
          'one bit flipped': lambda e: _arrow(e, flip)}

def _arrow(e, change):
    p = next(e.glob('*.arrow'))
    p.write_bytes(change(p.read_bytes()))

@pytest.mark.parametrize('damage', DAMAGE)
def test_damaged_entry(damage, tmp_path, small, tok, capsys, monkeypatch):
    "Before: a traceback (no word of --clear-cache), or a flipped bit trained on silently. Now: a note, rebuilt."
    monkeypatch.setattr(datasets.config, 'HF_DATASETS_CACHE', tmp_path/'hf')
    old, fresh = old_module('data'), prepare_dataset(cfg_for(small, tmp_path/'new'), tok, verbose=False)[0].to_dict()
    old.prepare_dataset(cfg_for(small, tmp_path/'old'), tok, verbose=False)
    DAMAGE[damage](entry(tmp_path/'old'))
    try: before = old.prepare_dataset(cfg_for(small, tmp_path/'old'), tok, verbose=False)[0].to_dict() == fresh
    except Exception as e: before = type(e).__name__
    assert before in ('OSError', 'ArrowInvalid', 'JSONDecodeError', False), before  # a traceback, or wrong data
    DAMAGE[damage](entry(tmp_path/'new'))
    capsys.readouterr()
    again, _ = prepare_dataset(cfg_for(small, tmp_path/'new'), tok, verbose=False)
    notes = [l for l in capsys.readouterr().err.splitlines() if l.startswith('note:')]  # (and progress bars)
    assert again.to_dict() == fresh
    assert len(notes) == 1 and 'is damaged' in notes[0] and 'preparing it again' in notes[0], notes

def test_three_concurrent_preprocess(tmp_path):
    "Three `ftkit preprocess` on a fresh cache: one builds the entry, the other two wait and load it; all exit 0."
    cache = tmp_path/'prepared'
    cmd = [sys.executable, '-m', 'ftkit.cli', 'preprocess', QUICK, '--dataset_prepared_path', str(cache)]
    procs = [subprocess.Popen(cmd, cwd=tmp_path, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    outs = [p.communicate(timeout=900) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [e[-2000:] for _, e in outs]
    assert sum('loaded prepared datasets from' in o for o, _ in outs) == 2
    assert all('4000 rows, 4000 kept' in o for o, _ in outs)
    assert [p.name for p in cache.iterdir() if p.is_dir()] == [entry(cache).name]  # one entry, no temporary folder

READER = '''
import sys, datasets
ds = datasets.load_from_disk(sys.argv[1])
print('loaded', flush=True)
sys.stdin.readline()  # meanwhile the entry is {how}
print(sum(map(len, ds['input_ids'])))
'''

def test_no_sigbus_for_a_reader(tmp_path, small, tok):
    """The mechanism of the old SIGBUS: a process reads an entry (mapped into memory) while another rewrites its files
    in place. ftkit never writes a file of an entry in place: a damaged entry is renamed away and rebuilt beside it."""
    cfg = cfg_for(small, tmp_path/'cache')
    prepare_dataset(cfg, tok, verbose=False)
    e = entry(tmp_path/'cache')
    def reader(how):
        p = subprocess.Popen([sys.executable, '-c', READER.format(how=how), str(e)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
        assert p.stdout.readline().strip() == 'loaded'
        return p
    p = reader('rewritten in place')  # what two writers of one entry did before
    arrow = next(e.glob('*.arrow'))
    open(arrow, 'wb').close()
    p.communicate('\n', timeout=120)
    assert p.returncode == -signal.SIGBUS
    prepare_dataset(cfg, tok, verbose=False)  # the emptied file: a note, and the entry is built again
    p = reader('found damaged and rebuilt by ftkit')
    (e/REPORT).write_text('{')
    prepare_dataset(cfg, tok, verbose=False)  # a note; the entry is renamed away, deleted, and built again
    out, err = p.communicate('\n', timeout=120)
    assert p.returncode == 0 and int(out.split()[-1]) > 0, err[-2000:]

def test_clear_cache_removes_only_ftkits(tmp_path, small, tok):
    "clear_cache removes ftkit's entries and leftovers of killed writers; a look-alike folder and other files stay."
    cache = tmp_path/'cache'
    prepare_dataset(cfg_for(small, cache), tok, verbose=False)
    ours = entry(cache)
    (cache/'datasets-0123456789abcdef').mkdir()  # named like an entry, but not ftkit's
    (cache/'datasets-0123456789abcdef'/'mine.txt').write_text('keep me')
    (cache/'notes.txt').write_text('keep me too')
    (cache/f'.{ours.name}.tmp-4242').mkdir()  # a writer killed half way
    assert clear_cache(cache) == 1
    assert sorted(p.name for p in cache.iterdir() if not p.name.endswith('.lock')) == [
        'datasets-0123456789abcdef', 'notes.txt']
    assert (cache/'datasets-0123456789abcdef'/'mine.txt').read_text() == 'keep me'

def test_foreign_folder_in_an_entrys_place(tmp_path, small, tok):
    "A folder where an entry would go that ftkit did not write is moved aside, not deleted or trusted."
    cfg = cfg_for(small, tmp_path/'cache')
    prepare_dataset(cfg, tok, verbose=False)
    e = entry(tmp_path/'cache')
    (e/REPORT).unlink()
    ds, _ = prepare_dataset(cfg, tok, verbose=False)
    assert len(ds) == 200 and (e.parent/f'{e.name}.old-1').is_dir() and (e/REPORT).is_file()
    meta = json.loads((e/REPORT).read_text())
    assert meta['report']['kept'] == 200 and all(len(v) == 2 for v in meta['files'].values())
