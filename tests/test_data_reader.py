"""Rows fail, files don't (issue #10): each old failure reproduced with the old code, then the new behaviour; and a
fuzz test of 2,000 corrupted files made from the bundled rows."""
import json, os, random, subprocess, sys
from collections import Counter
from pathlib import Path
import datasets, pytest
from _before import ROOT, old_module
from ftkit.config import ConfigError, load_config
from ftkit.data import DataError, encode_rows, load_rows, prepare_dataset, read_file
from ftkit.files import resolve_path
from ftkit.models import load_tokenizer

QUICK = str(ROOT/'examples'/'honeycomb-tiny.yml')
LINES = Path(resolve_path('ftkit:honeycomb/train.jsonl')).read_bytes().splitlines()
SHAREGPT = {'type': 'sharegpt', 'conversation': 'alpaca'}

@pytest.fixture(scope='module')
def tok(): return load_tokenizer(load_config(QUICK))

@pytest.fixture
def hf_cache(tmp_path, monkeypatch):
    "The old code reads through `datasets`' cache: keep it in the test's folder."
    monkeypatch.setattr(datasets.config, 'HF_DATASETS_CACHE', tmp_path/'hf')

def config(path, **kw): return load_config({'datasets': [{'path': str(path), **SHAREGPT}], **kw})

def number_answer(line):
    "A bundled row whose answer is the number 1000 instead of text."
    row = json.loads(line)
    row['conversations'][2]['value'] = 1000
    return json.dumps(row).encode()

def test_one_bad_line(tmp_path, tok, hf_cache):
    "One line that does not parse voided the whole file with a traceback; now it is one counted row."
    p = tmp_path/'cut.jsonl'
    p.write_bytes(b'\n'.join([LINES[0], LINES[1][:60], LINES[2]]) + b'\n')
    old = old_module('data')
    with pytest.raises(Exception) as e: old.prepare_dataset(config(p), tok, verbose=False)
    assert not isinstance(e.value, ConfigError)  # a traceback, not a message for a person
    ds, report = prepare_dataset(config(p), tok, verbose=False)
    assert (len(ds), report) == (2, Counter(rows=3, kept=2, **{'not valid JSON': 1}))

def test_one_number_answer(tmp_path, tok, hf_cache):
    "One answer that is a number made every row drop as 'wrong type' (the others were read as dicts); now one row."
    p = tmp_path/'number.jsonl'
    p.write_bytes(b'\n'.join([LINES[0], number_answer(LINES[1]), LINES[2]]) + b'\n')
    _, before = old_module('data').prepare_dataset(config(p), tok, verbose=False)
    assert before == Counter(rows=3, **{'wrong type: turn value': 3})
    rows = load_rows(config(p).datasets[0])
    assert [type(r['conversations'][2]['value']) for r in rows] == [str, int, str]
    _, report = prepare_dataset(config(p), tok, verbose=False)
    assert report == Counter(rows=3, kept=2, **{'wrong type: turn value': 1})

BROKEN = {  # file name -> (content, the words of its one-line error); a folder for None
    'empty.jsonl': (b'', 'empty'),
    'model.jsonl': (bytes(range(256)) * 8, 'binary data'),
    'latin1.jsonl': ('{"conversations": "café"}\n'.encode('latin-1'), 'not UTF-8 text'),
    'folder.jsonl': (None, 'a folder with no'),
    'columns.csv': (b'question,answer\nhi,there\n', "no column 'instruction', 'output' (it has question, answer)"),
}

@pytest.mark.parametrize('name', BROKEN)
def test_unreadable_file_is_one_line(name, tmp_path, tok, hf_cache):
    "Empty, binary, non-UTF-8, a folder, CSV without the columns: tracebacks before, one line (DataError) now."
    data, words = BROKEN[name]
    p = tmp_path/name
    if data is None: p.mkdir()
    else: p.write_bytes(data)
    entry = {'path': str(p), 'type': 'alpaca' if name.endswith('.csv') else 'sharegpt'}
    cfg = load_config({'datasets': [entry]})
    try: before = len(old_module('data').prepare_dataset(cfg, tok, verbose=False)[0])
    except Exception as e: before = e
    assert before == 0 or not isinstance(before, ConfigError)  # 0 rows (training fails later) or a traceback
    with pytest.raises(DataError) as e: prepare_dataset(cfg, tok, verbose=False)
    assert isinstance(e.value, ConfigError) and words in str(e.value) and str(p) in str(e.value)
    assert len(str(e.value).splitlines()) == 1

