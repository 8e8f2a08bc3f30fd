"""Kill -9 a real `ftkit train` after its first checkpoint, resume it, and check it ends with exactly the weights of
an uninterrupted run with the same seed. Also: a checkpoint interrupted mid-save is never resumed from, a truncated
one is skipped for the one before it, another tool's checkpoint is never deleted, and a changed config is refused."""
import json, os, shutil, signal, subprocess, sys, time
from pathlib import Path
import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[1]
QUICK = str(ROOT/'examples'/'honeycomb-tiny-scratch.yml')  # a full fine-tune: whole weights to compare
ARGS = ['--max_steps', '60', '--save_steps', '10', '--save_total_limit', '2', '--micro_batch_size', '4',
        '--val_set_size', '0', '--logging_steps', '10', '--warmup_steps', '5', '--no-eval']
ENV = {**os.environ, 'MPLBACKEND': 'Agg', 'HF_HUB_OFFLINE': '1'}

def cmd(out, *extra): return [sys.executable, '-m', 'ftkit.cli', 'train', QUICK, *ARGS, '--output_dir', str(out), *extra]
def run(out, *extra): return subprocess.run(cmd(out, *extra), cwd=out.parent, env=ENV, capture_output=True, text=True,
                                            timeout=600)
def weights(d): return load_file(str(Path(d)/'model.safetensors'))

def test_kill_resume_matches_uninterrupted(tmp_path):
    a, b = tmp_path/'a', tmp_path/'b'
    p = subprocess.Popen(cmd(b), cwd=tmp_path, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    record, t0 = b/'checkpoint-20'/'ftkit_checkpoint.json', time.time()
    while not record.exists() and p.poll() is None and time.time() - t0 < 300: time.sleep(0.01)
    running = p.poll() is None
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert running, 'the run ended before it could be killed: ' + p.stderr.read().decode()[-2000:]
    assert not (b/'model.safetensors').exists()  # killed mid-run: no final model
    done = sorted(b.glob('checkpoint-*'), key=lambda q: int(q.name.split('-')[1]))
    newest = [q for q in done if (q/'ftkit_checkpoint.json').exists() and not (q/'ftkit_saving').exists()][-1]
    # three wrecks above it: one killed mid-save (marker left), one truncated, one another tool wrote, broken
    shutil.copytree(newest, b/'checkpoint-45')
    (b/'checkpoint-45'/'ftkit_saving').touch()
    shutil.copytree(newest, b/'checkpoint-46')
    (b/'checkpoint-46'/'model.safetensors').write_bytes((newest/'model.safetensors').read_bytes()[:1000])
    shutil.copytree(newest, b/'checkpoint-47')
    (b/'checkpoint-47'/'ftkit_checkpoint.json').unlink()
    (b/'checkpoint-47'/'model.safetensors').write_bytes(b'\0' * 100)
    r = run(b, '--resume')
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'removing incomplete checkpoint' in r.stdout and 'checkpoint-45' in r.stdout
    assert f'warning: skipping {b/"checkpoint-47"}: model.safetensors does not open' in r.stdout
    assert f'warning: skipping {b/"checkpoint-46"}: model.safetensors is missing or truncated' in r.stdout
    assert f'resuming from {newest}' in r.stdout
    r = run(a)
    assert r.returncode == 0, r.stderr[-3000:]
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa: assert torch.equal(wa[k], wb[k]), k
    names = sorted(q.name for q in b.glob('checkpoint-*'))
    assert 'checkpoint-47' in names          # another tool's: never deleted, even broken
    assert 'checkpoint-45' not in names      # ftkit's own, interrupted while saving: removed

def test_changed_config_or_busy_folder_refused(tmp_path):
    out = tmp_path/'run'
    r = run(out, '--max_steps', '10')
    assert r.returncode == 0, r.stderr[-3000:]
    r = run(out, '--resume', '--adapter', 'lora', '--lora_target_linear', 'true', '--lora_r', '16')
    assert r.returncode == 2 and 'belongs to a run with other settings' in r.stderr, r.stderr[-2000:]
    assert "adapter None -> 'lora'" in r.stderr and 'Traceback' not in r.stderr
    r = run(out, '--resume', '--sequence_len', '256')
    assert r.returncode == 2 and 'sequence_len 512 -> 256' in r.stderr
    r = run(out)                                  # a fresh run into the old run's folder
    assert r.returncode == 2 and 'holds an earlier run' in r.stderr and '--resume continues it' in r.stderr
    holder = subprocess.Popen([sys.executable, '-c', 'import sys, time; from ftkit.files import Lock; '
                               f'Lock({str(out)!r}).acquire("ftkit train other.yml"); print("ok", flush=True); '
                               'time.sleep(120)'], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == 'ok'
    try:
        r = run(out, '--resume')
        assert r.returncode == 2 and f'in use by ftkit train other.yml (pid {holder.pid}' in r.stderr, r.stderr
    finally: holder.kill()
    r = run(out, '--overwrite', '--max_steps', '2')
    assert r.returncode == 0 and (tmp_path/'run.old-1'/'checkpoint-10').exists()
