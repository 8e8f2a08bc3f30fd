"""`ftkit eval --predictions` (per-check rates, --json, --history) and `ftkit curate`, run as a user runs
them: messy input lines, an output path that is taken, and judges that echo keys, talk garbage or are down."""
import json, os, re, subprocess, sys
from pathlib import Path
import pytest
from test_critic_http import (KEY, URL_KEY, cache_text, closed_port, echo_auth, leaks, reply,
                              server)  # the fixture
from ftkit.critic import Critic, JudgeError, OpenAIJudge, RuleJudge
from ftkit.curate import curate
from ftkit.evals import check_rows
from ftkit.files import Refused

ROOT = Path(__file__).resolve().parents[1]

def ftkit(*args, cwd, **env):
    env = {**os.environ, 'MPLBACKEND': 'Agg', 'HF_HUB_OFFLINE': '1', **env}
    return subprocess.run([sys.executable, '-m', 'ftkit.cli', *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=600)

COLS = ['duration_ms', 'http.route']
MAX_BY_ROUTE = '{"calculations": [{"op": "MAX", "column": "duration_ms"}], "breakdowns": ["http.route"]}'
HEAT_ORDERED = ('{"calculations": [{"op": "HEATMAP", "column": "duration_ms"}], '
                '"orders": [{"op": "HEATMAP", "column": "duration_ms", "order": "descending"}]}')
PREDS = [dict(nlq='slowest routes', columns=COLS, output=MAX_BY_ROUTE),
         dict(nlq='p99', columns=COLS, output='{"calculations": [{"op": "P99", "column": "latency"}]}'),
         dict(nlq='count', columns=COLS, output="{'calculations': [{'op': 'COUNT'}]}"),
         dict(nlq='heat', columns=COLS, output=HEAT_ORDERED)]

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

ROWS = (ROOT/'data'/'honeycomb'/'test.jsonl').read_text().splitlines()

def test_curate_cli(tmp_path):
    # before: one line that is not JSON (or not UTF-8, or not a conversation) was a JSONDecodeError traceback
    rows = ROWS[:60]
    bad = json.loads(rows[0]); bad['conversations'][-1]['value'] = '\n{"calculations": [{"op": "AVG"}]}'
    messy = [rows[5][:80], json.dumps({'conversations': [{'from': 'human', 'value': 'hi'}]})]
    src = tmp_path/'in.jsonl'
    src.write_bytes('\n'.join(rows + [rows[1], json.dumps(bad)] + messy).encode() + b'\n\xff\xfe{}\n')
    before = src.read_bytes()
    r = ftkit('curate', 'in.jsonl', 'out.jsonl', '--rule-synth', '10', '--vary', '5', cwd=tmp_path,
              FTKIT_CACHE=str(tmp_path/'cache'))
    assert r.returncode == 0, r.stderr[-2000:]
    assert src.read_bytes() == before
    assert "'L1: calculations': 1" in r.stdout and 'exact dup' in r.stdout
    rep = json.loads((tmp_path/'out.report.json').read_text())
    assert rep[0] == dict(step='read', n_in=65, n_out=62, removed=3,
                          reasons={'not JSON': 1, 'not a Honeycomb row': 1, 'not UTF-8': 1})
    assert rep[1] == dict(step='+ rule synth', n_in=62, n_out=72, removed=0, reasons={})
    assert len((tmp_path/'out.jsonl').read_text().splitlines()) == rep[-1]['n_out']
    r = ftkit('curate', 'in.jsonl', 'in.jsonl', '--judge', 'none', cwd=tmp_path)
    assert r.returncode == 2 and 'is the input file' in r.stderr

def test_curate_never_overwrites(tmp_path):
    # before: `ftkit curate in.jsonl notes.jsonl` replaced the user's notes.jsonl without a word
    (tmp_path/'in.jsonl').write_text('\n'.join(ROWS[:20]) + '\n')
    (tmp_path/'notes.jsonl').write_text('my notes\n')
    r = ftkit('curate', 'in.jsonl', 'notes.jsonl', '--judge', 'none', cwd=tmp_path)
    assert r.returncode == 2 and 'Traceback' not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert 'notes.jsonl exists' in r.stderr and (tmp_path/'notes.jsonl').read_text() == 'my notes\n'
    assert not (tmp_path/'notes.report.json').exists()
    log = curate(tmp_path/'in.jsonl', tmp_path/'notes.jsonl', overwrite=True)   # asked to: moved aside
    assert (tmp_path/'notes.jsonl.old-1').read_text() == 'my notes\n'
    assert len((tmp_path/'notes.jsonl').read_text().splitlines()) == log.steps[-1]['n_out'] > 0

SAMPLE = ROOT.parent/'shared'/'data'/'honeycomb-sample'/'alpaca_synth_queries.jsonl'

@pytest.mark.skipif(not SAMPLE.exists(), reason="the course's sample (../shared) is not beside the project")
def test_course_sample_passes_level1_and_curation(tmp_path):
    # the course's 100 real rows are valid, distinct, and pass the rule critic; one is a bare time_range
    rows = [json.loads(l) for l in SAMPLE.read_text().splitlines()]
    assert [(i, r.reasons) for i, r in enumerate(check_rows(rows)) if not r.ok] == []
    log = curate(SAMPLE, tmp_path/'sample-curated.jsonl', Critic(RuleJudge(), cache_dir=False))
    assert [s['n_out'] for s in log.steps] == [100, 100, 99, 99, 99, 99, 99]
    assert log.steps[2]['reasons'] == {'too simple (<3)': 1}
    assert [ex['nlq'] for ex, *_ in log.removed['complexity']] == ['Display traces from the past five minutes']

def judge_args(url):
    return ['--judge', 'judge', '--base-url', url, '--key-env', 'FTKIT_TEST_KEY']

def test_curate_with_a_judge_that_echoes_the_key(server, tmp_path):
    # before: the key in the URL went into every cache file (in ./.ftkit-critic-cache), and the judge's error
    # (openai.AuthenticationError: "... Bearer sk-...") ended `ftkit curate` in a traceback that printed it
    (tmp_path/'in.jsonl').write_text('\n'.join(ROWS[:20]) + '\n')
    server.script = [reply('{"critique": "ok", "outcome": "good"}')] * 3 + [echo_auth] * 20
    url = f'http://user:{URL_KEY}@127.0.0.1:{server.port}/v1'
    r = ftkit('curate', 'in.jsonl', 'out.jsonl', *judge_args(url), cwd=tmp_path,
              FTKIT_TEST_KEY=KEY, FTKIT_CACHE=str(tmp_path/'cache'))
    assert r.returncode == 2 and 'Traceback' not in r.stderr, r.stderr[-2000:]
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith('ftkit curate: error: critic: judge error (auth failed)') and 'Basic ***' in last
    assert len(server.requests) == 4  # stopped at the first refusal
    assert not (tmp_path/'out.jsonl').exists() and not (tmp_path/'out.report.json').exists()
    assert len(list(tmp_path.rglob('*.json'))) == 3  # the three verdicts given are cached
    assert leaks(r.stdout + r.stderr + cache_text(tmp_path)) == []

def test_curate_with_a_garbage_judge(server, tmp_path):
    # before: every garbage reply was an 'error' verdict whose row was kept, and the report said nothing
    (tmp_path/'in.jsonl').write_text('\n'.join(ROWS[:40]) + '\n')
    garbage = []
    def sometimes(req):  # every other reply is chat, not a verdict
        if len(server.requests) % 2: return reply('{"critique": "ok", "outcome": "good"}')
        case = req['body']['messages'][1]['content'].rsplit('Now critique', 1)[1]
        garbage.append(re.search(r'NLQ: (.*)', case)[1])
        return reply('What a lovely query!')
    server.script = [sometimes] * 100
    env = dict(FTKIT_TEST_KEY=KEY, FTKIT_CACHE=str(tmp_path/'cache'))
    r = ftkit('curate', 'in.jsonl', 'out.jsonl', *judge_args(server.url), cwd=tmp_path, **env)
    assert r.returncode == 0, r.stderr[-2000:]
    step = json.loads((tmp_path/'out.report.json').read_text())[-1]
    n = step['n_in']
    assert step['reasons'] == {'judge error: no verdict': n // 2} and step['n_out'] == n - n // 2
    assert f"'judge error: no verdict': {n // 2}" in r.stdout
    out = (tmp_path/'out.jsonl').read_text().splitlines()
    kept = [json.loads(l)['conversations'][1]['value'] for l in out]
    assert len(garbage) == n // 2 and not any(f'NLQ: "{g}"' in k for g in garbage for k in kept)
    # a judge that never gives a verdict stops curation with one line, and writes nothing
    server.script = [reply('What a lovely query!')] * 100
    other_url = server.url + '/'  # another judge name: the verdicts cached above do not answer for it
    r = ftkit('curate', 'in.jsonl', 'out2.jsonl', *judge_args(other_url), cwd=tmp_path, **env)
    last = r.stderr.strip().splitlines()[-1]
    assert r.returncode == 2 and 'Traceback' not in r.stderr
    assert last.startswith('ftkit curate: error: critic: ')
    assert '(no verdict)' in last and '(5 in a row); stopped' in last
    assert not (tmp_path/'out2.jsonl').exists()

def test_curate_with_a_judge_that_is_down(tmp_path, monkeypatch):
    # before: openai.APIConnectionError escaped curate (in `ftkit curate`, a traceback)
    monkeypatch.setenv('FTKIT_TEST_KEY', KEY)
    (tmp_path/'in.jsonl').write_text('\n'.join(ROWS[:20]) + '\n')
    down = OpenAIJudge('judge', f'http://127.0.0.1:{closed_port()}/v1', 'FTKIT_TEST_KEY', max_retries=0)
    with pytest.raises(JudgeError, match=r'judge error \(unreachable\).*\(1 in a row\); stopped, nothing'):
        curate(tmp_path/'in.jsonl', tmp_path/'out.jsonl', Critic(down, cache_dir=False))
    assert sorted(p.name for p in tmp_path.iterdir()) == ['in.jsonl']
    # told to keep what it cannot judge (and not to stop), it keeps every row and says so
    log = curate(tmp_path/'in.jsonl', tmp_path/'out.jsonl', Critic(down, cache_dir=False), keep_on_error=True,
                 stop_after=None)
    step = log.steps[-1]
    assert step['n_out'] == step['n_in'] and step['kept_unjudged'] == {'unreachable': step['n_in']}