def test_unreadable_file_on_the_command_line(tmp_path):
    "`ftkit preprocess` on a binary file: one line and exit 2, no traceback."
    (tmp_path/'model.jsonl').write_bytes(bytes(range(256)) * 8)
    env = {**os.environ, 'HF_HUB_OFFLINE': '1', 'FTKIT_CACHE': str(tmp_path/'cache')}
    r = subprocess.run([sys.executable, '-m', 'ftkit.cli', 'preprocess', QUICK, '--datasets',
                        json.dumps([{'path': str(tmp_path/'model.jsonl'), **SHAREGPT}])],
                       cwd=tmp_path, capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 2 and 'binary data, not text' in r.stderr and 'Traceback' not in r.stderr, r.stderr[-2000:]

def test_no_usable_row_stops_before_the_model_loads(tmp_path, tok, hf_cache, monkeypatch):
    "0 usable rows: the old code returned an empty dataset (training then failed after loading the model)."
    p = tmp_path/'numbers.jsonl'
    p.write_bytes(number_answer(LINES[0]) + b'\n' + number_answer(LINES[1]) + b'\n')
    empty, _ = old_module('data').prepare_dataset(config(p), tok, verbose=False)
    assert len(empty) == 0
    import ftkit.train
    def no_model(*a, **kw): raise AssertionError('the model was loaded')
    monkeypatch.setattr(ftkit.train, 'load_model', no_model)
    with pytest.raises(DataError, match=r'datasets\[0\] \(.*numbers.jsonl\): no usable row; 2 rows, 0 kept'):
        ftkit.train.train(config(p, output_dir=str(tmp_path/'run')))

# ---- the fuzz test
def corrupt(rng, line):
    "`(lines, good)`: what one bundled `line` becomes, and how many of those lines are good rows."
    kind = rng.choice(['good', 'good', 'duplicate', 'crlf', 'blank', 'truncate', 'type swap', 'bad byte', 'nul',
                       'latin-1', 'utf-16', 'junk'])
    if kind == 'good': return [line], 1
    if kind == 'duplicate': return [line, line], 2
    if kind == 'crlf': return [line + b'\r'], 1
    if kind == 'blank': return [rng.choice([b'', b' ', b'\t \r'])], 0
    if kind == 'truncate': return [line[:rng.randrange(1, len(line))]], 0
    if kind == 'type swap':
        row, turn = json.loads(line), rng.randrange(3)
        new = rng.choice([0, 1.5, None, True, [], {}, ['x'], {'a': 1}])
        where = rng.choice(['value', 'from', 'conversations', 'turn'])
        if where == 'conversations': row['conversations'] = rng.choice([new, 'text']) if new != [] else 'text'
        elif where == 'turn': row['conversations'][turn] = rng.choice([new, 'text']) if new != {} else 'text'
        else: row['conversations'][turn][where] = new
        return [json.dumps(row).encode()], 0
    at = rng.randrange(len(line) + 1)
    if kind == 'bad byte': return [line[:at] + bytes([rng.randrange(0x80, 0x100)]) + line[at:]], 0
    if kind == 'nul': return [line[:at] + b'\x00' + line[at:]], 0
    if kind == 'latin-1': return [line[:at] + 'é'.encode('latin-1') + line[at:]], 0
    if kind == 'utf-16': return [line.decode().encode('utf-16-le')], 0
    junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 60)))
    return junk.split(b'\n'), 0  # random bytes: never a row of this dataset

def fuzz_file(rng):
    "`(bytes, good rows)` of one corrupted file made of bundled rows."
    if rng.random() < 0.03: return b'', 0
    if rng.random() < 0.03: return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 500))), 0
    out, good = [], 0
    for _ in range(rng.randrange(1, 9)):
        lines, g = corrupt(rng, rng.choice(LINES))
        out += lines
        good += g
    start = b'\xef\xbb\xbf' if rng.random() < 0.05 else b''  # a byte-order mark
    return start + b'\n'.join(out) + rng.choice([b'\n', b'', b'\r\n']), good

def test_fuzz(tmp_path, tok):
    """2,000 files of bundled rows with random corruptions: no exception but a one-line DataError, and every good
    line kept — per file through the reader and the row encoder, and for all of them through `prepare_dataset`."""
    assert all(l.isascii() for l in LINES)  # so one byte >= 0x80 is never valid UTF-8
    rng, folder = random.Random(0), tmp_path/'fuzz'
    folder.mkdir()
    expected = []
    for i in range(2000):
        data, good = fuzz_file(rng)
        (folder/f'{i:04d}.jsonl').write_bytes(data)
        expected.append(good)
    kept, errors = [], 0
    for i in range(2000):
        try: rows, bad = read_file(folder/f'{i:04d}.jsonl', SHAREGPT)
        except DataError as e:
            assert expected[i] == 0 and len(str(e).splitlines()) == 1, (i, e)
            kept.append(0)
            errors += 1
            continue
        kept.append(sum(isinstance(x, dict) for x in encode_rows(rows, SHAREGPT, tok)))
    assert kept == expected
    cfg = load_config({'datasets': [{'path': str(folder), **SHAREGPT}], 'sequence_len': 2048})
    _, report = prepare_dataset(cfg, tok, verbose=False)
    assert report['kept'] == sum(expected) and report['file with no readable row'] == errors
    print(f'fuzz: 2000 files, {report["rows"]} rows, {sum(expected)} good lines kept, {errors} files with no row')
