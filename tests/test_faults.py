"""Fault injection: kill a real `ftkit train` at random moments of saving, rotating and caching, 20 times, and check
that `--resume` always ends with exactly the weights of an uninterrupted run.

The kills are real (SIGKILL: no clean-up, like a power cut). Most come from `ftkit.files.crash_point`, which kills
the process itself the N-th time it reaches a named moment (`FTKIT_CRASH_AT=NAME:N`), because the moments that matter
last milliseconds; the rest come from outside, at a random time after the first checkpoint."""
import os, random, signal, subprocess, sys, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[1]
QUICK = str(ROOT/'examples'/'honeycomb-tiny-scratch.yml')  # a full fine-tune: whole weights to compare
RUN = ['--max_steps', '8', '--save_steps', '2', '--save_total_limit', '2', '--micro_batch_size', '4',
       '--val_set_size', '0', '--logging_steps', '2', '--warmup_steps', '2', '--no-eval']
ENV = {**os.environ, 'MPLBACKEND': 'Agg', 'HF_HUB_OFFLINE': '1', 'OMP_NUM_THREADS': '1'}
# (moment, how many times a run reaches it): 4 saves, 2 rotations (limit 2), 1 cache entry written
MOMENTS = [('checkpoint-saving', 4), ('checkpoint-recorded', 4), ('rotation', 2), ('cache-writing', 1)]

def train(out, cache, *extra, env=None):
    cmd = [sys.executable, '-m', 'ftkit.cli', 'train', QUICK, *RUN, '--output_dir', str(out),
           '--dataset_prepared_path', str(cache), *extra]
    return subprocess.run(cmd, cwd=out.parent, env=env or ENV, capture_output=True, text=True, timeout=900)

def killed_from_outside(out, cache, delay):
    "Start a run, SIGKILL it `delay` seconds after its first checkpoint appears; True if it was still running."
    cmd = [sys.executable, '-m', 'ftkit.cli', 'train', QUICK, *RUN, '--output_dir', str(out),
           '--dataset_prepared_path', str(cache)]
    p = subprocess.Popen(cmd, cwd=out.parent, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.time()
    while not list(out.glob('checkpoint-*')) and p.poll() is None and time.time() - t0 < 600: time.sleep(0.01)
    time.sleep(delay)
    running = p.poll() is None
    p.send_signal(signal.SIGKILL)
    p.wait()
    return running

def weights(d): return load_file(str(Path(d)/'model.safetensors'))

def trials(n=20, seed=0):
    "The trial plan: every fifth trial kills from outside; the others cycle through the moments, at a random pass."
    rng = random.Random(seed)
    plan = []
    for i in range(n):
        if i % 5 == 4: plan.append(('outside', round(rng.uniform(0, 2), 2)))
        else:
            moment, passes = MOMENTS[i % len(MOMENTS)]
            plan.append((moment, rng.randint(1, passes)))
    return plan

def run_trial(tmp, i, moment, n):
    "Kill trial `i` at (`moment`, `n`), resume it; returns (trial, final folder, what happened)."
    out = tmp/f'trial-{i}'/'run'
    cache = tmp/f'trial-{i}'/'cache' if moment == 'cache-writing' else tmp/'base'/'cache'  # shared: no re-tokenizing
    out.parent.mkdir()
    if moment == 'outside': died = killed_from_outside(out, cache, n)
    else:
        r = train(out, cache, env={**ENV, 'FTKIT_CRASH_AT': f'{moment}:{n}'})
        assert r.returncode == -signal.SIGKILL, f'trial {i} ({moment}:{n}) was not killed: {r.stderr[-1500:]}'
        died = True
    r = train(out, cache, '--resume')
    assert r.returncode == 0, f'trial {i} ({moment}:{n}): resume failed: {r.stderr[-3000:]}'
    return i, out, died

def test_killed_runs_resume_to_identical_weights(tmp_path):
    base = tmp_path/'base'/'run'
    base.parent.mkdir()
    r = train(base, tmp_path/'base'/'cache')
    assert r.returncode == 0, r.stderr[-3000:]
    want = weights(base)
    plan = trials()
    with ThreadPoolExecutor(2) as pool:
        done = list(pool.map(lambda t: run_trial(tmp_path, t[0], *t[1]), enumerate(plan)))
    assert sum(died for _, _, died in done) >= 18, 'most runs must really have been killed mid-run'
    for i, out, _ in done:
        got = weights(out)
        assert got.keys() == want.keys()
        for k in want: assert torch.equal(got[k], want[k]), f'trial {i} {plan[i]}: {k} differs'
        assert not list(out.glob('checkpoint-*/ftkit_saving')), f'trial {i}: an incomplete checkpoint was left'
        assert not list(out.glob('.deleting-*')), f'trial {i}: a half-deleted checkpoint was left'
    print('trials:', plan)
