"""`ftkit eval --predictions` (per-check rates, --json, --history) and `ftkit curate`, run as a user runs them."""
import json, os, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def ftkit(*args, cwd):
    env = {**os.environ, 'MPLBACKEND': 'Agg', 'HF_HUB_OFFLINE': '1'}
    return subprocess.run([sys.executable, '-m', 'ftkit.cli', *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=600)

COLS = ['duration_ms', 'http.route']
PREDS = [dict(nlq='slowest routes', columns=COLS, output='{"calculations": [{"op": "MAX", "column": "duration_ms"}], "breakdowns": ["http.route"]}'),
         dict(nlq='p99', columns=COLS, output='{"calculations": [{"op": "P99", "column": "latency"}]}'),
         dict(nlq='count', columns=COLS, output="{'calculations': [{'op': 'COUNT'}]}"),
         dict(nlq='heat', columns=COLS, output='{"calculations": [{"op": "HEATMAP", "column": "duration_ms"}], "orders": [{"op": "HEATMAP", "column": "duration_ms", "order": "descending"}]}')]

def test_eval_predictions_per_check(tmp_path):
    (tmp_path/'p.jsonl').write_text(''.join(json.dumps(p) + '\n' for p in PREDS))
    r = ftkit('eval', '--predictions', 'p.jsonl', '--history', 'hist.jsonl', cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert 'Level-1 pass rate: 25.0% (1/4)' in r.stdout
    assert 'columns_exist' in r.stdout and 'orders' in r.stdout and 'json' in r.stdout
    r = ftkit('eval', '--predictions', 'p.jsonl', '--json', '--history', 'hist.jsonl', cwd=tmp_path)
    lines = [json.loads(l) for l in r.stdout.splitlines()]
    assert [l['failures'] for l in lines[:4]] == [[], ['columns_exist'], ['json'], ['orders']]
    assert lines[-1]['per_check']['json'] == 0.75 and lines[-1]['n'] == 4
    hist = [json.loads(l) for l in (tmp_path/'hist.jsonl').read_text().splitlines()]
    assert len(hist) == 2 and hist[-1]['pass_rate'] == 0.25

def test_eval_bad_predictions_file(tmp_path):
    (tmp_path/'p.jsonl').write_text(json.dumps(PREDS[0]) + '\n{"nlq": "x"}\n')
    r = ftkit('eval', '--predictions', 'p.jsonl', cwd=tmp_path)
    assert r.returncode == 2 and 'p.jsonl:2: not a prediction' in r.stderr and 'Traceback' not in r.stderr

def test_curate_cli(tmp_path):
    rows = (ROOT/'data'/'honeycomb'/'test.jsonl').read_text().splitlines()[:60]
    bad = json.loads(rows[0]); bad['conversations'][-1]['value'] = '\n{"calculations": [{"op": "AVG"}]}'
    src = tmp_path/'in.jsonl'; src.write_text('\n'.join(rows + [rows[1], json.dumps(bad)]) + '\n')
    before = src.read_bytes()
    r = ftkit('curate', 'in.jsonl', 'out.jsonl', '--rule-synth', '10', '--vary', '5', cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert src.read_bytes() == before
    assert "'L1: calculations': 1" in r.stdout and 'exact dup' in r.stdout
    rep = json.loads((tmp_path/'out.report.json').read_text())
    assert rep[0] == dict(step='+ rule synth', n_in=62, n_out=72, removed=0, reasons={})
    assert len((tmp_path/'out.jsonl').read_text().splitlines()) == rep[-1]['n_out']
    r = ftkit('curate', 'in.jsonl', 'in.jsonl', '--judge', 'none', cwd=tmp_path)
    assert r.returncode == 2 and 'is the input file' in r.stderr
