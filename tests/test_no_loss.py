"""Issue #10's reproductions through the command line, as a user meets them: each ordinary mistake ends in one line
and exit status 2 before anything slow starts, and nothing the user made is touched. (Checkpoints and resume:
test_resume.py and test_faults.py; data files and the cache: test_data_*.py; merge: test_merge_*.py; secrets and the
critic: test_critic_http.py.)"""
import json, os, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
QUICK = str(ROOT/'examples'/'honeycomb-tiny.yml')
ENV = {**os.environ, 'MPLBACKEND': 'Agg', 'HF_HUB_OFFLINE': '1', 'OMP_NUM_THREADS': '1'}
FAST = ['--max_steps', '2', '--micro_batch_size', '2', '--val_set_size', '0', '--save_strategy', 'no', '--no-eval']

def ftkit(*args, cwd, env=None):
    return subprocess.run([sys.executable, '-m', 'ftkit.cli', *args], cwd=cwd, capture_output=True, text=True,
                          env=env or ENV, timeout=900)

def one_line_error(r, text):
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    errors = [l for l in r.stderr.splitlines() if 'error:' in l]
    assert len(errors) == 1 and text in errors[0] and 'Traceback' not in r.stderr, r.stderr[-2000:]

def snapshot(folder): return {p.relative_to(folder): p.read_bytes() for p in Path(folder).rglob('*') if p.is_file()}

def test_output_dir_dot_is_refused_and_untouched(tmp_path):
    (tmp_path/'README.md').write_text('my notes')
    before = snapshot(tmp_path)
    one_line_error(ftkit('train', QUICK, *FAST, '--output_dir', '.', cwd=tmp_path), 'holds files ftkit did not write')
    assert snapshot(tmp_path) == before           # no README replaced, no lock file, nothing added

def test_home_in_output_dir_is_expanded(tmp_path):
    home = tmp_path/'home'
    home.mkdir()
    r = ftkit('train', QUICK, *FAST, '--output_dir', '~/runs/x', cwd=tmp_path, env={**ENV, 'HOME': str(home)})
    assert r.returncode == 0, r.stderr[-2000:]
    assert (home/'runs'/'x'/'adapter_model.safetensors').exists() and not (tmp_path/'~').exists()

@pytest.mark.parametrize('key, value, text', [
    ('learning_rate', '.nan', 'learning_rate: nan is not a number'),
    ('warmup_steps', '-5', 'warmup_steps: -5 must be 0 or more'),
    ('logging_steps', '0', 'logging_steps: 0 must be at least 1'),
    ('max_steps', '0', 'max_steps: 0 must be at least 1'),
    ('save_steps', '0', 'save_steps: 0 must be above 0'),
    ('test_datasets', '[{path: missing.jsonl, type: sharegpt}]', "test_datasets[0].path: 'missing.jsonl' does not exist"),
    ('output_dir', 'notes.txt', "output_dir: 'notes.txt' is a file, not a folder"),
])
def test_bad_values_stop_at_once(tmp_path, key, value, text):
    (tmp_path/'notes.txt').write_text('mine')
    r = ftkit('train', QUICK, '--no-eval', f'--{key}', value, cwd=tmp_path)
    one_line_error(r, text)
    assert 'Loading weights' not in r.stderr + r.stdout       # before the model loads

def test_val_set_size_larger_than_the_data(tmp_path):
    r = ftkit('train', QUICK, *FAST, '--val_set_size', '5000', '--output_dir', 'run', cwd=tmp_path)
    one_line_error(r, 'val_set_size: 5000.0 rows, but the data has 4000')
    assert 'Loading weights' not in r.stderr + r.stdout

def test_zero_usable_rows_before_the_model(tmp_path):
    (tmp_path/'bad.jsonl').write_text('{"conversations": "not a list"}\n' * 3)
    r = ftkit('train', QUICK, *FAST, '--datasets', '[{path: bad.jsonl, type: sharegpt}]', '--output_dir', 'run',
              cwd=tmp_path)
    one_line_error(r, 'no usable row')
    assert not list((tmp_path/'run').glob('*.safetensors'))

@pytest.mark.parametrize('argv, text', [
    (['models', '--gpu-memory', '24', '--seq-lenn', '8192'], 'unknown option --seq-lenn; did you mean --seq-len?'),
    (['memory', 'ftkit:tiny-llama', '--bogus', '1'], 'unknown option --bogus'),
    (['curate', 'a.jsonl', 'b.jsonl', '--judgee', 'rules'], 'unknown option --judgee; did you mean --judge?'),
    (['eval', '--predictions', 'p.jsonl', '--limt', '3'], 'unknown option --limt; did you mean --limit?'),
    (['train', QUICK, '--resmue'], 'unknown option --resmue; did you mean --resume?'),
])
def test_unknown_options_are_errors_in_every_command(tmp_path, argv, text):
    one_line_error(ftkit(*argv, cwd=tmp_path), text)

def test_models_reads_underscored_options(tmp_path):
    "`ftkit models --seq_len 8192` once answered for 2048; it now means --seq-len."
    got = lambda *a: json.loads(ftkit('models', '--gpu-memory', '24', '--all', '--json', *a, cwd=tmp_path).stdout)
    fit = lambda rows: {r['id']: r['max_micro_batch'] for r in rows}
    assert fit(got('--seq_len', '8192')) == fit(got('--seq-len', '8192')) != fit(got())
