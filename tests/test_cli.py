"""End-to-end tests of the `ftkit` command, run as a user runs it: a subprocess, from a folder outside the repo."""
import json, os, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
QUICK = str(ROOT/'examples'/'honeycomb-tiny.yml')

def ftkit(*args, cwd):
    "Run `ftkit ARGS` in `cwd`; returns the CompletedProcess."
    env = {**os.environ, 'MPLBACKEND': 'Agg'}
    return subprocess.run([sys.executable, '-m', 'ftkit.cli', *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=900)

def test_help_lists_commands(tmp_path):
    r = ftkit('--help', cwd=tmp_path)
    assert r.returncode == 0
    for cmd in ('preprocess', 'train', 'inference', 'eval'): assert cmd in r.stdout
    for cmd in ('preprocess', 'train', 'inference', 'eval'): assert ftkit(cmd, '--help', cwd=tmp_path).returncode == 0

@pytest.mark.parametrize('override, msg', [
    (['--lora_rr', '8'], "unknown key 'lora_rr'; did you mean 'lora_r'?"),
    (['--adapter', 'qlora', '--lora_target_linear', 'true'], 'adapter: qlora needs load_in_4bit: true'),
    (['--micro_batch_size', 'four'], "micro_batch_size: 'four' is a str; expected int"),
])
def test_bad_config_exits_2_without_traceback(tmp_path, override, msg):
    r = ftkit('train', QUICK, *override, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert msg in r.stderr and 'Traceback' not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1

def test_bad_yaml_file(tmp_path):
    (tmp_path/'c.yml').write_text('base_model: ftkit:tiny-llama\ndatasets:\n  - path: x.jsonl\n    typ: alpaca\n')
    r = ftkit('preprocess', 'c.yml', cwd=tmp_path)
    assert r.returncode == 2 and "unknown key 'typ'; did you mean 'type'?" in r.stderr

def test_train_infer_eval_end_to_end(tmp_path):
    "The quickstart path, shortened: train from another folder, eval the held-out split, infer, eval a file."
    out = tmp_path/'run'
    r = ftkit('train', QUICK, '--max_steps', '30', '--save_steps', '15', '--eval_steps', '15', '--warmup_steps', '5',
              '--output_dir', str(out), '--limit', '16', '--max_new_tokens', '48', cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'Level-1 pass rate' in r.stdout and 'final loss' in r.stdout
    for f in ('adapter_model.safetensors', 'loss.png', 'eval_report.limit-16.json', 'eval_predictions.limit-16.jsonl',
              'checkpoint-30'):
        assert (out/f).exists(), f
    rep = json.loads((out/'eval_report.limit-16.json').read_text())
    assert rep['n'] == 16 and 0 <= rep['pass_rate'] <= 1
    r = ftkit('inference', QUICK, '--output_dir', str(out), '--max_new_tokens', '40',
              '--prompt', '\n\nNLQ: "slowest routes"\n\nColumns: [\'http.route\', \'duration_ms\']', cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip(), r.stderr[-2000:]
    r = ftkit('eval', '--predictions', str(out/'eval_predictions.limit-16.jsonl'), '--json', cwd=tmp_path)
    assert r.returncode == 0
    lines = [json.loads(l) for l in r.stdout.splitlines()]
    assert len(lines) == 17 and lines[-1]['n'] == 16 and set(lines[0]) == {'ok', 'failures'}

def test_preprocess_debug_cache_and_packing(tmp_path):
    "`preprocess --debug` prints token(label, id) without colour when piped; the cache is written, reused and cleared."
    cache = tmp_path/'prepared'
    args = ('preprocess', QUICK, '--dataset_prepared_path', str(cache), '--sample_packing', 'true', '--sequence_len', '1024')
    r = ftkit(*args, '--debug', '--debug-num-examples', '2', cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert '4000 rows, 4000 kept' in r.stdout and 'sample packing: 4000 examples in' in r.stdout
    eff = float(r.stdout.split('efficiency ')[1].split()[0]); assert eff >= 0.95
    bound = float(r.stdout.split('can beat ')[1].split(')')[0]); assert eff <= bound <= 1
    assert r.stdout.count('--- example') == 2 and '<s>(-100, 1)' in r.stdout and '</s>(2, 2)' in r.stdout
    assert '\033[' not in r.stdout  # no ANSI colours in a pipe
    assert 'split vs joined' in r.stdout  # the gotcha check ran on a sample
    assert len([p for p in cache.iterdir() if p.is_dir()]) == 1
    r = ftkit(*args, cwd=tmp_path)
    assert 'loaded prepared datasets from' in r.stdout
    r = ftkit(*args, '--clear-cache', cwd=tmp_path)
    assert 'removed 1 prepared datasets' in r.stdout and 'loaded prepared' not in r.stdout
