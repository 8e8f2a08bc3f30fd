"""A real two-process data-parallel run on CPU (torchrun + gloo), checked rather than assumed."""
import os, re, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def test_two_processes_train_identical_weights(tmp_path):
    out = tmp_path/'ddp'
    env = {**os.environ, 'MPLBACKEND': 'Agg', 'OMP_NUM_THREADS': '1'}
    r = subprocess.run([sys.executable, '-m', 'ftkit.cli', 'train', str(ROOT/'examples'/'honeycomb-tiny.yml'),
                        '--num-processes', '2', '--no-eval', '--max_steps', '4', '--micro_batch_size', '4',
                        '--val_set_size', '0', '--save_steps', 'null', '--logging_steps', '1', '--output_dir', str(out)],
                       cwd=tmp_path, capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    sums = dict(re.findall(r'rank (\d) of 2: weights (\w+)', r.stdout))
    assert set(sums) == {'0', '1'}, r.stdout[-2000:]      # two processes really ran, each in a world of 2
    assert sums['0'] == sums['1']                          # gradients were all-reduced: the copies agree
    assert (out/'model.safetensors').exists()
