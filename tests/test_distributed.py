"""Many processes on one CPU, as on many GPUs: data parallel through `accelerate launch` (and torchrun), DeepSpeed
ZeRO-2 killed and resumed, FSDP's wrap policy and sharded checkpoints. Each is checked, not assumed: world sizes,
identical weights across ranks, equal to one process with the same global batch."""
import os, re, signal, subprocess, sys, time
from pathlib import Path
import pytest, torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[1]
QUICK = str(ROOT/'examples'/'honeycomb-tiny.yml')
ENV = {**os.environ, 'MPLBACKEND': 'Agg', 'OMP_NUM_THREADS': '1', 'HF_HUB_OFFLINE': '1'}
SHORT = ['--max_steps', '4', '--micro_batch_size', '4', '--val_set_size', '0', '--logging_steps', '2',
         '--no-group-by-length', '--warmup_steps', '0', '--learning_rate', '1e-3',
         '--adapter', 'null']  # full fine-tunes: every weight is compared

def ftkit(*args, cwd, timeout=900):
    return subprocess.run([sys.executable, '-m', 'ftkit.cli', *args], cwd=cwd, capture_output=True, text=True, env=ENV,
                          timeout=timeout)

def checksums(stdout): return dict(re.findall(r'rank (\d) of 2: weights (\w+)', stdout))
def weights(d): return load_file(str(Path(d)/'model.safetensors'))

def test_accelerate_ddp_matches_one_process(tmp_path):
    two, one = tmp_path/'two', tmp_path/'one'
    r = ftkit('train', QUICK, '--num-processes', '2', *SHORT, '--save_steps', '2', '--limit', '8',
              '--max_new_tokens', '16', '--output_dir', str(two), cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    sums = checksums(r.stdout)
    assert set(sums) == {'0', '1'} and sums['0'] == sums['1'], r.stdout[-2000:]   # two ranks, the same weights
    assert r.stdout.count('world size 2: DDP; micro batch 4 per process x 1 accumulation x 2 processes = 8 rows') == 1
    reports = [line for line in r.stdout.splitlines() if line.startswith('Level-1 pass rate: ')]
    assert r.stdout.count('step 4/4 | loss') == 1 and len(reports) == 1   # rank 0 only
    assert sorted(p.name for p in two.glob('checkpoint-*')) == ['checkpoint-2', 'checkpoint-4']
    assert len(list(two.glob('eval_report*.json'))) == 1
    r = ftkit('train', QUICK, *SHORT, '--micro_batch_size', '8', '--save_strategy', 'no', '--no-eval',
              '--output_dir', str(one), cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    a, b = weights(two), weights(one)
    worst = max((a[k] - b[k]).abs().max().item() for k in a)
    assert worst < 1e-4, f'2 processes x 4 rows and 1 process x 8 rows differ by {worst}'

def test_launchers(tmp_path):
    "`accelerate launch -m ftkit.cli train` by hand, and `--launcher torchrun`: two ranks each, the same weights."
    direct = [sys.executable, '-m', 'accelerate.commands.launch', '--multi_gpu', '--num_processes', '2',
              '--num_machines', '1', '--mixed_precision', 'no', '--dynamo_backend', 'no', '-m', 'ftkit.cli', 'train',
              QUICK, *SHORT, '--save_strategy', 'no', '--no-eval', '--output_dir', str(tmp_path/'direct')]
    r = subprocess.run(direct, cwd=tmp_path, capture_output=True, text=True, env=ENV, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert len(set(checksums(r.stdout).values())) == 1 and len(checksums(r.stdout)) == 2
    r = ftkit('train', QUICK, '--num-processes', '2', '--launcher', 'torchrun', *SHORT, '--save_strategy', 'no',
              '--no-eval', '--output_dir', str(tmp_path/'torchrun'), cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert len(set(checksums(r.stdout).values())) == 1 and len(checksums(r.stdout)) == 2

def test_fsdp_config_on_cpu_says_ddp(tmp_path):
    "accelerate runs FSDP only on GPUs; on CPU processes the run is DDP, and the world line says so."
    r = ftkit('train', QUICK, '--num-processes', '2', *SHORT, '--save_strategy', 'no', '--no-eval', '--fsdp_version', '2',
              '--fsdp_config', '{fsdp_offload_params: false}', '--output_dir', str(tmp_path/'fsdp'), cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'world size 2: DDP (FSDP was asked for: accelerate runs it on GPUs only)' in r.stdout

def test_fsdp2_shards_train_and_gather(tmp_path):
    "PyTorch's FSDP2 on 2 CPU processes with ftkit's wrap policy: same weights as 1 process; the shards gather back."
    script = ROOT/'tests'/'fsdp_cpu.py'
    run = lambda n, out: subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--standalone',
                                         f'--nproc-per-node={n}', str(script), str(out)], cwd=tmp_path,
                                        capture_output=True, text=True, env=ENV, timeout=600)
    r2, r1 = run(2, tmp_path/'two'), run(1, tmp_path/'one')
    assert r2.returncode == 0 and r1.returncode == 0, (r2.stderr + r1.stderr)[-3000:]
    assert 'wrapped 4 LlamaDecoderLayer' in r2.stdout and 'world 2' in r2.stdout
    full2, full1 = torch.load(tmp_path/'two'/'full.pt'), torch.load(tmp_path/'one'/'full.pt')
    assert max((full2[k] - full1[k]).abs().max().item() for k in full1) < 1e-5
    from ftkit.distributed import gather_weights, sharded_weights
    assert sharded_weights(tmp_path/'two') == 'fsdp'
    gathered = load_file(str(gather_weights(tmp_path/'two', tmp_path/'gathered')/'model.safetensors'))
    assert gathered.keys() == full2.keys()
    for k in full2: assert torch.equal(gathered[k], full2[k]), k

@pytest.mark.skipif(not __import__('importlib').util.find_spec('deepspeed'), reason='pip install deepspeed')
def test_zero2_killed_and_resumed(tmp_path):
    "DeepSpeed ZeRO-2 in 2 CPU processes: killed after a checkpoint, resumed, ends as the run that was not killed."
    args = ['--num-processes', '2', *SHORT, '--max_steps', '6', '--save_steps', '2', '--no-eval',
            '--deepspeed', 'ftkit:deepspeed/zero2.json']
    a, b = tmp_path/'a', tmp_path/'b'
    r = ftkit('train', QUICK, *args, '--output_dir', str(a), cwd=tmp_path, timeout=1500)
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'world size 2: DeepSpeed ZeRO-2' in r.stdout
    cmd = [sys.executable, '-m', 'ftkit.cli', 'train', QUICK, *args, '--output_dir', str(b)]
    p = subprocess.Popen(cmd, cwd=tmp_path, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    t0 = time.time()
    while not (b/'checkpoint-2'/'ftkit_checkpoint.json').exists() and p.poll() is None and time.time() - t0 < 1200:
        time.sleep(0.05)
    running = p.poll() is None
    os.killpg(p.pid, signal.SIGKILL)  # the launcher and both ranks
    p.wait()
    assert running, 'the run ended before it could be killed'
    r = ftkit('train', QUICK, *args, '--resume', '--output_dir', str(b), cwd=tmp_path, timeout=1500)
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'resuming from' in r.stdout
    wa, wb = weights(a), weights(b)
    for k in wa: assert torch.equal(wa[k], wb[k]), k
