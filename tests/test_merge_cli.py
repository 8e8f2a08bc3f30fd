"""`ftkit train` a LoRA adapter, `ftkit merge` it, and load the merged folder as a plain model: as a user
runs it."""
import os, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUICK = str(ROOT/'examples'/'honeycomb-tiny.yml')
ENV = {**os.environ, 'MPLBACKEND': 'Agg', 'HF_HUB_OFFLINE': '1'}

def ftkit(*args, cwd):
    return subprocess.run([sys.executable, '-m', 'ftkit.cli', *args], cwd=cwd, capture_output=True, text=True,
                          env=ENV, timeout=900)

def test_lora_train_merge(tmp_path):
    out = tmp_path/'lora'
    r = ftkit('train', QUICK, '--adapter', 'lora', '--lora_target_linear', 'true', '--max_steps', '3',
              '--micro_batch_size', '2', '--val_set_size', '0', '--save_steps', 'null',
              '--logging_steps', '1', '--output_dir', str(out), '--no-eval', cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'step 3/3 | loss' in r.stdout  # the progress line
    r = ftkit('merge', QUICK, '--lora-model-dir', str(out), '--out', str(tmp_path/'merged'), cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path/'merged'/'model.safetensors').exists() and (tmp_path/'merged'/'tokenizer.json').exists()
    r = ftkit('merge', QUICK, '--output_dir', str(tmp_path/'none'), cwd=tmp_path)
    assert r.returncode == 2 and 'no adapter in' in r.stderr and 'Traceback' not in r.stderr
