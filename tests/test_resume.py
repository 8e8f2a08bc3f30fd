"""Kill -9 a real `ftkit train` after its first checkpoint, resume it, and check it ends with exactly the weights of
an uninterrupted run with the same seed. Also: a checkpoint interrupted mid-save is never resumed from."""
import os, shutil, signal, subprocess, sys, time
from pathlib import Path
import pytest, torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[1]
QUICK = str(ROOT/'examples'/'honeycomb-tiny.yml')
ARGS = ['--max_steps', '60', '--save_steps', '10', '--save_total_limit', '2', '--micro_batch_size', '4',
        '--val_set_size', '0', '--logging_steps', '10', '--warmup_steps', '5', '--no-eval']

def cmd(out, *extra): return [sys.executable, '-m', 'ftkit.cli', 'train', QUICK, *ARGS, '--output_dir', str(out), *extra]
ENV = {**os.environ, 'MPLBACKEND': 'Agg', 'HF_HUB_OFFLINE': '1'}

def weights(d): return load_file(str(Path(d)/'model.safetensors'))

def test_kill_resume_matches_uninterrupted(tmp_path):
    a, b = tmp_path/'a', tmp_path/'b'
    p = subprocess.Popen(cmd(b), cwd=tmp_path, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    marker, t0 = b/'checkpoint-10'/'ftkit_complete.json', time.time()
    while not marker.exists() and p.poll() is None and time.time() - t0 < 300: time.sleep(0.01)
    running = p.poll() is None
    os.kill(p.pid, signal.SIGKILL); p.wait()
    assert running, 'the run ended before it could be killed: ' + p.stderr.read().decode()[-2000:]
    assert not (b/'model.safetensors').exists()  # killed mid-run: no final model
    # a checkpoint the kill caught mid-save: files there, marker missing, weights truncated
    done = sorted(b.glob('checkpoint-*'), key=lambda q: int(q.name.split('-')[1]))[-1]
    fake = b/'checkpoint-50'; shutil.copytree(done, fake)
    (fake/'ftkit_complete.json').unlink(); (fake/'model.safetensors').write_bytes(b'\0' * 100)
    r = subprocess.run(cmd(b, '--resume'), cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f'resuming from {done}' in r.stdout and 'removing incomplete checkpoint' in r.stdout
    r = subprocess.run(cmd(a), cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa: assert torch.equal(wa[k], wb[k]), k
    assert sorted(q.name for q in b.glob('checkpoint-*')) == ['checkpoint-50', 'checkpoint-60']
